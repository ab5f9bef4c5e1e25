"""Generating, refining and template-generating a site through the app with v0's stand-in served
over HTTP: each is charged once per idempotency key, recorded, and refunded when the engine
fails; twenty requests with one key at once are one charge and one engine call; guests get one
of each; a site started from a cached template gets a chat of its own; a site deleted while its
generation runs gets its charge back; the sweeper refunds what a dead process left pending, once,
even when two sweep at once, and drops the refunded user's cached balance.
"""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from redis import asyncio as redis_asyncio

from services.projects.app import create_app
from services.projects.repo.generations import GenerationLedger, GenerationRepository
from shared.config import Settings
from shared.data.plane import DataPlane, open_data_plane
from standins.v0 import V0StandIn
from tests.serving import serving
from tests.world import Person, a_guest, a_user, bearer, service_role, sites

Client = AsyncTestClient[Litestar]
DEMO_URL = re.compile(r"^https://demo-[a-z0-9]+\.vusercontent\.net$")
PROMPT = "En bageriwebbplats i Malmö med surdegsbröd och öppettider"


# The world ---------------------------------------------------------------------------------------


@pytest.fixture
def v0(served_v0: V0StandIn) -> V0StandIn:
    """The served stand-in, its controls and counts fresh for each test."""
    served_v0.pending_polls = 0
    served_v0.calls.clear()
    served_v0.received.clear()
    served_v0.chats.clear()
    return served_v0


@pytest.fixture
def engine_settings(projects_settings: Settings, v0: V0StandIn) -> Settings:
    """The projects service pointed at the stand-in, with short timeouts."""
    return msgspec.structs.replace(
        projects_settings, **v0.configuration(), v0_timeout_s=1.0, v0_deadline_s=5.0
    )


@pytest.fixture
async def client(engine_settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(create_app(engine_settings)) as test_client:
        yield test_client


def a_funded_user(database_url: str, diamonds: int, **columns: Any) -> Person:
    """A user holding `diamonds`, granted on the ledger as billing grants them."""
    person = a_user(database_url, **columns)
    if diamonds:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "select public.credit_diamonds(%s, %s, 'admin_grant', 'Test grant', %s)",
                (person.user_id, diamonds, str(uuid.uuid4())),
            )
    return person


