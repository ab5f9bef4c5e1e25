"""Repository parity: every vocabulary operation, and every error class, gives the same rows and
the same problem on the `postgrest` and the `postgres` plane (each test runs once per plane)."""

import contextlib
import uuid
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest

from shared.data.plane import DataPlane, open_data_plane
from shared.data.postgres import PostgresPlane
from shared.data.query import (
    Delete,
    Insert,
    Rpc,
    Select,
    Update,
    asc,
    desc,
    eq,
    gt,
    gte,
    ilike,
    in_,
    is_,
    like,
    lt,
    lte,
    neq,
)
from shared.errors import (
    Conflict,
    DatabaseTimeout,
    DatabaseUnavailable,
    Forbidden,
    InvalidData,
    ReferenceNotFound,
    RuleRefused,
)
from shared.identity import Caller
from tests.conftest import PLANES, plane_settings
from tests.world import a_guest, service_role

SITE_COLUMNS = ("id", "name", "category")


async def add_sites(data: DataPlane, owner: Caller, *names: str) -> list[dict[str, Any]]:
    rows = tuple({"name": name, "category": f"category {name}"} for name in names)
    result = await data.run(owner, Insert("app_projects", rows, columns=SITE_COLUMNS))
    return result.rows


# Reads -----------------------------------------------------------------------------------------


async def test_select_orders_pages_and_counts(data: DataPlane, owner: Caller) -> None:
    await add_sites(data, owner, "a", "b", "c", "d")

    result = await data.run(
        owner,
        Select(
            "app_projects", columns=("name",), order=(desc("name"),), limit=2, offset=1, count=True
        ),
    )

    assert (result.rows, result.count) == ([{"name": "c"}, {"name": "b"}], 4)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (eq("name", "b"), ["b"]),
        (neq("name", "b"), ["a", "c"]),
        (lt("name", "b"), ["a"]),
        (lte("name", "b"), ["a", "b"]),
        (gt("name", "b"), ["c"]),
        (gte("name", "b"), ["b", "c"]),
        (in_("name", ["a", "c", "x"]), ["a", "c"]),
        (in_("name", []), []),
        (like("category", "category %"), ["a", "b", "c"]),
        (ilike("category", "CATEGORY B%"), ["b"]),
        (is_("description", None), ["a", "b", "c"]),
    ],
    ids=lambda value: value.operator if hasattr(value, "operator") else None,
)
async def test_every_filter_operator(
    data: DataPlane, owner: Caller, condition: Any, expected: list[str]
) -> None:
    await add_sites(data, owner, "a", "b", "c")

    result = await data.run(
        owner, Select("app_projects", columns=("name",), filters=(condition,), order=(asc("name"),))
    )

    assert [row["name"] for row in result.rows] == expected


async def test_reads_of_one_shape_answer_for_their_own_values(
    data: DataPlane, owner: Caller
) -> None:
    """The direct plane reuses one statement per shape: values must stay per call."""
    await add_sites(data, owner, "a", "b", "c")

    def names(*filters: Any, limit: int | None = None) -> Select:
        return Select("app_projects", ("name",), filters=filters, order=(asc("name"),), limit=limit)

    answers = [
        [row["name"] for row in (await data.run(owner, query)).rows]
        for query in (
            names(eq("name", "a")),
            names(eq("name", "c")),
            names(gte("name", "a"), limit=1),
            names(gte("name", "a"), limit=3),
            names(in_("name", ["a", "b"])),
            names(in_("name", ["c"])),
            names(is_("description", None)),
        )
    ]

    assert answers == [["a"], ["c"], ["a"], ["a", "b", "c"], ["a", "b"], ["c"], ["a", "b", "c"]]


async def test_values_come_back_as_the_data_api_renders_them(
    data: DataPlane, owner: Caller
) -> None:
    [site] = await add_sites(data, owner, "a")
    values = {"project_id": site["id"], "meta": {"theme": "dark", "pages": [1, 2]}, "files": None}
    await data.run(owner, Insert("project_data", (values,)))

    result = await data.run(
        owner, Select("project_data", columns=("project_id", "meta", "files", "created_at"))
    )

    [row] = result.rows
    assert row["meta"] == {"theme": "dark", "pages": [1, 2]}
    assert row["project_id"] == site["id"]
    assert row["files"] is None
    assert datetime.fromisoformat(row["created_at"]).tzinfo is not None


# Writes ----------------------------------------------------------------------------------------


async def test_insert_returns_the_new_rows(data: DataPlane, owner: Caller) -> None:

    rows = await add_sites(data, owner, "a", "b")

    assert [(row["name"], row["category"]) for row in rows] == [
        ("a", "category a"),
        ("b", "category b"),
    ]


