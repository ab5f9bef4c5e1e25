"""The deployment functions and tables in SQL, tried as the roles that meet them through real
PostgREST with valid tokens: a user starts (and pays for) deployments of its own sites' versions
only, once per key however many arrive at once; no client marks a deployment ready, forges a
refund, writes into another tenant's project or attaches a domain; the service role's status
changes refund an error once, even when two arrive at once, and never move a final status."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from psycopg import conninfo

from tests.conftest import JWT_SECRET
from tests.schema.data_api import COMMITTED, Db, as_client, executors
from tests.tenancy import anon_key, service_role_key
from tests.world import Person, a_guest, a_user, sites

EXECUTORS = {
    "public.start_deployment(uuid, uuid, text, text)": {"authenticated"},
    "public.change_deployment_status(uuid, text, text, text, text)": {"service_role"},
    "public.record_vercel_deployment(uuid, text, text, text, text, text, text)": {"service_role"},
    "public.sweep_deployments(integer, integer)": {"service_role"},
    "public.claim_domain_attachments(integer, integer)": {"service_role"},
    "public.record_domain_attachment(uuid, text, boolean, text)": {"service_role"},
    "private.start_deployment(uuid, uuid, text, text)": {"authenticated"},
    "private.change_deployment_status(uuid, text, text, text, text)": {"service_role"},
    "private.record_vercel_deployment(uuid, text, text, text, text, text, text)": {"service_role"},
    "private.sweep_deployments(integer, integer)": {"service_role"},
    "private.claim_domain_attachments(integer, integer)": {"service_role"},
    "private.record_domain_attachment(uuid, text, boolean, text)": {"service_role"},
}
SERVICE = service_role_key(JWT_SECRET)


def url_of(db: Db) -> str:
    """The database `db` is connected to, as its owner, for the builders of tests.world."""
    return conninfo.make_conninfo(db.info.dsn, password=db.info.password or None)


def a_rich_user(db: Db, diamonds: int = 100) -> Person:
    """A user holding `diamonds`, granted through the ledger (so the audit holds)."""
    user = a_user(url_of(db))
    db.execute(
        "select * from public.credit_diamonds(%s, %s, 'admin_grant', 'tests', %s)",
        (user.user_id, diamonds, str(uuid.uuid4())),
    )
    return user


def a_version(db: Db, owner: Person, site: str) -> str:
    """A version of `site` as a finished generation records one; its id."""
    tag = uuid.uuid4().hex[:10]
    project = db.execute(
        "insert into public.projects (user_id, session_id, v0_project_id) values (%s, %s, %s)"
        " returning id",
        (owner.user_id, owner.session_id, f"prj_{tag}"),
    ).fetchone()
    assert project is not None
    chat = db.execute(
        "insert into public.chats (project_id, v0_chat_id) values (%s, %s) returning id",
        (project["id"], f"chat_{tag}"),
    ).fetchone()
    assert chat is not None
    version = db.execute(
        "insert into public.versions (chat_id, v0_version_id) values (%s, %s) returning id",
        (chat["id"], f"ver_{tag}"),
    ).fetchone()
    assert version is not None
    db.execute(
        "insert into public.generations (user_id, session_id, app_project_id, kind,"
        " idempotency_key, status, finished_at, deadline_at, v0_chat_id, v0_version_id, chat_id,"
        " version_id) values (%s, %s, %s, 'generate', %s, 'done', now(), now(), %s, %s, %s, %s)",
        (
            owner.user_id,
            owner.session_id,
            site,
            tag,
            f"chat_{tag}",
            f"ver_{tag}",
            chat["id"],
            version["id"],
        ),
    )
    return str(version["id"])


def a_site_with_version(db: Db, owner: Person) -> tuple[str, str]:
    [site] = sites(url_of(db), owner, "Bageriet")
    return site, a_version(db, owner, site)


def rpc(
    http: httpx.Client, token: str, function: str, prefer: str = COMMITTED, **args: Any
) -> httpx.Response:
    return http.post(f"/rpc/{function}", json=args, headers=as_client(token, prefer))


def start(
    http: httpx.Client, who: Person, site: str, version: str, key: str | None = None
) -> dict[str, Any]:
    response = rpc(
        http,
        who.token,
        "start_deployment",
        p_app_project_id=site,
        p_version_id=version,
        p_target="preview",
        p_idempotency_key=key or str(uuid.uuid4()),
    )
    assert response.status_code == 200, response.text
    [outcome] = response.json()
    return dict(outcome)


def balance(db: Db, user: Person) -> int:
    found = db.execute(
        "select diamonds from public.users where id = %s", (user.user_id,)
    ).fetchone()
    assert found is not None
    return int(found["diamonds"])


def ledger(db: Db, user: Person) -> list[tuple[str, int]]:
    rows = db.execute(
        "select type, amount from public.transactions where user_id = %s"
        " and type in ('charge', 'refund') order by seq",
        (user.user_id,),
    ).fetchall()
    return [(row["type"], row["amount"]) for row in rows]


# Who may run what -------------------------------------------------------------------------------


def test_every_function_is_executable_by_exactly_its_callers(db: Db) -> None:
    assert executors(db, list(EXECUTORS)) == EXECUTORS


# Starting ----------------------------------------------------------------------------------------


def test_a_user_starts_a_paid_deployment_of_its_sites_version(db: Db, http: httpx.Client) -> None:
    alice = a_rich_user(db)
    site, version = a_site_with_version(db, alice)

    started = start(http, alice, site, version)

    assert started["outcome"] == "started"
    assert (started["status"], started["cost"], started["balance"]) == ("pending", 20, 80)
    assert started["v0_chat_id"].startswith("chat_")
    assert started["v0_version_id"].startswith("ver_")
    stored = db.execute(
        "select app_project_id::text, version_id::text, status, charge_id is not null as charged"
        " from public.deployments where id = %s",
        (started["deployment_id"],),
    ).fetchone()
    assert stored == {
        "app_project_id": site,
        "version_id": version,
        "status": "pending",
        "charged": True,
    }


def test_twenty_starts_with_one_key_at_once_charge_once(db: Db, http: httpx.Client) -> None:
    alice = a_rich_user(db)
    site, version = a_site_with_version(db, alice)
    key = str(uuid.uuid4())

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(lambda _: start(http, alice, site, version, key), range(20)))

    assert sorted(o["outcome"] for o in outcomes) == ["existing"] * 19 + ["started"]
    assert len({o["deployment_id"] for o in outcomes}) == 1
    assert ledger(db, alice) == [("charge", -20)]


def test_a_user_cannot_deploy_another_tenants_site_or_version(db: Db, http: httpx.Client) -> None:
    alice, mallory = a_rich_user(db), a_rich_user(db)
    site, version = a_site_with_version(db, alice)
    own_site, own_version = a_site_with_version(db, mallory)
    # Mallory's own site, and a version of Mallory's that no generation of the site made.
    [other_site] = sites(url_of(db), mallory, "Other")

    outcomes = [
        start(http, mallory, site, version)["outcome"],
        start(http, mallory, own_site, version)["outcome"],
        start(http, mallory, other_site, own_version)["outcome"],
    ]

    assert outcomes == ["not_found", "version_not_found", "version_not_found"]
    assert ledger(db, mallory) == []
    assert balance(db, mallory) == 100


def test_short_of_diamonds_nothing_is_started(db: Db, http: httpx.Client) -> None:
    poor = a_rich_user(db, 19)
    site, version = a_site_with_version(db, poor)

    started = start(http, poor, site, version)

    assert (started["outcome"], started["required"], started["balance"]) == ("insufficient", 20, 19)
    found = db.execute(
        "select count(*) as n from public.deployments where app_project_id = %s", (site,)
    ).fetchone()
    assert found == {"n": 0}


@pytest.mark.parametrize("who", ["guest", "anon_key"])
def test_guests_and_the_anon_key_cannot_start_a_deployment(
    who: str, db: Db, http: httpx.Client
) -> None:
    guest = a_guest()
    site, version = a_site_with_version(db, guest)
    token = guest.token if who == "guest" else anon_key(JWT_SECRET)

    response = rpc(
        http,
        token,
        "start_deployment",
        p_app_project_id=site,
        p_version_id=version,
        p_target="preview",
        p_idempotency_key="k",
    )

    assert response.status_code in (401, 403), response.text


# What no client may do ---------------------------------------------------------------------------


@pytest.fixture
def started(db: Db, http: httpx.Client) -> tuple[Person, dict[str, Any]]:
    alice = a_rich_user(db)
    site, version = a_site_with_version(db, alice)
    return alice, start(http, alice, site, version)


@pytest.mark.parametrize("change", [{"status": "ready"}, {"status": "error"}, {"charge_id": None}])
def test_a_client_cannot_change_its_deployment(
    change: dict[str, Any], started: tuple[Person, dict[str, Any]], http: httpx.Client
) -> None:
    alice, deployment = started

    response = http.patch(
        "/deployments",
        params={"id": f"eq.{deployment['deployment_id']}"},
        json=change,
        headers=as_client(alice.token),
    )

    assert response.status_code in (401, 403), response.text


def test_a_client_cannot_insert_a_deployment_into_another_tenants_project(
    db: Db, http: httpx.Client
) -> None:
    alice, mallory = a_rich_user(db), a_rich_user(db)
    site, version = a_site_with_version(db, alice)
    found = db.execute(
        "select v.chat_id, c.project_id from public.versions v join public.chats c"
        " on c.id = v.chat_id where v.id = %s",
        (version,),
    ).fetchone()
    assert found is not None
    row = {
        "project_id": str(found["project_id"]),
        "chat_id": str(found["chat_id"]),
        "version_id": version,
        "app_project_id": site,
        "status": "ready",
    }

    mine = {**row, "app_project_id": a_site_with_version(db, mallory)[0]}
    responses = [
        http.post("/deployments", json=row, headers=as_client(mallory.token)),
        http.post("/deployments", json=mine, headers=as_client(mallory.token)),
        http.post("/deployments", json=row, headers=as_client(alice.token)),
    ]

    assert [r.status_code in (401, 403) for r in responses] == [True] * 3


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("change_deployment_status", {"p_status": "ready"}),
        ("change_deployment_status", {"p_status": "error"}),
        (
            "record_vercel_deployment",
            {
                "p_vercel_deployment_id": "dpl_forged",
                "p_vercel_project_id": "prj_forged",
                "p_url": "forged.vercel.app",
                "p_inspector_url": None,
                "p_status": "ready",
                "p_vercel_state": "READY",
            },
        ),
        ("refund_charge", {}),
    ],
    ids=["mark-ready", "mark-error", "record-vercel", "refund"],
)
def test_a_client_cannot_mark_its_deployment_or_forge_a_refund(
    function: str,
    args: dict[str, Any],
    started: tuple[Person, dict[str, Any]],
    db: Db,
    http: httpx.Client,
) -> None:
    alice, deployment = started
    charge = db.execute(
        "select charge_id from public.deployments where id = %s", (deployment["deployment_id"],)
    ).fetchone()
    assert charge is not None
    key = (
        {"p_charge_id": str(charge["charge_id"])}
        if function == "refund_charge"
        else {"p_deployment_id": deployment["deployment_id"]}
    )

    response = rpc(http, alice.token, function, **key, **args)

    assert response.status_code in (401, 403), response.text
    stored = db.execute(
        "select status, vercel_deployment_id from public.deployments where id = %s",
        (deployment["deployment_id"],),
    ).fetchone()
    assert stored == {"status": "pending", "vercel_deployment_id": None}
    assert ledger(db, alice) == [("charge", -20)]


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("sweep_deployments", {"p_after_s": 0, "p_batch": 10}),
        ("claim_domain_attachments", {"p_batch": 10, "p_lease_s": 60}),
        (
            "record_domain_attachment",
            {
                "p_site_domain_id": str(uuid.uuid4()),
                "p_vercel_project_id": "prj_x",
                "p_verified": True,
            },
        ),
    ],
)
@pytest.mark.parametrize("who", ["user", "guest", "anon_key"])
def test_no_client_runs_the_workers_functions(
    function: str, args: dict[str, Any], who: str, http: httpx.Client
) -> None:
    token = {
        "user": lambda: Person("someone", "user", user_id=str(uuid.uuid4())).token,
        "guest": lambda: a_guest().token,
        "anon_key": lambda: anon_key(JWT_SECRET),
    }[who]()

    response = rpc(http, token, function, prefer="tx=rollback", **args)

    assert response.status_code in (401, 403), response.text


def test_a_client_reads_only_its_own_sites_domains(db: Db, http: httpx.Client) -> None:
    alice, mallory = a_rich_user(db), a_rich_user(db)
    [site] = sites(url_of(db), alice, "Bageriet")
    order = db.execute(
        "insert into public.domain_orders (user_id, project_id, domain, status)"
        " values (%s, %s, %s, 'completed') returning id",
        (alice.user_id, site, f"b-{uuid.uuid4().hex[:8]}.se"),
    ).fetchone()
    assert order is not None
    attached = db.execute(
        "insert into public.site_domains (app_project_id, domain_order_id, domain)"
        " select project_id, id, domain from public.domain_orders where id = %s returning id",
        (order["id"],),
    ).fetchone()
    assert attached is not None

    def seen(who: Person) -> set[str]:
        response = http.get(
            "/site_domains", params={"select": "id"}, headers=as_client(who.token, "")
        )
        assert response.status_code == 200, response.text
        return {row["id"] for row in response.json()}

    writes = [
        http.patch(
            "/site_domains",
            params={"id": f"eq.{attached['id']}"},
            json={"status": "attached"},
            headers=as_client(alice.token),
        ),
        http.post(
            "/site_domains",
            json={"app_project_id": site, "domain_order_id": str(order["id"]), "domain": "x.se"},
            headers=as_client(alice.token),
        ),
    ]

    assert seen(alice) == {str(attached["id"])}
    assert seen(mallory) == set()
    assert [w.status_code in (401, 403) for w in writes] == [True, True]


# The service role's status changes ---------------------------------------------------------------


def change(http: httpx.Client, deployment_id: str, status: str) -> dict[str, Any]:
    response = rpc(
        http,
        SERVICE,
        "change_deployment_status",
        p_deployment_id=deployment_id,
        p_status=status,
        p_vercel_state=status.upper(),
        p_error_code=f"vercel_{status}",
        p_error_message="It failed.",
    )
    assert response.status_code == 200, response.text
    [changed] = response.json()
    return dict(changed)


def test_an_error_refunds_once_even_when_reported_at_once(
    started: tuple[Person, dict[str, Any]], db: Db, http: httpx.Client
) -> None:
    alice, deployment = started

    with ThreadPoolExecutor(10) as pool:
        changes = list(
            pool.map(lambda _: change(http, deployment["deployment_id"], "error"), range(10))
        )

    assert sorted(c["outcome"] for c in changes) == ["changed"] + ["unchanged"] * 9
    assert [c["refund"] for c in changes if c["outcome"] == "changed"] == ["refunded"]
    assert {c["user_id"] for c in changes} == {alice.user_id}
    assert ledger(db, alice) == [("charge", -20), ("refund", 20)]
    assert balance(db, alice) == 100


def test_a_final_status_never_changes(
    started: tuple[Person, dict[str, Any]], db: Db, http: httpx.Client
) -> None:
    alice, deployment = started

    steps = [
        change(http, deployment["deployment_id"], status)["status"]
        for status in ("building", "ready", "error", "building", "cancelled")
    ]

    assert steps == ["building", "ready", "ready", "ready", "ready"]
    assert ledger(db, alice) == [("charge", -20)]


def test_the_sweep_refunds_a_deployment_vercel_never_got_once(
    started: tuple[Person, dict[str, Any]], db: Db, http: httpx.Client
) -> None:
    alice, deployment = started
    db.execute(
        "update public.deployments set created_at = now() - interval '1 hour' where id = %s",
        (deployment["deployment_id"],),
    )

    def sweep(_: int) -> list[dict[str, Any]]:
        response = rpc(http, SERVICE, "sweep_deployments", p_after_s=600, p_batch=1000)
        assert response.status_code == 200, response.text
        return list(response.json())

    with ThreadPoolExecutor(4) as pool:
        swept = [row for rows in pool.map(sweep, range(4)) for row in rows]

    mine = [row for row in swept if row["deployment_id"] == deployment["deployment_id"]]
    assert [row["refund"] for row in mine] == ["refunded"]
    stored = db.execute(
        "select status, error_code from public.deployments where id = %s",
        (deployment["deployment_id"],),
    ).fetchone()
    assert stored == {"status": "error", "error_code": "deployment_interrupted"}
    assert ledger(db, alice) == [("charge", -20), ("refund", 20)]
