"""Supabase Storage's object API as storage3 calls it, over a real Postgres and a directory.

Each request runs as the caller its JWT names, the way Supabase Storage does: in a transaction
that sets the role (`anon`, `authenticated`, `service_role`) and `request.jwt.claims` as PostgREST
would, so the bucket's real policies on `storage.objects` decide who may write, read or delete
what. The rows live in `storage.objects`; the bytes in files under `root/{bucket}/{name}`.

Routes (storage3 2.x, `_async/file_api.py`), under `/storage/v1`:
- `POST /object/{bucket}/{path}` multipart `file` (+ `cacheControl`), `x-upsert` → `{"Id","Key"}`
- `GET /object/{bucket}/{path}` and `/object/authenticated/{bucket}/{path}` → the bytes
- `GET /object/info/{bucket}/{path}` → the object's info; `HEAD /object/{bucket}/{path}`
- `DELETE /object/{bucket}` `{"prefixes": [...]}` → the deleted objects (≤1000 per request)
- `POST /object/list/{bucket}` `{"prefix","limit","offset","sortBy"}` → files and folders (a
  folder has `"id": null`)

Errors are Storage's (src/http/error-handler.ts): HTTP 400 for every non-500 error with the real
status in the body, `{"statusCode": "404", "error": "not_found", "message": "Object not found"}`.
`failing = True` makes every request a 500, `failing_writes` only uploads and removes (storage
down in the middle of an upload).
"""

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import jwt
import multipart  # type: ignore[import-untyped]
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row

PREFIX = "/storage/v1/"
ROLES = frozenset({"anon", "authenticated", "service_role"})
REMOVE_LIMIT = 1000
# Storage's own key rule (src/storage/limits.ts `isValidKey`): printable, no control characters.
VALID_KEY = re.compile(r"^(\w|/|!|-|\.|\*|'|\(|\)| |&|\$|@|=|;|:|\+|,|\?)*$", re.UNICODE)


