"""The data plane a repository runs its queries on: PostgREST over HTTP, or Postgres directly.

Both run the same `Query` as the same caller under the same row-level security and give the same
rows and the same errors, so the choice is configuration (`DATA_PLANE`), not code.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol, runtime_checkable

import httpx

from shared.config import Settings
from shared.data.query import Query, Result
from shared.identity import Caller


# Runtime-checkable because Litestar checks dependency values against their annotations.
@runtime_checkable
class DataPlane(Protocol):
    name: str

    async def run(self, caller: Caller, query: Query) -> Result:
        """Run `query` as `caller`; raises `shared.errors.Problem` subclasses on failure."""
        ...

    async def ping(self) -> None:
        """Raise `DatabaseUnavailable` unless the database answers."""
        ...

    async def close(self) -> None: ...


async def open_data_plane(settings: Settings, http: httpx.AsyncClient) -> DataPlane:
    """The plane `settings.data_plane` names, ready to use; `http` is the app's shared client."""
    if settings.data_plane == "postgrest":
        from shared.data.postgrest import PostgrestPlane

        return PostgrestPlane(settings, http)
    from shared.data.postgres import PostgresPlane

    return await PostgresPlane.open(settings)


@asynccontextmanager
async def job_clients(settings: Settings) -> AsyncIterator[tuple[DataPlane, httpx.AsyncClient]]:
    """A one-off job's own data plane and HTTP client (a CLI command, a scheduled run: no app
    lifespan to share them), closed when the job ends."""
    async with httpx.AsyncClient(timeout=settings.http_timeout_s) as http:
        plane = await open_data_plane(settings, http)
        try:
            yield plane, http
        finally:
            await plane.close()
