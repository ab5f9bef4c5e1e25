"""Uploads: decided by the bytes, limited in size and by quotas in SQL, stored before they are
recorded and never half-written; on both data planes, and on both stores where it matters."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
from psycopg.rows import dict_row

from services.media.app import create_app
from shared.config import Settings
from tests.media.conftest import ELF, HTML, SAMPLES, MediaClient, StorageServer, png
from tests.serving import serving
from tests.world import Person, a_guest, a_user, bearer, sites

BOTH_STORES = pytest.mark.parametrize("backend", ["supabase", "local"], indirect=True)


async def upload(
    client: MediaClient | httpx.AsyncClient,
    who: Person,
    data: bytes,
    filename: str = "file.bin",
    content_type: str | None = None,
    **fields: str,
) -> httpx.Response:
    part: tuple[Any, ...] = (
        (filename, data) if content_type is None else (filename, data, content_type)
    )
    return await client.post(
        "/media/uploads", files={"file": part}, data=fields, headers=bearer(who)
    )


def library_rows(database_url: str, who: Person) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "select * from public.media_library where user_id = %s order by created_at",
            (who.user_id,),
        ).fetchall()


def stored_paths(settings: Settings, database_url: str, who: Person) -> list[str]:
    """The objects under the user's folder in the store the service used."""
    if settings.storage_url:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "select name from storage.objects where bucket_id = 'media' and name like %s"
                " order by name",
                (f"{who.user_id}/%",),
            ).fetchall()
        return [str(row[0]) for row in rows]
    root = Path(settings.media_root) / str(who.user_id)
    return sorted(
        file.relative_to(settings.media_root).as_posix()
        for file in root.rglob("*")
        if file.is_file()
    )


