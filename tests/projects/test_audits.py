"""Saved audits: a signed-in user keeps up to 50, each summarised from its own result; the list
and each audit are cached in Redis for their owner alone; on both data planes."""

import asyncio
from typing import Any

import msgspec
import psycopg
import redis.asyncio as redis_asyncio
from litestar.testing import AsyncTestClient
from psycopg.types.json import Jsonb

from services.projects.app import create_app
from shared.config import Settings
from tests.fakes.redis_server import RedisServer
from tests.projects.conftest import ProjectsClient
from tests.serving import serving
from tests.world import Person, a_guest, a_user, bearer

RESULT: dict[str, Any] = {
    "company": "Bageriet AB",
    "audit_scores": {"seo": 80, "ux": 71, "performance": 90, "security": 61},
    "improvements": [{"title": "Snabbare bilder", "impact": "high"}],
}
SUMMARY_FIELDS = {
    "id",
    "url",
    "domain",
    "companyName",
    "scoreOverall",
    "scoreSeo",
    "scoreUx",
    "scorePerformance",
    "scoreSecurity",
    "status",
    "createdAt",
}


def an_audit(url: str = "https://www.bageriet.se/om-oss", **result: Any) -> dict[str, Any]:
    return {"url": url, "result": {**RESULT, **result}}