class StorageError(Exception):
    def __init__(self, status: int, error: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.code = code

    def response(self) -> httpx.Response:
        body: dict[str, Any] = {
            "statusCode": str(self.status),
            "error": self.error,
            "message": self.message,
        }
        if self.code:
            body["code"] = self.code
        return httpx.Response(500 if self.status >= 500 else 400, json=body)


def not_found() -> StorageError:
    return StorageError(404, "not_found", "Object not found", "NoSuchKey")


def denied() -> StorageError:
    return StorageError(
        403, "Unauthorized", "new row violates row-level security policy", "AccessDenied"
    )


@dataclass
class StorageStandIn:
    """The stand-in over `database_url` (a role that may `set role` to the API roles) verifying
    tokens with `jwt_secret`, keeping bytes under `root`."""

    database_url: str
    jwt_secret: str
    root: Path
    failing: bool = False
    failing_writes: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        try:
            writes = request.method in ("POST", "DELETE") and "/object/list/" not in path
            if self.failing or (self.failing_writes and writes):
                raise StorageError(500, "internal", "The storage backend failed")
            if not path.startswith(PREFIX):
                raise StorageError(404, "not_found", "Route not found")
            claims = self._claims(request)
            return await self._route(request, path[len(PREFIX) :], claims)
        except StorageError as error:
            return error.response()

    def _claims(self, request: httpx.Request) -> dict[str, Any]:
        if not request.headers.get("apikey"):
            raise StorageError(400, "Unauthorized", "headers must have required property 'apikey'")
        authorization = request.headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ").strip() or request.headers["apikey"]
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.jwt_secret, algorithms=["HS256"], options={"verify_aud": False}
            )
        except jwt.PyJWTError as error:
            raise StorageError(400, "InvalidJWT", str(error), "InvalidJWT") from None
        if claims.get("role") not in ROLES:
            raise StorageError(403, "Unauthorized", "Unknown role", "AccessDenied")
        return claims

    async def _route(
        self, request: httpx.Request, route: str, claims: dict[str, Any]
    ) -> httpx.Response:
        method = request.method
        parts = route.split("/")
        if parts[0] != "object" or len(parts) < 2:
            raise StorageError(404, "not_found", "Route not found")
        if method == "POST" and parts[1] == "list" and len(parts) == 3:
            return await self._list(parts[2], json.loads(request.content or b"{}"), claims)
        if method == "DELETE" and len(parts) == 2 and parts[1]:
            body = json.loads(request.content or b"{}")
            return await self._remove(parts[1], body.get("prefixes") or [], claims)
        if method == "GET" and parts[1] == "info" and len(parts) >= 4:
            return await self._info(parts[2], _key(parts[3:]), claims)
        if method == "GET" and parts[1] == "authenticated" and len(parts) >= 4:
            return await self._download(parts[2], _key(parts[3:]), claims)
        if method in ("GET", "HEAD") and len(parts) >= 3:
            response = await self._download(parts[1], _key(parts[2:]), claims)
            return httpx.Response(200, headers=response.headers) if method == "HEAD" else response
        if method in ("POST", "PUT") and len(parts) >= 3:
            return await self._upload(request, parts[1], _key(parts[2:]), claims)
        raise StorageError(404, "not_found", "Route not found")

    # --- operations -----------------------------------------------------------------------

    async def _upload(
        self, request: httpx.Request, bucket: str, key: str, claims: dict[str, Any]
    ) -> httpx.Response:
        data, content_type = _file_part(request)
        upsert = request.headers.get("x-upsert", "false").lower() == "true"
        metadata = {
            "size": len(data),
            "mimetype": content_type,
            "cacheControl": f"max-age={request.headers.get('cache-control', '3600')}",
        }
        sub = claims.get("sub")
        owner = sub if claims.get("role") == "authenticated" else None
        async with _as_caller(self.database_url, claims, bucket) as conn:
            statement = (
                "insert into storage.objects (bucket_id, name, owner, owner_id, metadata)"
                " values (%(bucket)s, %(key)s, %(owner)s::uuid, %(owner)s::text,"
                " %(metadata)s::jsonb)"
            )
            if upsert or request.method == "PUT":
                statement += (
                    " on conflict (bucket_id, name) do update"
                    " set metadata = excluded.metadata, updated_at = now()"
                )
            statement += " returning id"
            values = {
                "bucket": bucket,
                "key": key,
                "owner": owner,
                "metadata": json.dumps(metadata),
            }
            try:
                row = await (await conn.execute(statement, values)).fetchone()
            except pg_errors.UniqueViolation:
                raise StorageError(
                    409, "Duplicate", "The resource already exists", "ResourceAlreadyExists"
                ) from None
            except pg_errors.InsufficientPrivilege:
                raise denied() from None
            if row is None:
                raise denied()
            file = self._file(bucket, key)
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(data)
        return httpx.Response(200, json={"Id": str(row["id"]), "Key": f"{bucket}/{key}"})

    async def _download(self, bucket: str, key: str, claims: dict[str, Any]) -> httpx.Response:
        row = await self._object(bucket, key, claims)
        file = self._file(bucket, key)
        if not file.is_file():
            raise not_found()
        metadata = row.get("metadata") or {}
        content_type = metadata.get("mimetype") or "application/octet-stream"
        return httpx.Response(
            200, content=file.read_bytes(), headers={"content-type": content_type}
        )

    async def _info(self, bucket: str, key: str, claims: dict[str, Any]) -> httpx.Response:
        row = await self._object(bucket, key, claims)
        metadata = row.get("metadata") or {}
        return httpx.Response(
            200,
            json={
                "id": str(row["id"]),
                "name": key,
                "bucket_id": bucket,
                "size": metadata.get("size"),
                "content_type": metadata.get("mimetype"),
                "created_at": row["created_at"].isoformat(),
                "metadata": metadata,
            },
        )

    async def _remove(
        self, bucket: str, prefixes: list[str], claims: dict[str, Any]
    ) -> httpx.Response:
        if len(prefixes) > REMOVE_LIMIT:
            raise StorageError(400, "invalid", f"at most {REMOVE_LIMIT} prefixes")
        async with _as_caller(self.database_url, claims, bucket) as conn:
            try:
                rows = await (
                    await conn.execute(
                        "delete from storage.objects where bucket_id = %s and name = any(%s)"
                        " returning id, name, bucket_id, metadata, created_at, updated_at",
                        (bucket, list(prefixes)),
                    )
                ).fetchall()
            except pg_errors.InsufficientPrivilege:
                raise denied() from None
            for row in rows:
                self._file(bucket, row["name"]).unlink(missing_ok=True)
        return httpx.Response(
            200,
            json=[
                {
                    "id": str(row["id"]),
                    "name": row["name"],
                    "bucket_id": row["bucket_id"],
                    "metadata": row["metadata"],
                }
                for row in rows
            ],
        )

    async def _list(
        self, bucket: str, options: dict[str, Any], claims: dict[str, Any]
    ) -> httpx.Response:
        prefix = str(options.get("prefix") or "").strip("/")
        limit = int(options.get("limit") or 100)
        offset = int(options.get("offset") or 0)
        async with _as_caller(self.database_url, claims, bucket) as conn:
            rows = await (
                await conn.execute(
                    "select id, name, metadata, created_at, updated_at from storage.objects"
                    " where bucket_id = %s and (%s = '' or name like %s) order by name",
                    (bucket, prefix, _like_prefix(prefix) + "/%"),
                )
            ).fetchall()
        entries: dict[str, dict[str, Any]] = {}
        for row in rows:
            rest = row["name"][len(prefix) + 1 :] if prefix else row["name"]
            if "/" in rest:
                folder = rest.split("/", 1)[0]
                entries.setdefault(folder, _folder_entry(folder))
            else:
                entries[rest] = {
                    "name": rest,
                    "id": str(row["id"]),
                    "updated_at": row["updated_at"].isoformat(),
                    "created_at": row["created_at"].isoformat(),
                    "last_accessed_at": row["created_at"].isoformat(),
                    "metadata": row["metadata"],
                }
        listed = [entries[name] for name in sorted(entries)][offset : offset + limit]
        return httpx.Response(200, json=listed)

    # --- helpers ----------------------------------------------------------------------------

    async def _object(self, bucket: str, key: str, claims: dict[str, Any]) -> dict[str, Any]:
        async with _as_caller(self.database_url, claims, bucket) as conn:
            row = await (
                await conn.execute(
                    "select id, name, metadata, created_at from storage.objects"
                    " where bucket_id = %s and name = %s",
                    (bucket, key),
                )
            ).fetchone()
        if row is None:
            raise not_found()
        return row

    def _file(self, bucket: str, key: str) -> Path:
        root = self.root.resolve()
        file = (root / bucket / key).resolve()
        if not file.is_relative_to(root / bucket):
            raise StorageError(400, "InvalidKey", f"Invalid key: {key}", "InvalidKey")
        return file


