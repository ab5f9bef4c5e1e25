"""The template cache: a caller reads its own live entry for a template, else the shared one,
never an expired one; users write their own entries as themselves, and only the service role
writes the shared one."""

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg.types.json import Jsonb

from services.projects.models.templates import TemplateGeneration
from services.projects.repo.templates import SharedTemplateCacheRepository, TemplateCacheRepository
from shared.config import Settings
from shared.data.plane import DataPlane, open_data_plane
from shared.errors import Forbidden
from tests.conftest import JWT_SECRET
from tests.tenancy import anon_key
from tests.world import Person, a_guest, a_user, bearer, service_role

ProjectsClient = AsyncTestClient[Litestar]


TEMPLATE_PREFIX = "tpl-test-templates-"


def a_template() -> str:
    """A template id no other test caches (the session database is shared)."""
    return f"{TEMPLATE_PREFIX}{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def no_entries_left_behind(database_url: str) -> Iterator[None]:
    """Every entry a test cached goes with it: shared entries are visible to every caller, and
    the session database is shared with the RLS attack matrix, which counts them."""
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "delete from public.template_cache where template_id like %s", (f"{TEMPLATE_PREFIX}%",)
        )


def cached(
    database_url: str,
    template_id: str,
    owner: Person | None,
    *,
    expires_in: timedelta = timedelta(days=7),
    **columns: Any,
) -> None:
    """A cache entry of `owner` (None: the shared one), written as the database owner."""
    values = {
        "template_id": template_id,
        "user_id": owner.user_id if owner else None,
        "chat_id": f"chat_{'own' if owner else 'shared'}",
        "demo_url": "https://demo.example.com/t",
        "files_json": Jsonb([{"name": "app/page.tsx"}]),
        "code": "export default function Page() {}",
        "model": "v0-1.5-md",
        "expires_at": datetime.now(UTC) + expires_in,
        **columns,
    }
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f"insert into public.template_cache ({', '.join(values)})"
            f" values ({', '.join(['%s'] * len(values))})",
            list(values.values()),
        )


