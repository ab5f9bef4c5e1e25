"""A site's versions: those its generations made, pinned first (newest pin first), then newest;
pinning and unpinning; another tenant's site or version is a 404."""

import uuid
from typing import Any

from services.projects.repo.versions import VersionRepository
from shared.config import Settings
from standins.v0 import V0StandIn
from tests.counting import counting_plane
from tests.projects.test_generations import (
    Client,
    a_funded_user,
    client,
    engine_settings,
    generate,
    refine,
    v0,
)
from tests.world import Person, bearer, sites

__all__ = ["client", "engine_settings", "v0"]  # fixtures used here


async def versions_of(client: Client, who: Person, site: str) -> Any:
    return await client.get(f"/projects/{site}/versions", headers=bearer(who))


async def pin(client: Client, who: Person, site: str, version: str, pinned: bool) -> Any:
    return await client.patch(
        f"/projects/{site}/versions/{version}", json={"pinned": pinned}, headers=bearer(who)
    )


async def a_site_with_three_versions(
    client: Client, database_url: str
) -> tuple[Person, str, list[str]]:
    """A user's site generated and refined twice; its version ids, oldest first."""
    alice = a_funded_user(database_url, 50)
    (site,) = sites(database_url, alice, "Bageriet")
    made = [(await generate(client, alice, site)).json()["versionId"]]
    for _ in range(2):
        made.append((await refine(client, alice, site)).json()["versionId"])
    return alice, site, made


async def test_a_sites_versions_are_listed_newest_first(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice, site, made = await a_site_with_three_versions(client, database_url)

    response = await versions_of(client, alice, site)

    assert response.status_code == 200
    listed = response.json()["versions"]
    assert [version["id"] for version in listed] == made[::-1]
    assert all(not version["pinned"] and version["demoUrl"] for version in listed)
    assert len({version["v0ChatId"] for version in listed}) == 1


async def test_pinned_versions_come_first_newest_pin_first_and_unpinning_puts_one_back(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice, site, (oldest, middle, newest) = await a_site_with_three_versions(client, database_url)

    pinned = await pin(client, alice, site, oldest, True)
    await pin(client, alice, site, middle, True)
    listed = (await versions_of(client, alice, site)).json()["versions"]
    unpinned = await pin(client, alice, site, middle, False)
    after = (await versions_of(client, alice, site)).json()["versions"]

    assert pinned.status_code == 200
    assert (pinned.json()["id"], pinned.json()["pinned"]) == (oldest, True)
    assert pinned.json()["pinnedAt"]
    assert [version["id"] for version in listed] == [middle, oldest, newest]
    assert (unpinned.json()["pinned"], unpinned.json()["pinnedAt"]) == (False, None)
    assert [version["id"] for version in after] == [oldest, newest, middle]


async def test_a_site_without_generations_has_no_versions(
    client: Client, database_url: str
) -> None:
    alice = a_funded_user(database_url, 0)
    (site,) = sites(database_url, alice, "Tom")

    response = await versions_of(client, alice, site)

    assert (response.status_code, response.json()) == (200, {"versions": []})


async def test_another_tenants_site_and_versions_are_404(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice, site, (version, *_) = await a_site_with_three_versions(client, database_url)
    mallory = a_funded_user(database_url, 0)
    (own_site,) = sites(database_url, mallory, "Mallory's")

    listed = await versions_of(client, mallory, site)
    pinned = await pin(client, mallory, site, version, True)
    through_own_site = await pin(client, mallory, own_site, version, True)

    assert (listed.status_code, listed.json()["code"]) == (404, "project_not_found")
    assert (pinned.status_code, pinned.json()["code"]) == (404, "version_not_found")
    assert through_own_site.status_code == 404
    mine = (await versions_of(client, alice, site)).json()["versions"]
    assert not any(listed_version["pinned"] for listed_version in mine)


async def test_a_version_of_another_of_ones_own_sites_is_404_here(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice, _site, (version, *_) = await a_site_with_three_versions(client, database_url)
    (other_site,) = sites(database_url, alice, "Andra")

    response = await pin(client, alice, other_site, version, True)

    assert response.status_code == 404


async def test_a_pin_body_must_be_a_boolean_and_nothing_else(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice, site, (version, *_) = await a_site_with_three_versions(client, database_url)

    not_boolean = await client.patch(
        f"/projects/{site}/versions/{version}", json={"pinned": "yes"}, headers=bearer(alice)
    )
    extra = await client.patch(
        f"/projects/{site}/versions/{version}",
        json={"pinned": True, "pinnedAt": "2020-01-01T00:00:00Z"},
        headers=bearer(alice),
    )

    assert not_boolean.status_code == 422
    assert "pinned" in not_boolean.text
    assert extra.status_code == 422
    assert "pinnedAt" in extra.text


async def test_a_sites_versions_are_one_query(
    client: Client, engine_settings: Settings, database_url: str, v0: V0StandIn
) -> None:
    alice, site, made = await a_site_with_three_versions(client, database_url)

    async with counting_plane(engine_settings) as plane:
        listed = await VersionRepository(plane, alice.caller).of_site(uuid.UUID(site))

    assert [str(version.id) for version in listed or []] == made[::-1]
    assert len(plane.queries) == 1
