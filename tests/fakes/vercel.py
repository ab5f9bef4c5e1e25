"""Vercel's domain registrar (`/v1/registrar/...`), as the current API and SDK describe it.

- `GET /v1/registrar/domains/{domain}/price?years=` → `{years, purchasePrice, renewalPrice,
  transferPrice}`, prices in USD as a number or a string.
- `GET /v1/registrar/domains/{domain}/availability` → `{available}`.
- `POST /v1/registrar/domains/{domain}/buy` with `{autoRenew, years, expectedPrice,
  contactInformation}` → `{orderId, links}` only.
- `GET /v1/registrar/orders/{orderId}` → `{orderId, domains: [...], status, error?}`, status
  `purchasing` for `purchasing_polls` looks, then `completed` (or `failed` when the fake is told
  to fail registrations).

Every request needs `Authorization: Bearer <token>` (and `?teamId=` when the fake has a team).
Errors are the registrar's flat `{status, code, message, _tag}`; the REST API's own
`{"error": {code, message}}` for authorization.
"""

import json
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

REQUIRED_CONTACT = (
    "firstName",
    "lastName",
    "email",
    "phone",
    "address1",
    "city",
    "state",
    "zip",
    "country",
)


@dataclass
class FakeVercel:
    token: str = "vercel_fake_token_for_billing_tests"
    team_id: str | None = "team_fake"
    base_url: str = ""
    """Set once served."""
    price: float | str = 12.5
    """What any supported domain costs per purchase, in USD (a number or a string)."""
    taken: set[str] = field(default_factory=set)
    """Domains registered already (by anyone)."""
    unsupported_tlds: frozenset[str] = frozenset({"local", "test"})
    purchasing_polls: int = 0
    """How many looks at a new order still find it purchasing."""
    fail_registrations: bool = False
    """Orders end `failed` instead of `completed`."""
    rate_limit_buys: int = 0
    """How many coming purchases answer 429."""
    received: list[httpx.Request] = field(default_factory=list, init=False)
    purchases: list[dict[str, Any]] = field(default_factory=list, init=False)
    """The body of every purchase accepted, in order."""
    orders: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    _looks: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return httpx.Response(
                403, json={"error": {"code": "forbidden", "message": "Not authorized"}}
            )
        if self.team_id is not None and request.url.params.get("teamId") != self.team_id:
            return httpx.Response(
                403,
                json={
                    "error": {"code": "forbidden", "message": "You don't have access to this team"}
                },
            )
        parts = request.url.path.strip("/").split("/")
        match (request.method, parts):
            case ("GET", ["v1", "registrar", "domains", domain, "price"]):
                return self._price(domain, request.url.params.get("years", "1"))
            case ("GET", ["v1", "registrar", "domains", domain, "availability"]):
                return self._unsupported(domain) or httpx.Response(
                    200, json={"available": domain not in self.taken}
                )
            case ("POST", ["v1", "registrar", "domains", domain, "buy"]):
                return self._buy(domain, request)
            case ("GET", ["v1", "registrar", "orders", order_id]):
                return self._order(order_id)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "Not found"}})

    def configuration(self) -> dict[str, str | None]:
        """The settings that point the app at this fake, with its token and team."""
        return {
            "vercel_token": self.token,
            "vercel_team_id": self.team_id,
            "vercel_api_url": self.base_url,
        }

    def _price(self, domain: str, years: str) -> httpx.Response:
        if unsupported := self._unsupported(domain):
            return unsupported
        if not years.isdigit() or not 1 <= int(years) <= 10:
            return _error(400, "HttpApiDecodeError", "bad_request", "years must be 1 to 10")
        return httpx.Response(
            200,
            json={
                "years": int(years),
                "purchasePrice": self.price,
                "renewalPrice": self.price,
                "transferPrice": self.price,
            },
        )

    def _buy(self, domain: str, request: httpx.Request) -> httpx.Response:
        if unsupported := self._unsupported(domain):
            return unsupported
        if self.rate_limit_buys > 0:
            self.rate_limit_buys -= 1
            return _error(429, "RateLimited", "rate_limited", "Too many requests")
        body = json.loads(request.content)
        contact = body.get("contactInformation") or {}
        missing = [name for name in REQUIRED_CONTACT if not contact.get(name)]
        if missing or not isinstance(body.get("years"), int) or "autoRenew" not in body:
            return _error(400, "HttpApiDecodeError", "bad_request", f"Invalid body: {missing}")
        if domain in self.taken:
            return _error(
                400, "DomainNotAvailable", "domain_not_available", f"{domain} is not available"
            )
        if Decimal(str(body.get("expectedPrice"))) != Decimal(str(self.price)):
            return _error(
                400, "ExpectedPriceMismatch", "expected_price_mismatch", "The price has changed"
            )
        self.taken.add(domain)
        self.purchases.append(body)
        order_id = f"ord_{secrets.token_hex(10)}"
        self.orders[order_id] = {
            "orderId": order_id,
            "domains": [
                {
                    "purchaseType": "purchase",
                    "autoRenew": body["autoRenew"],
                    "years": body["years"],
                    "domainName": domain,
                    "status": "purchasing",
                    "price": self.price,
                }
            ],
            "status": "purchasing",
        }
        links = {"order": {"href": f"/v1/registrar/orders/{order_id}", "method": "GET"}}
        return httpx.Response(200, json={"orderId": order_id, "links": links})

    def _order(self, order_id: str) -> httpx.Response:
        order = self.orders.get(order_id)
        if order is None:
            return _error(404, "NotFound", "not_found", "Order not found")
        self._looks[order_id] = looks = self._looks.get(order_id, 0) + 1
        if looks > self.purchasing_polls and order["status"] == "purchasing":
            final = "failed" if self.fail_registrations else "completed"
            order["status"] = final
            for domain in order["domains"]:
                domain["status"] = final
            if self.fail_registrations:
                order["error"] = {"code": "registry_error", "message": "The registry refused it"}
                self.taken.discard(order["domains"][0]["domainName"])
        return httpx.Response(200, json=order)

    def _unsupported(self, domain: str) -> httpx.Response | None:
        if domain.rsplit(".", 1)[-1] in self.unsupported_tlds:
            return _error(400, "TldNotSupported", "tld_not_supported", "TLD is not supported")
        return None


def _error(status: int, tag: str, code: str, message: str) -> httpx.Response:
    return httpx.Response(
        status, json={"status": status, "code": code, "message": message, "_tag": tag}
    )
