"""The SQL behind generations as clients meet it through real PostgREST: a client starts (and is
charged for) a generation of its own site only, once per idempotency key even when twenty
starts race; it cannot mark a generation done or failed, sweep, refund a charge, write or change
generation rows, read another tenant's, or put mirror rows into another tenant's v0 project. A
generation outlives its deleted site: finishing it then fails and refunds it, once, and nobody
but the service reads it. A sweep names the users it refunded.

Attempts are committed (no `tx=rollback`), so "nothing changed" is read back from the database.
"""

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from psycopg.types.json import Jsonb

from tests.conftest import JWT_SECRET
from tests.schema.data_api import COMMITTED, Db, as_client, executors
from tests.tenancy import anon_key, service_role_key
from tests.world import Person, a_guest, a_user, sites

EXECUTORS = {
    "public.start_generation(uuid, text, text, text, integer)": {"anon", "authenticated"},
    "public.finish_generation(uuid, text, text, text, text, text, jsonb, text)": {"service_role"},
    "public.fail_generation(uuid, text, text)": {"service_role"},
    "public.sweep_generations(integer)": {"service_role"},
    "public.app_project_versions(uuid, integer)": {"anon", "authenticated", "service_role"},
    "public.pin_app_project_version(uuid, uuid, boolean)": {
        "anon",
        "authenticated",
        "service_role",
    },
    "private.start_generation(uuid, text, text, text, integer)": {"anon", "authenticated"},
    "private.finish_generation(uuid, text, text, text, text, text, jsonb, text)": {"service_role"},
    "private.fail_generation(uuid, text, text)": {"service_role"},
    "private.sweep_generations(integer)": {"service_role"},
}


def a_funded_user(db: Db, database_url: str, diamonds: int) -> Person:
    person = a_user(database_url)
    db.execute(
        "select public.credit_diamonds(%s, %s, 'admin_grant', 'Test grant', %s)",
        (person.user_id, diamonds, str(uuid.uuid4())),
    )
    return person


