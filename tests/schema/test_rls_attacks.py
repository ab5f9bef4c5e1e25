"""The RLS attack matrix: every table, attacked through real PostgREST with valid tokens.

Actors: the anon key alone, guests A and B, users A and B, and the service role. Each tries to
read, insert, update, move and delete its own rows and other tenants' rows. Only what SPEC §1
allows may succeed. Every write is sent with `Prefer: tx=rollback`, so the world never changes.

Two more actors hold tokens no issuer of ours mints but anyone can have signed with the project
secret for another purpose (an OAuth state naming a user): an `anon` token whose `sub` is user A,
and user B's token carrying guest A's claim. The first must be nobody, the second only user B.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import JWT_SECRET
from tests.tenancy import (
    GUEST_A,
    GUEST_B,
    TENANTS,
    USER_A,
    USER_B,
    Tenant,
    World,
    anon_key,
    build_world,
    mint,
    service_role_key,
    tenant_token,
)

Row = Callable[[World, Tenant | None], dict[str, Any]]
DENIED = "denied"


@dataclass(frozen=True)
class Table:
    name: str
    new_row: Row  # a row owned by the tenant (or by nobody, for the anon key)
    change: dict[str, Any]  # an ordinary edit an owner may make
    owner_columns: tuple[str, ...]  # what ties a row to its tenant: tenant columns or parent keys
    user_rights: str = ""  # of "siud": what a user may do to its own rows
    guest_rights: str = ""  # the same for a guest
    anon_rights: str = ""  # the same for the anon key alone
    service_rights: str = "siud"
    owners: tuple[str, ...] = ("user", "guest")  # kinds of tenant that own rows of the table
    shared_readers: tuple[str, ...] = ()  # kinds that also read rows owned by nobody
    key: str = "id"
    move_row: Row | None = None  # a row naming another tenant, when new_row cannot

    def moved_to(self, world: World, victim: Tenant) -> dict[str, Any]:
        """The owner columns of a row of `victim`: what an update must not be able to set."""
        row = (self.move_row or self.new_row)(world, victim)
        return {column: row[column] for column in self.owner_columns if column in row}

    def rights(self, kind: str) -> str:
        return {"user": self.user_rights, "guest": self.guest_rights, "anon": self.anon_rights}[
            kind
        ]


USER_OWNED = ("user_id",)
GUEST_OWNED = ("session_id",)
EITHER_OWNED = ("user_id", "session_id")


def _owned(columns: tuple[str, ...], extra: dict[str, Any]) -> Row:
    """A row whose tenant `columns` name the tenant (the anon key leaves them to their defaults)."""
    return lambda _world, tenant: {**(tenant.owner(columns) if tenant else {}), **extra}


def _in(parent: str, column: str, extra: dict[str, Any]) -> Row:
    """A row hanging off the tenant's `parent` row."""

    def row(world: World, tenant: Tenant | None) -> dict[str, Any]:
        # The anon key owns nothing, so it aims at guest A's parent.
        return {column: world.row(parent, (tenant or GUEST_A).name), **extra}

    return row


def _deployment(world: World, tenant: Tenant | None) -> dict[str, Any]:
    owner = (tenant or GUEST_A).name
    return {
        "project_id": world.row("projects", owner),
        "chat_id": world.row("chats", owner),
        "version_id": world.row("versions", owner),
    }


