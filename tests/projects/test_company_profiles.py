"""Company profiles: the brief behind each of the caller's sites (one per site), listed newest
first, copied to another of the caller's sites; nobody else reads or writes them."""

import uuid
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import JWT_SECRET
from tests.tenancy import anon_key
from tests.world import Person, a_guest, a_user, bearer, sites

ProjectsClient = AsyncTestClient[Litestar]

BRIEF: dict[str, Any] = {
    "companyName": "Bageriet på hörnet AB",
    "industry": "bakery",
    "location": "Göteborg",
    "existingWebsite": "https://bageriet.example.se",
    "siteLikes": "Varma färger",
    "siteDislikes": "Pop-ups",
    "siteFeedback": "Mer bilder",
    "targetAudience": "Grannar",
    "purposes": "Beställningar",
    "specialWishes": "Meny",
    "palette": {"name": "Vete", "primary": "#8b5e34", "secondary": "#F3E9DC", "accent": "#c85"},
    "competitorInsights": "Få har webbshop",
    "inspirationSites": "https://inspiration.example.com",
    "voiceTranscript": "Vi bakar surdeg.",
}


async def saved(projects: ProjectsClient, who: Person, site: str, **brief: Any) -> dict[str, Any]:
    response = await projects.put(
        f"/projects/{site}/profile", json={**BRIEF, **brief}, headers=bearer(who)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stored(database_url: str, site: str) -> dict[str, Any] | None:
    """The profile row of `site`, as the database holds it."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select id::text, company_name, industry, palette from public.company_profiles"
            " where project_id = %s",
            (site,),
        ).fetchone()
    if row is None:
        return None
    return dict(zip(("id", "company_name", "industry", "palette"), row, strict=True))


async def test_an_owner_stores_and_reads_its_sites_profile(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Bageriet")

    put = await projects.put(f"/projects/{site}/profile", json=BRIEF, headers=bearer(alice))
    got = await projects.get(f"/projects/{site}/profile", headers=bearer(alice))

    assert put.status_code == 200
    profile = put.json()
    assert {key: profile[key] for key in BRIEF} == BRIEF
    assert profile["projectId"] == site
    assert set(profile) == {*BRIEF, "id", "projectId", "createdAt", "updatedAt"}
    assert got.json() == profile
    assert stored(database_url, site) == {
        "id": profile["id"],
        "company_name": "Bageriet på hörnet AB",
        "industry": "bakery",
        "palette": BRIEF["palette"],
    }


async def test_storing_again_replaces_the_whole_brief(
    projects: ProjectsClient, database_url: str
) -> None:
    guest = a_guest()
    [site] = sites(database_url, guest, "Min sajt")
    first = await saved(projects, guest, site)

    second = await projects.put(
        f"/projects/{site}/profile",
        json={"companyName": "Nytt namn AB", "palette": {"primary": "#000"}},
        headers=bearer(guest),
    )

    assert second.status_code == 200
    profile = second.json()
    assert (profile["id"], profile["companyName"], profile["palette"]) == (
        first["id"],
        "Nytt namn AB",
        {"primary": "#000"},
    )
    assert profile["industry"] is None
    assert profile["voiceTranscript"] is None
    assert stored(database_url, site) == {
        "id": first["id"],
        "company_name": "Nytt namn AB",
        "industry": None,
        "palette": {"primary": "#000"},
    }


async def test_a_site_without_a_profile_has_none(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Tom")

    response = await projects.get(f"/projects/{site}/profile", headers=bearer(alice))

    assert (response.status_code, response.json()["code"]) == (404, "profile_not_found")


async def test_the_list_holds_the_callers_profiles_newest_first(
    projects: ProjectsClient, database_url: str
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    older, newer, bare = sites(database_url, alice, "Äldre", "Nyare", "Utan profil")
    [bobs] = sites(database_url, bob, "Bobs")
    await saved(projects, alice, older, companyName="Äldre AB")
    await saved(projects, alice, newer, companyName="Nyare AB")
    await saved(projects, bob, bobs, companyName="Bob AB")

    listed = await projects.get("/projects/profiles", headers=bearer(alice))
    capped = await projects.get("/projects/profiles", params={"limit": 1}, headers=bearer(alice))
    guests = await projects.get("/projects/profiles", headers=bearer(a_guest()))

    assert listed.status_code == 200
    assert [(p["companyName"], p["projectId"]) for p in listed.json()["profiles"]] == [
        ("Nyare AB", newer),
        ("Äldre AB", older),
    ]
    assert [p["companyName"] for p in capped.json()["profiles"]] == ["Nyare AB"]
    assert guests.json() == {"profiles": []}
    assert bare not in {p["projectId"] for p in listed.json()["profiles"]}


async def test_a_profile_is_copied_to_another_of_the_owners_sites(
    projects: ProjectsClient, database_url: str
) -> None:
    guest = a_guest()
    source_site, target_site = sites(database_url, guest, "Källa", "Mål")
    source = await saved(projects, guest, source_site)
    await saved(projects, guest, target_site, companyName="Skrivs över AB", industry="annat")

    linked = await projects.post(
        f"/projects/profiles/{source['id']}/link",
        json={"projectId": target_site},
        headers=bearer(guest),
    )

    assert linked.status_code == 200
    copy = linked.json()
    assert {key: copy[key] for key in BRIEF} == BRIEF
    assert copy["projectId"] == target_site
    assert copy["id"] != source["id"]
    target = stored(database_url, target_site)
    assert target is not None
    assert (target["company_name"], target["industry"]) == (BRIEF["companyName"], "bakery")
    source_after = await projects.get(f"/projects/{source_site}/profile", headers=bearer(guest))
    assert source_after.json() == source


async def test_a_profile_copied_to_a_site_without_one_creates_it(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    source_site, target_site = sites(database_url, alice, "Källa", "Ny")
    source = await saved(projects, alice, source_site)

    linked = await projects.post(
        f"/projects/profiles/{source['id']}/link",
        json={"projectId": target_site},
        headers=bearer(alice),
    )

    assert linked.status_code == 200
    assert stored(database_url, target_site) is not None
    assert linked.json()["palette"] == BRIEF["palette"]


@pytest.mark.parametrize("intruder_kind", ["user", "guest"])
async def test_nobody_else_reads_writes_or_copies_a_profile(
    intruder_kind: str, projects: ProjectsClient, database_url: str
) -> None:
    # given alice's profiled site, and an intruder with a profiled site of its own
    alice = a_user(database_url)
    intruder = a_user(database_url) if intruder_kind == "user" else a_guest()
    [alices_site] = sites(database_url, alice, "Alice's")
    [own_site] = sites(database_url, intruder, "Own")
    alices = await saved(projects, alice, alices_site)
    own = await saved(projects, intruder, own_site, companyName="Inkräktare AB")
    headers = bearer(intruder)

    # when the intruder reads, overwrites and copies across the line
    read = await projects.get(f"/projects/{alices_site}/profile", headers=headers)
    written = await projects.put(
        f"/projects/{alices_site}/profile", json={"companyName": "Kapad"}, headers=headers
    )
    taken = await projects.post(
        f"/projects/profiles/{alices['id']}/link", json={"projectId": own_site}, headers=headers
    )
    pushed = await projects.post(
        f"/projects/profiles/{own['id']}/link", json={"projectId": alices_site}, headers=headers
    )
    listed = await projects.get("/projects/profiles", headers=headers)

    # then each is refused as if alice's rows did not exist, and nothing changed
    assert [(r.status_code, r.json()["code"]) for r in (read, written, taken, pushed)] == [
        (404, "profile_not_found"),
        (404, "project_not_found"),
        (404, "profile_not_found"),
        (404, "project_not_found"),
    ]
    assert [p["id"] for p in listed.json()["profiles"]] == [own["id"]]
    mine = await projects.get(f"/projects/{alices_site}/profile", headers=bearer(alice))
    assert mine.json() == alices
    own_after = stored(database_url, own_site)
    assert own_after is not None
    assert own_after["company_name"] == "Inkräktare AB"


async def test_a_site_or_profile_that_does_not_exist_is_not_found(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Egen")
    own = await saved(projects, alice, site)
    nowhere = str(uuid.uuid4())

    put = await projects.put(f"/projects/{nowhere}/profile", json=BRIEF, headers=bearer(alice))
    link_from = await projects.post(
        f"/projects/profiles/{nowhere}/link", json={"projectId": site}, headers=bearer(alice)
    )
    link_to = await projects.post(
        f"/projects/profiles/{own['id']}/link", json={"projectId": nowhere}, headers=bearer(alice)
    )

    assert [(r.status_code, r.json()["code"]) for r in (put, link_from, link_to)] == [
        (404, "project_not_found"),
        (404, "profile_not_found"),
        (404, "project_not_found"),
    ]


async def test_callers_without_identity_are_told_to_sign_in(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Egen")
    profile = await saved(projects, alice, site)
    requests = [
        ("GET", f"/projects/{site}/profile", None),
        ("PUT", f"/projects/{site}/profile", BRIEF),
        ("GET", "/projects/profiles", None),
        ("POST", f"/projects/profiles/{profile['id']}/link", {"projectId": site}),
    ]

    for headers in ({}, bearer(anon_key(JWT_SECRET))):
        for method, path, body in requests:
            response = await projects.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers)
    assert stored(database_url, site) == {
        "id": profile["id"],
        "company_name": BRIEF["companyName"],
        "industry": "bakery",
        "palette": BRIEF["palette"],
    }


BAD_BRIEFS = [
    ("companyName", {"companyName": ""}),
    ("companyName", {"companyName": "n" * 201}),
    ("industry", {"industry": "i" * 201}),
    ("location", {"location": "l" * 201}),
    ("existingWebsite", {"existingWebsite": "u" * 2049}),
    ("siteLikes", {"siteLikes": "x" * 5001}),
    ("purposes", {"purposes": 7}),
    ("competitorInsights", {"competitorInsights": "x" * 50_001}),
    ("voiceTranscript", {"voiceTranscript": "x" * 50_001}),
    ("inspirationSites", {"inspirationSites": "x" * 5001}),
    ("palette", {"palette": ["#fff"]}),
    ("palette.primary", {"palette": {"primary": "red"}}),
    ("palette.accent", {"palette": {"accent": "#abcd"}}),
    ("palette.secondary", {"palette": {"secondary": 123}}),
    ("palette.name", {"palette": {"name": ""}}),
    # An unknown member is named by the object holding it.
    ("palette", {"palette": {"font": "Inter"}}),
    ("projectId", {"projectId": str(uuid.uuid4())}),
]


@pytest.mark.parametrize(
    ("field", "change"), BAD_BRIEFS, ids=[f"{field}-{n}" for n, (field, _) in enumerate(BAD_BRIEFS)]
)
async def test_a_bad_brief_names_the_field_and_stores_nothing(
    field: str, change: dict[str, Any], projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Egen")

    response = await projects.put(
        f"/projects/{site}/profile", json={**BRIEF, **change}, headers=bearer(alice)
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert stored(database_url, site) is None


async def test_a_brief_without_a_company_name_names_it(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Egen")
    brief = {key: value for key, value in BRIEF.items() if key != "companyName"}

    response = await projects.put(f"/projects/{site}/profile", json=brief, headers=bearer(alice))

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["companyName"]


async def test_a_bad_link_names_the_field(projects: ProjectsClient, database_url: str) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Egen")
    profile = await saved(projects, alice, site)
    path = f"/projects/profiles/{profile['id']}/link"

    for field, body in (
        ("projectId", {"projectId": "inte-ett-id"}),
        ("projectId", {}),
        ("companyName", {"projectId": site, "companyName": "Extra"}),
    ):
        response = await projects.post(path, json=body, headers=bearer(alice))
        assert response.status_code == 422
        assert [error["field"] for error in response.json()["errors"]] == [field]
