"""The briefs' SQL (prompt handoffs, company profiles, the template cache) as clients meet it
through real PostgREST: `consume_prompt_handoff` marks a handoff once and only for its owner,
and no other tenant, nor the anon key, consumes, moves, copies or writes what is not theirs; a
palette that is not `{name, primary, secondary, accent}` with hex colours is never stored.

Attempts are committed (no `tx=rollback`), so "nothing changed" is read back from the database.
"""

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import JWT_SECRET
from tests.schema.data_api import COMMITTED, Db, as_client, executors
from tests.tenancy import anon_key, service_role_key
from tests.world import Person, a_guest, a_user, sites

EXECUTORS = {"public.consume_prompt_handoff(uuid)": {"anon", "authenticated"}}
CLIENTS: dict[str, Callable[[str], str]] = {
    "another user": lambda url: a_user(url).token,
    "another guest": lambda _url: a_guest().token,
    "the anon key": lambda _url: anon_key(JWT_SECRET),
}


def a_handoff(db: Db, owner: Person, project_id: str | None = None) -> str:
    row = db.execute(
        "insert into public.prompt_handoffs (user_id, session_id, project_id, prompt)"
        " values (%s, %s, %s, 'En bagerisajt') returning id::text",
        (owner.user_id, owner.session_id, project_id),
    ).fetchone()
    assert row is not None
    return str(row["id"])


def consumed(db: Db, handoff_id: str) -> bool:
    row = db.execute(
        "select consumed_at is not null as consumed from public.prompt_handoffs where id = %s",
        (handoff_id,),
    ).fetchone()
    assert row is not None
    return bool(row["consumed"])


def a_profile(db: Db, site: str, company_name: str) -> str:
    row = db.execute(
        "insert into public.company_profiles (project_id, company_name) values (%s, %s)"
        " returning id::text",
        (site, company_name),
    ).fetchone()
    assert row is not None
    return str(row["id"])


def profiles_of(db: Db, *site_ids: str) -> dict[str, str]:
    """Company name by site, for the given sites."""
    rows = db.execute(
        "select project_id::text, company_name from public.company_profiles"
        " where project_id = any(%s::uuid[])",
        (list(site_ids),),
    ).fetchall()
    return {row["project_id"]: row["company_name"] for row in rows}


def consume(http: httpx.Client, token: str, handoff_id: str) -> httpx.Response:
    return http.post(
        "/rpc/consume_prompt_handoff",
        json={"p_id": handoff_id},
        headers=as_client(token, COMMITTED),
    )


# consume_prompt_handoff ------------------------------------------------------------------------


def test_consume_prompt_handoff_is_executable_by_exactly_clients(db: Db) -> None:
    assert executors(db, list(EXECUTORS)) == EXECUTORS


@pytest.mark.parametrize("kind", ["user", "guest"])
def test_an_owner_consumes_its_handoff_once_through_the_data_api(
    kind: str, database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url) if kind == "user" else a_guest()
    [site] = sites(database_url, owner, "Sajt")
    handoff = a_handoff(db, owner, site)

    first, again = consume(http, owner.token, handoff), consume(http, owner.token, handoff)

    assert (first.status_code, first.json()) == (
        200,
        [
            {
                "prompt": "En bagerisajt",
                "source": None,
                "project_id": site,
                "already_consumed": False,
            }
        ],
    )
    assert [row["already_consumed"] for row in again.json()] == [True]
    assert consumed(db, handoff)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("owner_kind", ["user", "guest"])
def test_no_other_tenant_consumes_a_handoff(
    owner_kind: str, client: str, database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url) if owner_kind == "user" else a_guest()
    handoff = a_handoff(db, owner)

    response = consume(http, CLIENTS[client](database_url), handoff)
    patched = http.patch(
        "/prompt_handoffs",
        params={"id": f"eq.{handoff}"},
        json={"consumed_at": "2026-01-01T00:00:00Z"},
        headers=as_client(CLIENTS[client](database_url), COMMITTED),
    )

    assert (response.status_code, response.json()) == (200, [])
    assert (patched.status_code, patched.json()) == (200, [])
    assert not consumed(db, handoff)