def query(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        cursor = conn.execute(sql, args)
        return cursor.fetchall() if cursor.description else []


def diamonds_of(database_url: str, person: Person) -> int:
    rows = query(database_url, "select diamonds from public.users where id = %s", person.user_id)
    return int(rows[0]["diamonds"])


def ledger_of(database_url: str, person: Person) -> list[tuple[str, int]]:
    """The person's charges and refunds, in the order they happened."""
    rows = query(
        database_url,
        "select type, amount from public.transactions"
        " where user_id = %s and type in ('charge', 'refund') order by seq",
        person.user_id,
    )
    return [(row["type"], row["amount"]) for row in rows]


def audit_of(database_url: str, person: Person) -> list[dict[str, Any]]:
    return query(
        database_url,
        "select * from public.ledger_discrepancies() where user_id = %s",
        person.user_id,
    )


def generations_of(database_url: str, site: str) -> list[dict[str, Any]]:
    return query(
        database_url,
        "select * from public.generations where app_project_id = %s order by created_at",
        site,
    )


def a_key() -> str:
    return f"key-{uuid.uuid4()}"


async def generate(
    client: Client, who: Person, site: str, key: str | None = None, **body: Any
) -> Any:
    return await client.post(
        f"/projects/{site}/generate",
        json={"prompt": PROMPT, "idempotencyKey": key or a_key(), **body},
        headers=bearer(who),
    )


async def refine(client: Client, who: Person, site: str, key: str | None = None) -> Any:
    return await client.post(
        f"/projects/{site}/refine",
        json={"message": "Gör rubriken större", "idempotencyKey": key or a_key()},
        headers=bearer(who),
    )


# Happy paths -------------------------------------------------------------------------------------


async def test_a_user_generates_a_site_pays_10_and_the_site_shows_the_version(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")

    response = await generate(client, alice, site)

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["cost"], body["balance"], body["kind"]) == (10, 20, "generate")
    assert DEMO_URL.match(body["demoUrl"])
    assert body["chatId"] in v0.chats
    assert body["v0VersionId"] == v0.chats[body["chatId"]].versions[-1].id
    assert {"name": "app/page.tsx", "sizeBytes": pytest.approx(1, abs=10**6)} in body["files"]
    assert diamonds_of(database_url, alice) == 20
    saved = (await client.get(f"/projects/{site}", headers=bearer(alice))).json()["data"]
    assert (saved["chatId"], saved["demoUrl"]) == (body["chatId"], body["demoUrl"])
    assert "Malmö" in saved["currentCode"]
    files = (await client.get(f"/projects/{site}/files", headers=bearer(alice))).json()["files"]
    assert sorted(file["path"] for file in files) == sorted(file["name"] for file in body["files"])
    (row,) = generations_of(database_url, site)
    assert (row["status"], str(row["version_id"])) == ("done", body["versionId"])
    assert v0.calls["POST /chats"] == 1
    assert audit_of(database_url, alice) == []


async def test_the_pro_model_costs_7_and_asks_v0_for_its_larger_model(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")

    response = await generate(client, alice, site, model="pro")

    assert response.status_code == 201, response.text
    assert (response.json()["cost"], response.json()["balance"]) == (7, 23)
    assert v0.chats[response.json()["chatId"]].model_id == "v0-max"


async def test_a_refine_costs_6_and_makes_a_new_version_of_the_same_chat(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    first = (await generate(client, alice, site)).json()

    response = await refine(client, alice, site)

    assert response.status_code == 201, response.text
    refined = response.json()
    assert (refined["cost"], refined["balance"], refined["kind"]) == (6, 14, "refine")
    assert refined["chatId"] == first["chatId"]
    assert refined["versionId"] != first["versionId"]
    assert v0.calls["POST /chats/{chatId}/messages"] == 1
    assert len(v0.chats[first["chatId"]].versions) == 2
    saved = (await client.get(f"/projects/{site}", headers=bearer(alice))).json()["data"]
    assert saved["demoUrl"] == refined["demoUrl"]


async def test_a_refine_before_any_generation_is_409_and_charges_nothing(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")

    response = await refine(client, alice, site)

    assert (response.status_code, response.json()["code"]) == (409, "nothing_to_refine")
    assert diamonds_of(database_url, alice) == 30
    assert generations_of(database_url, site) == []
    assert v0.total_calls() == 0


async def test_a_refine_never_continues_a_chat_id_the_client_saved_itself(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice, bob = a_funded_user(database_url, 30), a_funded_user(database_url, 30)
    (bobs_site,) = sites(database_url, bob, "Bob's")
    bobs_chat = (await generate(client, bob, bobs_site)).json()["chatId"]
    (site,) = sites(database_url, alice, "Bageriet")
    saved = await client.put(
        f"/projects/{site}/data", json={"chatId": bobs_chat}, headers=bearer(alice)
    )
    assert saved.status_code == 200

    response = await refine(client, alice, site)

    assert (response.status_code, response.json()["code"]) == (409, "nothing_to_refine")
    assert v0.calls["POST /chats/{chatId}/messages"] == 0


# The engine fails: the charge comes back ---------------------------------------------------------


def fail_by_500(v0: V0StandIn) -> None:
    v0.fail_next(500, endpoint="POST /chats")


def fail_by_429(v0: V0StandIn) -> None:
    v0.fail_next(429, "Rate limit exceeded", endpoint="POST /chats")


def fail_by_timeout(v0: V0StandIn) -> None:
    v0.delay_next(2.5, endpoint="POST /chats")


def fail_by_failed_version(v0: V0StandIn) -> None:
    v0.fail_next_version()


@pytest.mark.parametrize(
    "fail", [fail_by_500, fail_by_429, fail_by_timeout, fail_by_failed_version]
)
async def test_an_engine_failure_is_503_and_refunds_the_charge_once(
    fail: Any, client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    fail(v0)

    response = await generate(client, alice, site)

    assert (response.status_code, response.json()["code"]) == (503, "engine_unavailable")
    assert diamonds_of(database_url, alice) == 30
    assert ledger_of(database_url, alice) == [("charge", -10), ("refund", 10)]
    (row,) = generations_of(database_url, site)
    assert (row["status"], row["error_code"]) == ("failed", "engine_unavailable")
    assert audit_of(database_url, alice) == []
    assert v0.calls["POST /chats"] == 1
    saved = (await client.get(f"/projects/{site}", headers=bearer(alice))).json()["data"]
    assert saved is None


async def test_a_prompt_v0_refuses_is_422_with_its_message_and_refunded(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    v0.fail_next(400, "The message breaks the content policy", endpoint="POST /chats")

    response = await generate(client, alice, site)

    assert (response.status_code, response.json()["code"]) == (422, "engine_rejected")
    assert response.json()["detail"] == "The message breaks the content policy"
    assert ledger_of(database_url, alice) == [("charge", -10), ("refund", 10)]


async def test_the_same_key_after_a_failure_answers_the_failure_again_without_a_charge(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    v0.fail_next(400, "Too vague", endpoint="POST /chats")
    key = a_key()
    first = await generate(client, alice, site, key)

    again = await generate(client, alice, site, key)

    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert ledger_of(database_url, alice) == [("charge", -10), ("refund", 10)]
    assert v0.calls["POST /chats"] == 1


# One key, one generation -------------------------------------------------------------------------


async def test_the_same_key_again_answers_the_first_generation_without_charge_or_engine_call(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    key = a_key()
    first = await generate(client, alice, site, key)

    again = await generate(client, alice, site, key)

    assert (again.status_code, again.json()) == (201, first.json())
    assert diamonds_of(database_url, alice) == 20
    assert v0.calls["POST /chats"] == 1


async def test_a_key_used_for_another_site_is_409(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    first_site, other_site = sites(database_url, alice, "One", "Two")
    key = a_key()
    await generate(client, alice, first_site, key)

    response = await generate(client, alice, other_site, key)

    assert (response.status_code, response.json()["code"]) == (409, "idempotency_key_reused")
    assert diamonds_of(database_url, alice) == 20


async def test_20_generates_at_once_with_one_key_make_one_charge_one_engine_call_20_answers(
    engine_settings: Settings, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    v0.delay_next(0.3, endpoint="POST /chats")  # the winner is still working when all arrive
    body = {"prompt": PROMPT, "idempotencyKey": a_key()}

    async with serving(create_app(engine_settings)) as served:
        responses = await asyncio.gather(
            *(
                served.post(f"/projects/{site}/generate", json=body, headers=bearer(alice))
                for _ in range(20)
            )
        )

    assert [response.status_code for response in responses] == [201] * 20
    assert len({response.content for response in responses}) == 1
    assert v0.calls["POST /chats"] == 1
    assert ledger_of(database_url, alice) == [("charge", -10)]
    assert len(generations_of(database_url, site)) == 1


# Who may generate --------------------------------------------------------------------------------


async def test_a_guest_gets_one_generation_and_one_refine_then_402_requires_account(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    guest = a_guest()
    (site,) = sites(database_url, guest, "Gästens sajt")

    generated = await generate(client, guest, site)
    refined = await refine(client, guest, site)
    again = await generate(client, guest, site)
    refined_again = await refine(client, guest, site)

    assert generated.status_code == 201, generated.text
    assert (generated.json()["cost"], generated.json()["balance"]) == (0, None)
    assert refined.status_code == 201, refined.text
    assert (again.status_code, again.json()["code"]) == (402, "requires_account")
    assert (refined_again.status_code, refined_again.json()["code"]) == (402, "requires_account")
    assert v0.calls["POST /chats"] == 1


async def test_a_guest_whose_generation_failed_has_its_free_generation_back(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    guest = a_guest()
    (site,) = sites(database_url, guest, "Gästens sajt")
    v0.fail_next(500, endpoint="POST /chats")

    failed = await generate(client, guest, site)
    retried = await generate(client, guest, site)

    assert failed.status_code == 503
    assert retried.status_code == 201, retried.text


async def test_too_few_diamonds_is_402_and_leaves_no_generation(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 5)
    (site,) = sites(database_url, alice, "Bageriet")

    response = await generate(client, alice, site)

    assert response.status_code == 402
    problem = response.json()
    assert (problem["code"], problem["required"], problem["current"]) == (
        "insufficient_credits",
        10,
        5,
    )
    assert generations_of(database_url, site) == []
    assert diamonds_of(database_url, alice) == 5
    assert v0.total_calls() == 0


@pytest.mark.parametrize("path", ["generate", "refine"])
async def test_another_tenants_site_is_404_and_charges_nothing(
    path: str, client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice, mallory = a_funded_user(database_url, 30), a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    await generate(client, alice, site)

    response = await (generate if path == "generate" else refine)(client, mallory, site)

    assert (response.status_code, response.json()["code"]) == (404, "project_not_found")
    assert diamonds_of(database_url, mallory) == 30
    assert len(generations_of(database_url, site)) == 1


async def test_without_a_token_generating_is_401(client: Client, database_url: str) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")

    response = await client.post(
        f"/projects/{site}/generate", json={"prompt": PROMPT, "idempotencyKey": a_key()}
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": PROMPT}, "idempotencyKey"),
        ({"prompt": "", "idempotencyKey": "k"}, "prompt"),
        ({"prompt": PROMPT, "idempotencyKey": "k", "model": "ultra"}, "model"),
        ({"prompt": PROMPT, "idempotencyKey": "k" * 101}, "idempotencyKey"),
        ({"prompt": PROMPT, "idempotencyKey": "k", "cost": 0}, "cost"),
    ],
)
async def test_a_bad_body_is_422_naming_the_field(
    body: dict[str, Any], field: str, client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")

    response = await client.post(f"/projects/{site}/generate", json=body, headers=bearer(alice))

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert diamonds_of(database_url, alice) == 30
    assert v0.total_calls() == 0


# Templates ---------------------------------------------------------------------------------------


@pytest.fixture
def template(database_url: str) -> Iterator[str]:
    """A template id no other test caches; its cache entries go with the test (the session
    database is shared with the RLS attack matrix, which counts shared entries)."""
    template_id = f"tpl-test-generations-{uuid.uuid4().hex[:10]}"
    yield template_id
    query(database_url, "delete from public.template_cache where template_id = %s", template_id)


async def from_template(client: Any, who: Person, template: str, site: str) -> Any:
    return await client.post(
        f"/projects/templates/{template}/generate",
        json={"projectId": site, "idempotencyKey": a_key()},
        headers=bearer(who),
    )


def init_types(v0: V0StandIn) -> list[str]:
    """The `type` of every `POST /chats/init` v0 received, in order."""
    return [
        msgspec.json.decode(request.content)["type"]
        for request in v0.received
        if request.method == "POST" and request.url.path.endswith("/chats/init")
    ]


async def test_a_template_is_generated_once_by_v0_then_served_from_the_users_cache(
    client: Client, database_url: str, v0: V0StandIn, template: str
) -> None:
    alice = a_funded_user(database_url, 30)
    first_site, second_site = sites(database_url, alice, "One", "Two")

    first = await from_template(client, alice, template, first_site)
    second = await from_template(client, alice, template, second_site)

    assert (first.status_code, second.status_code) == (201, 201), first.text + second.text
    assert init_types(v0) == ["template", "files"]
    assert (first.json()["cost"], second.json()["balance"]) == (10, 10)
    assert second.json()["files"] == first.json()["files"]
    cached = await client.get(f"/projects/templates/{template}", headers=bearer(alice))
    assert (cached.json()["shared"], cached.json()["chatId"]) == (False, first.json()["chatId"])
    for site, answer in ((first_site, first), (second_site, second)):
        saved = (await client.get(f"/projects/{site}", headers=bearer(alice))).json()["data"]
        assert (saved["chatId"], saved["demoUrl"]) == (
            answer.json()["chatId"],
            answer.json()["demoUrl"],
        )
        assert "Template" in saved["currentCode"]


async def test_sites_from_one_cached_template_each_get_a_chat_so_a_refine_changes_only_its_own(
    client: Client, database_url: str, v0: V0StandIn, template: str
) -> None:
    alice = a_funded_user(database_url, 30)
    first_site, second_site = sites(database_url, alice, "One", "Two")
    first = (await from_template(client, alice, template, first_site)).json()
    second = (await from_template(client, alice, template, second_site)).json()

    refined = await refine(client, alice, second_site)

    assert refined.status_code == 201, refined.text
    assert second["chatId"] != first["chatId"]
    assert refined.json()["chatId"] == second["chatId"]
    assert len(v0.chats[first["chatId"]].versions) == 1
    assert len(v0.chats[second["chatId"]].versions) == 2
    saved = (await client.get(f"/projects/{first_site}", headers=bearer(alice))).json()["data"]
    assert saved["demoUrl"] == first["demoUrl"]


async def test_two_tenants_starting_from_the_shared_entry_get_chats_of_their_own_from_its_files(
    client: Client, database_url: str, v0: V0StandIn, template: str
) -> None:
    page = "export default function Page() {\n  return <main>Delad mall</main>\n}\n"
    query(
        database_url,
        "insert into public.template_cache (template_id, user_id, chat_id, demo_url,"
        " version_id, files_json, code, model, expires_at)"
        " values (%s, null, 'chat_shared', 'https://demo-shared.vusercontent.net', 'ver_shared',"
        " %s, %s, 'standard', now() + interval '1 day')",
        template,
        Jsonb([{"name": "app/page.tsx", "content": page, "locked": True}]),
        page,
    )
    bob, carol = a_funded_user(database_url, 30), a_funded_user(database_url, 30)
    (bobs_site,) = sites(database_url, bob, "Bob's")
    (carols_site,) = sites(database_url, carol, "Carol's")

    bobs = (await from_template(client, bob, template, bobs_site)).json()
    carols = (await from_template(client, carol, template, carols_site)).json()
    refined = await refine(client, bob, bobs_site)

    assert init_types(v0) == ["files", "files"]
    assert len({bobs["chatId"], carols["chatId"], "chat_shared"}) == 3
    for answer in (bobs, carols):
        (file,) = v0.chats[answer["chatId"]].versions[0].files
        assert (file["name"], file["content"], file["locked"]) == ("app/page.tsx", page, True)
    assert refined.json()["chatId"] == bobs["chatId"]
    assert len(v0.chats[carols["chatId"]].versions) == 1
    saved = (await client.get(f"/projects/{carols_site}", headers=bearer(carol))).json()["data"]
    assert "Delad mall" in saved["currentCode"]
    rows = query(
        database_url,
        "select user_id, chat_id from public.template_cache where template_id = %s",
        template,
    )
    assert rows == [{"user_id": None, "chat_id": "chat_shared"}]


# A site deleted while its generation runs --------------------------------------------------------


async def test_a_site_deleted_while_v0_works_gets_its_charge_back_once_and_the_generation_fails(
    engine_settings: Settings,
    database_url: str,
    v0: V0StandIn,
    key_prefix: str,
    redis_inspector: redis_asyncio.Redis,
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    v0.delay_next(0.6, endpoint="POST /chats")
    cached_user = f"{key_prefix}user:session:{alice.user_id}"

    async with serving(create_app(engine_settings)) as served:
        generating = asyncio.create_task(
            served.post(
                f"/projects/{site}/generate",
                json={"prompt": PROMPT, "idempotencyKey": a_key()},
                headers=bearer(alice),
            )
        )
        while v0.calls["POST /chats"] == 0 and not generating.done():
            await asyncio.sleep(0.02)  # charged, recorded, and v0 at work
        (started,) = generations_of(database_url, site)
        await redis_inspector.set(cached_user, '{"diamonds": 20}')
        deleted = await served.delete(f"/projects/{site}", headers=bearer(alice))
        response = await generating

    assert deleted.status_code == 204, deleted.text
    assert v0.calls["POST /chats"] == 1
    assert (response.status_code, response.json()["code"]) == (404, "project_not_found")
    assert diamonds_of(database_url, alice) == 30
    assert ledger_of(database_url, alice) == [("charge", -10), ("refund", 10)]
    (row,) = query(database_url, "select * from public.generations where id = %s", started["id"])
    assert (row["status"], row["error_code"], row["app_project_id"]) == (
        "failed",
        "site_deleted",
        None,
    )
    assert audit_of(database_url, alice) == []
    assert await redis_inspector.exists(cached_user) == 0


# The sweeper -------------------------------------------------------------------------------------


@pytest.fixture
async def data(engine_settings: Settings) -> AsyncIterator[DataPlane]:
    """The data plane the projects service runs on, once per plane."""
    async with httpx.AsyncClient(timeout=10) as http:
        plane = await open_data_plane(engine_settings, http)
        try:
            yield plane
        finally:
            await plane.close()


async def start_and_die(data: DataPlane, database_url: str, who: Person, site: str) -> uuid.UUID:
    """A generation charged as `who` (start_generation called directly, as a client may) whose
    process never finishes it, already past its deadline."""
    started = await GenerationRepository(data, who.caller).start(
        uuid.UUID(site), "generate", "standard", a_key(), 600
    )
    assert started.outcome == "started"
    assert started.generation_id is not None
    query(
        database_url,
        "update public.generations set deadline_at = now() - interval '1 second' where id = %s",
        started.generation_id,
    )
    return started.generation_id


async def test_two_sweeps_at_once_refund_a_dead_generation_exactly_once(
    data: DataPlane, database_url: str
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    generation = await start_and_die(data, database_url, alice, site)
    assert diamonds_of(database_url, alice) == 20

    ledger = GenerationLedger(data, service_role())
    await asyncio.gather(ledger.sweep(100), ledger.sweep(100))

    assert diamonds_of(database_url, alice) == 30
    assert ledger_of(database_url, alice) == [("charge", -10), ("refund", 10)]
    (row,) = generations_of(database_url, site)
    assert (row["id"], row["status"], row["error_code"]) == (
        generation,
        "failed",
        "engine_unavailable",
    )
    assert audit_of(database_url, alice) == []


async def test_the_apps_sweeper_refunds_a_dead_generation_on_its_own(
    engine_settings: Settings, data: DataPlane, database_url: str
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    await start_and_die(data, database_url, alice, site)

    async with AsyncTestClient(create_app(engine_settings)):
        for _ in range(100):
            if generations_of(database_url, site)[0]["status"] != "pending":
                break
            await asyncio.sleep(0.05)

    assert generations_of(database_url, site)[0]["status"] == "failed"
    assert ledger_of(database_url, alice) == [("charge", -10), ("refund", 10)]
    assert audit_of(database_url, alice) == []


async def test_the_sweeper_drops_the_cached_user_whose_charge_it_refunded(
    engine_settings: Settings,
    data: DataPlane,
    database_url: str,
    key_prefix: str,
    redis_inspector: redis_asyncio.Redis,
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Bageriet")
    await start_and_die(data, database_url, alice, site)
    cached_user = f"{key_prefix}user:session:{alice.user_id}"
    await redis_inspector.set(cached_user, '{"diamonds": 20}')

    async with AsyncTestClient(create_app(engine_settings)):
        for _ in range(100):
            if not await redis_inspector.exists(cached_user):
                break
            await asyncio.sleep(0.05)

    assert generations_of(database_url, site)[0]["status"] == "failed"
    assert diamonds_of(database_url, alice) == 30
    assert await redis_inspector.exists(cached_user) == 0
