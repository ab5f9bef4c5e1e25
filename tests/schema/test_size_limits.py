"""Every text and jsonb column a client may write has a size limit in SQL, so a guest or user
writing straight to the Data API cannot store megabytes: tried through real PostgREST. The limits
are listed in supabase/migrations/20261125000100_shared_foundation.sql; the policy lint proves
every client-writable column has one. What a client hands billing's charge function to store
(its idempotency key) and the service role's free-form domain order columns are bounded too."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import JWT_SECRET
from tests.tenancy import anon_key, service_role_key
from tests.world import Person, a_guest, a_user, bearer, sites

MB = 1024 * 1024


def text_of(size: int) -> str:
    return "x" * size


def url_of(size: int) -> str:
    return "https://example.com/" + "p" * (size - len("https://example.com/"))


def json_of(size: int) -> dict[str, str]:
    """A jsonb value whose text form (`{"a": "…"}`) is `size` bytes."""
    return {"a": "x" * (size - len('{"a": ""}'))}


@dataclass(frozen=True)
class Owned:
    """A tenant and the parents its rows hang off."""

    who: Person
    site: str
    v0_project: str
    chat: str


@dataclass(frozen=True)
class Limit:
    writer: str  # "user" or "guest"
    table: str
    column: str
    limit: int
    value_of: Callable[[int], Any]  # a value of the given size
    row: Callable[[Owned], dict[str, Any]]  # the rest of a row the writer may insert

    def __str__(self) -> str:
        return f"{self.writer}-{self.table}.{self.column}"


LIMITS = [
    Limit("guest", "prompt_handoffs", "prompt", 50_000, text_of, lambda _: {}),
    Limit("user", "app_projects", "description", 2_000, text_of, lambda _: {"name": "Site"}),
    Limit("user", "app_projects", "name", 200, text_of, lambda _: {}),
    Limit(
        "guest",
        "company_profiles",
        "voice_transcript",
        50_000,
        text_of,
        lambda owned: {"project_id": owned.site, "company_name": "AB"},
    ),
    Limit(
        "user",
        "chats",
        "web_url",
        2_048,
        url_of,
        lambda owned: {"project_id": owned.v0_project, "v0_chat_id": "chat_with_a_url"},
    ),
    Limit(
        "user", "chats", "v0_chat_id", 100, text_of, lambda owned: {"project_id": owned.v0_project}
    ),
    Limit(
        "guest",
        "project_data",
        "current_code",
        5 * MB,
        text_of,
        lambda owned: {"project_id": owned.site},
    ),
    Limit("user", "project_data", "messages", 10 * MB, json_of, lambda o: {"project_id": o.site}),
    Limit(
        "guest",
        "versions",
        "metadata",
        1 * MB,
        json_of,
        lambda owned: {"chat_id": owned.chat, "v0_version_id": "ver_limits"},
    ),
    Limit(
        "user",
        "media_library",
        "tags",
        50,
        lambda count: ["tag"] * count,
        lambda _: {
            "filename": "a.png",
            "original_name": "a.png",
            "file_path": "a/a.png",
            "mime_type": "image/png",
            "file_type": "image",
            "size_bytes": 1,
        },
    ),
]


@pytest.fixture(scope="module")
def http(postgrest_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=postgrest_url, timeout=60) as client:
        yield client


def owned_by(database_url: str, who: Person) -> Owned:
    [site] = sites(database_url, who, "Limits")
    with psycopg.connect(database_url, autocommit=True) as conn:
        parents = conn.execute(
            "with project as ("
            "  insert into public.projects (user_id, session_id, v0_project_id)"
            "  values (%s, %s, 'v0_limits') returning id)"
            " insert into public.chats (project_id, v0_chat_id)"
            " select id, 'chat_limits' from project returning project_id, id",
            (who.user_id, who.session_id),
        ).fetchone()
    assert parents is not None
    v0_project, chat = parents
    return Owned(who, site, str(v0_project), str(chat))


@pytest.fixture(scope="module")
def writers(database_url: str) -> dict[str, Owned]:
    return {
        "user": owned_by(database_url, a_user(database_url)),
        "guest": owned_by(database_url, a_guest()),
    }


def as_writer(who: Person, prefer: str) -> dict[str, str]:
    return {"apikey": anon_key(JWT_SECRET), **bearer(who), "Prefer": prefer}


@pytest.mark.parametrize("limit", LIMITS, ids=str)
def test_a_value_past_its_limit_is_refused_and_one_at_it_is_stored(
    limit: Limit, writers: dict[str, Owned], http: httpx.Client
) -> None:
    owned = writers[limit.writer]
    headers = as_writer(owned.who, "return=minimal,tx=rollback")

    def insert(size: int) -> httpx.Response:
        row = {**limit.row(owned), limit.column: limit.value_of(size)}
        return http.post(f"/{limit.table}", json=row, headers=headers)

    refused, stored = insert(limit.limit + 1), insert(limit.limit)

    assert (refused.status_code, refused.json()["code"]) == (400, "23514")
    assert f'constraint "{limit.table}_{limit.column}_' in refused.json()["message"]
    assert stored.status_code == 201, stored.text


@pytest.mark.parametrize(
    ("column", "value"), [("name", "n" * 201), ("image", url_of(2_049))], ids=["name", "image"]
)
def test_a_user_cannot_store_an_oversize_profile(
    column: str, value: str, database_url: str, http: httpx.Client
) -> None:
    user = a_user(database_url)

    response = http.patch(
        "/users",
        params={"id": f"eq.{user.user_id}"},
        json={column: value},
        headers=as_writer(user, "return=minimal"),
    )

    assert (response.status_code, response.json()["code"]) == (400, "23514")


def test_a_user_cannot_store_a_script_as_its_image(database_url: str, http: httpx.Client) -> None:
    user = a_user(database_url)

    response = http.patch(
        "/users",
        params={"id": f"eq.{user.user_id}"},
        json={"image": "javascript:alert(1)"},
        headers=as_writer(user, "return=minimal"),
    )

    assert (response.status_code, response.json()["code"]) == (400, "23514")


def test_a_guests_20_mb_project_is_refused_and_nothing_is_stored(
    database_url: str, http: httpx.Client
) -> None:
    # given a guest's new site
    guest = a_guest()
    [site] = sites(database_url, guest, "Huge")

    # when it saves 20 MB of files straight to the Data API
    response = http.post(
        "/project_data",
        json={"project_id": site, "files": {"app/page.tsx": text_of(20 * MB)}},
        headers=as_writer(guest, "return=minimal"),
    )

    # then the write is refused and no row exists
    assert (response.status_code, response.json()["code"]) == (400, "23514")
    with psycopg.connect(database_url) as conn:
        saved = conn.execute(
            "select count(*) from public.project_data where project_id = %s", (site,)
        ).fetchone()
    assert saved == (0,)


@pytest.mark.parametrize("kind", ["user", "guest"])
def test_an_idempotency_key_past_100_characters_is_refused(
    kind: str, database_url: str, http: httpx.Client
) -> None:
    # given someone whose charge is written (an admin pays nothing, a guest has its free one)
    who = a_user(database_url, tier="admin") if kind == "user" else a_guest()

    def charge(key_length: int) -> httpx.Response:
        arguments = {
            "p_action": "generate",
            "p_model_tier": None,
            "p_idempotency_key": "k" * key_length,
        }
        return http.post(
            "/rpc/charge_credits", json=arguments, headers=as_writer(who, "tx=rollback")
        )

    refused, stored = charge(101), charge(100)

    assert (refused.status_code, refused.json()["code"]) == (400, "23514")
    assert "_idempotency_key_length" in refused.json()["message"]
    assert (stored.status_code, stored.json()[0]["outcome"]) == (200, "charged")


@pytest.mark.parametrize(
    ("column", "limit", "value_of"),
    [("contact", 10_000, json_of), ("failure_reason", 500, text_of)],
    ids=["contact", "failure_reason"],
)
def test_a_domain_order_keeps_its_contact_and_failure_reason_small(
    column: str, limit: int, value_of: Callable[[int], Any], database_url: str, http: httpx.Client
) -> None:
    user = a_user(database_url)
    service = {
        "apikey": anon_key(JWT_SECRET),
        **bearer(service_role_key(JWT_SECRET)),
        "Prefer": "return=minimal,tx=rollback",
    }

    def order(size: int) -> httpx.Response:
        row = {"user_id": user.user_id, "domain": "limits.se", column: value_of(size)}
        return http.post("/domain_orders", json=row, headers=service)

    refused, stored = order(limit + 1), order(limit)

    assert (refused.status_code, refused.json()["code"]) == (400, "23514")
    assert f'constraint "domain_orders_{column}_' in refused.json()["message"]
    assert stored.status_code == 201, stored.text