async def test_insert_without_returning_gives_no_rows(data: DataPlane, owner: Caller) -> None:

    result = await data.run(owner, Insert("app_projects", ({"name": "quiet"},), returning=False))
    stored = await data.run(owner, Select("app_projects", columns=("name",)))

    assert (result.rows, stored.rows) == ([], [{"name": "quiet"}])


async def test_upsert_merges_on_conflict(data: DataPlane, owner: Caller) -> None:
    [site] = await add_sites(data, owner, "a")
    path = {"project_id": site["id"], "path": "app/page.tsx"}
    await data.run(owner, Insert("project_files", ({**path, "size_bytes": 1},)))

    result = await data.run(
        owner,
        Insert(
            "project_files",
            (
                {**path, "size_bytes": 2},
                {"project_id": site["id"], "path": "b.tsx", "size_bytes": 3},
            ),
            columns=("path", "size_bytes"),
            on_conflict=("project_id", "path"),
        ),
    )

    assert sorted((row["path"], row["size_bytes"]) for row in result.rows) == [
        ("app/page.tsx", 2),
        ("b.tsx", 3),
    ]


async def test_upsert_can_skip_duplicates(data: DataPlane, owner: Caller) -> None:
    [site] = await add_sites(data, owner, "a")
    row = {"project_id": site["id"], "path": "app/page.tsx", "size_bytes": 1}
    await data.run(owner, Insert("project_files", (row,)))

    result = await data.run(
        owner,
        Insert(
            "project_files",
            ({**row, "size_bytes": 9},),
            on_conflict=("project_id", "path"),
            ignore_duplicates=True,
        ),
    )
    stored = await data.run(owner, Select("project_files", columns=("size_bytes",)))

    assert (result.rows, stored.rows) == ([], [{"size_bytes": 1}])


async def test_update_changes_matching_rows_only(data: DataPlane, owner: Caller) -> None:
    await add_sites(data, owner, "a", "b")

    result = await data.run(
        owner,
        Update(
            "app_projects",
            {"description": "edited"},
            (eq("name", "a"),),
            columns=("name", "description"),
        ),
    )

    assert result.rows == [{"name": "a", "description": "edited"}]


async def test_delete_returns_what_it_removed(data: DataPlane, owner: Caller) -> None:
    await add_sites(data, owner, "a", "b")

    result = await data.run(owner, Delete("app_projects", (eq("name", "b"),), columns=("name",)))
    left = await data.run(owner, Select("app_projects", columns=("name",)))

    assert (result.rows, left.rows) == ([{"name": "b"}], [{"name": "a"}])


async def test_rpc_returns_rows_under_the_callers_rights(data: DataPlane, owner: Caller) -> None:
    await add_sites(data, owner, "bakery", "barber", "florist")

    result = await data.run(owner, Rpc("app_project_names", {"prefix": "ba"}))

    assert [row["name"] for row in result.rows] == ["bakery", "barber"]


async def test_rpc_returning_one_value_gives_one_row_named_after_it(
    data: DataPlane, owner: Caller
) -> None:
    await add_sites(data, owner, "a", "b")

    result = await data.run(owner, Rpc("site_count"))

    assert result.rows == [{"site_count": 2}]


async def test_queries_run_as_the_caller_reads_read_only_in_read_committed(
    data: DataPlane, owner: Caller
) -> None:
    [read] = (await data.run(owner, Select("transaction_state"))).rows
    [call] = (await data.run(owner, Rpc("transaction_state"))).rows

    assert read == {"role": "authenticated", "read_only": "on", "isolation": "read committed"}
    assert call == {"role": "authenticated", "read_only": "off", "isolation": "read committed"}


@pytest.mark.parametrize("query", [Select("transaction_state"), Rpc("refuse_by_rule")])
async def test_a_pooled_connection_keeps_nothing_of_its_last_caller(
    data_database: str, data_postgrest: str, owner: Caller, query: Select | Rpc
) -> None:
    settings = plane_settings("postgres", data_database, data_postgrest, db_pool_size=1)
    plane = await PostgresPlane.open(settings)
    try:
        with contextlib.suppress(RuleRefused):
            await plane.run(owner, query)
        async with plane.pool.connection() as conn:
            status = conn.info.transaction_status
            left = await (
                await conn.execute(
                    "select current_user::text, current_setting('request.jwt.claims', true),"
                    " current_setting('transaction_read_only')"
                )
            ).fetchone()
    finally:
        await plane.close()

    assert status == psycopg.pq.TransactionStatus.IDLE
    assert left in (("authenticator", None, "off"), ("authenticator", "", "off"))