def seed_images(database_url: str, who: Person, count: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for number in range(count):
            conn.execute(
                "insert into public.media_library (user_id, filename, original_name, file_path,"
                " mime_type, file_type, size_bytes)"
                " values (%s, %s, %s, %s, 'image/png', 'image', 1)",
                (
                    who.user_id,
                    f"{number}.png",
                    f"{number}.png",
                    f"{who.user_id}/images/{number}.png",
                ),
            )


# Types -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mime_type", sorted(SAMPLES))
async def test_every_allowed_type_is_stored_and_listed_as_what_its_bytes_are(
    media: MediaClient, media_settings: Settings, database_url: str, mime_type: str
) -> None:
    sample = SAMPLES[mime_type]
    alice = a_user(database_url)

    response = await upload(media, alice, sample.data, sample.filename, sample.content_type)

    assert response.status_code == 201, response.text
    item = response.json()
    assert item["mimeType"] == mime_type
    assert item["fileType"] == sample.file_type
    assert item["sizeBytes"] == len(sample.data)
    assert item["originalName"] == sample.filename
    assert item["contentUrl"] == f"/media/{item['id']}/content"
    [row] = library_rows(database_url, alice)
    assert str(row["id"]) == item["id"]
    assert stored_paths(media_settings, database_url, alice) == [row["file_path"]]


@BOTH_STORES
async def test_a_png_named_exe_is_accepted_as_a_png_and_its_bytes_are_stored(
    media: MediaClient, media_settings: Settings, database_url: str
) -> None:
    alice = a_user(database_url)
    data = png(3, 2)

    response = await upload(media, alice, data, "setup.exe", "application/octet-stream")

    assert response.status_code == 201, response.text
    assert response.json()["mimeType"] == "image/png"
    assert response.json()["originalName"] == "setup.exe"
    [row] = library_rows(database_url, alice)
    assert row["file_path"].startswith(f"{alice.user_id}/images/")
    assert row["file_path"].endswith(".png")
    if media_settings.storage_url is None:
        assert (Path(media_settings.media_root) / row["file_path"]).read_bytes() == data


@pytest.mark.parametrize(
    ("data", "filename", "content_type"),
    [
        (ELF, "cat.png", "image/png"),
        (ELF, "cat.png", None),
        (HTML, "cat.png", "image/png"),
        (png(), "notes.txt", "text/plain"),
        (b"PK\x03\x04" + b"\x00" * 26, "site.zip", "application/zip"),
        (b"\xff\xfe\x00\x01not utf-8", "notes.txt", "text/plain"),
        (b"", "empty.txt", "text/plain"),
    ],
    ids=["elf-as-png", "elf-undeclared", "html-as-png", "png-as-text", "zip", "not-utf8", "empty"],
)
async def test_bytes_that_are_not_an_allowed_type_or_not_the_declared_one_are_a_415(
    media: MediaClient,
    media_settings: Settings,
    database_url: str,
    data: bytes,
    filename: str,
    content_type: str | None,
) -> None:
    alice = a_user(database_url)

    response = await upload(media, alice, data, filename, content_type)

    assert response.status_code == 415, response.text
    assert response.json()["code"] == "unsupported_file_type"
    assert library_rows(database_url, alice) == []
    assert stored_paths(media_settings, database_url, alice) == []


# Size --------------------------------------------------------------------------------------------


@BOTH_STORES
async def test_a_file_of_exactly_the_limit_is_stored_and_one_byte_more_is_a_413(
    media: MediaClient, media_settings: Settings, database_url: str
) -> None:
    alice = a_user(database_url)
    limit = media_settings.media_max_bytes
    assert limit == 4 * 1024 * 1024

    exactly = await upload(media, alice, b"a" * limit, "big.txt", "text/plain")
    over = await upload(media, alice, b"a" * (limit + 1), "bigger.txt", "text/plain")

    assert exactly.status_code == 201, exactly.text
    assert exactly.json()["sizeBytes"] == limit
    assert over.status_code == 413, over.text
    assert over.json()["code"] == "file_too_large"
    assert len(library_rows(database_url, alice)) == 1
    assert len(stored_paths(media_settings, database_url, alice)) == 1


async def test_a_body_far_over_the_limit_is_cut_off_with_a_413(
    media: MediaClient, database_url: str
) -> None:
    alice = a_user(database_url)

    response = await upload(media, alice, b"a" * (6 * 1024 * 1024), "huge.txt", "text/plain")

    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert library_rows(database_url, alice) == []


async def test_a_lower_media_max_bytes_is_the_limit(
    media_settings: Settings, database_url: str
) -> None:
    alice = a_user(database_url)
    settings = msgspec.structs.replace(media_settings, media_max_bytes=1000)
    async with serving(create_app(settings)) as client:
        fits = await upload(client, alice, b"a" * 1000, "a.txt", "text/plain")
        over = await upload(client, alice, b"a" * 1001, "b.txt", "text/plain")

    assert (fits.status_code, over.status_code) == (201, 413)


# Who ---------------------------------------------------------------------------------------------


async def test_guests_and_anonymous_callers_must_sign_in(
    media: MediaClient, database_url: str
) -> None:
    guest = a_guest()

    as_guest = await upload(media, guest, png(), "a.png", "image/png")
    anonymous = await media.post("/media/uploads", files={"file": ("a.png", png(), "image/png")})

    assert as_guest.status_code == 401
    assert anonymous.status_code == 401


# Form --------------------------------------------------------------------------------------------


async def test_description_tags_and_an_own_site_are_kept_and_the_file_is_one_of_its_images(
    media: MediaClient, database_url: str
) -> None:
    alice = a_user(database_url)
    [bakery] = sites(database_url, alice, "Bakery")

    response = await upload(
        media,
        alice,
        png(),
        "logo.png",
        "image/png",
        projectId=bakery,
        description="  Our logo  ",
        tags='["logo", " brand ", "logo"]',
    )

    assert response.status_code == 201, response.text
    item = response.json()
    assert (item["description"], item["tags"], item["projectId"]) == (
        "Our logo",
        ["logo", "brand"],
        bakery,
    )
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        [image] = conn.execute(
            "select * from public.images where project_id = %s", (bakery,)
        ).fetchall()
    [row] = library_rows(database_url, alice)
    assert (image["file_path"], image["original_name"]) == (row["file_path"], "logo.png")


async def test_another_users_site_is_a_404_and_nothing_is_stored(
    media: MediaClient, media_settings: Settings, database_url: str
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    [bobs] = sites(database_url, bob, "Bob's")

    response = await upload(media, alice, png(), "a.png", "image/png", projectId=bobs)

    assert response.status_code == 404
    assert response.json()["code"] == "project_not_found"
    assert library_rows(database_url, alice) == []
    assert stored_paths(media_settings, database_url, alice) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"projectId": "not-a-uuid"}, "projectId"),
        ({"tags": "logo"}, "tags"),
        ({"tags": "[1, 2]"}, "tags"),
        ({"tags": str([f"t{n}" for n in range(51)]).replace("'", '"')}, "tags"),
        ({"description": "x" * 2001}, "description"),
        ({"owner": "someone"}, "owner"),
    ],
)
async def test_a_bad_form_field_is_a_422_naming_it(
    media: MediaClient, database_url: str, fields: dict[str, str], field: str
) -> None:
    alice = a_user(database_url)

    response = await upload(media, alice, png(), "a.png", "image/png", **fields)

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert library_rows(database_url, alice) == []


