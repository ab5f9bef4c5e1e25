"""Where media's bytes live: one interface, two backends.

`SupabaseStorage` talks to Supabase Storage with storage3 (supabase-py's client) on the app's
shared HTTP client; a caller's JWT goes along, so the bucket's policies on `storage.objects`
decide as that user, and `token=None` means the service role (workers, the reaper).
`LocalStorage` keeps objects as files under MEDIA_DIR (`sajtmaskin dev` without Supabase); it
trusts the service to pass only paths the caller owns (the service builds every path itself).

`open_storage(settings, http)` picks Supabase when its Storage URL and keys are configured,
else the local directory.
"""

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import httpx
import structlog
from storage3 import AsyncStorageClient
from storage3._async.file_api import AsyncBucketProxy
from storage3.exceptions import StorageApiError
from storage3.types import FileOptions
from storage3.utils import StorageException

from shared.config import Settings
from shared.errors import Forbidden, NotFound, ServiceUnavailable

logger = structlog.stdlib.get_logger(__name__)

LIST_PAGE = 1000
"""Entries per Storage list request (Supabase answers at most 1000)."""

REMOVE_BATCH = 1000
"""Paths per Storage remove request (Supabase's limit)."""


class StorageUnavailable(ServiceUnavailable):
    code = "storage_unavailable"
    title = "File storage is unavailable"


class StorageRefused(Forbidden):
    """Storage's policies refused the caller (never expected: the service builds paths in the
    caller's own folder)."""

    code = "storage_refused"
    title = "File storage refused the request"


class StoredObjectMissing(NotFound):
    code = "stored_object_missing"
    title = "The stored file does not exist"


class Storage(Protocol):
    """An object store for media. `token`: the caller's JWT (the store applies the bucket's
    policies as that user); None = the service role. Failures raise `StorageUnavailable`."""

    async def put(self, path: str, data: bytes, content_type: str, token: str | None) -> None:
        """Store `data` at `path` (a new path: an existing object is not replaced)."""
        ...

    async def get(self, path: str, token: str | None) -> bytes:
        """The object's bytes; `StoredObjectMissing` when there is none (or none the caller may
        read)."""
        ...

    async def delete(self, paths: list[str], token: str | None) -> None:
        """Delete the objects; paths already gone are fine."""
        ...

    async def exists(self, path: str) -> bool:
        """Whether an object is stored at `path` (as the service role)."""
        ...

    async def list_paths(self, prefix: str) -> list[str]:
        """Every stored path under the folder `prefix` ("" for all), as the service role."""
        ...


def check_path(path: str) -> str:
    """`path` if it is a plain relative object key (no dot segments, empty segments, backslashes
    or control characters), else ValueError."""
    parts = path.split("/")
    if (
        not path
        or any(part in ("", ".", "..") for part in parts)
        or "\\" in path
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in path)
    ):
        raise ValueError(f"not a valid object path: {path!r}")
    return path


def _folder(prefix: str) -> str:
    prefix = prefix.strip("/")
    if prefix:
        check_path(prefix)
    return prefix