FULL = "siud"
TABLES = [
    Table(
        "users",
        lambda _w, t: {"email": f"new-{t.name if t else 'anon'}@example.com"},
        {"name": "Renamed"},
        ("id",),
        user_rights="su",
        move_row=lambda _w, t: {"id": t.user_id if t else None},
        owners=("user",),
    ),
    Table(
        "transactions",
        _owned(USER_OWNED, {"type": "purchase", "amount": 10, "balance_after": 20}),
        {"description": "edited"},
        USER_OWNED,
        user_rights="s",
        service_rights="s",
        owners=("user",),
    ),
    Table(
        "guest_usage",
        _owned(GUEST_OWNED, {}),
        {"generations_used": 0},
        GUEST_OWNED,
        guest_rights="s",
        service_rights="s",
        owners=("guest",),
    ),
    Table(
        "app_projects",
        _owned(EITHER_OWNED, {"name": "New site"}),
        {"name": "Renamed"},
        EITHER_OWNED,
        FULL,
        FULL,
    ),
    Table(
        "project_data",
        _in("bare_site", "project_id", {"demo_url": "https://demo.example.com/new"}),
        {"demo_url": "https://demo.example.com/edited"},
        ("project_id",),
        FULL,
        FULL,
        key="project_id",
    ),
    Table(
        "project_files",
        _in("app_projects", "project_id", {"path": "app/new.tsx", "size_bytes": 1}),
        {"size_bytes": 2},
        ("project_id",),
        FULL,
        FULL,
    ),
    Table(
        "company_profiles",
        _in("bare_site", "project_id", {"company_name": "New AB"}),
        {"company_name": "Renamed AB"},
        ("project_id",),
        FULL,
        FULL,
    ),
    Table(
        "prompt_handoffs",
        _owned(EITHER_OWNED, {"prompt": "A florist site"}),
        {"consumed_at": "2026-11-25T12:00:00Z"},
        EITHER_OWNED,
        FULL,
        FULL,
    ),
    Table(
        "projects",
        _owned(EITHER_OWNED, {"v0_project_id": "v0_new"}),
        {"name": "Renamed"},
        EITHER_OWNED,
        FULL,
        FULL,
    ),
    Table(
        "chats",
        _in("projects", "project_id", {"v0_chat_id": "chat_new"}),
        {"web_url": "https://v0.app/chat/edited"},
        ("project_id",),
        FULL,
        FULL,
    ),
    Table(
        "versions",
        _in("chats", "chat_id", {"v0_version_id": "ver_new"}),
        {"pinned": True},
        ("chat_id",),
        FULL,
        FULL,
    ),
    # Clients read their deployments; only the projects service's functions write them.
    Table("deployments", _deployment, {"status": "ready"}, ("project_id",), "s", "s"),
    Table(
        "images",
        _in("app_projects", "project_id", {"filename": "new.png", "file_path": "x/new.png"}),
        {"filename": "renamed.png"},
        ("project_id",),
        user_rights="sid",
        owners=("user",),
    ),
    Table(
        "media_library",
        _owned(
            USER_OWNED,
            {
                "filename": "new.png",
                "original_name": "new.png",
                "file_path": "x/media/new.png",
                "mime_type": "image/png",
                "file_type": "image",
                "size_bytes": 1,
            },
        ),
        {"description": "A hero image"},
        USER_OWNED,
        user_rights=FULL,
        owners=("user",),
    ),
    Table(
        "user_audits",
        _owned(USER_OWNED, {"url": "https://example.org", "domain": "example.org"}),
        {"status": "done"},
        USER_OWNED,
        user_rights=FULL,
        owners=("user",),
    ),
    Table(
        "domain_orders",
        _owned(USER_OWNED, {"domain": "new.se"}),
        {"status": "paid"},
        USER_OWNED,
        user_rights="s",
        owners=("user",),
    ),
    Table(
        "prices",
        lambda _w, _t: {"action": "free_lunch", "model_tier": "standard", "cost": 0},
        {"cost": 0},
        (),
        service_rights="s",
        owners=(),
        shared_readers=("user", "guest", "anon"),
        key="action",
    ),
    Table(
        "credit_packages",
        lambda _w, _t: {"id": "credits_free", "diamonds": 1000, "amount": 1},
        {"amount": 1},
        (),
        service_rights="s",
        owners=(),
        shared_readers=("user", "guest", "anon"),
    ),
    Table(
        "guest_charges",
        _owned(GUEST_OWNED, {"action": "generate"}),
        {"refunded_at": "2026-11-25T12:00:00Z"},
        GUEST_OWNED,
        service_rights="",
        owners=("guest",),
    ),
    Table(
        "stripe_events",
        lambda _w, _t: {"id": "evt_new", "type": "checkout.session.completed"},
        {"type": "charge.refunded"},
        (),
        service_rights="sid",
        owners=(),
    ),
    Table(
        "template_cache",
        _owned(USER_OWNED, {"template_id": "florist"}),
        {"code": "export default function Page() {}"},
        USER_OWNED,
        user_rights=FULL,
        shared_readers=("user", "guest", "anon"),
        owners=("user",),
    ),
    Table(
        "page_views",
        _owned(EITHER_OWNED, {"path": "/pricing"}),
        {"path": "/edited"},
        EITHER_OWNED,
        user_rights="i",
        guest_rights="i",
        anon_rights="i",
        service_rights="sid",
        owners=("user",),
    ),
    Table(
        "storage_deletions",
        lambda _w, _t: {"kind": "image", "file_path": "x/new.png"},
        {"attempts": 1},
        (),
        owners=(),
    ),
]
TABLE_IDS = [table.name for table in TABLES]