def start(
    http: httpx.Client, who: Person | str, site: str, key: str, kind: str = "generate"
) -> dict[str, Any]:
    token = who if isinstance(who, str) else who.token
    response = http.post(
        "/rpc/start_generation",
        json={
            "p_app_project_id": site,
            "p_kind": kind,
            "p_model_tier": "standard",
            "p_idempotency_key": key,
        },
        headers=as_client(token, COMMITTED),
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows[0]


def finish(db: Db, generation_id: str, chat: str = "chat_1") -> dict[str, Any]:
    row = db.execute(
        "select * from public.finish_generation(%s, 'prj_1', %s, null, 'ver_1',"
        " 'https://demo.example', %s, 'export default 1')",
        (generation_id, chat, Jsonb([{"name": "app/page.tsx", "content": "export default 1"}])),
    ).fetchone()
    assert row is not None
    return row


def generation(db: Db, generation_id: str) -> dict[str, Any]:
    row = db.execute("select * from public.generations where id = %s", (generation_id,)).fetchone()
    assert row is not None
    return row


def diamonds(db: Db, who: Person) -> int:
    row = db.execute("select diamonds from public.users where id = %s", (who.user_id,)).fetchone()
    assert row is not None
    return int(row["diamonds"])


def refunds(db: Db, who: Person) -> int:
    row = db.execute(
        "select count(*) as n from public.transactions where user_id = %s and type = 'refund'",
        (who.user_id,),
    ).fetchone()
    assert row is not None
    return int(row["n"])


def test_every_generation_function_is_executable_by_exactly_its_callers(db: Db) -> None:
    assert executors(db, list(EXECUTORS)) == EXECUTORS


def test_a_user_starts_a_generation_of_its_site_and_is_charged_once_per_key(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    key = f"k-{uuid.uuid4()}"

    first = start(http, alice, site, key)
    again = start(http, alice, site, key)

    assert (first["outcome"], first["status"], first["cost"], first["balance"]) == (
        "started",
        "pending",
        10,
        20,
    )
    assert (again["outcome"], again["generation_id"]) == ("existing", first["generation_id"])
    assert diamonds(db, alice) == 20


def test_twenty_starts_at_once_with_one_key_charge_once(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    key = f"k-{uuid.uuid4()}"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(lambda _: start(http, alice, site, key), range(20)))

    assert sorted(outcome["outcome"] for outcome in outcomes) == ["existing"] * 19 + ["started"]
    assert len({outcome["generation_id"] for outcome in outcomes}) == 1
    assert diamonds(db, alice) == 20


def test_twenty_starts_at_once_with_twenty_keys_all_start_and_charge_each(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 1000)
    site_ids = sites(database_url, alice, *(f"Site {n}" for n in range(5)))

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(
            pool.map(lambda n: start(http, alice, site_ids[n % 5], f"k-{uuid.uuid4()}"), range(20))
        )

    assert [outcome["outcome"] for outcome in outcomes] == ["started"] * 20
    assert diamonds(db, alice) == 1000 - 20 * 10


def test_no_client_starts_a_generation_of_another_tenants_site(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    mallory = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")

    for who in (mallory, a_guest().token):
        assert start(http, who, site, f"k-{uuid.uuid4()}")["outcome"] == "not_found"
    assert start(http, anon_key(JWT_SECRET), site, "k")["outcome"] == "requires_account"
    assert diamonds(db, mallory) == 30
    assert (
        db.execute("select 1 from public.generations where app_project_id = %s", (site,)).fetchall()
        == []
    )


@pytest.mark.parametrize(
    ("function", "args"),
    [
        (
            "finish_generation",
            {
                "p_v0_project_id": "p",
                "p_v0_chat_id": "c",
                "p_web_url": None,
                "p_v0_version_id": "v",
                "p_demo_url": "https://forged.example",
                "p_files": [],
                "p_code": "forged",
            },
        ),
        ("fail_generation", {"p_error_code": "x", "p_error_message": "y"}),
    ],
)
def test_a_client_cannot_end_its_own_generation(
    function: str, args: dict[str, Any], db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    started = start(http, alice, site, f"k-{uuid.uuid4()}")

    response = http.post(
        f"/rpc/{function}",
        json={"p_generation_id": started["generation_id"], **args},
        headers=as_client(alice.token, COMMITTED),
    )

    assert response.status_code in (401, 403, 404)
    assert generation(db, started["generation_id"])["status"] == "pending"
    assert (diamonds(db, alice), refunds(db, alice)) == (20, 0)


def test_a_client_cannot_sweep_or_refund_a_charge(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    started = start(http, alice, site, f"k-{uuid.uuid4()}")
    charge = generation(db, started["generation_id"])["charge_id"]

    swept = http.post(
        "/rpc/sweep_generations", json={"p_batch": 10}, headers=as_client(alice.token, COMMITTED)
    )
    refunded = http.post(
        "/rpc/refund_charge",
        json={"p_charge_id": str(charge)},
        headers=as_client(alice.token, COMMITTED),
    )

    assert swept.status_code in (401, 403, 404)
    assert refunded.status_code in (401, 403, 404)
    assert (diamonds(db, alice), refunds(db, alice)) == (20, 0)
    # Past its deadline it is the service's sweep that refunds it, once (however many sweep:
    # an app starting elsewhere on this database may be sweeping too).
    db.execute(
        "update public.generations set deadline_at = now() - interval '1 minute' where id = %s",
        (started["generation_id"],),
    )
    db.execute("select * from public.sweep_generations(1000)")
    db.execute("select * from public.sweep_generations(1000)")
    assert (diamonds(db, alice), refunds(db, alice)) == (30, 1)
    assert generation(db, started["generation_id"])["status"] == "failed"


def test_a_client_cannot_write_or_change_generation_rows(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    started = start(http, alice, site, f"k-{uuid.uuid4()}")
    headers = as_client(alice.token, COMMITTED)

    changed = http.patch(
        f"/generations?id=eq.{started['generation_id']}",
        json={"status": "done", "finished_at": "2026-01-01T00:00:00Z"},
        headers=headers,
    )
    inserted = http.post(
        "/generations",
        json={
            "app_project_id": site,
            "kind": "generate",
            "idempotency_key": "forged",
            "status": "done",
            "deadline_at": "2030-01-01T00:00:00Z",
        },
        headers=headers,
    )
    deleted = http.delete(f"/generations?id=eq.{started['generation_id']}", headers=headers)

    assert changed.status_code in (401, 403)
    assert inserted.status_code in (401, 403)
    assert deleted.status_code in (401, 403)
    assert generation(db, started["generation_id"])["status"] == "pending"


def test_a_client_reads_the_generations_of_its_own_sites_only(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    started = start(http, alice, site, f"k-{uuid.uuid4()}")

    own = http.get(f"/generations?id=eq.{started['generation_id']}", headers=as_client(alice.token))
    others = [
        http.get(f"/generations?app_project_id=eq.{site}", headers=as_client(token)).json()
        for token in (a_user(database_url).token, a_guest().token, anon_key(JWT_SECRET))
    ]

    assert [row["id"] for row in own.json()] == [started["generation_id"]]
    assert others == [[], [], []]


def test_finishing_records_the_mirror_and_the_sites_save_and_happens_once(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    started = start(http, alice, site, f"k-{uuid.uuid4()}")

    done = finish(db, started["generation_id"])
    again = finish(db, started["generation_id"], chat="chat_2")
    failed = db.execute(
        "select * from public.fail_generation(%s, 'engine_unavailable', 'late')",
        (started["generation_id"],),
    ).fetchone()

    assert (done["outcome"], again["outcome"], again["status"]) == ("done", "not_pending", "done")
    assert failed is not None
    assert (failed["outcome"], refunds(db, alice)) == ("not_pending", 0)
    row = generation(db, started["generation_id"])
    assert (row["status"], row["v0_chat_id"], row["version_id"]) == (
        "done",
        "chat_1",
        done["version_id"],
    )
    assert row["files"] == [{"name": "app/page.tsx", "sizeBytes": 16}]
    saved = db.execute(
        "select chat_id, demo_url, current_code from public.project_data where project_id = %s",
        (site,),
    ).fetchone()
    assert saved == {
        "chat_id": "chat_1",
        "demo_url": "https://demo.example",
        "current_code": "export default 1",
    }
    owner = db.execute(
        "select project.user_id from public.versions as version"
        " join public.chats as chat on chat.id = version.chat_id"
        " join public.projects as project on project.id = chat.project_id"
        " where version.id = %s",
        (done["version_id"],),
    ).fetchone()
    assert owner == {"user_id": uuid.UUID(alice.user_id)}


def test_no_client_writes_mirror_rows_into_another_tenants_project(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    started = start(http, alice, site, f"k-{uuid.uuid4()}")
    done = finish(db, started["generation_id"])
    chat = db.execute(
        "select chat_id, project_id from public.versions as v join public.chats as c"
        " on c.id = v.chat_id where v.id = %s",
        (done["version_id"],),
    ).fetchone()
    assert chat is not None

    for token in (a_user(database_url).token, a_guest().token):
        headers = as_client(token, COMMITTED)
        forged_chat = http.post(
            "/chats",
            json={"project_id": str(chat["project_id"]), "v0_chat_id": "forged"},
            headers=headers,
        )
        forged_version = http.post(
            "/versions",
            json={"chat_id": str(chat["chat_id"]), "v0_version_id": "forged"},
            headers=headers,
        )
        pinned = http.post(
            "/rpc/pin_app_project_version",
            json={
                "p_app_project_id": site,
                "p_version_id": str(done["version_id"]),
                "p_pinned": True,
            },
            headers=headers,
        )
        assert forged_chat.status_code in (401, 403)
        assert forged_version.status_code in (401, 403)
        assert (pinned.status_code, pinned.json()) == (200, [])

    forged = db.execute(
        "select count(*) as n from public.chats where v0_chat_id = 'forged'"
        " union all select count(*) from public.versions where v0_version_id = 'forged'"
    ).fetchall()
    assert forged == [{"n": 0}, {"n": 0}]
    version = db.execute(
        "select pinned from public.versions where id = %s", (done["version_id"],)
    ).fetchone()
    assert version == {"pinned": False}


def delete_site(http: httpx.Client, who: Person, site: str) -> None:
    response = http.delete(f"/app_projects?id=eq.{site}", headers=as_client(who.token, COMMITTED))
    assert (response.status_code, [row["id"] for row in response.json()]) == (200, [site])


def test_finishing_a_generation_whose_site_was_deleted_fails_and_refunds_it_once(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    started = start(http, alice, site, f"k-{uuid.uuid4()}")
    delete_site(http, alice, site)

    ended = finish(db, started["generation_id"], chat="chat_of_a_deleted_site")
    again = finish(db, started["generation_id"], chat="chat_of_a_deleted_site")
    failed = db.execute(
        "select * from public.fail_generation(%s, 'engine_unavailable', 'late')",
        (started["generation_id"],),
    ).fetchone()

    assert (ended["outcome"], ended["status"]) == ("site_deleted", "failed")
    assert (again["outcome"], again["status"]) == ("not_pending", "failed")
    assert failed is not None
    assert failed["outcome"] == "not_pending"
    assert (diamonds(db, alice), refunds(db, alice)) == (30, 1)
    row = generation(db, started["generation_id"])
    assert (row["status"], row["error_code"], row["app_project_id"]) == (
        "failed",
        "site_deleted",
        None,
    )
    mirrored = db.execute(
        "select count(*) as n from public.chats where v0_chat_id = 'chat_of_a_deleted_site'"
    ).fetchone()
    assert mirrored == {"n": 0}


def test_a_generation_whose_site_was_deleted_is_read_by_nobody_but_the_service(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    started = start(http, alice, site, f"k-{uuid.uuid4()}")
    delete_site(http, alice, site)
    path = f"/generations?id=eq.{started['generation_id']}"

    seen = [
        http.get(path, headers=as_client(token)).json()
        for token in (alice.token, a_user(database_url).token, a_guest().token)
    ]
    anon = http.get(path, headers={"apikey": anon_key(JWT_SECRET)}).json()
    service = service_role_key(JWT_SECRET)
    by_service = http.get(
        path, headers={"apikey": service, "Authorization": f"Bearer {service}"}
    ).json()

    assert (seen, anon) == ([[], [], []], [])
    assert [row["id"] for row in by_service] == [started["generation_id"]]
    assert generation(db, started["generation_id"])["status"] == "pending"


def test_a_sweep_names_the_user_it_refunded_and_none_for_a_guest(
    db: Db, database_url: str, http: httpx.Client
) -> None:
    alice = a_funded_user(db, database_url, 30)
    guest = a_guest()
    (alices_site,) = sites(database_url, alice, "Bageriet")
    (guests_site,) = sites(database_url, guest, "Gästens")
    alices = start(http, alice, alices_site, f"k-{uuid.uuid4()}")["generation_id"]
    guests = start(http, guest, guests_site, f"k-{uuid.uuid4()}")["generation_id"]
    db.execute(
        "update public.generations set deadline_at = now() - interval '1 minute'"
        " where id = any(%s::uuid[])",
        ([alices, guests],),
    )

    swept = db.execute("select * from public.sweep_generations(1000)").fetchall()

    by_generation = {str(row["generation_id"]): row for row in swept}
    assert (by_generation[alices]["user_id"], by_generation[alices]["refund"]) == (
        uuid.UUID(alice.user_id),
        "refunded",
    )
    assert (by_generation[guests]["user_id"], by_generation[guests]["refund"]) == (
        None,
        "refunded",
    )
