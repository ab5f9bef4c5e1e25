"""The `postgres` data plane: the same queries over a direct connection, as PostgREST runs them.

Each call is one pipelined transaction (one network round trip): a single
`select set_config(...)` that takes on the caller's role, JWT claims and statement timeout (all
transaction-local, so a pooled connection never carries one caller's identity into the next;
reads also make the transaction read-only), then the query, then the pipeline's sync. Postgres
runs the statements before a sync as one implicit transaction, committed at the sync (rolled
back on an error), so no `begin` and `commit` are sent; the isolation is the server's default,
read committed, as PostgREST's. The query builds its JSON in Postgres with `json_agg`, as
PostgREST does, so both planes return the same values. Identifiers are quoted by `psycopg.sql`;
values are always bound parameters.

The SQL of a read depends only on its shape (table, columns, which filters on which columns, order,
paging), never on its values, so each shape is compiled to bytes once and reused; composing and
quoting on every call was a fifth of a list request's time.
"""

import functools
from typing import Any

import msgspec
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from shared.config import Settings
from shared.data.failures import RETRY_AFTER, problem_for
from shared.data.query import (
    Delete,
    Filter,
    Insert,
    Order,
    Query,
    Result,
    Select,
    Update,
    plain,
)
from shared.errors import DatabaseUnavailable
from shared.identity import Caller

# The caller's settings hold for the rest of the implicit transaction (see above). Turning a
# transaction read-only is allowed after its first statement; BEGIN and COMMIT cost two of four
# statements' work in psycopg (~15% of a call's CPU).
TAKE_ON_CALLER = (
    b"select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
    b" set_config('statement_timeout', %s, true)"
)
TAKE_ON_CALLER_READ_ONLY = (
    b"select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
    b" set_config('statement_timeout', %s, true), set_config('transaction_read_only', 'on', true)"
)
COMPARISONS = {
    "eq": "=",
    "neq": "<>",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
    "like": "like",
    "ilike": "ilike",
}
IS_VALUES = {None: sql.SQL("null"), True: sql.SQL("true"), False: sql.SQL("false")}
POOL_WAIT_SECONDS = 3.0  # how long a request waits for a free connection before a 503
SHAPES_KEPT = 1024  # compiled statements kept per kind (in-lists of each length are a shape)

Statement = tuple[bytes | sql.Composed, list[Any]]
# A filter without its value: (column, operator, the in-list's length or the `is` value).
FilterShape = tuple[str, str, Any]


class PostgresPlane:
    name = "postgres"

    def __init__(
        self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]], statement_timeout_ms: int
    ) -> None:
        self.pool = pool
        self.statement_timeout = str(statement_timeout_ms)

    @classmethod
    async def open(cls, settings: Settings) -> "PostgresPlane":
        if not settings.database_url:
            raise ValueError("the postgres plane needs DATABASE_URL")
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            settings.database_url,
            min_size=1,
            max_size=settings.db_pool_size,
            timeout=POOL_WAIT_SECONDS,
            # Each pipeline is its own (implicit) transaction: the driver must not open one.
            # psycopg prepares a statement on its 5th use; None never does (transaction pooling).
            kwargs={
                "autocommit": True,
                "prepare_threshold": None if settings.db_transaction_pooler else 5,
            },
            open=False,
        )
        # Not waiting: a service whose database is down still starts, and /ready says so.
        await pool.open(wait=False)
        return cls(pool, settings.statement_timeout_ms)

    async def run(self, caller: Caller, query: Query) -> Result:
        statement, params = _compile(query)
        counting = _count_of(query) if isinstance(query, Select) and query.count else None
        context = (caller.role, msgspec.json.encode(caller.claims).decode(), self.statement_timeout)
        try:
            async with self.pool.connection() as conn:
                async with conn.pipeline():
                    take_on_caller = (
                        TAKE_ON_CALLER_READ_ONLY if isinstance(query, Select) else TAKE_ON_CALLER
                    )
                    await conn.execute(take_on_caller, context)
                    rows = await conn.execute(statement, params)
                    counted = await conn.execute(*counting) if counting else None
                # Read once the pipeline has synced, which brought every result back: reading
                # inside it would first ask the server to flush, a round trip more.
                row = await rows.fetchone()
                total = await counted.fetchone() if counted else None
        except PoolTimeout as error:
            raise DatabaseUnavailable(headers=RETRY_AFTER) from error
        except psycopg.OperationalError as error:
            if error.sqlstate is None:  # the connection itself failed
                raise DatabaseUnavailable(headers=RETRY_AFTER) from error
            raise problem_for(error.sqlstate, error.diag.message_primary) from error
        except psycopg.Error as error:
            raise problem_for(error.sqlstate, error.diag.message_primary) from error
        assert row is not None
        return Result(row[0], total[0] if total else None)

    async def ping(self) -> None:
        try:
            async with self.pool.connection() as conn:
                await conn.execute("select 1")
        except (PoolTimeout, psycopg.Error) as error:
            raise DatabaseUnavailable() from error

    async def close(self) -> None:
        await self.pool.close()