def entries(database_url: str, template_id: str) -> list[tuple[str | None, str | None, float]]:
    """(user id, chat id, days until expiry) of every entry of the template, shared first."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select user_id::text, chat_id, extract(epoch from expires_at - now()) / 86400"
            " from public.template_cache where template_id = %s order by user_id nulls first",
            (template_id,),
        ).fetchall()
    return [(user_id, chat_id, round(float(days), 2)) for user_id, chat_id, days in rows]


async def test_a_user_gets_its_own_entry_before_the_shared_one(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    template = a_template()
    cached(database_url, template, None)
    cached(database_url, template, alice)

    response = await projects.get(f"/projects/templates/{template}", headers=bearer(alice))

    assert response.status_code == 200
    entry = response.json()
    assert {key: entry[key] for key in ("templateId", "shared", "chatId", "filesJson")} == {
        "templateId": template,
        "shared": False,
        "chatId": "chat_own",
        "filesJson": [{"name": "app/page.tsx"}],
    }
    assert set(entry) == {
        "templateId",
        "shared",
        "chatId",
        "demoUrl",
        "versionId",
        "filesJson",
        "code",
        "model",
        "createdAt",
        "expiresAt",
    }


async def test_without_an_own_entry_everyone_gets_the_shared_one(
    projects: ProjectsClient, database_url: str
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    template = a_template()
    cached(database_url, template, None)
    cached(database_url, template, bob)

    answers = [
        await projects.get(f"/projects/templates/{template}", headers=headers)
        for headers in (bearer(alice), bearer(a_guest()))
    ]

    assert [(r.status_code, r.json()["shared"], r.json()["chatId"]) for r in answers] == [
        (200, True, "chat_shared")
    ] * 2


async def test_an_expired_entry_is_never_served(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    falls_back, gone = a_template(), a_template()
    cached(database_url, falls_back, alice, expires_in=timedelta(seconds=-1))
    cached(database_url, falls_back, None)
    cached(database_url, gone, alice, expires_in=timedelta(seconds=-1))
    cached(database_url, gone, None, expires_in=timedelta(days=-1))

    fallback = await projects.get(f"/projects/templates/{falls_back}", headers=bearer(alice))
    nothing = await projects.get(f"/projects/templates/{gone}", headers=bearer(alice))

    assert (fallback.status_code, fallback.json()["shared"]) == (200, True)
    assert (nothing.status_code, nothing.json()["code"]) == (404, "template_not_cached")


async def test_another_users_entry_is_never_served(
    projects: ProjectsClient, database_url: str
) -> None:
    bob = a_user(database_url)
    template = a_template()
    cached(database_url, template, bob)

    answers = [
        await projects.get(f"/projects/templates/{template}", headers=headers)
        for headers in (bearer(a_user(database_url)), bearer(a_guest()))
    ]
    nobody = await projects.get(f"/projects/templates/{template}")
    anon = await projects.get(
        f"/projects/templates/{template}", headers=bearer(anon_key(JWT_SECRET))
    )

    assert [(r.status_code, r.json()["code"]) for r in answers] == [
        (404, "template_not_cached")
    ] * 2
    assert (nobody.status_code, anon.status_code) == (401, 401)


async def test_a_template_id_longer_than_the_column_is_refused(
    projects: ProjectsClient, database_url: str
) -> None:
    response = await projects.get(
        f"/projects/templates/{'t' * 101}", headers=bearer(a_user(database_url))
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["template_id"]


# Writes, as the code engine will make them ------------------------------------------------------


@pytest.fixture
async def plane(projects_settings: Settings) -> AsyncIterator[DataPlane]:
    """The data plane the projects service runs on, once per plane."""
    async with httpx.AsyncClient(timeout=10) as http:
        data = await open_data_plane(projects_settings, http)
        try:
            yield data
        finally:
            await data.close()


def a_generation(template_id: str, chat_id: str) -> TemplateGeneration:
    return TemplateGeneration(
        template_id=template_id,
        chat_id=chat_id,
        demo_url="https://demo.example.com/gen",
        version_id="ver_1",
        files_json=[{"name": "app/page.tsx", "content": "x"}],
        code="export default function Page() {}",
        model="v0-1.5-md",
    )


async def test_a_user_caches_its_own_entry_for_seven_days_and_refreshes_it(
    plane: DataPlane, database_url: str
) -> None:
    alice = a_user(database_url)
    template = a_template()
    cached(database_url, template, alice, chat_id="chat_old", expires_in=timedelta(hours=1))
    cache = TemplateCacheRepository(plane, alice.caller)

    written = await cache.cache_own(a_generation(template, "chat_new"))

    assert (written.template_id, written.shared, written.chat_id) == (template, False, "chat_new")
    assert written.files_json == [{"name": "app/page.tsx", "content": "x"}]
    assert entries(database_url, template) == [(alice.user_id, "chat_new", 7.0)]
    assert (await cache.live(template)).chat_id == "chat_new"


async def test_the_service_role_caches_the_shared_entry_and_users_keep_their_own(
    plane: DataPlane, database_url: str
) -> None:
    alice = a_user(database_url)
    template = a_template()
    cached(database_url, template, alice, chat_id="chat_alice")
    shared = SharedTemplateCacheRepository(plane, service_role())

    first = await shared.cache_shared(a_generation(template, "chat_shared_1"))
    second = await shared.cache_shared(a_generation(template, "chat_shared_2"))

    assert (first.shared, second.shared, second.chat_id) == (True, True, "chat_shared_2")
    assert entries(database_url, template) == [
        (None, "chat_shared_2", 7.0),
        (alice.user_id, "chat_alice", 7.0),
    ]
    guest_view = await TemplateCacheRepository(plane, a_guest().caller).live(template)
    assert guest_view.chat_id == "chat_shared_2"


async def test_a_guest_cannot_write_the_cache(plane: DataPlane, database_url: str) -> None:
    template = a_template()

    with pytest.raises(Forbidden):
        await TemplateCacheRepository(plane, a_guest().caller).cache_own(
            a_generation(template, "chat_guest")
        )

    assert entries(database_url, template) == []