def test_the_service_role_does_not_consume_handoffs(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    handoff = a_handoff(db, a_user(database_url))

    response = consume(http, service_role_key(JWT_SECRET), handoff)

    assert response.status_code in (401, 403), response.text
    assert not consumed(db, handoff)


def test_ten_consumes_at_once_through_the_data_api_find_one_first(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url)
    handoff = a_handoff(db, owner)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: consume(http, owner.token, handoff), range(10)))

    firsts = [row["already_consumed"] for answer in answers for row in answer.json()]
    assert sorted(firsts) == [False] + [True] * 9


def test_a_handoff_cannot_be_made_for_another_tenants_site(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    alice, intruder = a_user(database_url), a_guest()
    [alices_site] = sites(database_url, alice, "Alice's")

    response = http.post(
        "/prompt_handoffs",
        json={"prompt": "Ta över", "project_id": alices_site},
        headers=as_client(intruder.token, COMMITTED),
    )

    assert response.status_code in (401, 403), response.text
    assert db.execute(
        "select count(*) as n from public.prompt_handoffs where project_id = %s", (alices_site,)
    ).fetchone() == {"n": 0}


# company_profiles ------------------------------------------------------------------------------


@pytest.mark.parametrize("intruder_kind", ["user", "guest"])
def test_no_tenant_links_a_profile_across_the_tenancy_line(
    intruder_kind: str, database_url: str, db: Db, http: httpx.Client
) -> None:
    # given alice's profiled site, an intruder's profiled site and an intruder's bare site
    alice = a_user(database_url)
    intruder = a_user(database_url) if intruder_kind == "user" else a_guest()
    [alices_site] = sites(database_url, alice, "Alice's")
    own_site, bare_site = sites(database_url, intruder, "Own", "Bare")
    alices_profile = a_profile(db, alices_site, "Alice AB")
    own_profile = a_profile(db, own_site, "Intruder AB")
    headers = as_client(intruder.token, COMMITTED)

    # when the intruder takes alice's profile into its bare site, by moving it or copying it
    moved_in = http.patch(
        "/company_profiles",
        params={"id": f"eq.{alices_profile}"},
        json={"project_id": bare_site},
        headers=headers,
    )
    copied_in = http.post(
        "/company_profiles",
        json={"project_id": bare_site, "company_name": "Alice AB"},
        headers=headers,
    )
    read = http.get("/company_profiles", params={"id": f"eq.{alices_profile}"}, headers=headers)
    # and pushes its own profile onto alice's site: moving it, inserting, upserting over hers
    moved_out = http.patch(
        "/company_profiles",
        params={"id": f"eq.{own_profile}"},
        json={"project_id": alices_site},
        headers=headers,
    )
    inserted = http.post(
        "/company_profiles",
        json={"project_id": alices_site, "company_name": "Intruder AB"},
        headers=headers,
    )
    upserted = http.post(
        "/company_profiles",
        params={"on_conflict": "project_id"},
        json={"project_id": alices_site, "company_name": "Intruder AB"},
        headers={**headers, "Prefer": "return=representation,resolution=merge-duplicates"},
    )

    # then only the copy of what it typed itself lands on its own site; alice's is untouched
    assert (moved_in.status_code, moved_in.json()) == (200, [])
    assert copied_in.status_code == 201
    assert read.json() == []
    assert [r.status_code for r in (moved_out, inserted, upserted)] == [
        401 if intruder_kind == "guest" else 403
    ] * 3
    assert profiles_of(db, alices_site, own_site, bare_site) == {
        alices_site: "Alice AB",
        own_site: "Intruder AB",
        bare_site: "Alice AB",
    }
    assert db.execute(
        "select id::text from public.company_profiles where project_id = %s", (alices_site,)
    ).fetchone() == {"id": alices_profile}


BAD_PALETTES = [
    {"primary": "red"},
    {"primary": "#abcd"},
    {"accent": "#12345g"},
    {"secondary": 123},
    {"secondary": None},
    {"name": ""},
    {"name": "n" * 201},
    {"name": 7},
    {"font": "Inter"},
    {"name": "Vete", "primary": "#fff", "secondary": "#000", "accent": "#abc", "extra": "#fff"},
]


@pytest.mark.parametrize("palette", BAD_PALETTES, ids=[json.dumps(p)[:40] for p in BAD_PALETTES])
def test_a_palette_of_junk_is_refused_through_the_data_api(
    palette: dict[str, Any], database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_guest()
    [site] = sites(database_url, owner, "Sajt")
    profile = a_profile(db, site, "AB")

    patched = http.patch(
        "/company_profiles",
        params={"id": f"eq.{profile}"},
        json={"palette": palette},
        headers=as_client(owner.token, COMMITTED),
    )

    assert patched.status_code == 400, patched.text
    assert patched.json()["code"] == "23514"
    assert "company_profiles_palette_shape" in patched.json()["message"]
    assert db.execute(
        "select palette from public.company_profiles where id = %s", (profile,)
    ).fetchone() == {"palette": None}


@pytest.mark.parametrize(
    "palette",
    [
        {"name": "Vete", "primary": "#8b5e34", "secondary": "#F3E9DC", "accent": "#c85"},
        {"primary": "#000"},
        {},
    ],
)
def test_a_palette_of_hex_colours_is_stored(
    palette: dict[str, Any], database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url)
    [site] = sites(database_url, owner, "Sajt")
    profile = a_profile(db, site, "AB")

    patched = http.patch(
        "/company_profiles",
        params={"id": f"eq.{profile}"},
        json={"palette": palette},
        headers=as_client(owner.token, COMMITTED),
    )

    assert patched.status_code == 200, patched.text
    assert [row["palette"] for row in patched.json()] == [palette]


# template_cache --------------------------------------------------------------------------------


def shared_entries(db: Db, template_id: str) -> list[str | None]:
    rows = db.execute(
        "select chat_id from public.template_cache where template_id = %s and user_id is null",
        (template_id,),
    ).fetchall()
    return [row["chat_id"] for row in rows]


@pytest.mark.parametrize("writer", ["user", "guest", "anon key"])
def test_no_client_writes_a_shared_template(
    writer: str,
    database_url: str,
    db: Db,
    http: httpx.Client,
    request: pytest.FixtureRequest,
) -> None:
    template = f"tpl-{uuid.uuid4().hex[:12]}"
    db.execute(
        "insert into public.template_cache (template_id, user_id, chat_id) values (%s, null, %s)",
        (template, "chat_shared"),
    )
    # Shared entries are visible to every caller; the RLS attack matrix counts them.
    request.addfinalizer(
        lambda: db.execute("delete from public.template_cache where template_id = %s", (template,))
    )
    token = {
        "user": lambda: a_user(database_url).token,
        "guest": lambda: a_guest().token,
        "anon key": lambda: anon_key(JWT_SECRET),
    }[writer]()
    headers = as_client(token, COMMITTED)
    row = {"template_id": template, "user_id": None, "chat_id": "chat_forged"}

    inserted = http.post("/template_cache", json=row, headers=headers)
    upserted = http.post(
        "/template_cache",
        params={"on_conflict": "template_id,user_id"},
        json=row,
        headers={**headers, "Prefer": "return=representation,resolution=merge-duplicates"},
    )
    patched = http.patch(
        "/template_cache",
        params={"template_id": f"eq.{template}"},
        json={"chat_id": "chat_forged", "expires_at": "2099-01-01T00:00:00Z"},
        headers=headers,
    )
    deleted = http.delete(
        "/template_cache", params={"template_id": f"eq.{template}"}, headers=headers
    )

    assert inserted.status_code in (401, 403), inserted.text
    assert upserted.status_code in (401, 403), upserted.text
    assert patched.status_code in (200, 401, 403)
    assert patched.status_code != 200 or patched.json() == []
    assert deleted.status_code in (200, 401, 403)
    assert deleted.status_code != 200 or deleted.json() == []
    assert shared_entries(db, template) == ["chat_shared"]
