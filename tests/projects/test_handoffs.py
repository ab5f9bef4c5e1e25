"""Prompt handoffs: any caller hands a prompt to the builder, and only its owner opens it, the
first opening marking it consumed (once, however many race for it)."""

import asyncio
import uuid
from typing import Any

import psycopg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.projects.app import create_app
from shared.config import Settings
from tests.conftest import JWT_SECRET
from tests.serving import serving
from tests.tenancy import anon_key
from tests.world import Person, a_guest, a_user, bearer, sites

ProjectsClient = AsyncTestClient[Litestar]


async def handed_off(projects: ProjectsClient, who: Person, **body: Any) -> str:
    response = await projects.post(
        "/projects/handoffs", json={"prompt": "En bagerisajt", **body}, headers=bearer(who)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def handoff_row(database_url: str, handoff_id: str) -> dict[str, Any] | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select user_id::text, session_id, project_id::text, prompt, source,"
            " consumed_at is not null from public.prompt_handoffs where id = %s",
            (handoff_id,),
        ).fetchone()
    if row is None:
        return None
    keys = ("user_id", "session_id", "project_id", "prompt", "source", "consumed")
    return dict(zip(keys, row, strict=True))


def handoffs_of(database_url: str, who: Person) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select count(*) from public.prompt_handoffs"
            " where user_id is not distinct from %s and session_id is not distinct from %s",
            (who.user_id, who.session_id),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_user_hands_off_a_prompt_and_opens_it_once(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)

    created = await projects.post(
        "/projects/handoffs",
        json={"prompt": "En bagerisajt", "source": "landing"},
        headers=bearer(alice),
    )
    handoff_id = created.json()["id"]
    first = await projects.post(f"/projects/handoffs/{handoff_id}/consume", headers=bearer(alice))
    again = await projects.post(f"/projects/handoffs/{handoff_id}/consume", headers=bearer(alice))

    assert created.status_code == 201
    assert set(created.json()) == {"id"}
    assert (first.status_code, first.json()) == (
        200,
        {
            "prompt": "En bagerisajt",
            "source": "landing",
            "projectId": None,
            "alreadyConsumed": False,
        },
    )
    assert (again.status_code, again.json()) == (200, {**first.json(), "alreadyConsumed": True})
    assert handoff_row(database_url, handoff_id) == {
        "user_id": alice.user_id,
        "session_id": None,
        "project_id": None,
        "prompt": "En bagerisajt",
        "source": "landing",
        "consumed": True,
    }


async def test_a_guest_hands_off_a_prompt_for_its_own_site(
    projects: ProjectsClient, database_url: str
) -> None:
    guest = a_guest()
    [site] = sites(database_url, guest, "Min sajt")

    handoff_id = await handed_off(projects, guest, projectId=site)
    opened = await projects.post(f"/projects/handoffs/{handoff_id}/consume", headers=bearer(guest))

    assert opened.json() == {
        "prompt": "En bagerisajt",
        "source": None,
        "projectId": site,
        "alreadyConsumed": False,
    }
    row = handoff_row(database_url, handoff_id)
    assert row is not None
    assert (row["user_id"], row["session_id"]) == (None, guest.session_id)


async def test_a_handoff_for_a_site_that_is_not_the_callers_is_project_not_found(
    projects: ProjectsClient, database_url: str
) -> None:
    alice, bob, guest = a_user(database_url), a_user(database_url), a_guest()
    [alices_site] = sites(database_url, alice, "Alice's")

    answers = [
        await projects.post(
            "/projects/handoffs",
            json={"prompt": "Ta över", "projectId": project_id},
            headers=bearer(who),
        )
        for who in (bob, guest)
        for project_id in (alices_site, str(uuid.uuid4()))
    ]

    assert [(answer.status_code, answer.json()["code"]) for answer in answers] == [
        (404, "project_not_found")
    ] * 4
    assert (handoffs_of(database_url, bob), handoffs_of(database_url, guest)) == (0, 0)


