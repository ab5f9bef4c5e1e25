"""The repository vocabulary: queries stated in PostgREST's terms, as typed values.

Repositories build these; a data plane runs them. There are no SQL strings in services: a table,
the columns to return, filters, order, paging, and the rows to write. Tables live in `public`
(the schema the Data API serves); `Rpc` calls a function there that returns rows.

Values may be what the rows hold in Python: UUIDs, datetimes, dates and Decimals are written
(in filters, rows, updates and function arguments) as the Data API's JSON spells them, by
`plain`, so repositories never stringify.
"""

from typing import Any, Literal, TypeVar

import msgspec

from shared.data.rows import row_as, rows_as

StructT = TypeVar("StructT", bound=msgspec.Struct)
FilterOperator = Literal["eq", "neq", "lt", "lte", "gt", "gte", "in", "is", "like", "ilike"]
ALL_COLUMNS = ("*",)


def plain(value: Any) -> Any:
    """`value` in JSON terms, as both planes send it: UUIDs, datetimes, dates, times and
    Decimals as their ISO/canonical text (which Postgres casts to the column's type), dicts,
    lists and Structs element by element."""
    return msgspec.to_builtins(value)


class Filter(msgspec.Struct, frozen=True):
    """`column <operator> value`. `in` takes a list; `is` takes None, True or False; `like` and
    `ilike` take a pattern with `%` wildcards."""

    column: str
    operator: FilterOperator
    value: Any


class Order(msgspec.Struct, frozen=True):
    column: str
    descending: bool = False
    nulls_first: bool | None = None  # None: Postgres's default (first when descending)


class Select(msgspec.Struct, frozen=True, tag=True):
    table: str
    columns: tuple[str, ...] = ALL_COLUMNS
    filters: tuple[Filter, ...] = ()
    order: tuple[Order, ...] = ()
    limit: int | None = None
    offset: int | None = None
    count: bool = False  # also return the exact number of matching rows, ignoring limit/offset


class Insert(msgspec.Struct, frozen=True, tag=True):
    """Insert `rows`; with `on_conflict` an upsert that merges (or, with `ignore_duplicates`,
    skips) rows colliding on those columns."""

    table: str
    rows: tuple[dict[str, Any], ...]
    columns: tuple[str, ...] = ALL_COLUMNS  # what to return
    on_conflict: tuple[str, ...] = ()
    ignore_duplicates: bool = False
    returning: bool = True  # False: return no rows (the caller need not be able to read them)

    def __post_init__(self) -> None:
        if not self.rows:
            raise ValueError("an insert needs at least one row")


class Update(msgspec.Struct, frozen=True, tag=True):
    table: str
    values: dict[str, Any]
    filters: tuple[Filter, ...]
    columns: tuple[str, ...] = ALL_COLUMNS
    returning: bool = True

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("an update needs at least one value")
        if not self.filters:
            raise ValueError("an update needs a filter; it would otherwise touch every row")


class Delete(msgspec.Struct, frozen=True, tag=True):
    table: str
    filters: tuple[Filter, ...]
    columns: tuple[str, ...] = ALL_COLUMNS
    returning: bool = True

    def __post_init__(self) -> None:
        if not self.filters:
            raise ValueError("a delete needs a filter; it would otherwise remove every row")


class Rpc(msgspec.Struct, frozen=True, tag=True):
    """Call `public.<function>(name => value, ...)`; each returned row is a result row."""

    function: str
    args: dict[str, Any] = {}


Query = Select | Insert | Update | Delete | Rpc


class Result:
    """A query's rows as the JSON text both planes receive them in, decoded when asked: as the
    Data API renders them (`rows`), or straight into typed rows (`rows_as`), which skips the
    dicts (a list read's rows cost a fifth of its time as dicts converted one by one)."""

    __slots__ = ("_json", "_rows", "count")

    def __init__(
        self,
        json: bytes | str | None,
        count: int | None = None,
        *,
        rows: list[dict[str, Any]] | None = None,
    ) -> None:
        """`json` is a JSON array of row objects; a plane whose rows needed reshaping gives
        them as `rows` instead (and `json` None)."""
        self._json = json
        self._rows = rows
        self.count = count  # exact match count, when the Select asked for it

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as the Data API renders them: snake_case columns, JSON values."""
        if self._rows is None:
            self._rows = msgspec.json.decode(self._json or b"[]")
        return self._rows

    def rows_as(self, row_type: type[StructT]) -> list[StructT]:
        """The rows as `row_type`s, columns matched to fields by their Python names (as
        `shared.data.rows.row_as` matches them)."""
        if self._json is None:
            return [row_as(row_type, row) for row in self.rows]
        return rows_as(row_type, self._json)


def eq(column: str, value: Any) -> Filter:
    return Filter(column, "eq", value)


def neq(column: str, value: Any) -> Filter:
    return Filter(column, "neq", value)


def lt(column: str, value: Any) -> Filter:
    return Filter(column, "lt", value)


def lte(column: str, value: Any) -> Filter:
    return Filter(column, "lte", value)


def gt(column: str, value: Any) -> Filter:
    return Filter(column, "gt", value)


def gte(column: str, value: Any) -> Filter:
    return Filter(column, "gte", value)


def in_(column: str, values: list[Any]) -> Filter:
    return Filter(column, "in", list(values))


def is_(column: str, value: bool | None) -> Filter:
    return Filter(column, "is", value)


def like(column: str, pattern: str) -> Filter:
    return Filter(column, "like", pattern)


def ilike(column: str, pattern: str) -> Filter:
    return Filter(column, "ilike", pattern)


def asc(column: str, *, nulls_first: bool | None = None) -> Order:
    return Order(column, False, nulls_first)


def desc(column: str, *, nulls_first: bool | None = None) -> Order:
    return Order(column, True, nulls_first)
