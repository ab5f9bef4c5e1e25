"""The base of every repository: one data plane, one caller, and single-row reads.

A repository is a list of queries run as one caller (a user or guest under row-level security,
or the service role for reviewed server paths). Routes get one by role, never by hand:
`as_caller(Repo)` / `as_service_role(Repo)` in `shared.access`.

    class WalletRepository(Repository):
        async def balance(self, user_id: UUID) -> Balance | None:
            return await self.one_or_none(Select("users", COLUMNS, (eq("id", user_id),)), Balance)
"""

from typing import Any, TypeVar

import msgspec

from shared.data.plane import DataPlane
from shared.data.query import Query, Result
from shared.errors import NotFound
from shared.identity import Caller

StructT = TypeVar("StructT", bound=msgspec.Struct)


class MoreThanOneRow(LookupError):
    """A single-row read matched several rows: a bug in the query (the client sees a bare 500)."""


class Repository:
    """Queries run on `data` as `caller`; subclasses add one method per question or change."""

    def __init__(self, data: DataPlane, caller: Caller) -> None:
        self.data = data
        self.caller = caller

    async def run(self, query: Query) -> Result:
        """The query's rows and, for a counting Select, the count."""
        return await self.data.run(self.caller, query)

    async def rows(self, query: Query) -> list[dict[str, Any]]:
        """The query's rows as the Data API renders them (JSON values, snake_case columns)."""
        return (await self.data.run(self.caller, query)).rows

    async def rows_as(self, query: Query, type_: type[StructT]) -> list[StructT]:
        """The query's rows as `type_`s (columns matched to fields by their Python names),
        decoded straight from the JSON the plane received."""
        return (await self.data.run(self.caller, query)).rows_as(type_)

    async def one_or_none(self, query: Query, type_: type[StructT]) -> StructT | None:
        """The single row as `type_`, None when there is none (PostgREST's `maybe_single`);
        more than one row raises `MoreThanOneRow`."""
        rows = await self.rows_as(query, type_)
        if not rows:
            return None
        if len(rows) > 1:
            raise MoreThanOneRow(f"{len(rows)} rows where at most one was expected")
        return rows[0]

    async def one(self, query: Query, type_: type[StructT]) -> StructT:
        """The single row as `type_`; `NotFound` (404) when the caller sees none."""
        found = await self.one_or_none(query, type_)
        if found is None:
            raise NotFound()
        return found
