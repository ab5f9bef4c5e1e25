"""The media library through the media service, on both data planes and the local backend: a
user's files paged newest first with counts and quotas, described, deleted (the object goes by
the worker), served so SVG and HTML cannot run script on our origin, and a site's images;
another user's file or site is a 404 like none, guests are told to sign in.

Items are made as an upload leaves them (`an_item`: the object in the media directory and its
rows, written as the database owner), so these tests do not depend on the upload route; the
deletion tests use the same builders."""

import asyncio
import inspect
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx
import msgspec
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from services.media.app import create_app
from services.media.repo.library import LibraryRepository
from services.media.storage import Storage, open_storage
from shared.config import Settings
from tests.counting import counting_plane
from tests.media.conftest import BACKENDS, MediaClient, StorageServer
from tests.world import Person, a_guest, a_user, bearer, sites

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8ffff3f0005fe02fea7d6a4f10000000049454e44ae426082"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 16

CATEGORY = {"image": "images", "video": "videos", "pdf": "documents", "text": "documents"}


@dataclass(frozen=True)
class Item:
    id: str
    file_path: str


class Store:
    """The service's object store in a test, as the service role: Supabase Storage (the
    stand-in) or the local directory; and a way to take it down."""

    def __init__(self, settings: Settings, server: StorageServer, http: httpx.AsyncClient) -> None:
        self.storage: Storage = open_storage(settings, http)
        self._server = server
        self._local = Path(settings.media_root) if settings.storage_url is None else None

    async def put(self, path: str, data: bytes, content_type: str) -> None:
        await self.storage.put(path, data, content_type, None)

    async def has(self, path: str) -> bool:
        return await self.storage.exists(path)

    async def gone(self, path: str) -> bool:
        return not await self.storage.exists(path)

    @contextmanager
    def down(self) -> Iterator[None]:
        """Storage unreachable until the block ends (its objects kept): the stand-in answering
        500s, or the media volume gone (a file where its directory was)."""
        if self._local is None:
            self._server.standin.failing = True
            try:
                yield
            finally:
                self._server.standin.failing = False
            return
        away = self._local.with_name("media-away")
        self._local.mkdir(parents=True, exist_ok=True)
        self._local.rename(away)
        self._local.write_bytes(b"not a directory")
        try:
            yield
        finally:
            self._local.unlink()
            away.rename(self._local)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every library and deletion test runs on both stores (and, by `settings`, both planes)."""
    return str(request.param)


@pytest.fixture
def library_settings(media_settings: Settings) -> Settings:
    """The media service as the uploads tests run it, its deletion worker polling fast and
    retrying at once."""
    return msgspec.structs.replace(
        media_settings, media_deletion_poll_s=0.05, media_deletion_retry_s=0.0
    )


@pytest.fixture
async def store(library_settings: Settings, storage: StorageServer) -> AsyncIterator[Store]:
    async with httpx.AsyncClient() as http:
        yield Store(library_settings, storage, http)


@pytest.fixture
async def library(library_settings: Settings) -> AsyncIterator[MediaClient]:
    async with AsyncTestClient(create_app(library_settings)) as client:
        yield client


async def an_item(
    database_url: str,
    store: Store | None,
    owner: Person,
    *,
    file_type: str = "image",
    mime_type: str = "image/png",
    data: bytes = PNG,
    name: str = "hero.png",
    project: str | None = None,
    age_s: int = 0,
    description: str | None = None,
) -> Item:
    """A stored upload of `owner`'s: its object in `store` (None: not stored) and its rows, made
    `age_s` seconds ago."""
    ext = name.rsplit(".", 1)[-1]
    path = (
        f"{owner.user_id}/{CATEGORY[file_type]}/"
        f"{int(time.time() * 1000) - age_s * 1000}_{secrets.token_hex(6)}.{ext}"
    )
    if store is not None:
        await store.put(path, data, mime_type)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "insert into public.media_library (user_id, filename, original_name, file_path,"
            " mime_type, file_type, size_bytes, description, project_id, created_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, now() - %s * interval '1 second')"
            " returning id::text",
            (
                owner.user_id,
                path.rsplit("/", 1)[-1],
                name,
                path,
                mime_type,
                file_type,
                len(data),
                description,
                project,
                age_s,
            ),
        ).fetchone()
        if project is not None:
            conn.execute(
                "insert into public.images (project_id, filename, file_path, original_name,"
                " mime_type, size_bytes) values (%s, %s, %s, %s, %s, %s)",
                (project, path.rsplit("/", 1)[-1], path, name, mime_type, len(data)),
            )
    assert row is not None
    return Item(row[0], path)


def queued(database_url: str, *paths: str) -> list[str]:
    """The paths of `paths` waiting in storage_deletions (each once per queued row)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return sorted(
            row[0]
            for row in conn.execute(
                "select file_path from public.storage_deletions where file_path = any(%s)",
                (list(paths),),
            )
        )


