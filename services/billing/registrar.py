"""Vercel's domain registrar: prices, availability, buying a domain and following the order.

The current registrar API (`/v1/registrar/...`), called as every Vercel call is
(`shared.vercel.VercelApi`). A purchase answers only an
`orderId`; the order then moves from `draft`/`purchasing` to `completed` or `failed`.
Prices are US dollars, sent by Vercel as a number or a string, and read exactly as `Decimal`.
"""

from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from shared.config import Settings
from shared.errors import ServiceUnavailable
from shared.vercel import VercelApi, VercelError


class DomainsNotConfigured(ServiceUnavailable):
    code = "domains_not_configured"
    title = "Domain purchases are not configured"


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
        self._api = VercelApi(
            settings, http, lambda: DomainsNotConfigured("Domain purchases need VERCEL_TOKEN.")
        )

    @property
    def configured(self) -> bool:
        return self._api.configured

    async def price(self, domain: str, years: int) -> Decimal:
        """What registering `domain` for `years` costs us, in USD."""
        answer = await self._api.call(
            "GET", f"/v1/registrar/domains/{quote(domain)}/price", _Price, query={"years": years}
        )
        if not answer.purchase_price.is_finite() or answer.purchase_price < 0:
            raise VercelError(f"Vercel quoted an unusable price for {domain}.")
        return answer.purchase_price

    async def available(self, domain: str) -> bool:
        """Whether `domain` can be registered now."""
        answer = await self._api.call(
            "GET", f"/v1/registrar/domains/{quote(domain)}/availability", _Availability
        )
        return answer.available

    async def buy(
        self, domain: str, years: int, expected_price: Decimal, contact: dict[str, Any]
    ) -> str:
        """Order `domain` at `expected_price` USD (Vercel refuses if its price differs), renewing
        automatically; the order's id, to follow with `order`."""
        purchase = await self._api.call(
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
        return await self._api.call(
            "GET", f"/v1/registrar/orders/{quote(order_id)}", RegistrarOrder
        )
