"""Sites: the caller's app projects."""

from typing import Annotated

from litestar import Router, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from services.projects.models.sites import AppProjectList
from services.projects.repo.sites import ProjectRepository
from shared.access import Owner, as_caller


@get("/", summary="List the caller's app projects, newest first")
async def list_app_projects(
    owner: NamedDependency[Owner],
    projects: NamedDependency[ProjectRepository],
    limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
) -> AppProjectList:
    return AppProjectList(projects=await projects.list_app_projects(limit))


router = Router(
    path="/",
    route_handlers=[list_app_projects],
    dependencies={"projects": as_caller(ProjectRepository)},
)
