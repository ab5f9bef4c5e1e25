"""Signing up, in and out: the auth service's multi-step work, in one object per process.

A session is one sign-in: a family of rotating refresh tokens whose id every access token of the
sign-in carries as `session_id`. Ending the session (sign-out, password reset, a first Google link
that removes an unproven password) revokes the family, and from then on the services refuse its
access tokens too (`current_session_is_active()` in SQL). Mail to an address is limited per
address as well as per client, so nobody can mail-bomb anyone through us.
"""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import msgspec

from services.auth.mail import password_reset_mail, verification_mail
from services.auth.models import (
    IMAGE_URL_MAX,
    NAME_MAX,
    TOKEN_MAX,
    Credentials,
    EmailTaken,
    GuestSession,
    InvalidLinkToken,
    InvalidRefreshToken,
    PasswordReset,
    Registration,
    Session,
    SignedIn,
)
from services.auth.oauth.flow import Flow, FlowFailed
from services.auth.oauth.providers import GitHubAccount, GoogleProfile
from services.auth.passwords import authenticate, hash_password
from services.auth.repo import AuthRepository, UserRecord
from services.auth.tokens import (
    access_token,
    guest_token,
    new_guest_session,
    new_secret_token,
    successor_token,
    token_hash,
)
from shared.cache import PROJECT_FILES, PROJECT_LIST, PROJECT_META, USER_SESSION, Cache
from shared.config import Settings
from shared.data.plane import DataPlane
from shared.errors import Conflict
from shared.identity import Caller, service_caller
from shared.ratelimit import RateLimiter