async def test_a_form_without_a_file_is_a_422_and_a_json_body_a_400(
    media: MediaClient, database_url: str
) -> None:
    alice = a_user(database_url)

    no_file = await media.post("/media/uploads", data={"description": "x"}, headers=bearer(alice))
    as_json = await media.post("/media/uploads", json={"file": "x"}, headers=bearer(alice))

    assert no_file.status_code in (400, 422), no_file.text
    assert as_json.status_code == 400


@BOTH_STORES
@pytest.mark.parametrize(
    ("filename", "kept"),
    [
        ("../../../etc/passwd.png", "passwd.png"),
        ("..\\..\\windows\\evil.png", "evil.png"),
        ("/abs/olute.png", "olute.png"),
        ("bröd och 🍞.png", "bröd och 🍞.png"),
        ("bro\u0308d.png", "bröd.png"),
        ("a\u200bb\u202e.png", "ab.png"),
        ("...", "file"),
    ],
)
async def test_the_clients_file_name_is_kept_sanitised_and_never_reaches_the_path(
    media: MediaClient, media_settings: Settings, database_url: str, filename: str, kept: str
) -> None:
    alice = a_user(database_url)

    response = await upload(media, alice, png(), filename, "image/png")

    assert response.status_code == 201, response.text
    assert response.json()["originalName"] == kept
    [row] = library_rows(database_url, alice)
    assert row["original_name"] == kept
    folder, category, name = row["file_path"].split("/")
    assert (folder, category) == (alice.user_id, "images")
    stem, extension = name.split(".")
    timestamp, random = stem.split("_")
    assert timestamp.isdigit()
    assert len(random) == 16
    assert extension == "png"
    assert stored_paths(media_settings, database_url, alice) == [row["file_path"]]


# Quotas ------------------------------------------------------------------------------------------


async def test_the_eleventh_image_and_the_fourth_video_are_409s_with_the_counts(
    media: MediaClient, media_settings: Settings, database_url: str
) -> None:
    alice = a_user(database_url)
    seed_images(database_url, alice, 10)
    for number in range(3):
        assert (await upload(media, alice, SAMPLES["video/mp4"].data, f"{number}.mp4")).is_success

    image = await upload(media, alice, png(), "one-more.png", "image/png")
    video = await upload(media, alice, SAMPLES["video/mp4"].data, "one-more.mp4")
    text = await upload(media, alice, b"still fine", "notes.txt", "text/plain")

    assert image.status_code == 409
    assert image.json()["code"] == "quota_exceeded"
    assert image.json()["counts"] == {"images": 10, "videos": 3}
    assert image.json()["quotas"] == {"images": 10, "videos": 3}
    assert video.status_code == 409
    assert video.json()["fileType"] == "video"
    assert text.status_code == 201
    assert len(stored_paths(media_settings, database_url, alice)) == 4


@BOTH_STORES
async def test_twenty_parallel_images_by_a_user_with_eight_store_exactly_two(
    media_settings: Settings, database_url: str
) -> None:
    alice = a_user(database_url)
    seed_images(database_url, alice, 8)

    async with serving(create_app(media_settings)) as client:
        responses = await asyncio.gather(
            *(upload(client, alice, png(1, n + 1), f"{n}.png", "image/png") for n in range(20))
        )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 2 + [409] * 18
    rows = library_rows(database_url, alice)
    assert len(rows) == 10
    # Every refused upload's object was deleted again: exactly the two new rows have objects.
    new_paths = sorted(row["file_path"] for row in rows if "_" in row["filename"])
    assert stored_paths(media_settings, database_url, alice) == new_paths


# Storage failing ---------------------------------------------------------------------------------


