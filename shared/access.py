"""Who may call a route, and as whom its repositories run: dependencies every service uses.

Registered app-wide by `create_service_app`, so a handler states its access in its signature:

    async def checkout(user: NamedDependency[SignedInUser], wallet: NamedDependency[Wallet]): ...

    dependencies = {
        "wallet": as_caller(WalletRepository),        # row-level security as the caller
        "ledger": as_service_role(LedgerRepository),  # reviewed: the webhook has no user
        "payments": from_state("payments"),           # a domain object the lifespan built
    }

`user` accepts signed-in users only, `owner` users and guests; both answer anyone else with the
one `SignInRequired` 401, and refuse (401 `session_ended`) a user token whose user is deleted or
disabled or whose session has ended, asking the database as that user: a token outlives logout
by up to its lifetime, the database's session state does not. On the direct plane the answer
"live" is remembered briefly while the database can tell of changes (`shared.session_watch`).
"""

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from shared.config import Settings
from shared.data.plane import DataPlane
from shared.data.query import Rpc
from shared.data.repository import Repository
from shared.errors import SessionEnded, SignInRequired
from shared.identity import Caller, service_caller
from shared.session_watch import SessionWatch

RepositoryT = TypeVar("RepositoryT", bound=Repository)

SESSION_IS_ACTIVE = Rpc("current_session_is_active")
"""True while the caller's user exists, is not disabled, and its token's session has not ended
(owner: auth's migration; executable by `authenticated`)."""


class SignedInUser(msgspec.Struct, frozen=True):
    """A signed-in user whose session is live."""

    id: uuid.UUID
    email: str | None
    session_id: uuid.UUID | None
    """The sign-in session the token names (Supabase's `session_id` claim), when it names one."""
    caller: Caller


class Owner(msgspec.Struct, frozen=True):
    """Whoever may own sites: a signed-in user (`user_id`) or a guest (`guest_session`)."""

    user_id: uuid.UUID | None
    guest_session: str | None
    caller: Caller


async def provide_user(
    caller: NamedDependency[Caller],
    data_plane: NamedDependency[DataPlane],
    session_watch: NamedDependency[SessionWatch],
) -> SignedInUser:
    """The signed-in user; 401 `unauthorized` for anyone else, `session_ended` for a token
    whose user or session is gone."""
    user_id = caller.user_id
    if user_id is None:
        raise SignInRequired()
    await _require_live_session(data_plane, session_watch, caller)
    email = caller.claims.get("email")
    return SignedInUser(
        id=user_id,
        email=email if isinstance(email, str) else None,
        session_id=_uuid_or_none(caller.claims.get("session_id")),
        caller=caller,
    )


async def provide_owner(
    caller: NamedDependency[Caller],
    data_plane: NamedDependency[DataPlane],
    session_watch: NamedDependency[SessionWatch],
) -> Owner:
    """The user (its session checked as for `user`) or the guest; 401 for anyone else."""
    if caller.user_id is not None:
        await _require_live_session(data_plane, session_watch, caller)
    elif caller.guest_session is None:
        raise SignInRequired()
    return Owner(user_id=caller.user_id, guest_session=caller.guest_session, caller=caller)


def as_caller(repository: type[RepositoryT]) -> Provide:
    """A dependency giving `repository` run as the request's caller, under row-level security."""

    def provide(caller: NamedDependency[Caller], data_plane: NamedDependency[DataPlane]) -> Any:
        return repository(data_plane, caller)

    return _provider(provide, repository)


def as_service_role(repository: type[RepositoryT]) -> Provide:
    """A dependency giving `repository` run as the service role, which bypasses row-level
    security: for paths with no user (webhooks, workers, credential look-ups), each reviewed."""

    def provide(settings: NamedDependency[Settings], data_plane: NamedDependency[DataPlane]) -> Any:
        return repository(data_plane, service_caller(settings))

    return _provider(provide, repository)


def from_state(name: str) -> Provide:
    """A dependency giving the domain object a service's lifespan built once as `state.<name>`
    (e.g. auth's `Sessions`, billing's `Wallet`)."""

    def provide(state: State) -> Any:
        return state[name]

    provide.__name__ = provide.__qualname__ = f"provide_{name}"
    return Provide(provide, sync_to_thread=False)


def _provider(provide: Callable[..., Any], repository: type[Repository]) -> Provide:
    # Litestar reads the return annotation (e.g. for its dependency checks), so it names the class.
    provide.__annotations__["return"] = repository
    provide.__name__ = provide.__qualname__ = f"provide_{repository.__name__}"
    return Provide(provide, sync_to_thread=False)


async def _require_live_session(data: DataPlane, watch: SessionWatch, caller: Caller) -> None:
    if watch.is_live(caller):
        return
    asked_at = time.monotonic()
    rows = (await data.run(caller, SESSION_IS_ACTIVE)).rows
    if not rows or rows[0].get(SESSION_IS_ACTIVE.function) is not True:
        raise SessionEnded()
    watch.remember(caller, asked_at)


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None
