"""Repositories pass Python values as they are: UUIDs, datetimes, dates and Decimals in filters,
rows, updates and function arguments mean the same on both planes, never stringified by hand."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from shared.data.plane import DataPlane
from shared.data.query import Insert, Rpc, Select, Update, eq, gte, in_, lt
from shared.identity import Caller
from tests.world import service_role

DAY = date(2026, 11, 30)
AT = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


async def a_typed_row(data: DataPlane, **values: object) -> uuid.UUID:
    row_id = uuid.uuid4()
    row = {"id": row_id, "day": DAY, "amount": Decimal("49.50"), "at": AT, **values}
    await data.run(service_role(), Insert("typed_values", (row,), returning=False))
    return row_id


async def test_typed_values_are_written_and_read_back_as_the_data_api_renders_them(
    data: DataPlane,
) -> None:
    row_id = await a_typed_row(data, details={"owner": uuid.UUID(int=1), "price": Decimal("1.5")})

    result = await data.run(service_role(), Select("typed_values", filters=(eq("id", row_id),)))

    [row] = result.rows
    assert row == {
        "id": str(row_id),
        "day": "2026-11-30",
        "amount": 49.50,
        "at": "2026-11-30T12:30:00+00:00",
        "details": {"owner": str(uuid.UUID(int=1)), "price": "1.5"},
    }


async def test_filters_take_uuids_dates_datetimes_and_decimals(data: DataPlane) -> None:
    row_id = await a_typed_row(data)
    filters = (
        in_("id", [row_id, uuid.uuid4()]),
        eq("day", DAY),
        eq("amount", Decimal("49.5")),
        gte("at", AT),
        lt("at", AT + timedelta(seconds=1)),
    )

    result = await data.run(service_role(), Select("typed_values", ("id",), filters))

    assert result.rows == [{"id": str(row_id)}]


async def test_updates_take_typed_values(data: DataPlane) -> None:
    row_id = await a_typed_row(data)
    later = AT + timedelta(days=1)

    result = await data.run(
        service_role(),
        Update(
            "typed_values",
            {"day": later.date(), "amount": Decimal("99"), "at": later},
            (eq("id", row_id),),
            columns=("day", "amount", "at"),
        ),
    )

    assert result.rows == [{"day": "2026-12-01", "amount": 99, "at": "2026-12-01T12:30:00+00:00"}]


async def test_function_arguments_take_typed_values(data: DataPlane, owner: Caller) -> None:
    row_id = uuid.uuid4()

    result = await data.run(
        owner,
        Rpc(
            "typed_echo",
            {"p_id": row_id, "p_day": DAY, "p_amount": Decimal("0.10"), "p_at": AT},
        ),
    )

    assert result.rows == [
        {"id": str(row_id), "day": "2026-11-30", "amount": 0.10, "at": "2026-11-30T12:30:00+00:00"}
    ]
