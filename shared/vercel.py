"""Vercel's REST API, for the services that use it: billing buys domains at its registrar,
projects deploys sites and attaches domains to them.

One way of calling it: Bearer `VERCEL_TOKEN`, `?teamId=` when `VERCEL_TEAM_ID` is set, over the
process's shared HTTP client, never retried (a POST sent twice buys or deploys twice), and
Vercel's two error shapes — the registrar's flat `{status, code, message, _tag}` and the REST
API's `{"error": {code, message}}` — read alike into `VercelError`.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import msgspec

from shared.config import Settings

T = TypeVar("T")

MESSAGE_LIMIT = 300
"""Vercel's messages name the problem in a sentence; longer text is noise in a row or a log."""


class VercelError(Exception):
    """Vercel answered with an error (`status`, its `code`), or could not be reached
    (`status` None; `code` "connect_failed" when no connection was made)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def refused(self) -> bool:
        """Vercel looked at the request and said no (a 4xx other than a rate limit): asking
        again gives the same answer."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429

    @property
    def nothing_done(self) -> bool:
        """Certainly not acted on: rate limited, or the connection was never made."""
        return self.status == 429 or self.code == "connect_failed"


class VercelApi:
    """Calls to Vercel for one team (or the token's own account). `unconfigured` makes the
    caller's own problem for a call made without `VERCEL_TOKEN`."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        unconfigured: Callable[[], Exception],
    ) -> None:
        self._token = settings.vercel_token
        self._base = settings.vercel_api_url.rstrip("/")
        self._team = {"teamId": settings.vercel_team_id} if settings.vercel_team_id else {}
        self._http = http
        self._unconfigured = unconfigured

    @property
    def configured(self) -> bool:
        return bool(self._token)

    async def call(
        self,
        method: str,
        path: str,
        answer: type[T],
        *,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> T:
        """Vercel's answer to one request, decoded as `answer`; `VercelError` otherwise."""
        if not self._token:
            raise self._unconfigured()
        try:
            response = await self._http.request(
                method,
                f"{self._base}{path}",
                params={**(query or {}), **self._team},
                json=body,
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise VercelError(
                f"Vercel could not be reached: {type(error).__name__}", code="connect_failed"
            ) from error
        except httpx.HTTPError as error:
            raise VercelError(f"Vercel did not answer: {type(error).__name__}") from error
        if not response.is_success:
            code, message = _error_of(response)
            raise VercelError(
                f"Vercel answered {response.status_code} {code}: {message}",
                status=response.status_code,
                code=code,
            )
        try:
            return msgspec.json.decode(response.content, type=answer, strict=False)
        except msgspec.DecodeError:
            raise VercelError(f"Vercel answered {path} in an unexpected shape.") from None


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """(code, message) of either of Vercel's error shapes, else of what it said."""
    try:
        body = response.json()
    except ValueError:
        return "unknown", response.text[:MESSAGE_LIMIT]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return "unknown", response.text[:MESSAGE_LIMIT]
    code = body.get("code") or body.get("_tag") or "unknown"
    return str(code), str(body.get("message", ""))[:MESSAGE_LIMIT]
