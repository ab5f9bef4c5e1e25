"""Company profiles: the brief behind each of the caller's sites, one per site, and copies of
one to another of its sites."""

from typing import Annotated
from uuid import UUID

from litestar import Router, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from services.projects.models.profiles import (
    CompanyProfile,
    CompanyProfileList,
    CompanyProfileUpdate,
    ProfileLink,
)
from services.projects.repo.profiles import CompanyProfileRepository
from shared.access import Owner, as_caller


@put("/{project_id:uuid}/profile", summary="Store the site's company profile, replacing its last")
async def save_profile(
    project_id: FromPath[UUID],
    data: JSONBody[CompanyProfileUpdate],
    owner: NamedDependency[Owner],
    profiles: NamedDependency[CompanyProfileRepository],
) -> CompanyProfile:
    return await profiles.save(project_id, data)


@get("/{project_id:uuid}/profile", summary="The site's company profile")
async def get_profile(
    project_id: FromPath[UUID],
    owner: NamedDependency[Owner],
    profiles: NamedDependency[CompanyProfileRepository],
) -> CompanyProfile:
    return await profiles.of_site(project_id)


@get("/profiles", summary="The company profiles of the caller's sites, newest first")
async def list_profiles(
    owner: NamedDependency[Owner],
    profiles: NamedDependency[CompanyProfileRepository],
    limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
) -> CompanyProfileList:
    return await profiles.list_own(limit)


@post(
    "/profiles/{profile_id:uuid}/link",
    status_code=200,
    summary="Copy one of the caller's profiles to another of its sites (replacing its profile)",
)
async def link_profile(
    profile_id: FromPath[UUID],
    data: JSONBody[ProfileLink],
    owner: NamedDependency[Owner],
    profiles: NamedDependency[CompanyProfileRepository],
) -> CompanyProfile:
    return await profiles.copy_to(profile_id, data.project_id)


router = Router(
    path="/",
    route_handlers=[save_profile, get_profile, list_profiles, link_profile],
    dependencies={"profiles": as_caller(CompanyProfileRepository)},
)
