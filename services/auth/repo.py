"""The auth service's queries, in the shared repository vocabulary.

Credentials (password hashes, token hashes, the outbox) are out of every client's reach, so
`AuthRepository` runs as the service role: the one place in auth that bypasses row-level
security, for paths that have no signed-in user yet. What a caller reads about itself goes
through `AccountRepository`, as that caller, under row-level security.
"""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from services.auth.models import EmailTaken, GuestUsage, PublicUser
from shared.config import Settings
from shared.data.plane import DataPlane
from shared.data.query import Insert, Rpc, Select, Update, eq, is_
from shared.data.rows import row_as
from shared.errors import Conflict
from shared.identity import Caller

USER_COLUMNS = (
    "id",
    "email",
    "password_hash",
    "name",
    "image",
    "provider",
    "google_id",
    "github_id",
    "github_username",
    "diamonds",
    "tier",
    "email_verified",
    "disabled_at",
    "created_at",
)
PUBLIC_USER_COLUMNS = (
    "id",
    "email",
    "name",
    "image",
    "provider",
    "diamonds",
    "tier",
    "email_verified",
    "github_username",
    "created_at",
)


class UserRecord(msgspec.Struct, frozen=True):
    """A user as the service role sees it: identity columns and the password hash."""

    id: UUID
    email: str
    password_hash: str | None
    name: str | None
    image: str | None
    provider: str
    google_id: str | None
    github_id: str | None
    github_username: str | None
    diamonds: int
    tier: str
    email_verified: bool
    disabled_at: datetime | None
    created_at: datetime

    @property
    def public(self) -> PublicUser:
        """What the user may see of itself (no secrets)."""
        return row_as(PublicUser, msgspec.structs.asdict(self))


class Rotation(msgspec.Struct, frozen=True):
    """What `rotate_refresh_token` did: 'rotated', 'reused', 'revoked', 'expired', 'disabled'
    or 'unknown', and whose token it was (None when unknown)."""

    outcome: str
    user_id: UUID | None


def service_caller(settings: Settings) -> Caller:
    """The service role, for server paths that have no user (reviewed uses only)."""
    if settings.data_plane == "postgrest" and not settings.supabase_service_role_key:
        raise ValueError("the auth service needs SUPABASE_SERVICE_ROLE_KEY on the postgrest plane")
    return Caller(
        role="service_role",
        claims={"role": "service_role"},
        token=settings.supabase_service_role_key,
    )