async def test_only_the_owner_opens_a_handoff(projects: ProjectsClient, database_url: str) -> None:
    alice = a_user(database_url)
    handoff_id = await handed_off(projects, alice)
    guests_handoff = await handed_off(projects, guest := a_guest())

    attempts = {
        (owner_name, intruder_name): await projects.post(
            f"/projects/handoffs/{target}/consume", headers=headers
        )
        for owner_name, target in (("alice", handoff_id), ("guest", guests_handoff))
        for intruder_name, headers in (
            ("another user", bearer(a_user(database_url))),
            ("another guest", bearer(a_guest())),
        )
    }
    nobody = await projects.post(f"/projects/handoffs/{handoff_id}/consume")
    anon = await projects.post(
        f"/projects/handoffs/{handoff_id}/consume", headers=bearer(anon_key(JWT_SECRET))
    )
    unknown = await projects.post(
        f"/projects/handoffs/{uuid.uuid4()}/consume", headers=bearer(alice)
    )

    answers = {key: (r.status_code, r.json()["code"]) for key, r in attempts.items()}
    assert answers == dict.fromkeys(attempts, (404, "handoff_not_found"))
    assert (nobody.status_code, anon.status_code) == (401, 401)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "handoff_not_found")
    for target in (handoff_id, guests_handoff):
        row = handoff_row(database_url, target)
        assert row is not None
        assert row["consumed"] is False
    # and the owners still open their own first
    mine = await projects.post(
        f"/projects/handoffs/{guests_handoff}/consume", headers=bearer(guest)
    )
    assert mine.json()["alreadyConsumed"] is False


async def test_a_caller_without_identity_cannot_hand_off(projects: ProjectsClient) -> None:
    nobody = await projects.post("/projects/handoffs", json={"prompt": "Hej"})
    anon = await projects.post(
        "/projects/handoffs", json={"prompt": "Hej"}, headers=bearer(anon_key(JWT_SECRET))
    )

    assert (nobody.status_code, nobody.json()["code"]) == (401, "unauthorized")
    assert anon.status_code == 401


async def test_ten_openings_at_once_find_exactly_one_first(
    projects_settings: Settings, database_url: str
) -> None:
    guest = a_guest()
    async with serving(create_app(projects_settings)) as projects:
        created = await projects.post(
            "/projects/handoffs", json={"prompt": "Snabbt"}, headers=bearer(guest)
        )
        handoff_id = created.json()["id"]
        openings = await asyncio.gather(
            *(
                projects.post(f"/projects/handoffs/{handoff_id}/consume", headers=bearer(guest))
                for _ in range(10)
            )
        )

    assert {opening.status_code for opening in openings} == {200}
    firsts = [opening.json()["alreadyConsumed"] for opening in openings]
    assert sorted(firsts) == [False] + [True] * 9
    assert {opening.json()["prompt"] for opening in openings} == {"Snabbt"}


async def test_bad_handoffs_name_the_field(projects: ProjectsClient, database_url: str) -> None:
    alice = a_user(database_url)
    bodies = {
        "prompt": {"prompt": "x" * 50_001},
        "source": {"prompt": "Hej", "source": "s" * 101},
        "projectId": {"prompt": "Hej", "projectId": "inte-ett-id"},
        "userId": {"prompt": "Hej", "userId": str(uuid.uuid4())},
    }
    empty = await projects.post("/projects/handoffs", json={"prompt": ""}, headers=bearer(alice))
    missing = await projects.post("/projects/handoffs", json={}, headers=bearer(alice))

    for field, body in bodies.items():
        response = await projects.post("/projects/handoffs", json=body, headers=bearer(alice))
        assert response.status_code == 422, field
        assert [error["field"] for error in response.json()["errors"]] == [field]
    assert [error["field"] for error in empty.json()["errors"]] == ["prompt"]
    assert [error["field"] for error in missing.json()["errors"]] == ["prompt"]
    assert handoffs_of(database_url, alice) == 0


async def test_a_prompt_of_the_longest_length_is_handed_off(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)

    handoff_id = await handed_off(projects, alice, prompt="p" * 50_000)
    opened = await projects.post(f"/projects/handoffs/{handoff_id}/consume", headers=bearer(alice))

    assert len(opened.json()["prompt"]) == 50_000
