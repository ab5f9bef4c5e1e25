"""The media library: a signed-in user's files, paged newest first with counts per type and the
quotas left, described, deleted, read back, and a site's images.

Every read and write runs as the user under row-level security, so another user's item or site
is a 404 like none. Bytes are read from storage with the user's own token (Supabase Storage's
policies decide again) and served with the type sniffed at upload, never sniffed again by the
browser (`X-Content-Type-Options: nosniff`); SVG and HTML, which can carry script, are served as
downloads under a sandbox CSP so they never run on our origin.

Deleting an item removes its row and queues its stored object in one SQL statement (a trigger);
the deletion worker (`services.media.reaper`) removes the object, retrying while storage is
down, and is woken here so it does not wait for its next poll.
"""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote
from uuid import UUID

from services.media.models.library import (
    PAGE_LIMIT_DEFAULT,
    FileType,
    LibraryPage,
    MediaChange,
    MediaNotFound,
    ProjectImages,
    quotas,
)
from services.media.models.uploads import MediaItem, MediaRow, ProjectNotFound
from services.media.repo.library import LibraryRepository
from services.media.storage import Storage
from shared.access import SignedInUser
from shared.data.plane import DataPlane

# Types a browser would run script in if it rendered them on our origin.
ACTIVE_TYPES = frozenset({"image/svg+xml", "text/html", "application/xhtml+xml", "text/xml"})
NOSNIFF = {"X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True)
class MediaContent:
    """An item's bytes with the headers they are served under."""

    data: bytes
    media_type: str
    headers: dict[str, str]


class Library:
    """The users' libraries, each as its user; one per process."""

    def __init__(
        self, data: DataPlane, storage: Storage, deleted: Callable[[], None] = lambda: None
    ) -> None:
        """`deleted` is called after each delete (the deletion worker's wake-up)."""
        self._data = data
        self._storage = storage
        self._deleted = deleted

    async def page(
        self,
        user: SignedInUser,
        file_type: FileType | None = None,
        before: UUID | None = None,
        limit: int = PAGE_LIMIT_DEFAULT,
    ) -> LibraryPage:
        """Up to `limit` of the user's items (of `file_type`), newest first, older than the item
        `before`; with counts per type and the quotas left over the whole library."""
        repository = self._repository(user)
        # One more than asked for says whether another page follows.
        rows = await repository.page(file_type, before, limit + 1)
        usage = await repository.usage()
        shown = rows[:limit]
        return LibraryPage(
            items=[MediaItem.of(row) for row in shown],
            next_before=shown[-1].id if len(rows) > limit else None,
            counts={row.file_type: row.used for row in usage},
            quotas=quotas(usage),
        )

    async def item(self, user: SignedInUser, item_id: UUID) -> MediaItem:
        """One of the user's items; `MediaNotFound` (404) for anyone else's or none."""
        return MediaItem.of(await self._stored(user, item_id))

    async def change(self, user: SignedInUser, item_id: UUID, change: MediaChange) -> MediaItem:
        """Change an item's description and tags (only those given); `MediaNotFound` (404)."""
        values = change.columns()
        if not values:
            return await self.item(user, item_id)
        changed = await self._repository(user).change(item_id, values)
        if changed is None:
            raise MediaNotFound()
        return MediaItem.of(changed)

    async def delete(self, user: SignedInUser, item_id: UUID) -> None:
        """Delete an item; its stored object is queued for the deletion worker in the same
        statement. `MediaNotFound` (404) for anyone else's or none."""
        if not await self._repository(user).delete(item_id):
            raise MediaNotFound()
        self._deleted()

    async def content(self, user: SignedInUser, item_id: UUID) -> MediaContent:
        """The item's bytes, read with the user's token; `MediaNotFound` (404) for anyone else's
        or none, `StoredObjectMissing` (404) when its object is gone."""
        stored = await self._stored(user, item_id)
        token = user.caller.token
        # A row names its object, and a client may write any path into its own row: only the
        # user's own folder is read (Supabase's policies say the same; the local directory
        # would not). Never without a token either, which would read as the service role.
        if token is None or not stored.file_path.startswith(f"{user.id}/"):
            raise MediaNotFound()
        data = await self._storage.get(stored.file_path, token)
        headers = {**NOSNIFF, "Cache-Control": "private, max-age=3600"}
        if stored.mime_type in ACTIVE_TYPES:
            headers["Content-Disposition"] = attachment(stored.original_name or stored.filename)
            headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return MediaContent(data, stored.mime_type, headers)

    async def project_images(self, user: SignedInUser, project_id: UUID) -> ProjectImages:
        """The images of one of the user's sites; `ProjectNotFound` (404) for anyone else's."""
        repository = self._repository(user)
        images = await repository.images(project_id)
        # One query for a site with images: they are visible only through the caller's own sites.
        if not images and not await repository.site_exists(project_id):
            raise ProjectNotFound()
        return ProjectImages(images)

    async def _stored(self, user: SignedInUser, item_id: UUID) -> MediaRow:
        stored = await self._repository(user).item(item_id)
        if stored is None:
            raise MediaNotFound()
        return stored

    def _repository(self, user: SignedInUser) -> LibraryRepository:
        return LibraryRepository(self._data, user.caller)


def attachment(name: str) -> str:
    """A `Content-Disposition: attachment` naming the file: an ASCII fallback and the name itself
    (RFC 6266 / 5987), with nothing in it that could end the header value."""
    printable = "".join(char for char in name if char.isprintable())
    fallback = (
        "".join(char if char.isascii() and char not in '"\\;' else "_" for char in printable)
        or "download"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(printable, safe='')}"
