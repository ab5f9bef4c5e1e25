"""The repository base: single-row reads as typed Structs, on both planes."""

import uuid
from datetime import datetime

import msgspec
import pytest

from shared.data.plane import DataPlane
from shared.data.query import Insert, Rpc, Select, asc, eq
from shared.data.repository import MoreThanOneRow, Repository
from shared.data.rows import row_as
from shared.errors import NotFound
from shared.identity import Caller


class Site(msgspec.Struct, frozen=True, rename="camel"):
    id: uuid.UUID
    name: str
    created_at: datetime


SITE = ("id", "name", "created_at")


@pytest.fixture
async def sites(data: DataPlane, owner: Caller) -> Repository:
    """The owner's repository, with two sites of the same name and one of its own."""
    repository = Repository(data, owner)
    rows = ({"name": "Twin"}, {"name": "Twin"}, {"name": "Bakery"})
    await repository.run(Insert("app_projects", rows, returning=False))
    return repository


async def test_one_row_comes_back_as_the_struct(sites: Repository) -> None:
    site = await sites.one_or_none(Select("app_projects", SITE, (eq("name", "Bakery"),)), Site)

    assert site is not None
    assert (site.name, type(site.id), site.created_at.tzinfo is not None) == (
        "Bakery",
        uuid.UUID,
        True,
    )


async def test_no_row_is_none_or_not_found(sites: Repository) -> None:
    missing = Select("app_projects", SITE, (eq("id", uuid.uuid4()),))

    assert await sites.one_or_none(missing, Site) is None
    with pytest.raises(NotFound):
        await sites.one(missing, Site)


async def test_several_rows_for_a_single_row_read_are_a_bug(sites: Repository) -> None:
    with pytest.raises(MoreThanOneRow):
        await sites.one_or_none(Select("app_projects", SITE, (eq("name", "Twin"),)), Site)


async def test_rows_are_the_data_apis_json(sites: Repository) -> None:
    rows = await sites.rows(Select("app_projects", ("name",), (eq("name", "Bakery"),)))

    assert rows == [{"name": "Bakery"}]


class SiteName(msgspec.Struct, frozen=True):
    name: str
    category: str | None = "none given"


async def test_rows_decode_into_typed_rows_as_row_by_row_conversion_does(
    sites: Repository,
) -> None:
    every = Select("app_projects", ("*",), order=(asc("name"), asc("id")))
    named = Rpc("app_project_names", {"prefix": "T"})

    typed = await sites.rows_as(every, Site)

    assert typed == [row_as(Site, row) for row in await sites.rows(every)]
    assert [site.name for site in typed] == ["Bakery", "Twin", "Twin"]
    assert await sites.rows_as(named, SiteName) == [SiteName("Twin", "none given")] * 2
