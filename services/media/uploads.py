"""Uploads: a signed-in user's file into their media library, decided by its bytes.

The form is read as it streams in and cut off past MEDIA_MAX_BYTES (plus the form's own small
fields); the file part spools to disk past 1 MiB, so no request holds more than the limit in
memory. The type is what the bytes are (`sniff`). The object goes to storage first, under a path
that holds nothing of the client's file name, then one SQL call records the library row (and,
for a site, its image): the quota is decided there, under the user's lock. If that call fails the
object is deleted again (or, if storage fails too, queued for the deletion worker), so no row
points at nothing and no object is left behind silently.
"""

import json
import os
import secrets
import time
import unicodedata
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from litestar import Request
from litestar._multipart import parse_multipart_form
from litestar.datastructures import UploadFile
from litestar.exceptions import ClientException
from litestar.utils.predicates import is_non_string_sequence

from services.media.models.library import Usage
from services.media.models.uploads import (
    DESCRIPTION_MAX,
    TAG_MAX,
    TAGS_MAX,
    FileTooLarge,
    MediaItem,
    ProjectNotFound,
    QuotaExceeded,
    UnsupportedFileType,
)
from services.media.repo.deletions import DeletionsRepository
from services.media.repo.uploads import NewMedia, UploadsRepository
from services.media.sniff import NotAllowed, Sniffed, sniff
from services.media.storage import Storage
from shared.access import SignedInUser
from shared.config import Settings
from shared.data.plane import DataPlane
from shared.errors import BadRequest, Problem, RuleRefused, ValidationFailed
from shared.identity import service_caller

logger = structlog.stdlib.get_logger(__name__)

FORM_OVERHEAD = 64 * 1024
"""What a form may carry besides the file: part headers, boundaries, description and tags."""

FORM_PARTS = 8
"""At most this many parts in an upload form (file, projectId, description, tags)."""

FORM_FIELDS = ("file", "projectId", "description", "tags")

CATEGORIES = {"image": "images", "video": "videos", "pdf": "documents", "text": "documents"}
"""The folder of each file type under the user's own: `{userId}/{category}/...`."""

ORIGINAL_NAME_MAX = 255


@dataclass(frozen=True)
class UploadForm:
    """An upload as the form sent it, validated but for the file's type."""

    data: bytes
    declared_type: str | None
    filename: str
    project_id: UUID | None
    description: str | None
    tags: list[str]


class Uploads:
    """Stores a user's uploads and records them in their library."""

    def __init__(self, settings: Settings, data: DataPlane, storage: Storage) -> None:
        self._settings = settings
        self._data = data
        self._storage = storage

    async def read_form(self, request: Request[Any, Any, Any]) -> UploadForm:
        """The upload form of `request`, read as it streams; 413 `file_too_large` past the
        limit, 400 for a body that is not a multipart form, 422 naming a bad field."""
        return await read_upload_form(request, self._settings.media_max_bytes)

    async def upload(self, user: SignedInUser, form: UploadForm) -> MediaItem:
        """Store the file and add it to the user's library (and the site's images)."""
        try:
            sniffed = sniff(form.data, form.declared_type, form.filename)
        except NotAllowed as refused:
            raise UnsupportedFileType(str(refused)) from None
        uploads = UploadsRepository(self._data, user.caller)
        if form.project_id is not None and not await uploads.site_exists(form.project_id):
            raise ProjectNotFound("You have no site with this id.")
        # Spares storing a file the library has no room for; the SQL call still decides.
        usage = await uploads.usage()
        if _full(usage, sniffed.file_type):
            raise _quota_exceeded(sniffed.file_type, usage)

        filename = f"{int(time.time() * 1000)}_{secrets.token_hex(8)}{sniffed.extension}"
        path = f"{user.id}/{CATEGORIES[sniffed.file_type]}/{filename}"
        await self._storage.put(path, form.data, sniffed.mime_type, user.caller.token)
        try:
            row = await uploads.record(_new_media(form, sniffed, filename, path))
        except BaseException as failed:
            await self._discard(path, user)
            if isinstance(failed, RuleRefused):
                raise await self._refusal(failed, sniffed, uploads) from None
            raise
        return MediaItem.of(row)

    async def _refusal(
        self, refused: RuleRefused, sniffed: Sniffed, uploads: UploadsRepository
    ) -> Problem:
        if refused.rule == "quota_exceeded":
            return _quota_exceeded(sniffed.file_type, await uploads.usage())
        if refused.rule == "project_not_found":
            return ProjectNotFound("You have no site with this id.")
        return refused

    async def _discard(self, path: str, user: SignedInUser) -> None:
        """Delete the object no row will point at; if storage fails, queue it for the worker."""
        try:
            await self._storage.delete([path], user.caller.token)
        except Exception:
            logger.warning("upload_object_not_deleted", path=path)
            try:
                await DeletionsRepository(self._data, service_caller(self._settings)).queue(path)
            except Exception:
                logger.exception("upload_object_orphaned", path=path)


def _full(usage: list[Usage], file_type: str) -> bool:
    return any(
        kind.file_type == file_type and kind.quota is not None and kind.used >= kind.quota
        for kind in usage
    )


