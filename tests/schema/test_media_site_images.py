"""`site_images`, a site's images with their library item's id in one query, read through real
PostgREST: each user sees the images of its own sites and only its own items' ids; nobody else
sees anything, and nobody can write through it."""

import uuid

import httpx

from tests.conftest import JWT_SECRET
from tests.schema.data_api import Db, as_client
from tests.tenancy import anon_key
from tests.world import Person, a_guest, a_user, sites


def an_image(db: Db, site: str, path: str) -> str:
    row = db.execute(
        "insert into public.images (project_id, filename, file_path) values (%s, 'a.png', %s)"
        " returning id",
        (site, path),
    ).fetchone()
    assert row is not None
    return str(row["id"])


def an_item(db: Db, owner: Person, path: str) -> str:
    row = db.execute(
        "insert into public.media_library"
        " (user_id, filename, original_name, file_path, mime_type, file_type, size_bytes)"
        " values (%s, 'a.png', 'a.png', %s, 'image/png', 'image', 68) returning id",
        (owner.user_id, path),
    ).fetchone()
    assert row is not None
    return str(row["id"])


def test_each_user_reads_its_own_sites_images_with_its_own_items_only(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    alice, mallory = a_user(database_url), a_user(database_url)
    [bakery] = sites(database_url, alice, "Bakery")
    path = f"{alice.user_id}/images/{uuid.uuid4().hex}.png"
    image = an_image(db, bakery, path)
    # An older item of Mallory's naming the same file: the first by age, were it not hers.
    an_item(db, mallory, path)
    item = an_item(db, alice, path)

    def listed(token: str) -> httpx.Response:
        return http.get(
            "/site_images",
            params={"select": "id,media_id", "project_id": f"eq.{bakery}"},
            headers=as_client(token),
        )

    assert listed(alice.token).json() == [{"id": image, "media_id": item}]
    assert listed(mallory.token).json() == []
    assert listed(a_guest().token).status_code in (401, 403)
    assert listed(anon_key(JWT_SECRET)).status_code in (401, 403)


def test_nobody_writes_through_the_view(database_url: str, db: Db, http: httpx.Client) -> None:
    alice = a_user(database_url)
    [bakery] = sites(database_url, alice, "Bakery")
    image = an_image(db, bakery, f"{alice.user_id}/images/{uuid.uuid4().hex}.png")

    deleted = http.delete(f"/site_images?id=eq.{image}", headers=as_client(alice.token))
    renamed = http.patch(
        f"/site_images?id=eq.{image}", json={"filename": "b.png"}, headers=as_client(alice.token)
    )

    assert (deleted.status_code, renamed.status_code) == (403, 403)
    assert db.execute("select filename from public.images where id = %s", (image,)).fetchone() == {
        "filename": "a.png"
    }
