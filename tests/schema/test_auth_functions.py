"""The auth schema's SQL functions do their one job atomically, and no client can reach them or
the tables behind them: tried through real PostgREST with every client token."""

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import JWT_SECRET
from tests.tenancy import GUEST_A, USER_A, anon_key, service_role_key, tenant_token

AUTH_TABLES = ["refresh_tokens", "password_reset_tokens", "email_outbox", "guest_claims"]
AUTH_FUNCTIONS = {
    "verify_email": {"p_token_hash": "x"},
    "rotate_refresh_token": {
        "p_token_hash": "x",
        "p_new_token_hash": "y",
        "p_expires_at": "2030-01-01T00:00:00Z",
    },
    "reset_password": {"p_token_hash": "x", "p_password_hash": "y"},
    "claim_guest_session": {"p_user_id": str(uuid.uuid4()), "p_session_id": "sess_x"},
    "grant_signup_bonus": {"p_user_id": str(uuid.uuid4())},
    "lease_outbound_email": {"p_limit": 10},
}
CLIENT_TOKENS = {
    "anon_key": lambda: anon_key(JWT_SECRET),
    "guest": lambda: tenant_token(JWT_SECRET, GUEST_A),
    "user": lambda: tenant_token(JWT_SECRET, USER_A),
}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def user_id(db: psycopg.Connection[dict[str, Any]]) -> str:
    new = str(uuid.uuid4())
    db.execute(
        "insert into public.users (id, email, verification_token_hash, verification_expires_at)"
        " values (%s, %s, %s, now() + interval '1 day')",
        (new, f"{new}@example.com", digest(f"verify-{new}")),
    )
    return new


def call(
    db: psycopg.Connection[dict[str, Any]], function: str, *args: object
) -> list[dict[str, Any]]:
    """Call a public auth function the way the service role does."""
    placeholders = ", ".join(["%s"] * len(args))
    with db.transaction():
        db.execute("select set_config('role', 'service_role', true)")
        return db.execute(f"select * from public.{function}({placeholders})", args).fetchall()


# What the functions do --------------------------------------------------------------------------


