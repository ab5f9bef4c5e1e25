"""The projects service's HTTP routes, all under /projects."""

from typing import Annotated

from litestar import Router, get
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter

from services.projects.models import AppProjectList
from services.projects.repo import ProjectRepository
from shared.data.plane import DataPlane
from shared.identity import Caller


async def provide_projects(
    caller: NamedDependency[Caller], data_plane: NamedDependency[DataPlane]
) -> ProjectRepository:
    return ProjectRepository(data_plane, caller)


@get("/", summary="List the caller's app projects, newest first")
async def list_app_projects(
    caller: NamedDependency[Caller],
    projects: NamedDependency[ProjectRepository],
    limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
) -> AppProjectList:
    caller.require_owner()
    return AppProjectList(projects=await projects.list_app_projects(limit))


router = Router(
    path="/projects",
    route_handlers=[list_app_projects],
    dependencies={"projects": Provide(provide_projects)},
)