@dataclass(frozen=True)
class Actor:
    name: str
    kind: str  # "user", "guest", "anon" (the anon key alone) or "service"
    tenant: Tenant | None
    extra_claims: tuple[tuple[str, str | None], ...] = ()  # what the token carries beyond its kind

    def token(self) -> str:
        if self.kind == "service":
            return service_role_key(JWT_SECRET)
        if self.tenant is None:
            return mint(JWT_SECRET, {"role": "anon", "iss": "supabase", **dict(self.extra_claims)})
        return tenant_token(JWT_SECRET, self.tenant, dict(self.extra_claims))

    def victims(self, table: Table, world: World) -> list[Tenant]:
        """The other tenants that own a row of this table."""
        return [t for t in TENANTS if t != self.tenant and (table.name, t.name) in world.rows]


ACTORS = [
    Actor("anon_key", "anon", None),
    *(Actor(t.name, t.kind, t) for t in TENANTS),
    Actor("anon_naming_user_a", "anon", None, (("sub", USER_A.user_id),)),
    Actor("user_b_claiming_guest_a", "user", USER_B, (("guest_session", GUEST_A.session_id),)),
    Actor("service_role", "service", None),
]
CLIENTS = [actor for actor in ACTORS if actor.kind != "service"]
OWNERS = [
    pytest.param(table, actor, id=f"{table.name}-{actor.name}")
    for table in TABLES
    for actor in ACTORS
    if actor.kind in table.owners
]


class Api:
    """PostgREST as an attacker reaches it: the public anon key plus a bearer token.

    Writes ask for `return=minimal`, as an attacker would, so that only the write policies (not
    the read policies a returned row must also pass) stand between them and the data.
    """

    def __init__(self, client: httpx.Client, token: str) -> None:
        self.client = client
        self.headers = {"apikey": anon_key(JWT_SECRET), "Authorization": f"Bearer {token}"}

    def _write(self, method: str, table: Table, params: dict[str, str], body: Any) -> Any:
        """DENIED, or how many rows the write touched (it is rolled back either way)."""
        response = self.client.request(
            method,
            f"/{table.name}",
            params=params,
            json=body,
            headers={**self.headers, "Prefer": "return=minimal,count=exact,tx=rollback"},
        )
        if response.status_code in (401, 403):
            return DENIED
        assert response.is_success, f"{response.status_code}: {response.text}"
        assert "tx=rollback" in response.headers["Preference-Applied"]
        return int(response.headers["Content-Range"].rpartition("/")[2])

    def select(self, table: Table) -> Any:
        """DENIED, or the keys of the rows the caller sees."""
        response = self.client.get(
            f"/{table.name}", params={"select": table.key}, headers=self.headers
        )
        if response.status_code in (401, 403):
            return DENIED
        assert response.is_success, f"{response.status_code}: {response.text}"
        return {row[table.key] for row in response.json()}

    def insert(self, table: Table, row: dict[str, Any]) -> Any:
        return self._write("POST", table, {}, row)

    def update(self, table: Table, key: Any, values: dict[str, Any]) -> Any:
        return self._write("PATCH", table, {table.key: f"eq.{key}"}, values)

    def delete(self, table: Table, key: Any) -> Any:
        return self._write("DELETE", table, {table.key: f"eq.{key}"}, None)


@pytest.fixture(scope="module")
def world(database_url: str) -> World:
    world = build_world(database_url)
    # Media's outbox of stored objects to delete: one queued by deleting an image, owned by no
    # tenant (only the service role reaches it).
    with psycopg.connect(database_url, autocommit=True) as conn:
        image = conn.execute(
            "insert into public.images (project_id, filename, file_path)"
            " values (%s, 'old.png', 'user_a/old.png') returning id",
            (world.row("app_projects", USER_A.name),),
        ).fetchone()
        assert image is not None
        conn.execute("delete from public.images where id = %s", (image[0],))
        [queued] = conn.execute(
            "select id::text from public.storage_deletions where file_path = 'user_a/old.png'"
        ).fetchall()
    world.rows[("storage_deletions", "shared")] = queued[0]
    world.owned.setdefault(("storage_deletions", "shared"), set()).add(queued[0])
    return world


@pytest.fixture(scope="module")
def http(postgrest_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=postgrest_url, timeout=10) as client:
        yield client


def api_for(http: httpx.Client, actor: Actor) -> Api:
    return Api(http, actor.token())


def own_key(table: Table, world: World, actor: Actor) -> Any:
    assert actor.tenant is not None
    return world.row(table.name, actor.tenant.name)