def _compile(query: Query) -> Statement:
    """One statement returning the result rows as a JSON array (text)."""
    if isinstance(query, Select):
        params = _filter_params(query.filters)
        if query.limit is not None:
            params.append(query.limit)
        if query.offset is not None:
            params.append(query.offset)
        statement = _select_sql(
            query.table,
            query.columns,
            _filter_shape(query.filters),
            query.order,
            query.limit is not None,
            query.offset is not None,
        )
        return statement, params
    if isinstance(query, Insert):
        return _insert(query)
    if isinstance(query, Update):
        return _update(query)
    if isinstance(query, Delete):
        where = _where(query.table, _filter_shape(query.filters))
        change = sql.SQL("delete from {}{}{}").format(_table(query.table), where, _returning(query))
        return _as_json_from_change(change, query.returning), _filter_params(query.filters)
    return _rpc_sql(query.function, tuple(query.args)), [
        _argument(value) for value in query.args.values()
    ]


def _count_of(query: Select) -> Statement:
    return _count_sql(query.table, _filter_shape(query.filters)), _filter_params(query.filters)


@functools.lru_cache(maxsize=SHAPES_KEPT)
def _select_sql(
    table: str,
    columns: tuple[str, ...],
    filters: tuple[FilterShape, ...],
    order: tuple[Order, ...],
    limit: bool,
    offset: bool,
) -> bytes:
    inner = sql.SQL("select {} from {}{}{}{}{}").format(
        _columns(table, columns),
        _table(table),
        _where(table, filters),
        _order_by(table, order),
        sql.SQL(" limit %s" if limit else ""),
        sql.SQL(" offset %s" if offset else ""),
    )
    return _as_json(inner).as_bytes()


@functools.lru_cache(maxsize=SHAPES_KEPT)
def _count_sql(table: str, filters: tuple[FilterShape, ...]) -> bytes:
    count = sql.SQL("select count(*) from {}{}").format(_table(table), _where(table, filters))
    return count.as_bytes()


@functools.lru_cache(maxsize=SHAPES_KEPT)
def _rpc_sql(function: str, arguments: tuple[str, ...]) -> bytes:
    # Arguments travel as untyped text, so Postgres casts each to its parameter's type as it
    # does for PostgREST's JSON arguments.
    named = sql.SQL(", ").join(
        sql.SQL("{} => %s").format(sql.Identifier(name)) for name in arguments
    )
    # The sub-select names a plain value's column after the function, as PostgREST's rows do.
    call = sql.SQL(
        "select coalesce(json_agg(pgrst_row), '[]')::text from (select * from {}({})) as pgrst_row"
    ).format(sql.Identifier("public", function), named)
    return call.as_bytes()


def _insert(query: Insert) -> Statement:
    columns = sorted({column for row in query.rows for column in row})
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    conflict: sql.Composable = sql.SQL("")
    if query.on_conflict:
        target = sql.SQL(", ").join(map(sql.Identifier, query.on_conflict))
        if query.ignore_duplicates:
            conflict = sql.SQL(" on conflict ({}) do nothing").format(target)
        else:
            merge = sql.SQL(", ").join(
                sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in columns
            )
            conflict = sql.SQL(" on conflict ({}) do update set {}").format(target, merge)
    # Missing keys become null, as with PostgREST's `missing=default` off.
    change = sql.SQL(
        "insert into {table} ({names})"
        " select {names} from jsonb_populate_recordset(null::{table}, %s){conflict}{returning}"
    ).format(table=_table(query.table), names=names, conflict=conflict, returning=_returning(query))
    return _as_json_from_change(change, query.returning), [_json(list(query.rows))]


