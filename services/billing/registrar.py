"""Vercel's domain registrar: prices, availability, buying a domain and following the order.

The current registrar API (`/v1/registrar/...`, Bearer VERCEL_TOKEN, `?teamId=` when
VERCEL_TEAM_ID is set) over the process's shared HTTP client. A purchase answers only an
`orderId`; the order then moves from `draft`/`purchasing` to `completed` or `failed`.
Prices are US dollars, sent by Vercel as a number or a string, and read exactly as `Decimal`.
"""

from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from shared.config import Settings
from shared.errors import ServiceUnavailable

T = TypeVar("T")

MESSAGE_LIMIT = 300
"""Vercel's messages name the problem in a sentence; longer text is noise in a row or a log."""


class DomainsNotConfigured(ServiceUnavailable):
    code = "domains_not_configured"
    title = "Domain purchases are not configured"


class RegistrarError(Exception):
    """Vercel answered with an error (`status`, its `code`), or could not be reached
    (`status` None)."""

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


class RegistrarOrder(msgspec.Struct, frozen=True, rename="camel"):
    """An order as Vercel follows it: `status` draft, purchasing, completed or failed, and
    what went wrong (`error`, Vercel's object or text) when it failed."""

    order_id: str
    status: str
    error: Any = None


class _Price(msgspec.Struct, frozen=True, rename="camel"):
    purchase_price: Decimal
    """msgspec reads a JSON number or string as Decimal, exactly (never through float)."""


class _Availability(msgspec.Struct, frozen=True):
    available: bool


class _Purchase(msgspec.Struct, frozen=True, rename="camel"):
    order_id: str


class Registrar:
    """Vercel's registrar for one team (or the token's own account)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._token = settings.vercel_token
        self._base = settings.vercel_api_url.rstrip("/")
        self._team = {"teamId": settings.vercel_team_id} if settings.vercel_team_id else {}
        self._http = http

    @property
    def configured(self) -> bool:
        return bool(self._token)

    async def price(self, domain: str, years: int) -> Decimal:
        """What registering `domain` for `years` costs us, in USD."""
        answer = await self._call(
            "GET", f"/v1/registrar/domains/{quote(domain)}/price", _Price, query={"years": years}
        )
        if not answer.purchase_price.is_finite() or answer.purchase_price < 0:
            raise RegistrarError(f"Vercel quoted an unusable price for {domain}.")
        return answer.purchase_price

    async def available(self, domain: str) -> bool:
        """Whether `domain` can be registered now."""
        answer = await self._call(
            "GET", f"/v1/registrar/domains/{quote(domain)}/availability", _Availability
        )
        return answer.available

    async def buy(
        self, domain: str, years: int, expected_price: Decimal, contact: dict[str, Any]
    ) -> str:
        """Order `domain` at `expected_price` USD (Vercel refuses if its price differs), renewing
        automatically; the order's id, to follow with `order`."""
        purchase = await self._call(
            "POST",
            f"/v1/registrar/domains/{quote(domain)}/buy",
            _Purchase,
            body={
                "autoRenew": True,
                "years": years,
                "expectedPrice": float(expected_price),
                "contactInformation": contact,
            },
        )
        return purchase.order_id

    async def order(self, order_id: str) -> RegistrarOrder:
        """Where a purchase stands."""
        return await self._call("GET", f"/v1/registrar/orders/{quote(order_id)}", RegistrarOrder)

    async def _call(
        self,
        method: str,
        path: str,
        answer: type[T],
        *,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> T:
        if not self._token:
            raise DomainsNotConfigured("Domain purchases need VERCEL_TOKEN.")
        try:
            response = await self._http.request(
                method,
                f"{self._base}{path}",
                params={**(query or {}), **self._team},
                json=body,
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise RegistrarError(
                f"Vercel could not be reached: {type(error).__name__}", code="connect_failed"
            ) from error
        except httpx.HTTPError as error:
            raise RegistrarError(f"Vercel did not answer: {type(error).__name__}") from error
        if not response.is_success:
            code, message = _vercel_error(response)
            raise RegistrarError(
                f"Vercel answered {response.status_code} {code}: {message}",
                status=response.status_code,
                code=code,
            )
        try:
            return msgspec.json.decode(response.content, type=answer, strict=False)
        except msgspec.DecodeError:
            raise RegistrarError(f"Vercel answered {path} in an unexpected shape.") from None


def _vercel_error(response: httpx.Response) -> tuple[str, str]:
    """(code, message) of Vercel's errors: the registrar's flat `{status, code, message, _tag}`
    or the REST API's `{"error": {code, message}}`."""
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