async def test_storage_failing_mid_upload_is_a_503_leaving_no_row_and_no_object(
    media: MediaClient, media_settings: Settings, storage: StorageServer, database_url: str
) -> None:
    alice = a_user(database_url)
    storage.standin.failing_writes = True

    response = await upload(media, alice, png(), "a.png", "image/png")

    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert library_rows(database_url, alice) == []
    storage.reset()
    assert stored_paths(media_settings, database_url, alice) == []


@pytest.mark.parametrize("backend", ["local"], indirect=True)
async def test_an_unwritable_media_dir_is_a_503_leaving_no_row(
    media_settings: Settings, database_url: str, tmp_path: Path
) -> None:
    alice = a_user(database_url)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the media folder should be")
    settings = msgspec.structs.replace(media_settings, media_dir=str(blocker))

    async with serving(create_app(settings)) as client:
        response = await upload(client, alice, png(), "a.png", "image/png")

    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert library_rows(database_url, alice) == []


# Attacks -----------------------------------------------------------------------------------------


async def test_another_users_object_cannot_be_read_replaced_listed_or_deleted_through_storage(
    media: MediaClient, storage: StorageServer, database_url: str, settings: Settings
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    response = await upload(media, alice, png(), "a.png", "image/png")
    assert response.status_code == 201
    [row] = library_rows(database_url, alice)
    path = row["file_path"]
    base = f"{storage.url}/storage/v1/object"
    as_bob = {"apikey": settings.supabase_anon_key or "", **bearer(bob)}

    async with httpx.AsyncClient() as http:
        read = await http.get(f"{base}/media/{path}", headers=as_bob)
        read_authenticated = await http.get(f"{base}/authenticated/media/{path}", headers=as_bob)
        replaced = await http.post(
            f"{base}/media/{path}",
            files={"file": ("x.png", b"evil", "image/png")},
            headers={**as_bob, "x-upsert": "true"},
        )
        into_alices_folder = await http.post(
            f"{base}/media/{alice.user_id}/images/planted.png",
            files={"file": ("x.png", b"evil", "image/png")},
            headers=as_bob,
        )
        listed = await http.post(
            f"{base}/list/media", json={"prefix": str(alice.user_id)}, headers=as_bob
        )
        deleted = await http.request(
            "DELETE", f"{base}/media", json={"prefixes": [path]}, headers=as_bob
        )
        still_there = await http.get(
            f"{base}/media/{path}", headers={"apikey": as_bob["apikey"], **bearer(alice)}
        )

    assert (read.status_code, read.json()["statusCode"], read.json()["error"]) == (
        400,
        "404",
        "not_found",
    )
    assert read_authenticated.json()["statusCode"] == "404"
    assert replaced.status_code == 400
    assert replaced.json()["statusCode"] in ("403", "409")
    assert into_alices_folder.json()["statusCode"] == "403"
    assert listed.json() == []
    assert deleted.json() == []
    assert still_there.status_code == 200
    assert still_there.content == png()


async def test_another_users_uploads_are_invisible_and_unrecordable_through_postgrest(
    media: MediaClient, database_url: str, settings: Settings
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    [alices_site] = sites(database_url, alice, "Alice's")
    assert (await upload(media, alice, png(), "a.png", "image/png")).status_code == 201
    rest = settings.rest_url
    as_bob = {"apikey": settings.supabase_anon_key or "", **bearer(bob)}

    async with httpx.AsyncClient(base_url=rest or "") as http:
        rows = await http.get("/media_library", headers=as_bob)
        objects = await http.get("/objects", headers={**as_bob, "Accept-Profile": "storage"})
        recorded = await http.post(
            "/rpc/record_media_upload",
            json={
                "p_filename": "x.png",
                "p_original_name": "x.png",
                "p_file_path": f"{bob.user_id}/images/x.png",
                "p_mime_type": "image/png",
                "p_file_type": "image",
                "p_size_bytes": 1,
                "p_project_id": alices_site,
            },
            headers={**as_bob, "Prefer": "tx=rollback"},
        )
        as_guest = await http.post(
            "/rpc/media_usage", json={}, headers={"apikey": as_bob["apikey"], **bearer(a_guest())}
        )

    assert rows.status_code == 200
    assert rows.json() == []
    assert objects.status_code >= 400
    assert recorded.status_code == 409
    assert recorded.json()["message"] == "project_not_found"
    assert as_guest.status_code in (401, 403)
    assert len(library_rows(database_url, alice)) == 1