def audits_of(database_url: str, user: Person, count: int) -> None:
    """`count` audits of `user`, written as the database owner, oldest first."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.user_audits (user_id, url, audit_result, status, created_at)"
            " select %s, 'https://example.com/' || n, %s, 'done', now() - n * interval '1 minute'"
            " from generate_series(1, %s) as n",
            (user.user_id, Jsonb(RESULT), count),
        )


async def saved(projects: ProjectsClient, user: Person, **result: Any) -> dict[str, Any]:
    response = await projects.post(
        "/projects/audits", json=an_audit(**result), headers=bearer(user)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# Saving -----------------------------------------------------------------------------------------


async def test_a_saved_audit_is_summarised_from_its_url_and_result(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)

    response = await projects.post("/projects/audits", json=an_audit(), headers=bearer(alice))

    body = response.json()
    assert response.status_code == 201
    assert set(body) == SUMMARY_FIELDS | {"result"}
    assert {key: value for key, value in body.items() if key not in ("id", "createdAt")} == {
        "url": "https://www.bageriet.se/om-oss",
        "domain": "bageriet.se",
        "companyName": "Bageriet AB",
        # (80 + 71 + 90 + 61) / 4 = 75.5, rounded half up
        "scoreOverall": 76,
        "scoreSeo": 80,
        "scoreUx": 71,
        "scorePerformance": 90,
        "scoreSecurity": 61,
        "status": "done",
        "result": RESULT,
    }


async def test_the_overall_score_needs_all_four_scores(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)

    audit = await saved(projects, alice, audit_scores={"seo": 40, "ux": 60.4})

    assert [audit[key] for key in ("scoreSeo", "scoreUx", "scorePerformance", "scoreOverall")] == [
        40,
        60,
        None,
        None,
    ]


async def test_a_result_without_company_or_scores_is_saved_with_none(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)

    response = await projects.post(
        "/projects/audits",
        json={"url": "http://Example.ORG:8080", "result": {}, "status": "failed"},
        headers=bearer(alice),
    )

    body = response.json()
    assert response.status_code == 201
    assert (body["domain"], body["companyName"], body["scoreOverall"], body["status"]) == (
        "example.org",
        None,
        None,
        "failed",
    )


async def test_a_user_with_50_audits_must_delete_one_first(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    audits_of(database_url, alice, 50)

    refused = await projects.post("/projects/audits", json=an_audit(), headers=bearer(alice))
    listed = (await projects.get("/projects/audits", headers=bearer(alice))).json()["audits"]
    await projects.delete(f"/projects/audits/{listed[-1]['id']}", headers=bearer(alice))
    accepted = await projects.post("/projects/audits", json=an_audit(), headers=bearer(alice))

    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["limit"]) == ("audit_limit_reached", 50)
    assert accepted.status_code == 201


async def test_ten_saves_at_once_by_a_user_with_45_audits_keep_exactly_5(
    projects_settings: Settings, database_url: str
) -> None:
    alice = a_user(database_url)
    audits_of(database_url, alice, 45)

    async with serving(create_app(projects_settings)) as client:
        responses = await asyncio.gather(
            *(
                client.post("/projects/audits", json=an_audit(), headers=bearer(alice))
                for _ in range(10)
            )
        )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 5 + [409] * 5
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"audit_limit_reached"}
    with psycopg.connect(database_url) as conn:
        count = conn.execute(
            "select count(*) from public.user_audits where user_id = %s", (alice.user_id,)
        ).fetchone()
    assert count == (50,)


# Reading and deleting ---------------------------------------------------------------------------


async def test_the_list_shows_the_users_own_summaries_newest_first(
    projects: ProjectsClient, database_url: str
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    audits_of(database_url, alice, 2)  # a minute and two minutes old
    newest = await saved(projects, alice)
    await saved(projects, bob)

    response = await projects.get("/projects/audits", headers=bearer(alice))

    listed = response.json()["audits"]
    assert response.status_code == 200
    assert [audit["url"] for audit in listed] == [
        newest["url"],
        "https://example.com/1",
        "https://example.com/2",
    ]
    assert all(set(audit) == SUMMARY_FIELDS for audit in listed)


async def test_a_user_reads_its_audit_with_the_result(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    audit = await saved(projects, alice)

    response = await projects.get(f"/projects/audits/{audit['id']}", headers=bearer(alice))

    assert response.status_code == 200
    assert response.json() == audit


async def test_a_deleted_audit_is_gone_from_the_list_and_the_cache(
    projects: ProjectsClient,
    database_url: str,
    key_prefix: str,
    redis_inspector: redis_asyncio.Redis,
) -> None:
    alice = a_user(database_url)
    audit = await saved(projects, alice)
    await projects.get(f"/projects/audits/{audit['id']}", headers=bearer(alice))
    await projects.get("/projects/audits", headers=bearer(alice))
    cached = [f"{key_prefix}audit:{audit['id']}", f"{key_prefix}audit_list:{alice.user_id}"]
    assert await redis_inspector.exists(*cached) == 2

    deleted = await projects.delete(f"/projects/audits/{audit['id']}", headers=bearer(alice))

    assert deleted.status_code == 204
    assert await redis_inspector.exists(*cached) == 0
    again = await projects.get(f"/projects/audits/{audit['id']}", headers=bearer(alice))
    assert (again.status_code, again.json()["code"]) == (404, "audit_not_found")
    assert (await projects.get("/projects/audits", headers=bearer(alice))).json() == {"audits": []}


async def test_a_save_shows_in_a_list_that_was_cached(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    before = await projects.get("/projects/audits", headers=bearer(alice))

    audit = await saved(projects, alice)
    after = await projects.get("/projects/audits", headers=bearer(alice))

    assert before.json() == {"audits": []}
    assert [listed["id"] for listed in after.json()["audits"]] == [audit["id"]]


async def test_another_user_never_gets_an_audit_even_a_cached_one(
    projects: ProjectsClient,
    database_url: str,
    key_prefix: str,
    redis_inspector: redis_asyncio.Redis,
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    audit = await saved(projects, alice)
    path = f"/projects/audits/{audit['id']}"
    await projects.get(path, headers=bearer(alice))  # now in Redis
    assert await redis_inspector.exists(f"{key_prefix}audit:{audit['id']}") == 1

    read = await projects.get(path, headers=bearer(bob))
    deleted = await projects.delete(path, headers=bearer(bob))

    assert [(r.status_code, r.json()["code"]) for r in (read, deleted)] == [
        (404, "audit_not_found"),
        (404, "audit_not_found"),
    ]
    assert (await projects.get(path, headers=bearer(alice))).status_code == 200


async def test_an_audit_no_one_has_is_not_found(
    projects: ProjectsClient, database_url: str
) -> None:
    missing = "/projects/audits/00000000-0000-4000-8000-000000000000"

    read = await projects.get(missing, headers=bearer(a_user(database_url)))

    assert (read.status_code, read.json()["code"]) == (404, "audit_not_found")


async def test_guests_and_anonymous_callers_are_told_to_sign_in(
    projects: ProjectsClient, database_url: str
) -> None:
    guest = a_guest()
    audit = await saved(projects, a_user(database_url))

    answers = [
        await projects.post("/projects/audits", json=an_audit(), headers=bearer(guest)),
        await projects.get("/projects/audits", headers=bearer(guest)),
        await projects.get(f"/projects/audits/{audit['id']}", headers=bearer(guest)),
        await projects.delete(f"/projects/audits/{audit['id']}", headers=bearer(guest)),
        await projects.get("/projects/audits"),
    ]

    assert [(answer.status_code, answer.json()["code"]) for answer in answers] == [
        (401, "unauthorized")
    ] * 5


async def test_with_redis_down_audits_are_saved_read_and_deleted(
    projects_settings: Settings, database_url: str, private_redis: RedisServer
) -> None:
    alice = a_user(database_url)
    settings = msgspec.structs.replace(
        projects_settings, redis_url=private_redis.url, cache_timeout_ms=200
    )
    async with AsyncTestClient(create_app(settings)) as projects:
        private_redis.stop()

        audit = await saved(projects, alice)
        listed = await projects.get("/projects/audits", headers=bearer(alice))
        read = await projects.get(f"/projects/audits/{audit['id']}", headers=bearer(alice))
        deleted = await projects.delete(f"/projects/audits/{audit['id']}", headers=bearer(alice))

    assert [audit["id"] for audit in listed.json()["audits"]] == [audit["id"]]
    assert (read.json(), deleted.status_code) == (audit, 204)


# Bad input --------------------------------------------------------------------------------------


async def bad_save(projects: ProjectsClient, user: Person, body: Any) -> tuple[int, list[str]]:
    response = await projects.post("/projects/audits", json=body, headers=bearer(user))
    fields = [error["field"] for error in response.json().get("errors", [])]
    return response.status_code, fields


async def test_bad_bodies_are_refused_naming_the_field(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    cases: list[tuple[Any, list[str]]] = [
        ({**an_audit(), "userId": a_user(database_url).user_id}, ["userId"]),
        ({"result": RESULT}, ["url"]),
        ({"url": "https://bageriet.se"}, ["result"]),
        (an_audit(url="ftp://bageriet.se"), ["url"]),
        (an_audit(url="https://"), ["url"]),
        (an_audit(url="https://bageriet.se/" + "p" * 2048), ["url"]),
        ({**an_audit(), "result": ["not", "an", "object"]}, ["result"]),
        ({**an_audit(), "status": "hacked"}, ["status"]),
        (an_audit(audit_scores={"seo": 101}), ["result.audit_scores.seo"]),
        (an_audit(audit_scores={"ux": -1}), ["result.audit_scores.ux"]),
        (an_audit(audit_scores={"security": "90"}), ["result.audit_scores.security"]),
        (an_audit(audit_scores=[90]), ["result.audit_scores"]),
        (an_audit(company="x" * 201), ["result.company"]),
        (an_audit(notes="x" * (1024 * 1024)), ["result"]),
    ]

    answers = [await bad_save(projects, alice, body) for body, _ in cases]

    assert answers == [(422, fields) for _, fields in cases]
    assert (await projects.get("/projects/audits", headers=bearer(alice))).json() == {"audits": []}


async def test_an_audit_id_that_is_not_a_uuid_is_not_found(
    projects: ProjectsClient, database_url: str
) -> None:
    response = await projects.get("/projects/audits/42", headers=bearer(a_user(database_url)))

    assert (response.status_code, response.json()["code"]) == (404, "not_found")
