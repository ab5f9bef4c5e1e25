"""The projects service's audit rules and cleanup functions in SQL, tried as the roles that meet
them: a saved audit's summary columns always say what its result says, a user keeps at most 50
(racing inserts included), and only the service role runs the cleanup. Attacks go through real
PostgREST with valid tokens."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.conftest import JWT_SECRET
from tests.schema.data_api import Db, as_client, executors
from tests.tenancy import anon_key, service_role_key
from tests.world import Person, a_guest, a_user

RESULT = {"company": "Bageriet AB", "audit_scores": {"seo": 10, "ux": 20, "performance": 30}}

# What each function takes, in the Data API's JSON, and exactly who may execute it.
SERVICE_FUNCTIONS: dict[str, dict[str, Any]] = {
    "cleanup_due": {},
    "cleanup_batch": {"p_kind": "unsaved_sites", "p_batch_size": 1},
}
EXECUTORS = {
    "public.cleanup_due()": {"service_role"},
    "public.cleanup_batch(text, integer)": {"service_role"},
    "private.user_audits_derive_from_result()": set(),
    "private.user_audits_within_limit()": set(),
}
CLIENTS = {
    "anon_key": lambda: anon_key(JWT_SECRET),
    "guest": lambda: a_guest().token,
    "user": lambda: Person("someone", "user", user_id=str(uuid.uuid4())).token,
}


def audits_of(db: Db, user: Person, count: int) -> None:
    db.execute(
        "insert into public.user_audits (user_id, url, audit_result)"
        " select %s, 'https://example.com', %s from generate_series(1, %s)",
        (user.user_id, Jsonb(RESULT), count),
    )


def count_of(db: Db, user: Person) -> int:
    row = db.execute(
        "select count(*) as n from public.user_audits where user_id = %s", (user.user_id,)
    ).fetchone()
    assert row is not None
    return int(row["n"])


# Who may run what -------------------------------------------------------------------------------


def test_every_function_is_executable_by_exactly_its_callers(db: Db) -> None:
    assert executors(db, list(EXECUTORS)) == EXECUTORS


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("function", SERVICE_FUNCTIONS)
def test_no_client_runs_the_cleanup(function: str, client: str, http: httpx.Client) -> None:
    response = http.post(
        f"/rpc/{function}", json=SERVICE_FUNCTIONS[function], headers=as_client(CLIENTS[client]())
    )

    assert response.status_code in (401, 403), response.text


@pytest.mark.parametrize("function", SERVICE_FUNCTIONS)
def test_the_service_role_runs_the_cleanup(function: str, http: httpx.Client) -> None:
    response = http.post(
        f"/rpc/{function}",
        json=SERVICE_FUNCTIONS[function],
        headers=as_client(service_role_key(JWT_SECRET)),
    )

    assert response.status_code == 200, response.text


def test_clients_cannot_read_what_is_due(db: Db) -> None:
    views = [
        "private.cleanup_idle_guest_sites",
        "private.cleanup_unsaved_sites",
        "private.cleanup_expired_templates",
        "private.cleanup_consumed_handoffs",
    ]

    readable = {
        (view, role)
        for view in views
        for role in ("anon", "authenticated", "service_role")
        if db.execute(
            "select has_table_privilege(%s, %s, 'select') as allowed", (role, view)
        ).fetchone()
        == {"allowed": True}
    }

    assert readable == {(view, "service_role") for view in views}


@pytest.mark.parametrize(
    ("kind", "batch_size"), [("every_site", 10), ("unsaved_sites", 0), ("unsaved_sites", None)]
)
def test_the_cleanup_refuses_an_unknown_kind_or_an_empty_batch(
    kind: str, batch_size: int | None, db: Db
) -> None:
    with db.transaction():
        db.execute("select set_config('role', 'service_role', true)")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            db.execute("select public.cleanup_batch(%s, %s)", (kind, batch_size))


# A saved audit's summary is its result's --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.Bageriet.se/om-oss?x=1", "bageriet.se"),
        ("http://frisor.example.org:8080", "frisor.example.org"),
        ("https://user:secret@shop.example.com/#top", "shop.example.com"),
    ],
)
def test_the_domain_is_the_urls_host(url: str, domain: str, database_url: str, db: Db) -> None:
    alice = a_user(database_url)

    row = db.execute(
        "insert into public.user_audits (user_id, url, domain) values (%s, %s, 'lie.example')"
        " returning domain",
        (alice.user_id, url),
    ).fetchone()

    assert row == {"domain": domain}


def test_a_direct_insert_cannot_store_scores_its_result_contradicts(
    database_url: str, http: httpx.Client
) -> None:
    alice = a_user(database_url)
    lying = {
        "url": "https://bageriet.se",
        "domain": "google.com",
        "audit_result": {
            "company": "Bageriet AB",
            "audit_scores": {"seo": 10, "ux": 20, "performance": 30, "security": 41},
        },
        "company_name": "Someone Else",
        "score_overall": 100,
        "score_seo": 100,
        "score_ux": 100,
        "score_performance": 100,
        "score_security": 100,
    }

    response = http.post(
        "/user_audits",
        json=lying,
        headers=as_client(alice.token, "return=representation, tx=rollback"),
    )

    assert response.status_code == 201, response.text
    [stored] = response.json()
    assert {key: stored[key] for key in lying if key != "audit_result"} == {
        "url": "https://bageriet.se",
        "domain": "bageriet.se",
        "company_name": "Bageriet AB",
        "score_overall": 25,  # 101 / 4 = 25.25
        "score_seo": 10,
        "score_ux": 20,
        "score_performance": 30,
        "score_security": 41,
    }


def test_a_direct_update_cannot_change_scores_without_the_result(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    alice = a_user(database_url)
    audits_of(db, alice, 1)

    changed = http.patch(
        "/user_audits",
        params={"user_id": f"eq.{alice.user_id}"},
        json={"score_seo": 100, "score_overall": 100, "company_name": "Ett annat AB"},
        headers=as_client(alice.token, "return=representation, tx=rollback"),
    )

    assert changed.status_code == 200, changed.text
    assert [
        (row["score_seo"], row["score_overall"], row["company_name"]) for row in changed.json()
    ] == [(10, None, "Bageriet AB")]


def test_a_score_out_of_range_is_refused(database_url: str, http: httpx.Client) -> None:
    alice = a_user(database_url)

    response = http.post(
        "/user_audits",
        json={"url": "https://bageriet.se", "audit_result": {"audit_scores": {"seo": 101}}},
        headers=as_client(alice.token),
    )

    assert response.status_code == 400
    assert response.json()["code"] == "23514"


# At most 50 per user ----------------------------------------------------------------------------


def test_a_51st_audit_is_refused_as_the_rule(database_url: str, db: Db, http: httpx.Client) -> None:
    alice = a_user(database_url)
    audits_of(db, alice, 50)

    response = http.post(
        "/user_audits", json={"url": "https://bageriet.se"}, headers=as_client(alice.token)
    )

    assert response.status_code == 409
    assert response.json()["message"] == "audit_limit_reached"


def test_one_insert_of_many_rows_stops_at_50(database_url: str, db: Db, http: httpx.Client) -> None:
    alice = a_user(database_url)
    audits_of(db, alice, 48)

    response = http.post(
        "/user_audits",
        json=[{"url": f"https://example.com/{n}"} for n in range(3)],
        headers=as_client(alice.token, "return=minimal"),
    )

    assert response.status_code == 409
    assert count_of(db, alice) == 48


def test_ten_inserts_at_once_by_a_user_with_45_keep_exactly_5(
    database_url: str, db: Db, postgrest_url: str
) -> None:
    alice = a_user(database_url)
    audits_of(db, alice, 45)

    def insert(_: int) -> int:
        with httpx.Client(base_url=postgrest_url, timeout=30) as client:
            return client.post(
                "/user_audits",
                json={"url": "https://bageriet.se"},
                headers=as_client(alice.token, "return=minimal"),
            ).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(insert, range(10)))

    assert statuses == [201] * 5 + [409] * 5
    assert count_of(db, alice) == 50


def test_the_limit_tells_no_one_about_another_users_audits(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    audits_of(db, bob, 50)

    response = http.post(
        "/user_audits",
        json={"url": "https://bageriet.se", "user_id": bob.user_id},
        headers=as_client(alice.token),
    )

    # refused by row-level security, as for a user with no audits: not the limit's 409
    assert response.status_code == 403
    assert count_of(db, bob) == 50