@asynccontextmanager
async def _as_caller(
    database_url: str, claims: dict[str, Any], bucket: str
) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
    """A connection in a transaction as the caller, the way Storage runs a request: the bucket is
    looked up with Storage's own rights, then `set local role` and the JWT's claims as
    `request.jwt.claims`, so the policies on `storage.objects` decide. Committed when the block
    ends normally, rolled back when it raises; closed either way."""
    conn = await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row)
    async with conn:
        found = await (
            await conn.execute("select id from storage.buckets where id = %s", (bucket,))
        ).fetchone()
        if found is None:
            raise StorageError(404, "Bucket not found", "Bucket not found", "NoSuchBucket")
        await conn.execute(
            "select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),)
        )
        await conn.execute(sql.SQL("set local role {}").format(sql.Identifier(str(claims["role"]))))
        yield conn


def _key(parts: list[str]) -> str:
    key = unquote("/".join(parts))
    segments = key.split("/")
    if not key or any(part in ("", ".", "..") for part in segments) or not VALID_KEY.match(key):
        raise StorageError(400, "InvalidKey", f"Invalid key: {key}", "InvalidKey")
    return key


def _file_part(request: httpx.Request) -> tuple[bytes, str]:
    content_type = request.headers.get("content-type", "")
    boundary = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not content_type.startswith("multipart/form-data") or boundary is None:
        # storage3 always sends a form; a raw body is Storage's other accepted shape.
        return request.content, content_type or "application/octet-stream"
    parser = multipart.MultipartParser(BytesIO(request.content), boundary.group(1))
    for part in parser:
        if part.name == "file":
            return part.raw, part.content_type or "application/octet-stream"
    raise StorageError(400, "invalid", "No file in the form")


def _folder_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "id": None,
        "updated_at": None,
        "created_at": None,
        "last_accessed_at": None,
        "metadata": None,
    }


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
