"""The billing service on the session database, once per data plane, with Redis for limits and the
session cache; people with diamonds put on the ledger as billing's own functions put them there,
so the ledger stays clean for the audit."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.billing.app import create_app
from shared.config import Settings
from tests.conftest import JWT_SECRET
from tests.fakes.redis_fixtures import REDIS_URL
from tests.tenancy import service_role_key
from tests.world import Person, a_user

BillingClient = AsyncTestClient[Litestar]


@pytest.fixture
def billing_settings(settings: Settings, key_prefix: str) -> Settings:
    """The billing service as deployed: the service role's key, Redis under a prefix of this
    test's own (fresh rate limits, fresh session cache)."""
    return msgspec.structs.replace(
        settings,
        supabase_service_role_key=service_role_key(JWT_SECRET),
        cookie_secure=False,
        redis_url=REDIS_URL,
        redis_key_prefix=key_prefix,
        # Limits are decided by Redis even on a machine busy running the suite in parallel.
        rate_limit_timeout_ms=2000,
    )


@pytest.fixture
async def billing(billing_settings: Settings) -> AsyncIterator[BillingClient]:
    async with AsyncTestClient(create_app(billing_settings)) as client:
        yield client


def a_funded_user(database_url: str, diamonds: int, **columns: Any) -> Person:
    """A verified user holding `diamonds`, granted through `credit_diamonds` as an admin grant
    would be (a ledger row, so the balance is the ledger's sum)."""
    person = a_user(database_url, **columns)
    if diamonds:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "select public.credit_diamonds(%s, %s, 'admin_grant', 'Test grant', %s)",
                (person.user_id, diamonds, str(uuid.uuid4())),
            )
    return person


def diamonds_of(database_url: str, person: Person) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select diamonds from public.users where id = %s", (person.user_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def charges_of(database_url: str, person: Person) -> list[dict[str, Any]]:
    """The person's charge rows (a user's ledger charges, a guest's used quota), oldest first."""
    with psycopg.connect(database_url) as conn:
        if person.user_id is not None:
            cursor = conn.execute(
                "select id, amount, balance_after, action, model_tier, idempotency_key"
                " from public.transactions where user_id = %s and type = 'charge' order by seq",
                (person.user_id,),
            )
        else:
            cursor = conn.execute(
                "select id, action, idempotency_key from public.guest_charges"
                " where session_id = %s order by created_at",
                (person.session_id,),
            )
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