def _update(query: Update) -> Statement:
    assignments = sql.SQL(", ").join(
        sql.SQL("{0} = pgrst_body.{0}").format(sql.Identifier(column)) for column in query.values
    )
    change = sql.SQL(
        "update {table} set {assignments}"
        " from (select * from jsonb_populate_record(null::{table}, %s)) as pgrst_body"
        "{where}{returning}"
    ).format(
        table=_table(query.table),
        assignments=assignments,
        where=_where(query.table, _filter_shape(query.filters)),
        returning=_returning(query),
    )
    return _as_json_from_change(change, query.returning), [
        _json(query.values),
        *_filter_params(query.filters),
    ]


def _as_json(inner: sql.Composable) -> sql.Composed:
    return sql.SQL(
        "select coalesce(json_agg(pgrst_row), '[]')::text from ({}) as pgrst_row"
    ).format(inner)


def _as_json_from_change(change: sql.Composable, returning: bool) -> sql.Composed:
    if not returning:
        return sql.SQL("with pgrst_change as ({}) select '[]'").format(change)
    return sql.SQL(
        "with pgrst_change as ({})"
        " select coalesce(json_agg(pgrst_change), '[]')::text from pgrst_change"
    ).format(change)


def _returning(query: Insert | Update | Delete) -> sql.Composable:
    if not query.returning:
        return sql.SQL("")
    return sql.SQL(" returning {}").format(_columns(query.table, query.columns))


def _table(table: str) -> sql.Identifier:
    return sql.Identifier("public", table)


def _columns(table: str, columns: tuple[str, ...]) -> sql.Composable:
    if columns == ("*",):
        return sql.SQL("{}.*").format(_table(table))
    return sql.SQL(", ").join(sql.Identifier("public", table, column) for column in columns)


def _filter_shape(filters: tuple[Filter, ...]) -> tuple[FilterShape, ...]:
    return tuple(
        (
            item.column,
            item.operator,
            len(item.value)
            if item.operator == "in"
            else item.value
            if item.operator == "is"
            else None,
        )
        for item in filters
    )


def _filter_params(filters: tuple[Filter, ...]) -> list[Any]:
    """The filters' values in the order `_where` places their parameters."""
    params: list[Any] = []
    for item in filters:
        if item.operator == "in":
            params.extend(_argument(value) for value in item.value)
        elif item.operator != "is":
            params.append(_argument(item.value))
    return params


def _where(table: str, filters: tuple[FilterShape, ...]) -> sql.Composable:
    if not filters:
        return sql.SQL("")
    conditions: list[sql.Composable] = []
    for name, operator, detail in filters:
        column = sql.Identifier("public", table, name)
        if operator == "is":
            conditions.append(sql.SQL("{} is {}").format(column, IS_VALUES[detail]))
        elif operator == "in":
            if not detail:
                conditions.append(sql.SQL("false"))
                continue
            placeholders = sql.SQL(", ").join(sql.Placeholder() * detail)
            conditions.append(sql.SQL("{} in ({})").format(column, placeholders))
        else:
            conditions.append(sql.SQL("{} {} %s").format(column, sql.SQL(COMPARISONS[operator])))
    return sql.SQL(" where ") + sql.SQL(" and ").join(conditions)


def _order_by(table: str, order: tuple[Order, ...]) -> sql.Composable:
    if not order:
        return sql.SQL("")
    terms = []
    for item in order:
        nulls = (
            ""
            if item.nulls_first is None
            else (" nulls first" if item.nulls_first else " nulls last")
        )
        terms.append(
            sql.SQL("{} {}{}").format(
                sql.Identifier("public", table, item.column),
                sql.SQL("desc" if item.descending else "asc"),
                sql.SQL(nulls),
            )
        )
    return sql.SQL(" order by ") + sql.SQL(", ").join(terms)


def _argument(value: Any) -> Any:
    """A value as PostgREST passes it: text of unknown type that Postgres casts to the column's."""
    value = plain(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return msgspec.json.encode(value).decode()
    return str(value)


def _json(value: Any) -> Jsonb:
    return Jsonb(value, dumps=lambda obj: msgspec.json.encode(obj).decode())
