"""What the auth service speaks on the wire (camelCase), and the problems it answers with."""

import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

import msgspec
from msgspec import Meta

from shared.errors import BadRequest, Conflict, Forbidden, NotFound, Problem, Unauthorized
from shared.wire import RequestBody

# Deliberately loose (the verification mail is the real test): one @, no spaces, a dotted domain
# whose last label has two or more characters. Surrounding spaces are trimmed, not refused.
EMAIL = re.compile(r"[^@\s]{1,64}@(?:[^@\s.]+\.)+[^@\s.]{2,}")
EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
NAME_MAX = 200
"""As `users_name_length` in SQL."""
IMAGE_URL_MAX = 2048
"""As `users_image_length` in SQL."""
# Our tokens are 43 characters; the cap keeps absurd input from being hashed or stored.
TOKEN_MAX = 512

# The shape is checked as the field is decoded, so a bad address is reported with every other
# invalid field; surrounding spaces are allowed here and trimmed after.
RawEmail = Annotated[
    str,
    Meta(
        max_length=EMAIL_MAX + 66,
        pattern=rf"^\s*{EMAIL.pattern}\s*$",
        description="An email address",
    ),
]
Password = Annotated[str, Meta(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]
Token = Annotated[str, Meta(min_length=1, max_length=TOKEN_MAX)]


def _is_https_url(value: str) -> bool:
    parts = urlsplit(value)
    return (
        parts.scheme == "https"
        and bool(parts.hostname)
        and not any(character.isspace() or ord(character) < 32 for character in value)
    )


# Requests ----------------------------------------------------------------------------------------


class _WithEmail(RequestBody):
    """Normalizes `email` (trimmed, lower-case) as it is decoded, and refuses a bad one."""

    email: RawEmail

    def __post_init__(self) -> None:
        self.email = self.email.strip().lower()
        if len(self.email) > EMAIL_MAX or not EMAIL.fullmatch(self.email):
            # msgspec's own suffix, so the error names the field like any other.
            raise ValueError("Expected a valid email address - at `$.email`")


class Registration(_WithEmail):
    password: Password
    name: Annotated[str, Meta(max_length=NAME_MAX)] | None = None


class Credentials(_WithEmail):
    password: Password


class ProfileUpdate(RequestBody):
    """What users change about themselves; an omitted field stays, null clears it."""

    name: Annotated[str, Meta(max_length=NAME_MAX)] | msgspec.UnsetType | None = msgspec.UNSET
    image: Annotated[str, Meta(max_length=IMAGE_URL_MAX)] | msgspec.UnsetType | None = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.name is msgspec.UNSET and self.image is msgspec.UNSET:
            raise ValueError("Send name, image or both")
        if isinstance(self.image, str) and not _is_https_url(self.image):
            # Pictures are shown to the user: a `javascript:` or `data:` URL must never be one.
            raise ValueError("Expected an https URL - at `$.image`")

    def changes(self) -> dict[str, str | None]:
        return {
            field: value
            for field, value in (("name", self.name), ("image", self.image))
            if value is not msgspec.UNSET
        }


class EmailAddress(_WithEmail):
    pass


class EmailToken(RequestBody):
    token: Token


class PasswordReset(RequestBody):
    token: Token
    password: Password


class RefreshRequest(RequestBody):
    refresh_token: Token | None = None
    """Omitted when the refresh cookie carries it."""


# Responses ---------------------------------------------------------------------------------------


class PublicUser(msgspec.Struct, frozen=True, rename="camel"):
    """A user as it may see itself: never a secret column."""

    id: UUID
    email: str
    name: str | None
    image: str | None
    provider: str
    diamonds: int
    tier: str
    email_verified: bool
    github_username: str | None
    created_at: datetime


class UserMe(msgspec.Struct, frozen=True, rename="camel", tag_field="kind", tag="user"):
    user: PublicUser


class RegistrationAccepted(msgspec.Struct, frozen=True, rename="camel"):
    requires_email_verification: bool = True


class EmailVerified(msgspec.Struct, frozen=True, rename="camel"):
    verified: bool = True


class Accepted(msgspec.Struct, frozen=True, rename="camel"):
    """The same answer whether or not the email belongs to anyone."""

    message: str


class Session(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A signed-in session: a short-lived access JWT and the refresh token that renews it."""

    access_token: str
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret


class SignedIn(Session, frozen=True, kw_only=True, rename="camel"):
    user: PublicUser
    claimed: int = 0
    """Rows of the presented guest session's work that moved to the user."""


class GuestSession(msgspec.Struct, frozen=True, rename="camel"):
    access_token: str
    session_id: str
    expires_at: datetime


class Jwks(msgspec.Struct, frozen=True):
    keys: list[dict[str, Any]]


# Problems ----------------------------------------------------------------------------------------


class EmailTaken(Conflict):
    code = "email_taken"
    title = "Email already registered"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Wrong email or password"


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    title = "Email not verified"


class AccountDisabled(Forbidden):
    code = "account_disabled"
    title = "Account disabled"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    title = "Invalid refresh token"


class InvalidLinkToken(BadRequest):
    """A verification or password reset token that is unknown, used or expired."""

    code = "invalid_token"
    title = "Invalid or expired link"


class JwksNotConfigured(NotFound):
    code = "jwks_not_configured"
    title = "No signing keys published"


class UnsupportedMediaType(Problem):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"
