"""The auth schema's SQL functions do their one job atomically, and no client can reach them or
the tables behind them: tried through real PostgREST with every client token."""

import hashlib
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import JWT_SECRET
from tests.schema.data_api import as_client
from tests.tenancy import GUEST_A, USER_A, anon_key, mint, service_role_key, tenant_token

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
    "link_google_account": {
        "p_user_id": str(uuid.uuid4()),
        "p_google_id": "g",
        "p_keep_password": False,
    },
}
LATER = datetime(2030, 1, 1, tzinfo=UTC)
CLIENT_TOKENS = {
    "anon_key": lambda: anon_key(JWT_SECRET),
    "guest": lambda: tenant_token(JWT_SECRET, GUEST_A),
    "user": lambda: tenant_token(JWT_SECRET, USER_A),
}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


def sign_in(
    db: psycopg.Connection[dict[str, Any]],
    user_id: str,
    token: str,
    *,
    expires: str = "1 day",
    revoked: bool = False,
) -> str:
    """A new session of the user holding `token` (stored hashed); its id."""
    session = str(uuid.uuid4())
    db.execute(
        "insert into public.refresh_tokens (user_id, family_id, token_hash, expires_at, revoked_at)"
        " values (%s, %s, %s, now() + %s::interval, case when %s then now() end)",
        (user_id, session, digest(token), expires, revoked),
    )
    return session


def live_tokens(db: psycopg.Connection[dict[str, Any]], user_id: str) -> int:
    row = db.execute(
        "select count(*) as live from public.refresh_tokens"
        " where user_id = %s and revoked_at is null",
        (user_id,),
    ).fetchone()
    assert row is not None
    return int(row["live"])


def mail_reset_link(db: psycopg.Connection[dict[str, Any]], user_id: str, token: str) -> None:
    db.execute(
        "insert into public.password_reset_tokens (user_id, token_hash, expires_at)"
        " values (%s, %s, now() + interval '1 hour')",
        (user_id, digest(token)),
    )


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