def rows_of(database_url: str, table: str, path: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            f"select count(*) from public.{table} where file_path = %s",
            (path,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Wait until `check()` is true (the deletion worker runs in the background)."""
    deadline = time.monotonic() + timeout_s

    async def holds() -> bool:
        answer = check()
        return await answer if inspect.isawaitable(answer) else answer

    while not await holds():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        await asyncio.sleep(0.05)


# Listing ---------------------------------------------------------------------------------------


async def test_the_library_lists_the_users_files_newest_first_with_counts_and_quotas_left(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    oldest = await an_item(database_url, store, alice, age_s=30)
    video = await an_item(
        database_url,
        store,
        alice,
        file_type="video",
        mime_type="video/mp4",
        data=MP4,
        name="clip.mp4",
        age_s=20,
    )
    newest = await an_item(database_url, store, alice, description="Logo", age_s=10)
    await an_item(database_url, store, bob)

    response = await library.get("/media/library", headers=bearer(alice))

    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == [newest.id, video.id, oldest.id]
    assert body["items"][0] == {
        "id": newest.id,
        "contentUrl": f"/media/{newest.id}/content",
        "fileType": "image",
        "mimeType": "image/png",
        "sizeBytes": len(PNG),
        "originalName": "hero.png",
        "description": "Logo",
        "tags": [],
        "projectId": None,
        "createdAt": body["items"][0]["createdAt"],
    }
    assert body["nextBefore"] is None
    assert body["counts"] == {"image": 2, "video": 1, "pdf": 0, "text": 0}
    assert body["quotas"] == {
        "images": {"limit": 10, "used": 2, "left": 8},
        "videos": {"limit": 3, "used": 1, "left": 2},
    }
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_library_pages_by_the_last_items_id_and_filters_by_type(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    images = [await an_item(database_url, store, alice, age_s=100 - n) for n in range(5)]
    await an_item(
        database_url,
        store,
        alice,
        file_type="pdf",
        mime_type="application/pdf",
        data=b"%PDF-1.4\n",
        name="cv.pdf",
        age_s=1,
    )
    newest_first = [item.id for item in reversed(images)]

    first = (
        await library.get(
            "/media/library", params={"type": "image", "limit": 2}, headers=bearer(alice)
        )
    ).json()
    second = (
        await library.get(
            "/media/library",
            params={"type": "image", "limit": 2, "before": first["nextBefore"]},
            headers=bearer(alice),
        )
    ).json()
    third = (
        await library.get(
            "/media/library",
            params={"type": "image", "limit": 2, "before": second["nextBefore"]},
            headers=bearer(alice),
        )
    ).json()

    assert [item["id"] for page in (first, second, third) for item in page["items"]] == (
        newest_first
    )
    assert first["nextBefore"] == newest_first[1]
    assert third["nextBefore"] is None
    assert first["counts"] == {"image": 5, "video": 0, "pdf": 1, "text": 0}


async def test_a_page_after_another_users_item_is_empty(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    await an_item(database_url, store, alice, age_s=50)
    bobs = await an_item(database_url, store, bob)

    response = await library.get(
        "/media/library", params={"before": bobs.id}, headers=bearer(alice)
    )

    assert (response.status_code, response.json()["items"]) == (200, [])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "exe"}, "type"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"before": "not-a-uuid"}, "before"),
    ],
)
async def test_a_bad_query_is_a_422_naming_the_parameter(
    library: MediaClient, database_url: str, params: dict[str, str | int], field: str
) -> None:
    response = await library.get(
        "/media/library", params=params, headers=bearer(a_user(database_url))
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_guests_and_anonymous_callers_are_told_to_sign_in(
    library: MediaClient, database_url: str, store: Store
) -> None:
    item = await an_item(database_url, store, a_user(database_url))

    for headers in (bearer(a_guest()), {}):
        for path in ("/media/library", f"/media/{item.id}", f"/media/{item.id}/content"):
            response = await library.get(path, headers=headers)
            assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


# One item ----------------------------------------------------------------------------------------


async def test_an_item_is_read_described_and_tagged_by_its_owner(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    item = await an_item(database_url, store, alice, description="Old")

    changed = await library.patch(
        f"/media/{item.id}",
        json={"description": "Bakery front", "tags": ["hero", "bröd"]},
        headers=bearer(alice),
    )
    only_tags = await library.patch(f"/media/{item.id}", json={"tags": []}, headers=bearer(alice))
    cleared = await library.patch(
        f"/media/{item.id}", json={"description": None}, headers=bearer(alice)
    )
    read = await library.get(f"/media/{item.id}", headers=bearer(alice))

    assert changed.status_code == 200
    assert (changed.json()["description"], changed.json()["tags"]) == (
        "Bakery front",
        ["hero", "bröd"],
    )
    assert (only_tags.json()["description"], only_tags.json()["tags"]) == ("Bakery front", [])
    assert (cleared.json()["description"], cleared.json()["tags"]) == (None, [])
    assert read.json() == cleared.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "x" * 2001}, "description"),
        ({"tags": ["x"] * 51}, "tags"),
        ({"tags": [""]}, "tags[0]"),
        ({"tags": ["a\nb"]}, "tags[0]"),
        ({"filePath": "someone/else.png"}, "filePath"),
        ({"projectId": "00000000-0000-0000-0000-000000000000"}, "projectId"),
    ],
)
async def test_a_change_beyond_description_and_tags_is_a_422_naming_the_field(
    library: MediaClient, database_url: str, store: Store, body: dict[str, object], field: str
) -> None:
    alice = a_user(database_url)
    item = await an_item(database_url, store, alice)

    response = await library.patch(f"/media/{item.id}", json=body, headers=bearer(alice))

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_another_users_item_is_a_404_for_every_verb_and_stays_as_it_was(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice, mallory = a_user(database_url), a_user(database_url)
    item = await an_item(database_url, store, alice, description="Mine")

    answers = [
        await library.get(f"/media/{item.id}", headers=bearer(mallory)),
        await library.get(f"/media/{item.id}/content", headers=bearer(mallory)),
        await library.patch(
            f"/media/{item.id}", json={"description": "Hacked"}, headers=bearer(mallory)
        ),
        await library.delete(f"/media/{item.id}", headers=bearer(mallory)),
    ]

    assert [(r.status_code, r.json()["code"]) for r in answers] == [(404, "media_not_found")] * 4
    assert all(r.headers["x-content-type-options"] == "nosniff" for r in answers)
    assert (await library.get(f"/media/{item.id}", headers=bearer(alice))).json()[
        "description"
    ] == "Mine"
    assert await store.has(item.file_path)
    assert queued(database_url, item.file_path) == []


# Content -----------------------------------------------------------------------------------------


async def test_content_is_served_with_its_sniffed_type_and_never_sniffed_again(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    item = await an_item(database_url, store, alice)

    response = await library.get(f"/media/{item.id}/content", headers=bearer(alice))

    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-disposition" not in response.headers


@pytest.mark.parametrize(
    ("mime_type", "data", "name"),
    [("image/svg+xml", SVG, "logo.svg"), ("text/html", HTML, 'x"; filename=evil.exe.html')],
)
async def test_svg_and_html_are_sandboxed_downloads_so_their_script_never_runs_on_our_origin(
    library: MediaClient,
    database_url: str,
    store: Store,
    mime_type: str,
    data: bytes,
    name: str,
) -> None:
    alice = a_user(database_url)
    file_type = "image" if mime_type.startswith("image/") else "text"
    item = await an_item(
        database_url,
        store,
        alice,
        file_type=file_type,
        mime_type=mime_type,
        data=data,
        name=name,
    )

    response = await library.get(f"/media/{item.id}/content", headers=bearer(alice))

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"].startswith(mime_type)
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert disposition.count('"') == 2  # the name cannot end the quoted value early
    assert response.headers["content-security-policy"].startswith("sandbox")


async def test_a_row_naming_another_users_object_does_not_serve_it(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice, mallory = a_user(database_url), a_user(database_url)
    secret = await an_item(database_url, store, alice, data=b"alice's secret")
    with psycopg.connect(database_url, autocommit=True) as conn:
        # What mallory may insert through the Data API: a row of hers naming alice's object.
        row = conn.execute(
            "insert into public.media_library (user_id, filename, original_name, file_path,"
            " mime_type, file_type, size_bytes) values (%s, 'x', 'x', %s, 'text/plain', 'text', 1)"
            " returning id::text",
            (mallory.user_id, secret.file_path),
        ).fetchone()
    assert row is not None

    response = await library.get(f"/media/{row[0]}/content", headers=bearer(mallory))

    assert (response.status_code, response.json()["code"]) == (404, "media_not_found")


async def test_content_whose_object_is_gone_is_a_404_saying_so(
    library: MediaClient, database_url: str
) -> None:
    alice = a_user(database_url)
    item = await an_item(database_url, None, alice)

    response = await library.get(f"/media/{item.id}/content", headers=bearer(alice))

    assert (response.status_code, response.json()["code"]) == (404, "stored_object_missing")


# Deleting ----------------------------------------------------------------------------------------


async def test_deleting_an_item_removes_its_row_at_once_and_its_object_by_the_worker(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Bakery")
    item = await an_item(database_url, store, alice, project=site)
    kept = await an_item(database_url, store, alice)

    response = await library.delete(f"/media/{item.id}", headers=bearer(alice))

    assert response.status_code == 204
    assert (await library.get(f"/media/{item.id}", headers=bearer(alice))).status_code == 404
    assert rows_of(database_url, "images", item.file_path) == 0
    await eventually(lambda: store.gone(item.file_path))
    await eventually(lambda: queued(database_url, item.file_path) == [])
    assert await store.has(kept.file_path)
    again = await library.delete(f"/media/{item.id}", headers=bearer(alice))
    assert (again.status_code, again.json()["code"]) == (404, "media_not_found")


# A site's images ---------------------------------------------------------------------------------


async def test_a_sites_images_are_listed_for_its_owner_with_their_library_items(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice, mallory = a_user(database_url), a_user(database_url)
    bakery, cafe = sites(database_url, alice, "Bakery", "Cafe")
    older = await an_item(database_url, store, alice, project=bakery, age_s=20)
    newer = await an_item(database_url, store, alice, project=bakery, name="b.png", age_s=10)
    await an_item(database_url, store, alice, project=cafe)

    mine = await library.get(f"/media/projects/{bakery}/images", headers=bearer(alice))
    theirs = await library.get(f"/media/projects/{bakery}/images", headers=bearer(mallory))
    none = await library.get(
        "/media/projects/00000000-0000-0000-0000-000000000001/images", headers=bearer(alice)
    )

    assert mine.status_code == 200
    images = mine.json()["images"]
    assert [(i["mediaId"], i["contentUrl"]) for i in images] == [
        (newer.id, f"/media/{newer.id}/content"),
        (older.id, f"/media/{older.id}/content"),
    ]
    assert images[0]["projectId"] == bakery
    assert images[0]["originalName"] == "b.png"
    assert (theirs.status_code, theirs.json()["code"]) == (404, "project_not_found")
    assert (none.status_code, none.json()["code"]) == (404, "project_not_found")


# With the upload route ----------------------------------------------------------------------------


async def test_an_upload_is_listed_served_described_and_deleted_with_its_object(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Bakery")
    uploaded = await library.post(
        "/media/uploads",
        files={"file": ("logo.svg", SVG, "image/svg+xml")},
        data={"projectId": site, "description": "Logo"},
        headers=bearer(alice),
    )
    assert uploaded.status_code == 201, uploaded.text
    item = uploaded.json()
    [path] = [row["file_path"] for row in rows_at(database_url, item["id"])]

    listed = (await library.get("/media/library", headers=bearer(alice))).json()
    content = await library.get(item["contentUrl"], headers=bearer(alice))
    images = (await library.get(f"/media/projects/{site}/images", headers=bearer(alice))).json()
    described = await library.patch(
        f"/media/{item['id']}", json={"tags": ["logo"]}, headers=bearer(alice)
    )
    deleted = await library.delete(f"/media/{item['id']}", headers=bearer(alice))

    assert [listed_item["id"] for listed_item in listed["items"]] == [item["id"]]
    assert listed["quotas"]["images"] == {"limit": 10, "used": 1, "left": 9}
    assert (content.content, content.headers["content-disposition"][:10]) == (SVG, "attachment")
    assert [image["mediaId"] for image in images["images"]] == [item["id"]]
    assert described.json()["tags"] == ["logo"]
    assert deleted.status_code == 204
    await eventually(lambda: store.gone(path))
    assert rows_of(database_url, "images", path) == 0
    assert queued(database_url, path) == []


def rows_at(database_url: str, item_id: str) -> list[dict[str, str]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return [
            {"file_path": row[0]}
            for row in conn.execute(
                "select file_path from public.media_library where id = %s", (item_id,)
            )
        ]


async def test_a_sites_image_list_is_one_query(
    library_settings: Settings, database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    [bakery] = sites(database_url, alice, "Bakery")
    item = await an_item(database_url, store, alice, project=bakery)

    async with counting_plane(library_settings) as plane:
        images = await LibraryRepository(plane, alice.caller).images(UUID(bakery))

    assert [str(image.media_id) for image in images] == [item.id]
    assert len(plane.queries) == 1