class AuthRepository:
    """Credentials and accounts, run as the service role."""

    def __init__(self, data: DataPlane, settings: Settings) -> None:
        self.data = data
        self.caller = service_caller(settings)

    async def _rows(self, query: Select | Insert | Update | Rpc) -> list[dict[str, Any]]:
        return (await self.data.run(self.caller, query)).rows

    async def user_by_email(self, email: str) -> UserRecord | None:
        """The user with this (normalized: trimmed, lower-case) email."""
        rows = await self._rows(Select("users", USER_COLUMNS, filters=(eq("email", email),)))
        return row_as(UserRecord, rows[0]) if rows else None

    async def user_by_id(self, user_id: UUID) -> UserRecord | None:
        rows = await self._rows(Select("users", USER_COLUMNS, filters=(eq("id", str(user_id)),)))
        return row_as(UserRecord, rows[0]) if rows else None

    async def user_by_google_id(self, google_id: str) -> UserRecord | None:
        rows = await self._rows(
            Select("users", USER_COLUMNS, filters=(eq("google_id", google_id),))
        )
        return row_as(UserRecord, rows[0]) if rows else None

    async def create_user(
        self,
        email: str,
        *,
        password_hash: str | None = None,
        name: str | None = None,
        image: str | None = None,
        provider: str = "email",
        google_id: str | None = None,
        email_verified: bool = False,
        verification_token_hash: str | None = None,
        verification_expires_at: datetime | None = None,
    ) -> UserRecord:
        """A new user; `EmailTaken` (409) when the email (or Google account) is registered."""
        row = {
            "email": email,
            "password_hash": password_hash,
            "name": name,
            "image": image,
            "provider": provider,
            "google_id": google_id,
            "email_verified": email_verified,
            "verification_token_hash": verification_token_hash,
            "verification_expires_at": _timestamp(verification_expires_at),
        }
        try:
            rows = await self._rows(Insert("users", (row,), USER_COLUMNS))
        except Conflict:
            raise EmailTaken("An account with this email already exists.") from None
        return row_as(UserRecord, rows[0])

    async def update_user(self, user_id: UUID, values: dict[str, Any]) -> UserRecord | None:
        """Set identity columns (those the service role may write) of one user."""
        rows = await self._rows(
            Update(
                "users",
                {column: _timestamp(value) for column, value in values.items()},
                filters=(eq("id", str(user_id)),),
                columns=USER_COLUMNS,
            )
        )
        return row_as(UserRecord, rows[0]) if rows else None

    async def verify_email(self, token_hash: str) -> UUID | None:
        """Mark the unexpired token's user verified and grant the signup bonus (once, in SQL)."""
        rows = await self._rows(Rpc("verify_email", {"p_token_hash": token_hash}))
        return UUID(rows[0]["user_id"]) if rows else None

    async def grant_signup_bonus(self, user_id: UUID) -> int:
        """Credit the signup bonus once per user; the balance afterwards."""
        rows = await self._rows(Rpc("grant_signup_bonus", {"p_user_id": str(user_id)}))
        return int(rows[0]["grant_signup_bonus"])

    async def claim_guest_session(self, user_id: UUID, session_id: str) -> int:
        """Move the guest session's work to the user, once; how many rows moved."""
        rows = await self._rows(
            Rpc("claim_guest_session", {"p_user_id": str(user_id), "p_session_id": session_id})
        )
        return int(rows[0]["claim_guest_session"])

    async def enqueue_email(
        self, to: str, subject: str, text: str, html: str | None = None
    ) -> None:
        """Queue a message for the outbox sender."""
        row = {"to_address": to, "subject": subject, "body_text": text, "body_html": html}
        await self.data.run(self.caller, Insert("email_outbox", (row,), returning=False))

    async def store_refresh_token(
        self, user_id: UUID, family_id: UUID, token_hash: str, expires_at: datetime
    ) -> None:
        row = {
            "user_id": str(user_id),
            "family_id": str(family_id),
            "token_hash": token_hash,
            "expires_at": expires_at.isoformat(),
        }
        await self.data.run(self.caller, Insert("refresh_tokens", (row,), returning=False))

    async def rotate_refresh_token(
        self, token_hash: str, new_token_hash: str, expires_at: datetime
    ) -> Rotation:
        """Exchange a refresh token for its successor; reuse revokes the family (in SQL)."""
        rows = await self._rows(
            Rpc(
                "rotate_refresh_token",
                {
                    "p_token_hash": token_hash,
                    "p_new_token_hash": new_token_hash,
                    "p_expires_at": expires_at.isoformat(),
                },
            )
        )
        return row_as(Rotation, rows[0])

    async def revoke_refresh_family(self, token_hash: str) -> UUID | None:
        """Revoke every token descending from the same login as this one; its user, if known."""
        rows = await self._rows(
            Select(
                "refresh_tokens", ("user_id", "family_id"), filters=(eq("token_hash", token_hash),)
            )
        )
        if not rows:
            return None
        await self.data.run(
            self.caller,
            Update(
                "refresh_tokens",
                {"revoked_at": datetime.now(UTC).isoformat()},
                filters=(eq("family_id", rows[0]["family_id"]), is_("revoked_at", None)),
                returning=False,
            ),
        )
        return UUID(rows[0]["user_id"])

    async def create_password_reset(
        self, user_id: UUID, token_hash: str, expires_at: datetime
    ) -> None:
        row = {
            "user_id": str(user_id),
            "token_hash": token_hash,
            "expires_at": expires_at.isoformat(),
        }
        await self.data.run(self.caller, Insert("password_reset_tokens", (row,), returning=False))

    async def reset_password(self, token_hash: str, password_hash: str) -> UUID | None:
        """Spend the reset token: new password, every refresh token revoked (in SQL)."""
        rows = await self._rows(
            Rpc("reset_password", {"p_token_hash": token_hash, "p_password_hash": password_hash})
        )
        return UUID(rows[0]["user_id"]) if rows else None


class AccountRepository:
    """What a caller reads about itself, as itself, under row-level security."""

    def __init__(self, data: DataPlane, caller: Caller) -> None:
        self.data = data
        self.caller = caller

    async def user(self, user_id: UUID) -> PublicUser | None:
        rows = await self._rows(
            Select("users", PUBLIC_USER_COLUMNS, filters=(eq("id", str(user_id)),))
        )
        return row_as(PublicUser, rows[0]) if rows else None

    async def update_profile(self, user_id: UUID, changes: dict[str, str | None]) -> PublicUser:
        """Row-level security lets users change their own name and image, nothing else."""
        rows = (
            await self.data.run(
                self.caller,
                Update("users", changes, (eq("id", str(user_id)),), columns=PUBLIC_USER_COLUMNS),
            )
        ).rows
        return row_as(PublicUser, rows[0])

    async def guest_usage(self, session_id: str) -> GuestUsage:
        """The guest's usage; none yet (the row is created lazily) counts as nothing used."""
        rows = await self._rows(
            Select(
                "guest_usage",
                ("generations_used", "refines_used"),
                filters=(eq("session_id", session_id),),
            )
        )
        return GuestUsage.of(**rows[0]) if rows else GuestUsage.of(0, 0)

    async def _rows(self, query: Select) -> list[dict[str, Any]]:
        return (await self.data.run(self.caller, query)).rows


def _timestamp(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
