"""Sites: the caller's app projects, listed a page at a time, created within the caller's limit,
read with their saved work, changed and deleted. Another tenant's site is a 404, as is none."""

from typing import Annotated
from uuid import UUID

from litestar import Router, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from services.projects.models.sites import (
    CURSOR_DESCRIPTION,
    CURSOR_PATTERN,
    MAX_PAGE,
    AppProjectList,
    Site,
    SiteChange,
    SiteCreate,
    SiteWithData,
)
from services.projects.sites import Sites
from shared.access import Owner, from_state


@get("/", summary="The caller's sites, newest first, a page at a time, each with its demo URL")
async def list_app_projects(
    owner: NamedDependency[Owner],
    sites: NamedDependency[Sites],
    limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 50,
    before: Annotated[
        str | None, Parameter(pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)
    ] = None,
) -> AppProjectList:
    return await sites.page(owner, limit, before)


@post(
    "/",
    status_code=201,
    summary="Create a site (guests 3, free users 10, pro 100: beyond, 403 project_limit_reached)",
)
async def create_app_project(
    data: JSONBody[SiteCreate], owner: NamedDependency[Owner], sites: NamedDependency[Sites]
) -> Site:
    return await sites.create(owner, data)


@get("/{project_id:uuid}", summary="One of the caller's sites with its saved work")
async def get_app_project(
    project_id: FromPath[UUID], owner: NamedDependency[Owner], sites: NamedDependency[Sites]
) -> SiteWithData:
    return await sites.get(owner, project_id)


@patch(
    "/{project_id:uuid}",
    summary="Change a site's name, category, description or thumbnail path (only those given)",
)
async def change_app_project(
    project_id: FromPath[UUID],
    data: JSONBody[SiteChange],
    owner: NamedDependency[Owner],
    sites: NamedDependency[Sites],
) -> Site:
    return await sites.change(owner, project_id, data)


@delete(
    "/{project_id:uuid}",
    status_code=204,
    summary="Delete a site with its saved work, files, profile and images",
)
async def delete_app_project(
    project_id: FromPath[UUID], owner: NamedDependency[Owner], sites: NamedDependency[Sites]
) -> None:
    await sites.delete(owner, project_id)


router = Router(
    path="/",
    route_handlers=[
        list_app_projects,
        create_app_project,
        get_app_project,
        change_app_project,
        delete_app_project,
    ],
    dependencies={"sites": from_state("sites")},
)
