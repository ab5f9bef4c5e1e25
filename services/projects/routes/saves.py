"""A site's saved work: saving it (only the fields given change, the file list replaced when
files are given, all or nothing) and its file list. Another tenant's site is a 404."""

from uuid import UUID

from litestar import Router, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from services.projects.models.saves import FileList, SavedData, SaveRequest
from services.projects.sites import Sites
from shared.access import Owner, from_state


@put(
    "/{project_id:uuid}/data",
    summary="Save a site's work: the fields given (meta merged, files replacing the file list)",
)
async def save_project_data(
    project_id: FromPath[UUID],
    data: JSONBody[SaveRequest],
    owner: NamedDependency[Owner],
    sites: NamedDependency[Sites],
) -> SavedData:
    return await sites.save(owner, project_id, data)


@get("/{project_id:uuid}/files", summary="A site's saved files (path and size), by path")
async def list_project_files(
    project_id: FromPath[UUID], owner: NamedDependency[Owner], sites: NamedDependency[Sites]
) -> FileList:
    return await sites.files(owner, project_id)


router = Router(
    path="/",
    route_handlers=[save_project_data, list_project_files],
    dependencies={"sites": from_state("sites")},
)