def _quota_exceeded(file_type: str, usage: list[Usage]) -> QuotaExceeded:
    counts = {f"{kind.file_type}s": kind.used for kind in usage if kind.quota is not None}
    quotas = {f"{kind.file_type}s": kind.quota for kind in usage if kind.quota is not None}
    return QuotaExceeded(
        f"Your library holds as many {file_type}s as it may; delete one to upload another.",
        fileType=file_type,
        counts=counts,
        quotas=quotas,
    )


def _new_media(form: UploadForm, sniffed: Sniffed, filename: str, path: str) -> NewMedia:
    return NewMedia(
        filename=filename,
        original_name=form.filename,
        file_path=path,
        mime_type=sniffed.mime_type,
        file_type=sniffed.file_type,
        size_bytes=len(form.data),
        description=form.description,
        tags=form.tags,
        project_id=form.project_id,
    )


# The form --------------------------------------------------------------------------------------


async def read_upload_form(request: Request[Any, Any, Any], max_bytes: int) -> UploadForm:
    """Parse the multipart body, counting bytes as they arrive: past `max_bytes` plus the form's
    overhead the request is cut off with 413, and a file part over `max_bytes` is 413 too."""
    media_type, options = request.content_type
    boundary = options.get("boundary")
    if media_type != "multipart/form-data" or not boundary:
        raise BadRequest("Send the file as multipart/form-data.")
    ceiling = max_bytes + FORM_OVERHEAD
    declared_length = request.headers.get("content-length")
    if declared_length and declared_length.isdigit() and int(declared_length) > ceiling:
        raise _too_large(max_bytes)
    try:
        fields = await parse_multipart_form(
            stream=_limited(request.stream(), ceiling, max_bytes),
            boundary=boundary.encode(),
            multipart_form_part_limit=FORM_PARTS,
        )
    except ClientException as error:
        raise BadRequest(f"The form could not be read: {error.detail}.") from None
    try:
        return await _form(fields, max_bytes)
    finally:
        for value in fields.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, UploadFile):
                    await item.close()


async def _limited(
    stream: AsyncGenerator[bytes, None], ceiling: int, max_bytes: int
) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > ceiling:
            raise _too_large(max_bytes)
        yield chunk


async def _form(fields: dict[str, Any], max_bytes: int) -> UploadForm:
    unknown = sorted(name for name in fields if name not in FORM_FIELDS)
    if unknown:
        raise _invalid(unknown[0], "Not a field of an upload")
    for name, value in fields.items():
        if is_non_string_sequence(value):
            raise _invalid(name, "Sent more than once")
    upload = fields.get("file")
    if not isinstance(upload, UploadFile):
        raise _invalid("file", "A file is required")
    size = await _size(upload)
    if size > max_bytes:
        raise _too_large(max_bytes)
    data = await upload.read()
    declared = {key.lower(): value for key, value in upload.headers.items()}.get("content-type")
    return UploadForm(
        data=data,
        declared_type=declared,
        filename=original_name(upload.filename),
        project_id=_project_id(fields.get("projectId")),
        description=_description(fields.get("description")),
        tags=_tags(fields.get("tags")),
    )


async def _size(upload: UploadFile) -> int:
    """The part's size, from its spooled file (in memory to 1 MiB, then on disk)."""
    upload.file.seek(0, os.SEEK_END)
    size = upload.file.tell()
    upload.file.seek(0)
    return size


def _project_id(value: object) -> UUID | None:
    if value is None or value == "":
        return None
    try:
        return UUID(str(value))
    except ValueError:
        raise _invalid("projectId", "Not a site id") from None


def _description(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > DESCRIPTION_MAX:
        raise _invalid("description", f"At most {DESCRIPTION_MAX} characters")
    return text or None


def _tags(value: object) -> list[str]:
    if value is None or value == "":
        return []
    try:
        tags = json.loads(str(value))
    except ValueError:
        raise _invalid("tags", "A JSON array of strings") from None
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise _invalid("tags", "A JSON array of strings")
    cleaned = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
    if len(cleaned) > TAGS_MAX or any(len(tag) > TAG_MAX for tag in cleaned):
        raise _invalid("tags", f"At most {TAGS_MAX} tags of at most {TAG_MAX} characters")
    return cleaned


def original_name(filename: str | None) -> str:
    """The client's file name made safe to keep and show: its last path segment, NFC, without
    control or format characters, at most 255 characters (keeping the extension); "file" when
    nothing is left. Never part of a storage path."""
    name = unicodedata.normalize("NFC", filename or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C")
    name = name.strip().strip(".").strip()
    if len(name) > ORIGINAL_NAME_MAX:
        stem, extension = os.path.splitext(name)
        extension = extension if len(extension) <= 16 else ""
        name = stem[: ORIGINAL_NAME_MAX - len(extension)] + extension
    return name or "file"


def _too_large(max_bytes: int) -> FileTooLarge:
    return FileTooLarge(f"Files may be at most {max_bytes} bytes.", maxBytes=max_bytes)


def _invalid(field: str, message: str) -> ValidationFailed:
    errors = [{"field": field, "in": "body", "message": message}]
    return ValidationFailed(f"Invalid: {field}.", errors=errors)