class Sessions:
    """Accounts' credentials and sessions; built once at start-up, run as the service role."""

    def __init__(
        self, settings: Settings, data: DataPlane, cache: Cache, limiter: RateLimiter
    ) -> None:
        self._settings = settings
        self._accounts = AuthRepository(data, service_caller(settings))
        self._cache = cache
        self._limiter = limiter

    async def register(self, registration: Registration) -> None:
        """A new, unverified account; its verification link goes out by mail."""
        await self._limit("mail_recipient", registration.email)
        token, verification_hash = new_secret_token()
        user = await self._accounts.create_user(
            registration.email,
            password_hash=await hash_password(registration.password),
            name=registration.name,
            verification_token_hash=verification_hash,
            verification_expires_at=self._in(self._settings.verification_ttl_s),
        )
        await self._accounts.enqueue_email(verification_mail(self._settings, user.email, token))

    async def verify_email(self, token: str) -> bool:
        """Verify the address the token was sent to (the first time also grants the signup
        bonus, in SQL); False for an unknown, used or expired token."""
        user_id = (
            await self._accounts.verify_email(token_hash(token))
            if len(token) <= TOKEN_MAX
            else None
        )
        if user_id is None:
            return False
        await self._cache.invalidate(USER_SESSION.key(user_id))
        return True

    async def resend_verification(self, email: str) -> None:
        """A new verification link, if the address has an unverified, enabled account."""
        await self._limit("mail_recipient", email)
        user = await self._accounts.user_by_email(email)
        if user is None or user.email_verified or user.disabled_at is not None:
            return
        token, verification_hash = new_secret_token()
        await self._accounts.update_user(
            user.id,
            {
                "verification_token_hash": verification_hash,
                "verification_expires_at": self._in(self._settings.verification_ttl_s),
            },
        )
        await self._accounts.enqueue_email(verification_mail(self._settings, user.email, token))

    async def sign_in(self, credentials: Credentials, guest_session: str | None) -> SignedIn:
        """Sign in with email and password; the presented guest session's work is claimed."""
        # Per address as well as per client, so spreading guesses over many IPs does not help.
        await self._limit("login_email", credentials.email)
        user = await authenticate(self._accounts, credentials.email, credentials.password)
        return await self.signed_in(user, guest_session)

    async def signed_in(self, user: UserRecord, guest_session: str | None) -> SignedIn:
        """Everything signing in means, however the user proved who they are: a new session,
        the presented guest session's work claimed, and the public user cached."""
        session = await self._start(user)
        claimed = 0
        if guest_session:
            claim = await self._accounts.claim_guest_session(user.id, guest_session)
            claimed = claim.moved
            await self._sites_moved(user.id, guest_session, claim.app_project_ids)
        await self._cache.set(USER_SESSION.key(user.id), user.public)
        return SignedIn(**msgspec.structs.asdict(session), user=user.public, claimed=claimed)

    async def _sites_moved(self, user_id: UUID, guest_session: str, site_ids: list[UUID]) -> None:
        """Drop the cached sites that moved, and both owners' cached lists: the guest's token
        stays valid for days and must stop seeing them, the user's list does not have them."""
        if site_ids:
            await self._cache.invalidate(
                PROJECT_LIST.key(guest_session),
                PROJECT_LIST.key(user_id),
                *(PROJECT_META.key(site_id) for site_id in site_ids),
                *(PROJECT_FILES.key(site_id) for site_id in site_ids),
            )

    async def refresh(self, refresh_token: str) -> Session:
        """Rotate `refresh_token` into the session's next tokens. Presented again within the
        reuse interval it yields the same successor (two tabs at once); after it, the session is
        revoked in SQL. `InvalidRefreshToken` for anything but a live token of an enabled user."""
        successor = successor_token(self._settings, refresh_token)
        rotation = await self._accounts.rotate_refresh_token(
            token_hash(refresh_token),
            token_hash(successor),
            self._in(self._settings.refresh_token_ttl_s),
            self._settings.refresh_reuse_interval_s,
        )
        if rotation.outcome != "rotated" or rotation.user_id is None:
            raise InvalidRefreshToken("Sign in again.")
        user = await self._accounts.user_by_id(rotation.user_id)
        if user is None or rotation.family_id is None or rotation.expires_at is None:
            raise InvalidRefreshToken("Sign in again.")
        access, access_expires = access_token(
            self._settings, user.id, user.email, rotation.family_id
        )
        return Session(
            access_token=access,
            expires_at=access_expires,
            refresh_token=successor,
            refresh_expires_at=rotation.expires_at,
        )

    async def sign_out(self, refresh_token: str | None, caller: Caller | None) -> None:
        """End the session of the presented refresh token and the one the access token names,
        whichever the client sent: either alone signs the session out everywhere."""
        ended: set[tuple[UUID, UUID]] = set()
        if refresh_token:
            session = await self._accounts.session_of(token_hash(refresh_token))
            if session is not None:
                ended.add(session)
        named = _session_named_by(caller)
        if named is not None:
            ended.add(named)
        for user_id, session_id in ended:
            await self._accounts.end_session(user_id, session_id)
            await self._cache.invalidate(USER_SESSION.key(user_id))

    def start_guest(self) -> GuestSession:
        """A new guest session and its token."""
        session_id = new_guest_session()
        token, expires_at = guest_token(self._settings, session_id)
        return GuestSession(token, session_id, expires_at)

    async def forgot_password(self, email: str) -> None:
        """Mail a one-time reset link, if the address has an enabled account."""
        await self._limit("mail_recipient", email)
        user = await self._accounts.user_by_email(email)
        if user is None or user.disabled_at is not None:
            return
        token, reset_hash = new_secret_token()
        await self._accounts.create_password_reset(
            user.id, reset_hash, self._in(self._settings.password_reset_ttl_s)
        )
        await self._accounts.enqueue_email(password_reset_mail(self._settings, user.email, token))

    async def reset_password(self, reset: PasswordReset) -> None:
        """Set the new password with an emailed token: every session ends and every other reset
        link stops working (in SQL)."""
        user_id = await self._accounts.reset_password(
            token_hash(reset.token), await hash_password(reset.password)
        )
        if user_id is None:
            raise InvalidLinkToken("The reset link is invalid, used or has expired.")
        await self._cache.invalidate(USER_SESSION.key(user_id))

    async def sign_in_with_google(self, profile: GoogleProfile, flow: Flow) -> SignedIn:
        """Sign in as the account this Google account belongs to: linked before, else the owner
        of its verified email (linked now), else a new account. Raises `FlowFailed`."""
        user = await self._google_account(profile, flow.user_id)
        # Read back after the signup bonus, so the cached user has its balance.
        user = (
            await self._accounts.update_user(user.id, {"last_login_at": datetime.now(UTC)}) or user
        )
        return await self.signed_in(user, flow.guest_session)

    async def link_github(self, user_id: UUID, account: GitHubAccount) -> None:
        """Remember the user's GitHub account and token (for code export)."""
        linked = await self._accounts.update_user(
            user_id,
            {
                "github_id": str(account.user.id),
                "github_username": account.user.login,
                "github_token": account.token,
            },
        )
        if linked is None:
            raise FlowFailed("unknown_user")
        await self._cache.invalidate(USER_SESSION.key(user_id))

    async def unlink_github(self, user_id: UUID) -> None:
        """Forget the user's GitHub account and token."""
        await self._accounts.update_user(
            user_id, {"github_id": None, "github_username": None, "github_token": None}
        )
        await self._cache.invalidate(USER_SESSION.key(user_id))

    async def _google_account(self, profile: GoogleProfile, started_by: UUID | None) -> UserRecord:
        user = await self._accounts.user_by_google_id(profile.sub)
        if user is not None:
            return _enabled(user)
        # Only an address Google has verified may claim an account, or create one as verified.
        if not profile.email or not profile.email_verified:
            raise FlowFailed("email_not_verified")
        email = profile.email.strip().lower()
        user = await self._accounts.user_by_email(email)
        if user is None:
            user = await self._create_google_user(profile, email)
        elif user.google_id is not None:
            # The address now belongs to another Google account than the one linked.
            raise FlowFailed("account_conflict")
        else:
            user = await self._link_google(_enabled(user), profile.sub, started_by)
        await self._accounts.grant_signup_bonus(user.id)
        return user

    async def _create_google_user(self, profile: GoogleProfile, email: str) -> UserRecord:
        try:
            return await self._accounts.create_user(
                email,
                name=profile.name[:NAME_MAX] if profile.name else None,
                image=profile.picture
                if profile.picture and len(profile.picture) <= IMAGE_URL_MAX
                else None,
                provider="google",
                google_id=profile.sub,
                email_verified=True,
            )
        except EmailTaken:
            # The same account's other callback won the race.
            raise FlowFailed("account_conflict") from None

    async def _link_google(
        self, user: UserRecord, google_id: str, started_by: UUID | None
    ) -> UserRecord:
        # Whoever set this account's password may not be the address's owner, who has just proved
        # it through Google (account pre-hijacking: register someone's address, wait for them to
        # verify it and sign in with Google). The password goes, with every session, unless this
        # browser was signed in to the account when the flow started: then its owner knew it.
        try:
            await self._accounts.link_google_account(
                user.id, google_id, keep_password=started_by == user.id
            )
        except Conflict:
            raise FlowFailed("account_conflict") from None
        linked = await self._accounts.user_by_id(user.id)
        if linked is None:
            raise FlowFailed("account_conflict")
        return linked

    async def _start(self, user: UserRecord) -> Session:
        refresh, refresh_hash = new_secret_token()
        session_id = uuid4()
        refresh_expires = self._in(self._settings.refresh_token_ttl_s)
        await self._accounts.start_session(user.id, session_id, refresh_hash, refresh_expires)
        access, access_expires = access_token(self._settings, user.id, user.email, session_id)
        return Session(
            access_token=access,
            expires_at=access_expires,
            refresh_token=refresh,
            refresh_expires_at=refresh_expires,
        )

    async def _limit(self, policy: str, email: str) -> None:
        # Hashed, so Redis keys do not list who signs in or whom we mail.
        if self._settings.rate_limit_enabled:
            await self._limiter.require(policy, token_hash(email))

    @staticmethod
    def _in(seconds: int) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=seconds)


def _picture(url: str | None) -> str | None:
    """Google's picture URL, if it is one we would accept from the user."""
    return url if url and url.startswith("https://") and len(url) <= IMAGE_URL_MAX else None


def _enabled(user: UserRecord) -> UserRecord:
    if user.disabled_at is not None:
        raise FlowFailed("account_disabled")
    return user


def _session_named_by(caller: Caller | None) -> tuple[UUID, UUID] | None:
    """The user and session an access token names, if it is a user's token with a session."""
    if caller is None or caller.user_id is None:
        return None
    try:
        return caller.user_id, UUID(str(caller.claims["session_id"]))
    except (KeyError, ValueError):
        return None
