"""Media's SQL: who may call its functions, the quotas under the per-user lock, recording an
upload, and the bucket's policies on `storage.objects`, attacked through PostgREST and as the
API roles directly."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests.schema.data_api import COMMITTED, Db, as_client, executors
from tests.world import Person, a_guest, a_user, sites

RECORD = "public.record_media_upload(text, text, text, text, text, bigint, text, jsonb, uuid)"


def upload_args(who: Person, file_type: str = "image", **extra: Any) -> dict[str, Any]:
    return {
        "p_filename": "1_a.png",
        "p_original_name": "a.png",
        "p_file_path": f"{who.user_id}/images/1_a.png",
        "p_mime_type": "image/png",
        "p_file_type": file_type,
        "p_size_bytes": 10,
        **extra,
    }


def test_media_functions_are_executable_by_exactly_their_callers(db: Db) -> None:
    assert executors(db, [RECORD, "public.media_usage()"]) == {
        RECORD: {"authenticated"},
        "public.media_usage()": {"authenticated"},
    }
    assert executors(db, ["private.enforce_media_quota()"])["private.enforce_media_quota()"] == {
        "authenticated",
        "service_role",
    }


def test_an_upload_is_recorded_with_its_site_image_and_counted(
    http: httpx.Client, database_url: str, db: Db
) -> None:
    alice = a_user(database_url)
    [bakery] = sites(database_url, alice, "Bakery")

    recorded = http.post(
        "/rpc/record_media_upload",
        json=upload_args(alice, p_tags=["logo"], p_project_id=bakery),
        headers=as_client(alice.token, COMMITTED),
    )
    usage = http.post("/rpc/media_usage", json={}, headers=as_client(alice.token))

    assert recorded.status_code == 200, recorded.text
    [row] = recorded.json()
    assert (row["tags"], row["project_id"], row["user_id"]) == (["logo"], bakery, alice.user_id)
    images = db.execute("select file_path from public.images where project_id = %s", (bakery,))
    assert [image["file_path"] for image in images] == [row["file_path"]]
    assert {kind["file_type"]: (kind["used"], kind["quota"]) for kind in usage.json()} == {
        "image": (1, 10),
        "video": (0, 3),
        "pdf": (0, None),
        "text": (0, None),
    }


def test_another_users_site_is_refused_and_guests_may_not_record(
    http: httpx.Client, database_url: str
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    [bobs] = sites(database_url, bob, "Bob's")

    onto_bobs = http.post(
        "/rpc/record_media_upload",
        json=upload_args(alice, p_project_id=bobs),
        headers=as_client(alice.token),
    )
    as_guest = http.post(
        "/rpc/record_media_upload", json=upload_args(alice), headers=as_client(a_guest().token)
    )

    assert onto_bobs.status_code == 409
    assert onto_bobs.json()["message"] == "project_not_found"
    assert as_guest.status_code in (401, 403)


@pytest.mark.parametrize(("file_type", "quota"), [("image", 10), ("video", 3)])
def test_parallel_inserts_pass_exactly_as_many_as_the_quota_has_room_for(
    database_url: str, db: Db, file_type: str, quota: int
) -> None:
    alice = a_user(database_url)

    def insert(number: int) -> str:
        with psycopg.connect(database_url) as conn:
            conn.execute("set role authenticated")
            claims = {"role": "authenticated", "sub": alice.user_id}
            conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
            try:
                conn.execute(
                    "insert into public.media_library (filename, original_name, file_path,"
                    " mime_type, file_type, size_bytes) values (%s, %s, %s, 'x', %s, 1)",
                    (f"{number}", f"{number}", f"{alice.user_id}/x/{number}", file_type),
                )
                # Hold the transaction a moment so the inserts really overlap.
                conn.execute("select pg_sleep(0.02)")
            except psycopg.Error as error:
                return f"{error.sqlstate}:{error.diag.message_primary}"
            return "ok"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(insert, range(quota + 6)))

    assert outcomes == ["PT409:quota_exceeded"] * 6 + ["ok"] * quota
    count = db.execute(
        "select count(*) as n from public.media_library where user_id = %s", (alice.user_id,)
    ).fetchone()
    assert count == {"n": quota}


def test_pdfs_and_text_have_no_quota(database_url: str, http: httpx.Client) -> None:
    alice = a_user(database_url)
    for number in range(12):
        response = http.post(
            "/rpc/record_media_upload",
            json=upload_args(alice, "text", p_file_path=f"{alice.user_id}/documents/{number}.txt"),
            headers=as_client(alice.token, COMMITTED),
        )
        assert response.status_code == 200, response.text


def test_storage_policies_keep_each_user_in_their_own_folder(database_url: str) -> None:
    alice, bob = a_user(database_url), a_user(database_url)

    def as_user(who: Person, statement: str, *params: object) -> str:
        with psycopg.connect(database_url) as conn:
            conn.execute("set local role authenticated")
            claims = {"role": "authenticated", "sub": who.user_id}
            conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
            try:
                cursor = conn.execute(statement, params)
            except psycopg.Error as error:
                return str(error.sqlstate)
            return f"rows:{cursor.rowcount}"

    insert = "insert into storage.objects (bucket_id, name) values ('media', %s)"
    assert as_user(alice, insert, f"{alice.user_id}/images/a.png") == "rows:1"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into storage.objects (bucket_id, name) values ('media', %s)",
            (f"{alice.user_id}/images/kept.png",),
        )

    assert as_user(bob, insert, f"{alice.user_id}/images/b.png") == "42501"
    assert as_user(bob, "select from storage.objects where name like %s", f"{alice.user_id}/%") == (
        "rows:0"
    )
    assert as_user(bob, "delete from storage.objects where name like %s", f"{alice.user_id}/%") == (
        "rows:0"
    )
    assert (
        as_user(
            bob, "update storage.objects set name = name where name like %s", f"{alice.user_id}/%"
        )
        == "rows:0"
    )
    assert as_user(
        alice, "select from storage.objects where name like %s", f"{alice.user_id}/%"
    ) == ("rows:2")


def test_the_storage_schema_is_not_served_by_postgrest(
    http: httpx.Client, database_url: str
) -> None:
    alice = a_user(database_url)

    response = http.get("/objects", headers={**as_client(alice.token), "Accept-Profile": "storage"})

    assert response.status_code == 406