class SupabaseStorage:
    """Supabase Storage's object API through storage3, bucket MEDIA_BUCKET."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        url = settings.storage_url
        if not url or not settings.supabase_anon_key or not settings.supabase_service_role_key:
            raise ValueError(
                "Supabase Storage needs SUPABASE_URL (or SUPABASE_STORAGE_URL), SUPABASE_ANON_KEY"
                " and SUPABASE_SERVICE_ROLE_KEY"
            )
        self.url = url.rstrip("/") + "/"
        self.bucket = settings.media_bucket
        self.anon_key = settings.supabase_anon_key
        self.service_key = settings.supabase_service_role_key
        self.http = http

    def _files(self, token: str | None) -> AsyncBucketProxy:
        key = self.service_key if token is None else self.anon_key
        client = AsyncStorageClient(
            self.url,
            {"apikey": key, "Authorization": f"Bearer {token or self.service_key}"},
            http_client=self.http,
        )
        return client.from_(self.bucket)

    async def put(self, path: str, data: bytes, content_type: str, token: str | None) -> None:
        options: FileOptions = {"content-type": content_type, "upsert": "false"}
        with _translated(path):
            await self._files(token).upload(check_path(path), data, options)

    async def get(self, path: str, token: str | None) -> bytes:
        with _translated(path):
            try:
                return await self._files(token).download(check_path(path))
            except StorageApiError as error:
                if str(error.status) in ("404", "400") and error.code in ("not_found", "NoSuchKey"):
                    raise StoredObjectMissing(f"No stored file at {path!r}.") from error
                raise

    async def delete(self, paths: list[str], token: str | None) -> None:
        files = self._files(token)
        for start in range(0, len(paths), REMOVE_BATCH):
            batch = [check_path(path) for path in paths[start : start + REMOVE_BATCH]]
            with _translated(batch[0]):
                await files.remove(batch)

    async def exists(self, path: str) -> bool:
        with _translated(path):
            return await self._files(None).exists(check_path(path))

    async def list_paths(self, prefix: str) -> list[str]:
        files = self._files(None)
        found: list[str] = []
        folders = [_folder(prefix)]
        with _translated(prefix):
            while folders:
                folder = folders.pop()
                offset = 0
                while True:
                    entries = await files.list(folder, {"limit": LIST_PAGE, "offset": offset})
                    for entry in entries:
                        name = f"{folder}/{entry['name']}" if folder else str(entry["name"])
                        # Storage lists a folder as an entry without an id.
                        (folders if entry.get("id") is None else found).append(name)
                    if len(entries) < LIST_PAGE:
                        break
                    offset += LIST_PAGE
        return sorted(found)


@contextmanager
def _translated(path: str) -> Iterator[None]:
    """Storage's errors as our problems: a refusal is `StorageRefused`, anything else (an API
    error, a transport failure) `StorageUnavailable`."""
    try:
        yield
    except StorageApiError as error:
        raise _problem(error, path) from error
    except (httpx.HTTPError, StorageException) as error:
        raise _unavailable(error, path) from error


def _problem(error: StorageApiError, path: str) -> Exception:
    if str(error.status) == "403":
        return StorageRefused(f"File storage refused access to {path!r}.")
    return _unavailable(error, path)


def _unavailable(error: Exception, path: str) -> StorageUnavailable:
    logger.warning("storage_failed", path=path, error=str(error))
    return StorageUnavailable("File storage did not answer; try again shortly.")


class LocalStorage:
    """Objects as files under MEDIA_DIR (default `<state_dir>/media`), for local use."""

    def __init__(self, settings: Settings) -> None:
        self.root = Path(settings.media_root).resolve()

    def _file(self, path: str) -> Path:
        file = (self.root / check_path(path)).resolve()
        if not file.is_relative_to(self.root):
            raise ValueError(f"not a valid object path: {path!r}")
        return file

    async def put(self, path: str, data: bytes, content_type: str, token: str | None) -> None:
        file = self._file(path)
        try:
            await asyncio.to_thread(_write_new, file, data)
        except FileExistsError as error:
            raise StorageUnavailable(f"A file is already stored at {path!r}.") from error
        except OSError as error:
            raise _unavailable(error, path) from error

    async def get(self, path: str, token: str | None) -> bytes:
        file = self._file(path)
        try:
            return await asyncio.to_thread(file.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise StoredObjectMissing(f"No stored file at {path!r}.") from error
        except OSError as error:
            raise _unavailable(error, path) from error

    async def delete(self, paths: list[str], token: str | None) -> None:
        files = [self._file(path) for path in paths]
        try:
            await asyncio.to_thread(_unlink_all, files)
        except OSError as error:
            raise _unavailable(error, paths[0]) from error

    async def exists(self, path: str) -> bool:
        return await asyncio.to_thread(self._file(path).is_file)

    async def list_paths(self, prefix: str) -> list[str]:
        folder = _folder(prefix)
        base = self._file(folder) if folder else self.root
        return await asyncio.to_thread(_walk, self.root, base)


def _write_new(file: Path, data: bytes) -> None:
    """Write `file` whole or not at all (a temporary file renamed into place); never replace."""
    file.parent.mkdir(parents=True, exist_ok=True)
    if file.exists():
        raise FileExistsError(file)
    temporary = file.with_name(f".{file.name}.{secrets.token_hex(6)}.part")
    try:
        temporary.write_bytes(data)
        os.link(temporary, file)  # fails if another writer got there first
    finally:
        temporary.unlink(missing_ok=True)


def _unlink_all(files: list[Path]) -> None:
    for file in files:
        file.unlink(missing_ok=True)


def _walk(root: Path, base: Path) -> list[str]:
    if not base.is_dir():
        return []
    return sorted(
        file.relative_to(root).as_posix()
        for file in base.rglob("*")
        if file.is_file() and not file.name.endswith(".part")
    )


def open_storage(settings: Settings, http: httpx.AsyncClient) -> Storage:
    """Supabase Storage when configured (SUPABASE_URL or SUPABASE_STORAGE_URL), else MEDIA_DIR."""
    if settings.storage_url:
        return SupabaseStorage(settings, http)
    return LocalStorage(settings)