def test_replaying_a_rotated_refresh_token_for_another_successor_revokes_its_family(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    session = sign_in(db, user_id, f"t1-{user_id}")

    rotated = call(
        db, "rotate_refresh_token", digest(f"t1-{user_id}"), digest(f"t2-{user_id}"), LATER
    )
    replayed = call(
        db, "rotate_refresh_token", digest(f"t1-{user_id}"), digest(f"t3-{user_id}"), LATER
    )
    successor = call(
        db, "rotate_refresh_token", digest(f"t2-{user_id}"), digest(f"t4-{user_id}"), LATER
    )

    user = uuid.UUID(user_id)
    assert rotated + replayed + successor == [
        {
            "outcome": "rotated",
            "user_id": user,
            "family_id": uuid.UUID(session),
            "expires_at": LATER,
        },
        {"outcome": "reused", "user_id": user, "family_id": uuid.UUID(session), "expires_at": None},
        {
            "outcome": "revoked",
            "user_id": user,
            "family_id": uuid.UUID(session),
            "expires_at": None,
        },
    ]


def test_a_retry_within_the_reuse_interval_gets_the_same_successor_and_writes_nothing(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    # given a token rotated a moment ago
    sign_in(db, user_id, f"t1-{user_id}")
    first = call(
        db, "rotate_refresh_token", digest(f"t1-{user_id}"), digest(f"t2-{user_id}"), LATER
    )

    # when it is presented again for the same successor (another tab), with a later expiry asked
    again = call(
        db,
        "rotate_refresh_token",
        digest(f"t1-{user_id}"),
        digest(f"t2-{user_id}"),
        datetime.now(UTC),
    )

    # then the answer is the first one, the session is intact and the successor rotates on
    assert again == first
    assert first[0]["outcome"] == "rotated"
    assert live_tokens(db, user_id) == 2
    [onwards] = call(
        db, "rotate_refresh_token", digest(f"t2-{user_id}"), digest(f"t3-{user_id}"), LATER
    )
    assert onwards["outcome"] == "rotated"


def test_a_retry_after_the_reuse_interval_revokes_the_family(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    # given a token rotated 11 seconds ago (the default interval is 10)
    sign_in(db, user_id, f"t1-{user_id}")
    call(db, "rotate_refresh_token", digest(f"t1-{user_id}"), digest(f"t2-{user_id}"), LATER)
    db.execute(
        "update public.refresh_tokens set rotated_at = now() - interval '11 seconds'"
        " where token_hash = %s",
        (digest(f"t1-{user_id}"),),
    )

    # when it is presented for the same successor
    [late] = call(
        db, "rotate_refresh_token", digest(f"t1-{user_id}"), digest(f"t2-{user_id}"), LATER
    )

    # then it counts as reuse and the session ends
    assert (late["outcome"], live_tokens(db, user_id)) == ("reused", 0)


def test_a_retry_after_the_successor_was_revoked_revokes_the_family(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    sign_in(db, user_id, f"t1-{user_id}")
    call(db, "rotate_refresh_token", digest(f"t1-{user_id}"), digest(f"t2-{user_id}"), LATER)
    db.execute(
        "update public.refresh_tokens set revoked_at = now() where token_hash = %s",
        (digest(f"t2-{user_id}"),),
    )

    [retry] = call(
        db, "rotate_refresh_token", digest(f"t1-{user_id}"), digest(f"t2-{user_id}"), LATER
    )

    assert (retry["outcome"], live_tokens(db, user_id)) == ("reused", 0)


def waiting_on_a_lock(db: psycopg.Connection[dict[str, Any]]) -> bool:
    row = db.execute(
        "select exists (select from pg_stat_activity"
        " where datname = current_database() and wait_event_type = 'Lock') as waiting"
    ).fetchone()
    return bool(row and row["waiting"])


def test_two_tabs_refreshing_at_once_both_get_the_successor(
    database_url: str, db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    # given one tab's rotation holding the token's row lock, not yet committed
    sign_in(db, user_id, f"t1-{user_id}")
    rotate = (digest(f"t1-{user_id}"), digest(f"t2-{user_id}"), LATER)
    outcomes: list[str] = []

    def second_tab() -> None:
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as other:
            outcomes.extend(row["outcome"] for row in call(other, "rotate_refresh_token", *rotate))

    with psycopg.connect(database_url, row_factory=dict_row) as first_tab:
        first_tab.execute("select set_config('role', 'service_role', true)")
        [first] = first_tab.execute(
            "select * from public.rotate_refresh_token(%s, %s, %s)", rotate
        ).fetchall()
        waiting = threading.Thread(target=second_tab)
        waiting.start()
        deadline = time.monotonic() + 5
        while not waiting_on_a_lock(db) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert waiting_on_a_lock(db), "the second tab never waited for the first"

        # when the first commits while the second waits on the lock
        first_tab.commit()
    waiting.join()

    # then both were given the same successor and the session stands
    assert [first["outcome"], *outcomes] == ["rotated", "rotated"]
    assert live_tokens(db, user_id) == 2


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


@pytest.mark.parametrize(
    ("change", "password_after"),
    [
        ("reset with another link", "$argon2id$new"),
        ("service role sets a password", "$argon2id$new"),
        ("service role removes the password", None),
        ("google link removes the password", None),
    ],
)
def test_a_reset_link_mailed_before_a_password_change_no_longer_works(
    change: str, password_after: str | None, db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    # given two reset links mailed to a user with a password
    db.execute("update public.users set password_hash = '$argon2id$old' where id = %s", (user_id,))
    mail_reset_link(db, user_id, f"early-{user_id}")
    mail_reset_link(db, user_id, f"other-{user_id}")

    # when the password changes by any road
    if change == "reset with another link":
        call(db, "reset_password", digest(f"other-{user_id}"), password_after)
    elif change == "google link removes the password":
        call(db, "link_google_account", user_id, f"google-{user_id}", False)
    else:
        with db.transaction():
            db.execute("select set_config('role', 'service_role', true)")
            db.execute(
                "update public.users set password_hash = %s where id = %s",
                (password_after, user_id),
            )

    # then the early link sets nothing
    assert call(db, "reset_password", digest(f"early-{user_id}"), "$argon2id$attacker") == []
    user = db.execute("select password_hash from public.users where id = %s", (user_id,)).fetchone()
    assert user == {"password_hash": password_after}


def test_a_profile_change_leaves_reset_links_working(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    mail_reset_link(db, user_id, f"reset-{user_id}")
    db.execute("update public.users set name = 'Ada' where id = %s", (user_id,))

    assert call(db, "reset_password", digest(f"reset-{user_id}"), "$argon2id$new") == [
        {"user_id": uuid.UUID(user_id)}
    ]


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


def test_linking_google_removes_the_password_and_ends_every_session(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    # given an unverified account someone registered with a password, signed in twice
    db.execute("update public.users set password_hash = '$argon2id$x' where id = %s", (user_id,))
    sign_in(db, user_id, f"a-{user_id}")
    sign_in(db, user_id, f"b-{user_id}")

    # when the address's owner signs in with Google without proving that password
    linked = call(db, "link_google_account", user_id, f"google-{user_id}", False)

    # then the password is gone, every session has ended, and the account is Google's and verified
    assert linked == [{"password_removed": True}]
    user = db.execute(
        "select password_hash, google_id, email_verified, verification_token_hash"
        " from public.users where id = %s",
        (user_id,),
    ).fetchone()
    assert user == {
        "password_hash": None,
        "google_id": f"google-{user_id}",
        "email_verified": True,
        "verification_token_hash": None,
    }
    assert live_tokens(db, user_id) == 0


def test_linking_google_after_proving_the_password_keeps_it_and_every_session(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    db.execute("update public.users set password_hash = '$argon2id$x' where id = %s", (user_id,))
    sign_in(db, user_id, f"a-{user_id}")

    linked = call(db, "link_google_account", user_id, f"google-{user_id}", True)

    assert linked == [{"password_removed": False}]
    user = db.execute("select password_hash from public.users where id = %s", (user_id,)).fetchone()
    assert (user, live_tokens(db, user_id)) == ({"password_hash": "$argon2id$x"}, 1)


def test_linking_google_to_an_account_without_a_password_ends_no_session(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    sign_in(db, user_id, f"a-{user_id}")

    linked = call(db, "link_google_account", user_id, f"google-{user_id}", False)

    assert (linked, live_tokens(db, user_id)) == ([{"password_removed": False}], 1)


def test_a_google_account_linked_to_another_user_cannot_be_linked_again(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    # given a Google account linked to someone else
    other = str(uuid.uuid4())
    db.execute(
        "insert into public.users (id, email, google_id) values (%s, %s, %s)",
        (other, f"{other}@example.com", f"google-{other}"),
    )
    db.execute("update public.users set password_hash = '$argon2id$x' where id = %s", (user_id,))

    # when it is linked to this user, then the unique violation reaches the caller
    with pytest.raises(psycopg.errors.UniqueViolation):
        call(db, "link_google_account", user_id, f"google-{other}", False)

    # and nothing of the link happened
    user = db.execute("select password_hash from public.users where id = %s", (user_id,)).fetchone()
    assert user == {"password_hash": "$argon2id$x"}


def test_linking_google_to_an_unknown_user_links_nothing(
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    assert call(db, "link_google_account", str(uuid.uuid4()), "google-nobody", False) == []


def test_a_guest_session_is_claimed_once(
    db: psycopg.Connection[dict[str, Any]], user_id: str
) -> None:
    session = f"sess_{uuid.uuid4()}"
    site = db.execute(
        "insert into public.app_projects (session_id, name) values (%s, 'Guest site') returning id",
        (session,),
    ).fetchone()
    db.execute(
        "insert into public.projects (session_id, v0_project_id) values (%s, 'v0_guest')",
        (session,),
    )
    db.execute(
        "insert into public.prompt_handoffs (session_id, prompt) values (%s, 'A site')", (session,)
    )

    assert site is not None
    first = call(db, "claim_guest_session", user_id, session)
    again = call(db, "claim_guest_session", str(uuid.uuid4()), session)

    assert (first, again) == (
        [{"moved": 3, "app_project_ids": [site["id"]]}],
        [{"moved": 0, "app_project_ids": []}],
    )
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


# Whether a session stands -----------------------------------------------------------------------


def a_live_session(db: psycopg.Connection[dict[str, Any]], user_id: str) -> dict[str, Any]:
    return {"session_id": sign_in(db, user_id, f"live-{user_id}")}


def a_session_that_rotated(db: psycopg.Connection[dict[str, Any]], user_id: str) -> dict[str, Any]:
    session = sign_in(db, user_id, f"t1-{user_id}")
    call(db, "rotate_refresh_token", digest(f"t1-{user_id}"), digest(f"t2-{user_id}"), LATER)
    return {"session_id": session}


def no_session_named(_db: psycopg.Connection[dict[str, Any]], _user_id: str) -> dict[str, Any]:
    return {}


def a_revoked_session(db: psycopg.Connection[dict[str, Any]], user_id: str) -> dict[str, Any]:
    return {"session_id": sign_in(db, user_id, f"gone-{user_id}", revoked=True)}


def an_expired_session(db: psycopg.Connection[dict[str, Any]], user_id: str) -> dict[str, Any]:
    return {"session_id": sign_in(db, user_id, f"old-{user_id}", expires="-1 second")}


def another_users_session(db: psycopg.Connection[dict[str, Any]], _user_id: str) -> dict[str, Any]:
    other = str(uuid.uuid4())
    db.execute(
        "insert into public.users (id, email) values (%s, %s)", (other, f"{other}@example.com")
    )
    return {"session_id": sign_in(db, other, f"live-{other}")}


def a_disabled_user(db: psycopg.Connection[dict[str, Any]], user_id: str) -> dict[str, Any]:
    session = a_live_session(db, user_id)
    db.execute("update public.users set disabled_at = now() where id = %s", (user_id,))
    return session


def a_deleted_user(db: psycopg.Connection[dict[str, Any]], user_id: str) -> dict[str, Any]:
    db.execute("delete from public.users where id = %s", (user_id,))
    return {}


def malformed(value: Any) -> Any:
    def session(_db: psycopg.Connection[dict[str, Any]], _user_id: str) -> dict[str, Any]:
        return {"session_id": value}

    session.__name__ = f"a_session_id_of_{value!r}"
    return session


SESSIONS = [
    (a_live_session, True),
    (a_session_that_rotated, True),
    (no_session_named, True),
    (a_revoked_session, False),
    (an_expired_session, False),
    (another_users_session, False),
    (a_disabled_user, False),
    (a_deleted_user, False),
    (malformed("not-a-uuid"), False),
    (malformed(42), False),
    (malformed(None), False),
    (malformed({"id": "00000000-0000-4000-8000-000000000001"}), False),
]


@pytest.mark.parametrize(
    ("session", "active"), SESSIONS, ids=[session.__name__ for session, _ in SESSIONS]
)
def test_a_user_asks_whether_its_session_is_active(
    session: Any,
    active: bool,
    db: psycopg.Connection[dict[str, Any]],
    user_id: str,
    http: httpx.Client,
) -> None:
    # given a user's token naming (or not) a session in some state
    claims = {
        "role": "authenticated",
        "aud": "authenticated",
        "sub": user_id,
        **session(db, user_id),
    }

    # when it asks through the Data API
    response = http.post(
        "/rpc/current_session_is_active", json={}, headers=as_client(mint(JWT_SECRET, claims))
    )

    # then the answer is a plain yes or no, never an error
    assert (response.status_code, response.json()) == (200, active)


@pytest.mark.parametrize("client", ["anon_key", "guest", "anon naming a user and its session"])
def test_only_users_ask_whether_a_session_is_active(
    client: str, db: psycopg.Connection[dict[str, Any]], user_id: str, http: httpx.Client
) -> None:
    if client == "anon naming a user and its session":
        token = mint(JWT_SECRET, {"role": "anon", "sub": user_id, **a_live_session(db, user_id)})
    else:
        token = CLIENT_TOKENS[client]()

    response = http.post("/rpc/current_session_is_active", json={}, headers=as_client(token))

    assert response.status_code in (401, 403), response.text


def test_the_service_role_has_no_session_to_be_active(http: httpx.Client) -> None:
    response = http.post(
        "/rpc/current_session_is_active", json={}, headers=as_client(service_role_key(JWT_SECRET))
    )

    assert (response.status_code, response.json()) == (200, False)
