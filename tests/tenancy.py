"""The tenants of the attack tests, their tokens, and a world of rows each of them owns.

The world is written once per session as the database owner. Attacks go through real PostgREST
with `Prefer: tx=rollback`, so no attack ever changes it.
"""

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

TOKEN_LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class Tenant:
    """A user (kind "user") or a guest session (kind "guest")."""

    name: str
    kind: str
    user_id: str | None = None
    session_id: str | None = None

    def owner(self, columns: tuple[str, ...] = ("user_id", "session_id")) -> dict[str, Any]:
        """The tenant `columns` of a row this tenant owns: its own id, the others empty."""
        values = {"user_id": self.user_id, "session_id": self.session_id}
        return {column: values[column] for column in columns}


def _name_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sajtmaskin-tests/{name}"))


USER_A = Tenant("user_a", "user", user_id=_name_uuid("user_a"))
USER_B = Tenant("user_b", "user", user_id=_name_uuid("user_b"))
GUEST_A = Tenant("guest_a", "guest", session_id=f"sess_{_name_uuid('guest_a')}")
GUEST_B = Tenant("guest_b", "guest", session_id=f"sess_{_name_uuid('guest_b')}")
TENANTS = (USER_A, USER_B, GUEST_A, GUEST_B)


def mint(secret: str, claims: dict[str, Any]) -> str:
    """An HS256 token as the auth service and Supabase issue them."""
    now = int(time.time())
    return jwt.encode({"iat": now, "exp": now + TOKEN_LIFETIME_SECONDS, **claims}, secret, "HS256")


def anon_key(secret: str) -> str:
    return mint(secret, {"role": "anon", "iss": "supabase"})


def service_role_key(secret: str) -> str:
    return mint(secret, {"role": "service_role", "iss": "supabase"})


def tenant_token(secret: str, tenant: Tenant, extra_claims: Mapping[str, Any] | None = None) -> str:
    """The tenant's access token, plus any `extra_claims` an attacker would add."""
    if tenant.kind == "user":
        claims = {
            "role": "authenticated",
            "aud": "authenticated",
            "sub": tenant.user_id,
            "email": f"{tenant.name}@example.com",
        }
    else:
        claims = {"role": "anon", "guest_session": tenant.session_id}
    return mint(secret, {**claims, **(extra_claims or {})})


@dataclass
class World:
    """Which row of each table each tenant owns, by the table's key column."""

    rows: dict[tuple[str, str], Any] = field(default_factory=dict)
    owned: dict[tuple[str, str], set[Any]] = field(default_factory=dict)

    def row(self, label: str, owner: str) -> Any:
        """The key of `owner`'s row known as `label`: its table, or the label given on insert."""
        return self.rows[(label, owner)]

    def keys(self, table: str, owner: str | None = None) -> set[Any]:
        """Keys of every row in `table` owned by `owner`, or by anyone when `owner` is None."""
        return {
            key
            for (name, who), keys in self.owned.items()
            if name == table and owner in (None, who)
            for key in keys
        }


class _Writer:
    def __init__(self, conn: psycopg.Connection[Any], world: World) -> None:
        self.conn = conn
        self.world = world

    def insert(
        self, table: str, owner: str, values: dict[str, Any], *, key: str = "id", label: str = ""
    ) -> Any:
        """Insert a row and remember its key as the `label` (default: table) row of `owner`."""
        query = sql.SQL("insert into public.{} ({}) values ({}) returning {}").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.Placeholder() * len(values)),
            sql.Identifier(key),
        )
        params = [Jsonb(v) if isinstance(v, dict) else v for v in values.values()]
        row = self.conn.execute(query, params).fetchone()
        assert row is not None
        # Keys as PostgREST renders them in JSON: uuids as strings, identities as numbers.
        key_value = row[0] if isinstance(row[0], int) else str(row[0])
        self.world.rows[(label or table, owner)] = key_value
        self.world.owned.setdefault((table, owner), set()).add(key_value)
        return key_value

    def adopt(self, table: str, owner: str, *, key: str = "id") -> None:
        """Remember the rows already in `table` (a migration's reference data) as `owner`'s."""
        query = sql.SQL("select {} from public.{}").format(
            sql.Identifier(key), sql.Identifier(table)
        )
        keys = {row[0] for row in self.conn.execute(query).fetchall()}
        assert keys, f"{table} holds no rows to adopt"
        self.world.rows[(table, owner)] = min(keys)
        self.world.owned.setdefault((table, owner), set()).update(keys)


