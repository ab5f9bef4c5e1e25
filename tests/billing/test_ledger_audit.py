"""`sajtmaskin billing audit`: every user's diamonds are the sum of their ledger, each row's
balance_after the running sum; it lists every user where that fails and exits 1."""

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import msgspec
import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg.conninfo import make_conninfo

from services.cli import main
from shared.config import Settings
from shared.local_stack import PostgrestServer
from shared.migrations import migrate
from tests.billing.conftest import BillingClient, a_funded_user
from tests.conftest import JWT_SECRET
from tests.tenancy import service_role_key
from tests.world import bearer


def audit(settings: Settings, **unset: None) -> Result:
    """`sajtmaskin billing audit` with `settings` as its environment (service role key included),
    less the variables named in `unset`."""
    environment: dict[str, str | None] = {
        "DATA_PLANE": settings.data_plane,
        "DATABASE_URL": settings.database_url,
        "SUPABASE_REST_URL": settings.supabase_rest_url,
        "SUPABASE_ANON_KEY": settings.supabase_anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": service_role_key(JWT_SECRET),
        "JWT_SECRET": JWT_SECRET,
        **unset,
    }
    return CliRunner().invoke(main, ["billing", "audit"], env=environment)


@pytest.fixture
def tampered(settings: Settings, empty_database: str) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A database of its own (the session's stays clean) served on the test's plane, holding a
    clean user and two whose ledgers were changed behind billing's back: one's balance, one's
    ledger row; and what the audit should say of each (by user id)."""
    migrate(empty_database)
    a_funded_user(empty_database, 30)
    richer = a_funded_user(empty_database, 30)
    rewritten = a_funded_user(empty_database, 30)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("update public.users set diamonds = 999 where id = %s", (richer.user_id,))
        conn.execute(
            "update public.transactions set balance_after = 31 where user_id = %s",
            (rewritten.user_id,),
        )
    api_url = make_conninfo(empty_database, user="authenticator")
    with ExitStack() as servers:
        rest_url = (
            servers.enter_context(PostgrestServer(api_url, jwt_secret=JWT_SECRET)).url
            if settings.data_plane == "postgrest"
            else None
        )
        yield (
            msgspec.structs.replace(settings, database_url=api_url, supabase_rest_url=rest_url),
            {
                str(richer.user_id): "diamonds 999 but the ledger sums to 30",
                str(rewritten.user_id): "1 row(s) whose balance_after is not the running sum",
            },
        )


async def test_after_charges_the_session_ledger_is_clean(
    billing: BillingClient, settings: Settings, database_url: str
) -> None:
    alice = a_funded_user(database_url, 25)
    for action in ("generate", "refine", "deploy"):
        body = {"action": action, "idempotencyKey": str(uuid.uuid4())}
        await billing.post("/billing/charges", json=body, headers=bearer(alice))

    # The command runs its own event loop.
    result = await asyncio.to_thread(audit, settings)

    assert (result.exit_code, result.output) == (
        0,
        "the ledger is clean: every balance is the sum of its ledger rows\n",
    )


def test_the_audit_lists_every_user_whose_ledger_does_not_hold(
    tampered: tuple[Settings, dict[str, str]],
) -> None:
    settings, findings = tampered

    result = audit(settings)

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"user {user_id}: {finding}"
        for user_id, finding in sorted(findings.items(), key=lambda item: uuid.UUID(item[0]))
    ]


def test_without_a_way_in_as_the_service_role_the_audit_says_what_is_missing(
    settings: Settings,
) -> None:
    needed = {
        "postgres": "DATABASE_URL",
        "postgrest": "SUPABASE_SERVICE_ROLE_KEY",
    }[settings.data_plane]

    result = audit(settings, **{needed: None})

    assert result.exit_code == 1
    assert needed in result.output