# Errors ----------------------------------------------------------------------------------------


async def test_unique_violation_is_a_conflict(data: DataPlane, owner: Caller) -> None:
    [site] = await add_sites(data, owner, "a")
    row = {"project_id": site["id"], "path": "app/page.tsx"}
    await data.run(owner, Insert("project_files", (row,)))

    with pytest.raises(Conflict) as raised:
        await data.run(owner, Insert("project_files", (row,)))

    assert (raised.value.status, raised.value.extensions) == (
        409,
        {"constraint": "project_files_project_path_key"},
    )


async def test_missing_reference_is_reported(data: DataPlane) -> None:
    orphan = {"project_id": uuid.uuid4(), "path": "x"}

    with pytest.raises(ReferenceNotFound) as raised:
        await data.run(service_role(), Insert("project_files", (orphan,)))

    assert raised.value.extensions == {"constraint": "project_files_project_id_fkey"}


@pytest.mark.parametrize(
    ("row", "constraint"),
    [
        ({"name": ""}, {"constraint": "app_projects_name_length"}),
        ({"category": "no name"}, {}),
        ({"name": "x", "user_id": "not-a-uuid"}, {}),
    ],
    ids=["check", "not_null", "bad_uuid"],
)
async def test_invalid_data_is_unprocessable(
    data: DataPlane, owner: Caller, row: dict[str, Any], constraint: dict[str, str]
) -> None:
    with pytest.raises(InvalidData) as raised:
        await data.run(owner, Insert("app_projects", (row,)))

    assert (raised.value.status, raised.value.extensions) == (422, constraint)


async def test_row_level_security_denial_is_forbidden(data: DataPlane, owner: Caller) -> None:
    someone_else = str(uuid.uuid4())

    with pytest.raises(Forbidden):
        await data.run(owner, Insert("app_projects", ({"name": "x", "user_id": someone_else},)))


async def test_secret_column_is_forbidden(data: DataPlane, owner: Caller) -> None:
    with pytest.raises(Forbidden) as raised:
        await data.run(owner, Select("users", columns=("password_hash",)))

    assert raised.value.status == 403


async def test_a_rule_refused_in_sql_is_named(data: DataPlane, owner: Caller) -> None:
    with pytest.raises(RuleRefused) as raised:
        await data.run(owner, Rpc("refuse_by_rule"))

    assert (raised.value.status, raised.value.code, raised.value.rule) == (
        409,
        "rule_refused",
        "test_limit_reached",
    )


async def test_statement_timeout_is_unavailable_with_retry_after(
    data: DataPlane, owner: Caller
) -> None:
    with pytest.raises(DatabaseTimeout) as raised:
        await data.run(owner, Rpc("slow_answer"))

    assert (raised.value.status, raised.value.headers) == (503, {"Retry-After": "1"})


@pytest.mark.parametrize("plane", PLANES)
async def test_unreachable_database_is_unavailable(plane: str, unused_tcp_port: int) -> None:
    closed = f"postgresql://authenticator@127.0.0.1:{unused_tcp_port}/none"
    settings = plane_settings(plane, closed, f"http://127.0.0.1:{unused_tcp_port}")
    async with httpx.AsyncClient(timeout=1) as http:
        data = await open_data_plane(settings, http)
        try:
            with pytest.raises(DatabaseUnavailable) as raised:
                await data.run(a_guest().caller, Select("app_projects"))
        finally:
            await data.close()

    assert raised.value.status == 503


@pytest.mark.parametrize(("pooler", "expected"), [(False, True), (True, False)])
async def test_statements_are_prepared_on_the_server_unless_behind_a_transaction_pooler(
    data_database: str, data_postgrest: str, owner: Caller, pooler: bool, expected: bool
) -> None:
    # A pooler in transaction mode (Supavisor's port 6543) cannot carry prepared statements.
    settings = plane_settings(
        "postgres", data_database, data_postgrest, db_pool_size=1, db_transaction_pooler=pooler
    )
    plane = await PostgresPlane.open(settings)
    try:
        for _ in range(8):  # psycopg prepares a statement on its 5th use
            await plane.run(owner, Select("transaction_state"))
        async with plane.pool.connection() as conn:
            prepared_count = await (
                await conn.execute("select count(*) from pg_prepared_statements")
            ).fetchone()
    finally:
        await plane.close()

    assert prepared_count is not None
    assert (prepared_count[0] > 0) is expected
