"""A site's versions: the list (pinned first, then newest) and pinning one. Another tenant's site
or version is a 404."""

from uuid import UUID

from litestar import Router, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from services.projects.models.sites import SiteNotFound
from services.projects.models.versions import SiteVersion, VersionList, VersionNotFound, VersionPin
from services.projects.repo.versions import VersionRepository
from shared.access import Owner, as_caller


@get(
    "/{project_id:uuid}/versions",
    summary="The site's generated versions: pinned first (newest pin first), then newest",
)
async def list_versions(
    project_id: FromPath[UUID],
    owner: NamedDependency[Owner],
    versions: NamedDependency[VersionRepository],
) -> VersionList:
    listed = await versions.of_site(project_id)
    if listed is None:
        raise SiteNotFound()
    return VersionList(listed)


@patch(
    "/{project_id:uuid}/versions/{version_id:uuid}",
    summary="Pin or unpin one of the site's versions",
)
async def pin_version(
    project_id: FromPath[UUID],
    version_id: FromPath[UUID],
    data: JSONBody[VersionPin],
    owner: NamedDependency[Owner],
    versions: NamedDependency[VersionRepository],
) -> SiteVersion:
    pinned = await versions.pin(project_id, version_id, data.pinned)
    if pinned is None:
        raise VersionNotFound()
    return pinned


router = Router(
    path="/",
    route_handlers=[list_versions, pin_version],
    dependencies={"versions": as_caller(VersionRepository)},
)
