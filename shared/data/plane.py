"""The data plane a repository runs its queries on: PostgREST over HTTP, or Postgres directly.

Both run the same `Query` as the same caller under the same row-level security and give the same
rows and the same errors, so the choice is configuration (`DATA_PLANE`), not code.
"""

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
