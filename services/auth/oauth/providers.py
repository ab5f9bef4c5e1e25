"""The OAuth providers' HTTP APIs: Google sign-in (OpenID userinfo) and GitHub (for code export).

Each client is built once per process with the shared HTTP client. Anything but the answer we
expect ends the flow with a `FlowFailed` reason; nothing a provider sends is trusted further than
the fields named here.
"""

from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import msgspec
import structlog

from services.auth.oauth.flow import FlowFailed, callback_url, s256
from shared.config import Settings
from shared.errors import NotFound

GOOGLE_SCOPE = "openid email profile"
GITHUB_SCOPE = "repo"
GITHUB_API_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}

AnswerT = TypeVar("AnswerT", bound=msgspec.Struct)

logger = structlog.stdlib.get_logger(__name__)


class ProviderNotConfigured(NotFound):
    code = "provider_not_configured"
    title = "Sign-in provider not configured"


class GoogleTokens(msgspec.Struct, frozen=True):
    access_token: str


class GoogleProfile(msgspec.Struct, frozen=True):
    """Google's OpenID userinfo, the claims used here."""

    sub: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    picture: str | None = None


class GitHubTokens(msgspec.Struct, frozen=True):
    """GitHub answers 200 either way: a token, or an `error` code."""

    access_token: str | None = None
    error: str | None = None


class GitHubUser(msgspec.Struct, frozen=True):
    id: int
    login: str


class GitHubAccount(msgspec.Struct, frozen=True):
    """A GitHub account its user let us act for, with the token to do so."""

    user: GitHubUser
    token: str


class Google:
    """Google's authorization code flow with PKCE."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    def consent_url(self, state: str, verifier: str) -> str:
        """Where to send the browser: Google's consent screen for this flow."""
        query = {
            "response_type": "code",
            "client_id": self._client()[0],
            "redirect_uri": callback_url(self._settings, "google"),
            "scope": GOOGLE_SCOPE,
            "state": state,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        return f"{self._settings.google_auth_url}?{urlencode(query)}"

    async def profile(self, code: str, verifier: str | None) -> GoogleProfile:
        """The Google account that granted `code`."""
        client_id, client_secret = self._client()
        form = {
            "code": code,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": callback_url(self._settings, "google"),
            "grant_type": "authorization_code",
            "code_verifier": verifier or "",
        }
        tokens = await _call(
            self._http, "POST", self._settings.google_token_url, GoogleTokens, data=form
        )
        return await _call(
            self._http,
            "GET",
            self._settings.google_userinfo_url,
            GoogleProfile,
            headers={"Authorization": f"Bearer {tokens.access_token}"},
        )

    def require_configured(self) -> None:
        self._client()

    def _client(self) -> tuple[str, str]:
        settings = self._settings
        if not settings.google_client_id or not settings.google_client_secret:
            raise ProviderNotConfigured("Google sign-in is not configured.")
        return settings.google_client_id, settings.google_client_secret


class GitHub:
    """GitHub's OAuth app flow, for linking an account to export code to."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    def consent_url(self, state: str) -> str:
        query = {
            "client_id": self._client()[0],
            "redirect_uri": callback_url(self._settings, "github"),
            "scope": GITHUB_SCOPE,
            "state": state,
            "allow_signup": "true",
        }
        return f"{self._settings.github_auth_url}?{urlencode(query)}"

    async def account(self, code: str) -> GitHubAccount:
        """The GitHub account that granted `code`, with its token."""
        client_id, client_secret = self._client()
        form = {
            "client_id": client_id,
            "client_secret": client_secret,
            "code": code,
            "redirect_uri": callback_url(self._settings, "github"),
        }
        tokens = await _call(
            self._http,
            "POST",
            self._settings.github_token_url,
            GitHubTokens,
            data=form,
            headers={"Accept": "application/json"},
        )
        if tokens.access_token is None:
            logger.warning("github refused the code", error=tokens.error)
            raise FlowFailed("provider_error")
        user = await _call(
            self._http,
            "GET",
            f"{self._settings.github_api_url.rstrip('/')}/user",
            GitHubUser,
            headers={**GITHUB_API_HEADERS, "Authorization": f"Bearer {tokens.access_token}"},
        )
        return GitHubAccount(user, tokens.access_token)

    def require_configured(self) -> None:
        self._client()

    def _client(self) -> tuple[str, str]:
        settings = self._settings
        if not settings.github_client_id or not settings.github_client_secret:
            raise ProviderNotConfigured("GitHub linking is not configured.")
        return settings.github_client_id, settings.github_client_secret


async def _call(
    http: httpx.AsyncClient, method: str, url: str, answer: type[AnswerT], **request: Any
) -> AnswerT:
    """A provider endpoint's JSON answer as `answer`; anything else ends the flow."""
    try:
        response = await http.request(method, url, **request)
    except httpx.HTTPError as error:
        logger.warning("oauth provider unreachable", url=url, error=type(error).__name__)
        raise FlowFailed("provider_unavailable") from error
    if not response.is_success:
        logger.warning("oauth provider refused", url=url, status=response.status_code)
        raise FlowFailed("provider_error")
    try:
        return msgspec.json.decode(response.content, type=answer)
    except msgspec.ValidationError:
        logger.warning("oauth provider answered unexpectedly", url=url)
        raise FlowFailed("provider_error") from None
