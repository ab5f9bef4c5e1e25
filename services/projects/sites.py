"""Sites: an owner's app projects and their saved work, through the caches of `cache.py`.

Every query runs as the caller (row-level security decides). The caches are read-through and
never trusted across tenants: a cached site keeps its owner and is served only to that owner, a
cached file list only after the site is known to be the caller's, and a list is cached under
its owner's own id. Every write drops the entries it changes: a create the owner's list; a
change the site and the list; a delete the site, its files and the list; a save the list (its
demo URL) and, when files are given, the file list. With Redis unreachable the database answers.
"""

from uuid import UUID

import msgspec

from services.projects.models.saves import (
    CONSTRAINT_FIELDS,
    FileEntry,
    FileList,
    SavedData,
    SaveRequest,
)
from services.projects.models.sites import (
    MAX_PAGE,
    AppProjectList,
    PageKey,
    ProjectLimitReached,
    Site,
    SiteChange,
    SiteCreate,
    SiteNotFound,
    SiteWithData,
)
from services.projects.repo.saves import SaveRepository
from services.projects.repo.sites import OwnedSite, ProjectRepository, SitesPage
from shared.access import Owner
from shared.cache import PROJECT_FILES, PROJECT_LIST, PROJECT_META, Cache, CacheKey
from shared.data.plane import DataPlane
from shared.errors import Conflict, InvalidData, RuleRefused, ValidationFailed

PROJECT_LIMIT_RULE = "project_limit_reached"


class CachedFiles(msgspec.Struct, frozen=True):
    files: list[FileEntry]


class Sites:
    """Sites and saves, each as its caller, read through and invalidating the caches; one per
    process."""

    def __init__(self, data: DataPlane, cache: Cache) -> None:
        self._data = data
        self._cache = cache

    async def page(self, owner: Owner, limit: int, before: str | None) -> AppProjectList:
        """The caller's sites, newest first, `limit` at most, older than the cursor `before`.
        The first page comes from the owner's cached list (its newest `MAX_PAGE` sites)."""
        sites = ProjectRepository(self._data, owner.caller)
        if before is None:
            newest = await self._cache.get_or_load(
                _list_key(owner), SitesPage, lambda: sites.page(MAX_PAGE)
            )
            page = SitesPage(newest.sites[:limit], newest.more or len(newest.sites) > limit)
        else:
            page = await sites.page(limit, PageKey.of(before))
        last = page.sites[-1] if page.sites and page.more else None
        return AppProjectList(
            projects=page.sites,
            next_cursor=PageKey(last.created_at, last.id).cursor() if last else None,
        )

    async def create(self, owner: Owner, request: SiteCreate) -> Site:
        """A new site of the caller's; `ProjectLimitReached` (403) beyond its limit."""
        try:
            created = await ProjectRepository(self._data, owner.caller).create(
                request.name, request.category, request.description
            )
        except RuleRefused as refused:
            if refused.rule == PROJECT_LIMIT_RULE:
                raise ProjectLimitReached() from None
            raise
        await self._cache.invalidate(_list_key(owner))
        return created.site

    async def get(self, owner: Owner, site_id: UUID) -> SiteWithData:
        """One of the caller's sites with its latest save; `SiteNotFound` (404) otherwise."""
        site = await self._site(owner, site_id)
        data = await SaveRepository(self._data, owner.caller).saved(site_id)
        return SiteWithData(**msgspec.structs.asdict(site), data=data)

    async def change(self, owner: Owner, site_id: UUID, request: SiteChange) -> Site:
        """The site after changing the fields given; `SiteNotFound` (404) when not the caller's."""
        values = request.columns()
        if not values:
            return await self._site(owner, site_id)
        changed = await ProjectRepository(self._data, owner.caller).change(site_id, values)
        if changed is None:
            raise SiteNotFound()
        await self._cache.invalidate(PROJECT_META.key(site_id), _list_key(owner))
        return changed.site

    async def delete(self, owner: Owner, site_id: UUID) -> None:
        """Delete the site and everything hanging off it; `SiteNotFound` (404) when not the
        caller's."""
        deleted = await ProjectRepository(self._data, owner.caller).delete(site_id)
        if deleted is None:
            raise SiteNotFound()
        await self._cache.invalidate(
            PROJECT_META.key(site_id), PROJECT_FILES.key(site_id), _list_key(owner)
        )

    async def save(self, owner: Owner, site_id: UUID, request: SaveRequest) -> SavedData:
        """Save the fields given, all or nothing; `SiteNotFound` (404) when not the caller's, a
        422 naming the field whose value SQL refused (a file name twice, a size limit)."""
        try:
            saved = await SaveRepository(self._data, owner.caller).save(site_id, request.changes())
        except (InvalidData, Conflict) as refused:
            raise _refused_field(refused) from None
        if saved is None:
            raise SiteNotFound()
        changed: list[CacheKey] = [_list_key(owner)]
        if request.files is not msgspec.UNSET:
            changed.append(PROJECT_FILES.key(site_id))
        await self._cache.invalidate(*changed)
        return saved

    async def files(self, owner: Owner, site_id: UUID) -> FileList:
        """The saved files of one of the caller's sites, by path; `SiteNotFound` (404)
        otherwise."""
        await self._site(owner, site_id)
        saves = SaveRepository(self._data, owner.caller)

        async def load() -> CachedFiles:
            return CachedFiles(await saves.files(site_id))

        cached = await self._cache.get_or_load(PROJECT_FILES.key(site_id), CachedFiles, load)
        return FileList(cached.files)

    async def _site(self, owner: Owner, site_id: UUID) -> Site:
        """The caller's site; `SiteNotFound` for anyone else. A cached site is served only to
        the owner it was cached with; anyone else is answered by the database (as themselves),
        so a site that changed owners (a guest's, claimed) is found by its new owner."""
        key = PROJECT_META.key(site_id)
        cached = await self._cache.get(key, OwnedSite)
        if cached is not None and _owns(owner, cached):
            return cached.site
        found = await ProjectRepository(self._data, owner.caller).site(site_id)
        if found is None:
            raise SiteNotFound()
        await self._cache.set(key, found)
        return found.site


def _owns(owner: Owner, site: OwnedSite) -> bool:
    return (site.user_id, site.session_id) == (owner.user_id, owner.guest_session)


def _list_key(owner: Owner) -> CacheKey:
    """The owner's list: by user id, or by guest session."""
    return PROJECT_LIST.key(owner.user_id or owner.guest_session or "")


def _refused_field(refused: InvalidData | Conflict) -> ValidationFailed | InvalidData | Conflict:
    """A 422 naming the body's field a constraint is about; the problem itself for any other."""
    field = CONSTRAINT_FIELDS.get(refused.extensions.get("constraint") or "")
    if field is None:
        return refused
    message = (
        "File names must be unique"
        if isinstance(refused, Conflict)
        else "Too long or too large to save"
    )
    errors = [{"field": field, "in": "body", "message": message}]
    return ValidationFailed(f"Invalid: {field}.", errors=errors)
