"""The auth service's queries, in the shared repository vocabulary.

Credentials (password hashes, token hashes, the outbox) are out of every client's reach, so
`AuthRepository` runs as the service role: the one place in auth that bypasses row-level
security, for paths that have no signed-in user yet. What a caller reads or changes about itself
goes through `AccountRepository`, as that caller, under row-level security.
"""

from datetime import UTC, datetime
from uuid import UUID

import msgspec

from services.auth.mail import Mail
from services.auth.models import EmailTaken, PublicUser
from shared.data.query import Insert, Rpc, Select, Update, eq, is_
from shared.data.repository import Repository
from shared.data.rows import row_as
from shared.errors import Conflict

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
USER_COLUMNS = (*PUBLIC_USER_COLUMNS, "password_hash", "google_id", "github_id", "disabled_at")


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
    or 'unknown'; whose token it was and its session (None when unknown); when the successor
    expires (rotated only)."""

    outcome: str
    user_id: UUID | None
    family_id: UUID | None
    expires_at: datetime | None


class GuestClaim(msgspec.Struct, frozen=True):
    """What claiming a guest session moved: how many rows, and which app projects."""

    moved: int
    app_project_ids: list[UUID]


class AuthRepository(Repository):
    """Credentials and accounts, run as the service role."""

    async def user_by_email(self, email: str) -> UserRecord | None:
        """The user with this (normalized: trimmed, lower-case) email."""
        return await self.one_or_none(
            Select("users", USER_COLUMNS, filters=(eq("email", email),)), UserRecord
        )

    async def user_by_id(self, user_id: UUID) -> UserRecord | None:
        return await self.one_or_none(
            Select("users", USER_COLUMNS, filters=(eq("id", user_id),)), UserRecord
        )

    async def user_by_google_id(self, google_id: str) -> UserRecord | None:
        return await self.one_or_none(
            Select("users", USER_COLUMNS, filters=(eq("google_id", google_id),)), UserRecord
        )

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
            "verification_expires_at": verification_expires_at,
        }
        try:
            return await self.one(Insert("users", (row,), USER_COLUMNS), UserRecord)
        except Conflict:
            raise EmailTaken("An account with this email already exists.") from None

    async def update_user(self, user_id: UUID, values: dict[str, object]) -> UserRecord | None:
        """Set identity columns (those the service role may write) of one user."""
        return await self.one_or_none(
            Update("users", values, filters=(eq("id", user_id),), columns=USER_COLUMNS),
            UserRecord,
        )

    async def verify_email(self, token_hash: str) -> UUID | None:
        """Mark the unexpired token's user verified and grant the signup bonus (once, in SQL)."""
        rows = await self.rows(Rpc("verify_email", {"p_token_hash": token_hash}))
        return UUID(str(rows[0]["user_id"])) if rows else None

    async def grant_signup_bonus(self, user_id: UUID) -> int:
        """Credit the signup bonus once per user (billing's function); the balance after."""
        rows = await self.rows(Rpc("grant_signup_bonus", {"p_user_id": user_id}))
        return int(rows[0]["grant_signup_bonus"])

    async def claim_guest_session(self, user_id: UUID, session_id: str) -> GuestClaim:
        """Move the guest session's work to the user, once: how many rows moved, and which
        app projects."""
        return await self.one(
            Rpc("claim_guest_session", {"p_user_id": user_id, "p_session_id": session_id}),
            GuestClaim,
        )

    async def link_google_account(self, user_id: UUID, google_id: str, keep_password: bool) -> bool:
        """Link the Google account and mark the email verified; unless `keep_password`, remove
        the password and end every session (in SQL, at once). Whether a password was removed."""
        rows = await self.rows(
            Rpc(
                "link_google_account",
                {"p_user_id": user_id, "p_google_id": google_id, "p_keep_password": keep_password},
            )
        )
        return bool(rows[0]["password_removed"])

    async def enqueue_email(self, mail: Mail) -> None:
        """Queue a message for the outbox sender."""
        row = {
            "to_address": mail.to,
            "subject": mail.subject,
            "body_text": mail.text,
            "body_html": mail.html,
        }
        await self.run(Insert("email_outbox", (row,), returning=False))

    async def start_session(
        self, user_id: UUID, session_id: UUID, token_hash: str, expires_at: datetime
    ) -> None:
        """A new session: the first refresh token of its family."""
        row = {
            "user_id": user_id,
            "family_id": session_id,
            "token_hash": token_hash,
            "expires_at": expires_at,
        }
        await self.run(Insert("refresh_tokens", (row,), returning=False))

    async def rotate_refresh_token(
        self, token_hash: str, successor_hash: str, expires_at: datetime, reuse_interval_s: int
    ) -> Rotation:
        """Exchange a refresh token for its successor; reuse revokes the session (in SQL)."""
        rows = await self.rows(
            Rpc(
                "rotate_refresh_token",
                {
                    "p_token_hash": token_hash,
                    "p_new_token_hash": successor_hash,
                    "p_expires_at": expires_at,
                    "p_reuse_interval_s": reuse_interval_s,
                },
            )
        )
        return row_as(Rotation, rows[0])

    async def session_of(self, token_hash: str) -> tuple[UUID, UUID] | None:
        """The user and session of a refresh token, if it is known."""
        rows = await self.rows(
            Select(
                "refresh_tokens", ("user_id", "family_id"), filters=(eq("token_hash", token_hash),)
            )
        )
        return (UUID(str(rows[0]["user_id"])), UUID(str(rows[0]["family_id"]))) if rows else None

    async def end_session(self, user_id: UUID, session_id: UUID) -> None:
        """Revoke every refresh token of the user's session: it ends for every token at once."""
        await self.run(
            Update(
                "refresh_tokens",
                {"revoked_at": datetime.now(UTC)},
                filters=(
                    eq("family_id", session_id),
                    eq("user_id", user_id),
                    is_("revoked_at", None),
                ),
                returning=False,
            )
        )

    async def create_password_reset(
        self, user_id: UUID, token_hash: str, expires_at: datetime
    ) -> None:
        row = {"user_id": user_id, "token_hash": token_hash, "expires_at": expires_at}
        await self.run(Insert("password_reset_tokens", (row,), returning=False))

    async def reset_password(self, token_hash: str, password_hash: str) -> UUID | None:
        """Spend the reset token: new password, every session ended, every other reset link
        void (in SQL)."""
        rows = await self.rows(
            Rpc("reset_password", {"p_token_hash": token_hash, "p_password_hash": password_hash})
        )
        return UUID(str(rows[0]["user_id"])) if rows else None


class AccountRepository(Repository):
    """What a caller reads or changes about itself, as itself, under row-level security."""

    async def user(self, user_id: UUID) -> PublicUser | None:
        return await self.one_or_none(
            Select("users", PUBLIC_USER_COLUMNS, filters=(eq("id", user_id),)), PublicUser
        )

    async def update_profile(self, user_id: UUID, changes: dict[str, str | None]) -> PublicUser:
        """Row-level security lets users change their own name and image, nothing else."""
        return await self.one(
            Update("users", changes, (eq("id", user_id),), columns=PUBLIC_USER_COLUMNS),
            PublicUser,
        )