# Reads -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", CLIENTS, ids=lambda a: a.name)
@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_clients_read_only_their_own_and_shared_rows(
    table: Table, actor: Actor, world: World, http: httpx.Client
) -> None:
    expected: set[Any] = set()
    if actor.tenant is not None and "s" in table.rights(actor.kind):
        expected |= world.keys(table.name, actor.tenant.name)
    if actor.kind in table.shared_readers:
        expected |= world.keys(table.name, "shared")

    seen = api_for(http, actor).select(table)

    if expected:
        assert seen == expected
    else:
        assert seen in (DENIED, set()), f"{actor.name} sees {table.name} rows {seen}"


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_service_role_reads_every_tenants_rows_where_allowed(
    table: Table, world: World, http: httpx.Client
) -> None:
    seen = api_for(http, ACTORS[-1]).select(table)

    if "s" in table.service_rights:
        # Other tests share the database, so the service role may see more than this world.
        assert seen != DENIED
        assert world.keys(table.name) <= seen
    else:
        assert seen == DENIED


# Inserts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", CLIENTS, ids=lambda a: a.name)
@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_clients_insert_own_rows_only_where_allowed(
    table: Table, actor: Actor, world: World, http: httpx.Client
) -> None:
    allowed = "i" in table.rights(actor.kind)

    result = api_for(http, actor).insert(table, table.new_row(world, actor.tenant))

    if allowed:
        assert result == 1
    else:
        assert result == DENIED


@pytest.mark.parametrize("actor", CLIENTS, ids=lambda a: a.name)
@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_no_client_inserts_a_row_belonging_to_another_tenant(
    table: Table, actor: Actor, world: World, http: httpx.Client
) -> None:
    api = api_for(http, actor)
    for victim in actor.victims(table, world):
        result = api.insert(table, table.new_row(world, victim))

        assert result == DENIED, f"{actor.name} created a {table.name} row of {victim.name}"


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_service_role_inserts_for_any_tenant_where_allowed(
    table: Table, world: World, http: httpx.Client
) -> None:
    result = api_for(http, ACTORS[-1]).insert(table, table.new_row(world, USER_A))

    if "i" in table.service_rights:
        assert result == 1
    else:
        assert result == DENIED


# Updates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "actor"), OWNERS)
def test_tenants_update_own_rows_only_where_allowed(
    table: Table, actor: Actor, world: World, http: httpx.Client
) -> None:
    key = own_key(table, world, actor)

    result = api_for(http, actor).update(table, key, table.change)

    if "u" in table.rights(actor.kind):
        assert result == 1
    else:
        assert result in (DENIED, 0)


@pytest.mark.parametrize("actor", CLIENTS, ids=lambda a: a.name)
@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_no_client_updates_another_tenants_rows(
    table: Table, actor: Actor, world: World, http: httpx.Client
) -> None:
    api = api_for(http, actor)
    for victim in actor.victims(table, world):
        result = api.update(table, world.row(table.name, victim.name), table.change)

        assert result in (DENIED, 0), f"{actor.name} updated {victim.name}'s {table.name}"


@pytest.mark.parametrize(("table", "actor"), OWNERS)
def test_no_tenant_moves_its_row_to_another_tenant(
    table: Table, actor: Actor, world: World, http: httpx.Client
) -> None:
    key = own_key(table, world, actor)
    api = api_for(http, actor)
    for victim in actor.victims(table, world):
        move = table.moved_to(world, victim)
        assert move, f"no way to name {victim.name} in {table.name}"

        result = api.update(table, key, move)

        assert result == DENIED, f"{actor.name} moved its {table.name} row to {victim.name}"


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_service_role_updates_any_row_where_allowed(
    table: Table, world: World, http: httpx.Client
) -> None:
    key = next(key for (name, _owner), key in world.rows.items() if name == table.name)

    result = api_for(http, ACTORS[-1]).update(table, key, table.change)

    if "u" in table.service_rights:
        assert result == 1
    else:
        assert result == DENIED


# Deletes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "actor"), OWNERS)
def test_tenants_delete_own_rows_only_where_allowed(
    table: Table, actor: Actor, world: World, http: httpx.Client
) -> None:
    key = own_key(table, world, actor)

    result = api_for(http, actor).delete(table, key)

    if "d" in table.rights(actor.kind):
        assert result == 1
    else:
        assert result in (DENIED, 0)


@pytest.mark.parametrize("actor", CLIENTS, ids=lambda a: a.name)
@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_no_client_deletes_another_tenants_rows(
    table: Table, actor: Actor, world: World, http: httpx.Client
) -> None:
    api = api_for(http, actor)
    for victim in actor.victims(table, world):
        result = api.delete(table, world.row(table.name, victim.name))

        assert result in (DENIED, 0), f"{actor.name} deleted {victim.name}'s {table.name}"


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_service_role_deletes_any_row_where_allowed(
    table: Table, world: World, http: httpx.Client
) -> None:
    key = next(key for (name, _owner), key in world.rows.items() if name == table.name)

    result = api_for(http, ACTORS[-1]).delete(table, key)

    if "d" in table.service_rights:
        assert result == 1
    else:
        assert result == DENIED


