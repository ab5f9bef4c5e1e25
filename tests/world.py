"""The people and things tests are about, built one way for every test folder.

A user is a verified account written as the database owner (no mail, no password round trip);
a guest is a fresh `sess_<uuid>`; each has an access token signed as the auth service signs
them, a bearer header and a data-plane `Caller`. A site is an app project one of them owns.

    alice = a_user(database_url)
    [bakery] = sites(database_url, alice, "Bakery")
    response = await client.get("/projects", headers=bearer(alice))
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
import psycopg
from httpx import Response
from psycopg import sql

from shared.identity import Caller
from tests.conftest import JWT_SECRET
from tests.tenancy import Tenant, service_role_key, tenant_token


@dataclass(frozen=True)
class Person(Tenant):
    """A user (`user_id` set) or a guest (`session_id` set), as the attack tests' tenants are."""

    @property
    def guest_session(self) -> str | None:
        return self.session_id

    @property
    def email(self) -> str | None:
        return f"{self.name}@example.com" if self.kind == "user" else None

    @property
    def token(self) -> str:
        """An access token for this person, valid for an hour."""
        return tenant_token(JWT_SECRET, self)

    @property
    def caller(self) -> Caller:
        """This person as a data plane's caller: the claims of its token, and the token."""
        token = self.token
        claims = jwt.decode(token, options={"verify_signature": False})
        return Caller(role=claims["role"], claims=claims, token=token)


def a_user(database_url: str, *, verified: bool = True, **columns: Any) -> Person:
    """A new account in `database_url`'s users table (verified unless told otherwise), with any
    further `columns` (e.g. `tier="pro"`, `disabled_at=...`)."""
    user_id = str(uuid.uuid4())
    person = Person(f"user-{user_id[:12]}", "user", user_id=user_id)
    values = {"id": user_id, "email": person.email, "email_verified": verified, **columns}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("insert into public.users ({}) values ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, values)),
                sql.SQL(", ").join(sql.Placeholder() * len(values)),
            ),
            list(values.values()),
        )
    return person


def a_guest() -> Person:
    """A new guest session (its usage row is created lazily, as the auth service does)."""
    session = f"sess_{uuid.uuid4()}"
    return Person(f"guest-{session[5:17]}", "guest", session_id=session)


def bearer(who: Person | str) -> dict[str, str]:
    """The Authorization header of a person, or of a bare token."""
    token = who if isinstance(who, str) else who.token
    return {"Authorization": f"Bearer {token}"}


def service_role() -> Caller:
    """The service role as a data plane's caller."""
    claims = {"role": "service_role"}
    return Caller(role="service_role", claims=claims, token=service_role_key(JWT_SECRET))


def sites(database_url: str, owner: Person, *names: str) -> list[str]:
    """App projects of `owner`, created in the given order a minute apart (the last is newest);
    their ids."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return [
            str(
                conn.execute(
                    "insert into public.app_projects (user_id, session_id, name, created_at)"
                    " values (%s, %s, %s, now() - %s * interval '1 minute') returning id",
                    (owner.user_id, owner.session_id, name, len(names) - position),
                ).fetchone()[0]  # type: ignore[index]
            )
            for position, name in enumerate(names)
        ]


SESSION_NEWS_S = 1.0


async def once_heard(ask: Callable[[], Awaitable[Response]]) -> Response:
    """`ask()`'s answer once it is no longer 200, or its last 200 after SESSION_NEWS_S: a service
    that remembers live sessions (`shared.session_watch`) hears of a session's end through the
    database's notification, which reaches it a moment after the commit (well under a millisecond
    on a quiet machine, longer on a busy one)."""
    deadline = time.monotonic() + SESSION_NEWS_S
    while True:
        response = await ask()
        if response.status_code != 200 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.01)