def build_world(database_url: str) -> World:
    """Rows in every table for each tenant, plus rows owned by no tenant ("shared"): a cached
    template, the prices and credit packages, a handled Stripe event."""
    world = World()
    with psycopg.connect(database_url) as conn:
        write = _Writer(conn, world)
        for tenant in TENANTS:
            name = tenant.name
            if tenant.kind == "user":
                write.insert(
                    "users",
                    name,
                    {
                        "id": tenant.user_id,
                        "email": f"{name}@example.com",
                        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$secret-hash",
                        "verification_token_hash": f"secret-token-hash-{name}",
                        "github_token": f"gho_secret_{name}",
                        "diamonds": 10,
                    },
                )
                write.insert(
                    "transactions",
                    name,
                    {
                        "user_id": tenant.user_id,
                        "type": "signup_bonus",
                        "amount": 10,
                        "balance_after": 10,
                    },
                )
            else:
                write.insert("guest_usage", name, {"session_id": tenant.session_id})
                write.insert(
                    "guest_charges",
                    name,
                    {
                        "session_id": tenant.session_id,
                        "action": "generate",
                        "idempotency_key": name,
                    },
                )

            owner = tenant.owner()
            site = write.insert("app_projects", name, {**owner, "name": f"Site of {name}"})
            # A second site with nothing attached, for inserts of one-per-site rows.
            write.insert("app_projects", name, {**owner, "name": "Empty site"}, label="bare_site")
            write.insert(
                "project_data",
                name,
                {"project_id": site, "demo_url": "https://demo.example.com"},
                key="project_id",
            )
            write.insert(
                "project_files",
                name,
                {"project_id": site, "path": "app/page.tsx", "size_bytes": 10},
            )
            write.insert(
                "company_profiles", name, {"project_id": site, "company_name": f"{name} AB"}
            )
            write.insert(
                "prompt_handoffs", name, {**owner, "project_id": site, "prompt": "A bakery site"}
            )

            project = write.insert("projects", name, {**owner, "v0_project_id": f"v0_{name}"})
            chat = write.insert(
                "chats", name, {"project_id": project, "v0_chat_id": f"chat_{name}"}
            )
            version = write.insert(
                "versions", name, {"chat_id": chat, "v0_version_id": f"ver_{name}"}
            )
            write.insert(
                "deployments", name, {"project_id": project, "chat_id": chat, "version_id": version}
            )

            if tenant.kind == "user":
                write.insert(
                    "images",
                    name,
                    {"project_id": site, "filename": "logo.png", "file_path": f"{name}/logo.png"},
                )
                write.insert(
                    "media_library",
                    name,
                    {
                        "user_id": tenant.user_id,
                        "filename": "hero.png",
                        "original_name": "hero.png",
                        "file_path": f"{name}/media/hero.png",
                        "mime_type": "image/png",
                        "file_type": "image",
                        "size_bytes": 100,
                    },
                )
                write.insert(
                    "user_audits",
                    name,
                    {
                        "user_id": tenant.user_id,
                        "url": "https://example.com",
                        "domain": "example.com",
                    },
                )
                write.insert(
                    "domain_orders",
                    name,
                    {"user_id": tenant.user_id, "project_id": site, "domain": f"{name}.se"},
                )
                write.insert(
                    "template_cache", name, {"user_id": tenant.user_id, "template_id": "bakery"}
                )
                write.insert("page_views", name, {"user_id": tenant.user_id, "path": "/"})
        write.insert("template_cache", "shared", {"user_id": None, "template_id": "bakery"})
        write.adopt("prices", "shared", key="action")
        write.adopt("credit_packages", "shared")
        write.insert(
            "stripe_events", "shared", {"id": "evt_world", "type": "checkout.session.completed"}
        )
    return world