# Rules beyond the matrix -----------------------------------------------------------------------

SECRET_USER_COLUMNS = ("password_hash", "verification_token_hash", "github_token")
USERS = TABLES[0]


@pytest.mark.parametrize("column", SECRET_USER_COLUMNS)
def test_users_cannot_read_their_own_secret_columns(
    column: str, world: World, http: httpx.Client
) -> None:
    api = api_for(http, Actor("user_a", "user", USER_A))

    read = http.get("/users", params={"select": column}, headers=api.headers)
    probe = http.get("/users", params={"select": "id", column: "not.is.null"}, headers=api.headers)

    assert (read.status_code, probe.status_code) == (403, 403)


USER_ACTORS = [actor for actor in ACTORS if actor.kind == "user"]
SERVICE = ACTORS[-1]


@pytest.mark.parametrize("column", ["diamonds", "tier"])
@pytest.mark.parametrize("actor", [*USER_ACTORS, SERVICE], ids=lambda a: a.name)
def test_no_role_writes_balance_or_tier(
    column: str, actor: Actor, world: World, http: httpx.Client
) -> None:
    value = 1_000_000 if column == "diamonds" else "admin"

    result = api_for(http, actor).update(USERS, world.row("users", "user_a"), {column: value})

    assert result == DENIED


@pytest.mark.parametrize("actor", [a for a in ACTORS if a.tenant], ids=lambda a: a.name)
def test_tenant_columns_default_to_the_caller(actor: Actor, http: httpx.Client) -> None:
    assert actor.tenant is not None
    response = http.post(
        "/app_projects",
        params={"select": "user_id,session_id"},
        json={"name": "Defaults"},
        headers={
            **api_for(http, actor).headers,
            "Prefer": "return=representation,tx=rollback",
        },
    )

    assert response.status_code == 201
    assert response.json() == [actor.tenant.owner()]


def test_a_deployment_cannot_name_another_tenants_version(world: World, http: httpx.Client) -> None:
    deployments = next(table for table in TABLES if table.name == "deployments")
    mixed = {**deployments.new_row(world, USER_A), "version_id": world.row("versions", "user_b")}

    result = api_for(http, USER_ACTORS[0]).insert(deployments, mixed)

    assert result == DENIED


def test_only_admins_read_page_views(database_url: str, world: World, http: httpx.Client) -> None:
    admin = Tenant("admin", "user", user_id=str(uuid.uuid4()))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.users (id, email, tier) values (%s, 'admin@example.com', 'admin')",
            (admin.user_id,),
        )
        try:
            page_views = next(table for table in TABLES if table.name == "page_views")

            seen = api_for(http, Actor("admin", "user", admin)).select(page_views)
            # every view, the world's and any other test's in this database
            stored = {row[0] for row in conn.execute("select id from public.page_views")}
        finally:
            conn.execute("delete from public.users where id = %s", (admin.user_id,))

    assert seen == stored
    assert world.keys("page_views") <= seen


# v0's ids a tenant records; each is unique only under its owner's project or chat.
OWNER_SCOPED_IDS = [
    ("projects", "v0_project_id"),
    ("chats", "v0_chat_id"),
    ("versions", "v0_version_id"),
]


@pytest.mark.parametrize(("table_name", "column"), OWNER_SCOPED_IDS)
@pytest.mark.parametrize(
    ("tenant", "other"), [(USER_B, USER_A), (GUEST_B, GUEST_A)], ids=["user", "guest"]
)
def test_an_id_another_tenant_recorded_is_free_for_mine(
    table_name: str, column: str, tenant: Tenant, other: Tenant, world: World, http: httpx.Client
) -> None:
    # given the id another tenant recorded
    table = next(table for table in TABLES if table.name == table_name)
    [recorded] = http.get(
        f"/{table_name}",
        params={"select": column, "id": f"eq.{world.row(table_name, other.name)}"},
        headers=api_for(http, SERVICE).headers,
    ).json()

    # when the tenant records the same id in its own project or chat
    result = api_for(http, Actor(tenant.name, tenant.kind, tenant)).insert(
        table, {**table.new_row(world, tenant), column: recorded[column]}
    )

    # then it is stored: no conflict tells it the id exists, or lets the other tenant squat it
    assert result == 1
