"""Deletes never orphan an object silently, on both data planes and the local backend: the row
goes at once and its object is queued in the same transaction; the deletion worker removes it,
and while storage is down it keeps the queue and retries (with a backoff) until storage is back;
workers running at once remove each object once; a deleted site's images go the same way, while
a library item that outlives its site keeps its file."""

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import httpx
import msgspec
import psycopg
import pytest

from services.media.reaper import DeletionWorker
from services.media.storage import Storage, StorageUnavailable
from shared.config import Settings
from shared.data.plane import DataPlane, open_data_plane
from tests.media.conftest import MediaClient
from tests.media.test_library import (
    PNG,
    Item,
    Store,
    an_item,
    backend,
    eventually,
    library,
    library_settings,
    queued,
    rows_of,
    store,
)
from tests.world import Person, a_user, bearer, sites

# Fixtures shared with test_library: both stores, the service, the store as the service role.
__all__ = ["backend", "library", "library_settings", "store"]


class Counting:
    """A store remembering every path it was asked to delete (a Storage over another)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self.deleted: list[str] = []

    async def put(self, path: str, data: bytes, content_type: str, token: str | None) -> None:
        await self._storage.put(path, data, content_type, token)

    async def get(self, path: str, token: str | None) -> bytes:
        return await self._storage.get(path, token)

    async def delete(self, paths: list[str], token: str | None) -> None:
        self.deleted += paths
        await self._storage.delete(paths, token)

    async def exists(self, path: str) -> bool:
        return await self._storage.exists(path)

    async def list_paths(self, prefix: str) -> list[str]:
        return await self._storage.list_paths(prefix)


@pytest.fixture
async def data_planes(library_settings: Settings) -> AsyncIterator[list[DataPlane]]:
    """Two data planes of their own, as two replicas would have."""
    async with httpx.AsyncClient() as http:
        planes = [await open_data_plane(library_settings, http) for _ in range(2)]
        try:
            yield planes
        finally:
            for plane in planes:
                await plane.close()


def attempts_of(database_url: str, path: str) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return [
            row[0]
            for row in conn.execute(
                "select attempts from public.storage_deletions where file_path = %s", (path,)
            )
        ]


async def an_image(database_url: str, store: Store, owner: Person, site: str) -> Item:
    """An image of the site with no library item: its object and its images row."""
    path = f"{owner.user_id}/images/{int(time.time() * 1000)}_{secrets.token_hex(6)}.png"
    await store.put(path, PNG, "image/png")
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "insert into public.images (project_id, filename, file_path) values (%s, 'a.png', %s)"
            " returning id::text",
            (site, path),
        ).fetchone()
    assert row is not None
    return Item(row[0], path)


def delete_rows(database_url: str, table: str, ids: list[str]) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"delete from public.{table} where id = any(%s::uuid[])", (ids,))


async def drained(worker: DeletionWorker) -> None:
    """Run passes until one finds nothing due (other tests' leftovers included)."""
    while await worker.drain_once(1000):
        pass


async def test_storage_down_during_a_delete_leaves_the_object_queued_until_storage_is_back(
    library: MediaClient, database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    item = await an_item(database_url, store, alice)

    with store.down():
        response = await library.delete(f"/media/{item.id}", headers=bearer(alice))
        assert response.status_code == 204
        assert rows_of(database_url, "media_library", item.file_path) == 0
        # The worker tried (at least once) and failed; the object waits in the queue.
        await eventually(lambda: (attempts_of(database_url, item.file_path) or [0])[0] >= 1)
        assert queued(database_url, item.file_path) == [item.file_path]
    assert await store.has(item.file_path)

    await eventually(lambda: store.gone(item.file_path))
    await eventually(lambda: queued(database_url, item.file_path) == [])


async def test_a_failed_pass_waits_out_its_backoff_before_the_next_attempt(
    library_settings: Settings, data_planes: list[DataPlane], database_url: str, store: Store
) -> None:
    settings = msgspec.structs.replace(library_settings, media_deletion_retry_s=60.0)
    worker = DeletionWorker(settings, data_planes[0], store.storage)
    await drained(worker)
    item = await an_item(database_url, store, a_user(database_url))
    delete_rows(database_url, "media_library", [item.id])

    with store.down(), pytest.raises(StorageUnavailable):
        await worker.drain_once(1000)
    assert attempts_of(database_url, item.file_path) == [1]

    assert await worker.drain_once(1000) == 0  # storage is back, but the backoff holds
    assert await store.has(item.file_path)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "update public.storage_deletions set leased_until = now() where file_path = %s",
            (item.file_path,),
        )
    assert await worker.drain_once(1000) == 1
    assert await store.gone(item.file_path)
    assert queued(database_url, item.file_path) == []


async def test_two_workers_at_once_remove_each_object_once(
    library_settings: Settings, data_planes: list[DataPlane], database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    items = [
        await an_item(database_url, store, alice, file_type="pdf", mime_type="application/pdf")
        for _ in range(40)
    ]
    delete_rows(database_url, "media_library", [item.id for item in items])
    stores = [Counting(store.storage) for _ in data_planes]
    workers = [
        DeletionWorker(library_settings, plane, counting)
        for plane, counting in zip(data_planes, stores, strict=True)
    ]

    while sum(await asyncio.gather(*(worker.drain_once(5) for worker in workers))):
        pass

    paths = sorted(item.file_path for item in items)
    removed = sorted(path for counting in stores for path in counting.deleted if path in paths)
    assert removed == paths
    assert all(counting.deleted for counting in stores)  # both took part
    assert queued(database_url, *paths) == []
    assert [await store.has(path) for path in paths] == [False] * len(paths)


async def test_a_deleted_sites_images_go_but_a_library_item_that_outlives_it_keeps_its_file(
    library_settings: Settings, data_planes: list[DataPlane], database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Bakery")
    in_library = await an_item(database_url, store, alice, project=site)
    image_only = await an_image(database_url, store, alice, site)
    worker = DeletionWorker(library_settings, data_planes[0], store.storage)

    delete_rows(database_url, "app_projects", [site])
    await drained(worker)

    assert rows_of(database_url, "images", image_only.file_path) == 0
    assert await store.gone(image_only.file_path)
    assert await store.has(in_library.file_path)
    assert rows_of(database_url, "media_library", in_library.file_path) == 1
    assert queued(database_url, in_library.file_path, image_only.file_path) == []


async def test_deleting_a_library_item_takes_its_site_image_and_object_with_it(
    library_settings: Settings, data_planes: list[DataPlane], database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Bakery")
    item = await an_item(database_url, store, alice, project=site)
    worker = DeletionWorker(library_settings, data_planes[0], store.storage)

    delete_rows(database_url, "media_library", [item.id])
    await drained(worker)

    assert rows_of(database_url, "images", item.file_path) == 0
    assert await store.gone(item.file_path)
    assert queued(database_url, item.file_path) == []


async def test_a_deleted_users_files_are_all_removed(
    library_settings: Settings, data_planes: list[DataPlane], database_url: str, store: Store
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Bakery")
    items = [
        await an_item(database_url, store, alice),
        await an_item(database_url, store, alice, project=site),
        await an_image(database_url, store, alice, site),
    ]
    worker = DeletionWorker(library_settings, data_planes[0], store.storage)

    delete_rows(database_url, "users", [str(alice.user_id)])
    await drained(worker)

    assert [await store.has(item.file_path) for item in items] == [False] * 3
    assert queued(database_url, *(item.file_path for item in items)) == []