def test_verification_grants_the_bonus_once(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    first = call(db, "verify_email", digest(f"verify-{user_id}"))
    again = call(db, "verify_email", digest(f"verify-{user_id}"))
    bonus_again = call(db, "grant_signup_bonus", user_id)

    assert first == [{"user_id": uuid.UUID(user_id), "diamonds": 50}]
    assert again == []
    assert bonus_again == [{"grant_signup_bonus": 50}]
    ledger = db.execute(
        "select sum(amount) as total, count(*) as rows from public.transactions where user_id = %s",
        (user_id,),
    ).fetchone()
    assert ledger == {"total": 50, "rows": 1}


def test_an_expired_verification_token_verifies_nothing(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    db.execute(
        "update public.users set verification_expires_at = now() - interval '1 second'"
        " where id = %s",
        (user_id,),
    )

    assert call(db, "verify_email", digest(f"verify-{user_id}")) == []


def test_replaying_a_rotated_refresh_token_revokes_its_family(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    family = str(uuid.uuid4())
    db.execute(
        "insert into public.refresh_tokens (user_id, family_id, token_hash, expires_at)"
        " values (%s, %s, %s, now() + interval '1 day')",
        (user_id, family, digest("t1")),
    )
    later = "2030-01-01T00:00:00Z"

    rotated = call(db, "rotate_refresh_token", digest("t1"), digest("t2"), later)
    replayed = call(db, "rotate_refresh_token", digest("t1"), digest("t3"), later)
    successor = call(db, "rotate_refresh_token", digest("t2"), digest("t4"), later)

    assert [row["outcome"] for row in rotated + replayed + successor] == [
        "rotated",
        "reused",
        "revoked",
    ]


def test_a_disabled_users_refresh_fails(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    db.execute(
        "insert into public.refresh_tokens (user_id, family_id, token_hash, expires_at)"
        " values (%s, gen_random_uuid(), %s, now() + interval '1 day')",
        (user_id, digest(f"d-{user_id}")),
    )
    db.execute("update public.users set disabled_at = now() where id = %s", (user_id,))

    [row] = call(
        db, "rotate_refresh_token", digest(f"d-{user_id}"), digest("new"), "2030-01-01T00:00:00Z"
    )

    assert row["outcome"] == "disabled"


def test_a_password_reset_is_spent_once_and_revokes_sessions(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    db.execute(
        "insert into public.password_reset_tokens (user_id, token_hash, expires_at)"
        " values (%s, %s, now() + interval '1 hour')",
        (user_id, digest(f"reset-{user_id}")),
    )
    db.execute(
        "insert into public.refresh_tokens (user_id, family_id, token_hash, expires_at)"
        " values (%s, gen_random_uuid(), %s, now() + interval '1 day')",
        (user_id, digest(f"r-{user_id}")),
    )

    first = call(db, "reset_password", digest(f"reset-{user_id}"), "$argon2id$new")
    again = call(db, "reset_password", digest(f"reset-{user_id}"), "$argon2id$other")

    assert (first, again) == ([{"user_id": uuid.UUID(user_id)}], [])
    user = db.execute("select password_hash from public.users where id = %s", (user_id,)).fetchone()
    live = db.execute(
        "select count(*) as live from public.refresh_tokens"
        " where user_id = %s and revoked_at is null",
        (user_id,),
    ).fetchone()
    assert (user, live) == ({"password_hash": "$argon2id$new"}, {"live": 0})


def test_a_guest_session_is_claimed_once(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    session = f"sess_{uuid.uuid4()}"
    db.execute(
        "insert into public.app_projects (session_id, name) values (%s, 'Guest site')", (session,)
    )
    db.execute(
        "insert into public.projects (session_id, v0_project_id) values (%s, 'v0_guest')",
        (session,),
    )
    db.execute(
        "insert into public.prompt_handoffs (session_id, prompt) values (%s, 'A site')", (session,)
    )

    first = call(db, "claim_guest_session", user_id, session)
    again = call(db, "claim_guest_session", str(uuid.uuid4()), session)

    assert (first, again) == ([{"claim_guest_session": 3}], [{"claim_guest_session": 0}])
    owners = db.execute(
        "select user_id, session_id from public.app_projects where user_id = %s", (user_id,)
    ).fetchall()
    assert owners == [{"user_id": uuid.UUID(user_id), "session_id": None}]


def test_leased_mail_is_not_leased_again_until_the_lease_ends(
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    address = f"{uuid.uuid4()}@example.com"
    db.execute(
        "insert into public.email_outbox (to_address, subject, body_text)"
        " values (%s, 'Hej', 'Hej')",
        (address,),
    )

    first = [row["to_address"] for row in call(db, "lease_outbound_email", 1000)]
    again = [row["to_address"] for row in call(db, "lease_outbound_email", 1000)]

    assert address in first
    assert address not in again


# What no client can reach -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(postgrest_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=postgrest_url, timeout=10) as client:
        yield client


def as_client(token: str) -> dict[str, str]:
    return {
        "apikey": anon_key(JWT_SECRET),
        "Authorization": f"Bearer {token}",
        "Prefer": "tx=rollback",
    }


@pytest.mark.parametrize("client", CLIENT_TOKENS)
@pytest.mark.parametrize("table", AUTH_TABLES)
def test_no_client_reads_or_writes_auth_tables(table: str, client: str, http: httpx.Client) -> None:
    headers = as_client(CLIENT_TOKENS[client]())

    read = http.get(f"/{table}", params={"select": "*"}, headers=headers)
    write = http.post(f"/{table}", json={}, headers=headers)

    assert (read.status_code, write.status_code) in {(401, 401), (403, 403)}


@pytest.mark.parametrize("client", CLIENT_TOKENS)
@pytest.mark.parametrize("function", AUTH_FUNCTIONS)
def test_no_client_calls_auth_functions(function: str, client: str, http: httpx.Client) -> None:
    response = http.post(
        f"/rpc/{function}",
        json=AUTH_FUNCTIONS[function],
        headers=as_client(CLIENT_TOKENS[client]()),
    )

    assert response.status_code in (401, 403), response.text


@pytest.mark.parametrize("function", AUTH_FUNCTIONS)
def test_the_service_role_calls_auth_functions(function: str, http: httpx.Client) -> None:
    response = http.post(
        f"/rpc/{function}",
        json=AUTH_FUNCTIONS[function],
        headers=as_client(service_role_key(JWT_SECRET)),
    )

    # Reaching the function is the point: unknown ids may fail inside it, never on privileges.
    assert response.status_code not in (401, 403, 404), response.text
