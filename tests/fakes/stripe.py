"""Stripe's API as billing uses it (Checkout Sessions, refunds), and its webhook events, signed.

It speaks Stripe's v1 wire format: `Authorization: Bearer sk_...`, form-encoded bodies with
bracketed nested keys (`line_items[0][price_data][currency]=sek`, `metadata[userId]=...`), JSON
objects back (`checkout.session`, `refund`) and errors as
`{"error": {"type", "message", "code", "param"}}` with a `Request-Id` header. A POST's
`Idempotency-Key` seen before answers the first response again (`Idempotent-Replayed: true`),
or 400 `idempotency_error` when the parameters differ, as Stripe does.

Events are built from the fake's own sessions (`pay` completes one, as a customer paying would)
and signed exactly as Stripe signs them: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>" under the endpoint's whsec_ secret>`, computed by the stripe library's own
`WebhookSignature.generate_signature_header`.
"""

import asyncio
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import stripe

API_VERSION = "2026-06-24.dahlia"
SESSION_LIFETIME_S = 24 * 3600
CHECKOUT_PAGE = "https://checkout.stripe.com/c/pay/"
KEY = re.compile(r"[^\[\]]+")


@dataclass
class FakeStripe:
    api_key: str = "sk_test_fake_key_for_billing_tests"
    webhook_secret: str = "whsec_fake_secret_for_billing_tests"
    base_url: str = ""
    """Set once served."""
    fail_next: int = 0
    """How many coming API requests answer 500 `api_error` before Stripe recovers."""
    refuse_refunds: bool = False
    """Answer refunds 400 `charge_disputed` (a refund Stripe will not make)."""
    delay_s: float = 0.0
    """How long each API request takes, so concurrent callers overlap."""
    received: list[httpx.Request] = field(default_factory=list, init=False)
    """Every API request, in order, whatever the answer."""
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    """Checkout Sessions created, by id."""
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    refunds: list[dict[str, Any]] = field(default_factory=list, init=False)
    """Refunds made, in order; a replayed idempotent request counts once."""
    _answers: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = field(
        default_factory=dict, init=False, repr=False
    )

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided: sk_test_****")
        if self.fail_next > 0:
            self.fail_next -= 1
            return _error(500, "api_error", "An unknown error occurred.")
        route = (request.method, request.url.path)
        if route == ("POST", "/v1/checkout/sessions"):
            return self._idempotent(request, self._create_session)
        if route == ("POST", "/v1/refunds"):
            return self._idempotent(request, self._create_refund)
        if request.method == "GET" and request.url.path.startswith("/v1/checkout/sessions/"):
            session = self.sessions.get(request.url.path.rsplit("/", 1)[1])
            if session is None:
                return _error(
                    404, "invalid_request_error", "No such checkout.session", "resource_missing"
                )
            return httpx.Response(200, json=session)
        return _error(
            404,
            "invalid_request_error",
            f"Unrecognized request URL ({request.method}: {request.url.path}).",
        )

    def configuration(self) -> dict[str, str]:
        """The settings that point the app at this fake, with its keys."""
        return {
            "stripe_secret_key": self.api_key,
            "stripe_webhook_secret": self.webhook_secret,
            "stripe_api_base": self.base_url,
        }

    # Customers and Stripe's side ------------------------------------------------------------

    def pay(self, session_id: str, **changes: Any) -> dict[str, Any]:
        """The session completed and paid, as its customer paying it leaves it; `changes` alter
        the returned object only (a forged or tampered event), never the fake's own record."""
        session = self.sessions[session_id]
        if session["payment_intent"] is None:
            intent = f"pi_{secrets.token_hex(12)}"
            self.payment_intents[intent] = {
                "id": intent,
                "object": "payment_intent",
                "amount": session["amount_total"],
                "currency": session["currency"],
                "status": "succeeded",
                "amount_refunded": 0,
            }
            session.update(
                status="complete", payment_status="paid", payment_intent=intent, url=None
            )
        return {**session, **changes}

    def event(self, obj: dict[str, Any], type: str = "checkout.session.completed") -> bytes:
        """An event about `obj` as Stripe delivers it: the raw JSON body."""
        envelope = {
            "id": f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
            "data": {"object": obj},
        }
        return json.dumps(envelope).encode()

    def signature(
        self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None
    ) -> str:
        """The Stripe-Signature header Stripe sends with `payload`."""
        header: str = stripe.WebhookSignature.generate_signature_header(
            payload.decode(), secret or self.webhook_secret, timestamp
        )
        return header

    def signed(self, payload: bytes, **signature: Any) -> dict[str, str]:
        """The headers of a webhook delivery of `payload`."""
        return {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": self.signature(payload, **signature),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }

    # The API ---------------------------------------------------------------------------------

    def _idempotent(self, request: httpx.Request, create: Any) -> httpx.Response:
        params = form_fields(request.content)
        key = request.headers.get("idempotency-key")
        if key is not None and key in self._answers:
            first_params, status, body = self._answers[key]
            if first_params != params:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                )
            return httpx.Response(status, json=body, headers={"Idempotent-Replayed": "true"})
        status, body = create(params)
        if key is not None and status < 500:
            self._answers[key] = (params, status, body)
        return httpx.Response(status, json=body, headers={"Request-Id": _request_id()})

    def _create_session(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if params.get("mode") not in {"payment", "setup", "subscription"}:
            return _invalid("mode", "parameter_missing", "Missing required param: mode.")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            return _invalid(
                "line_items", "parameter_missing", "Missing required param: line_items."
            )
        total, currencies = 0, set()
        for index, item in enumerate(items):
            price = item.get("price_data") or {}
            where = f"line_items[{index}][price_data]"
            if not re.fullmatch(r"[a-z]{3}", price.get("currency", "")):
                return _invalid(f"{where}[currency]", "parameter_missing", "Missing currency.")
            if not str(price.get("unit_amount", "")).isdigit():
                return _invalid(
                    f"{where}[unit_amount]", "parameter_invalid_integer", "Invalid integer."
                )
            if not (price.get("product_data") or {}).get("name"):
                return _invalid(
                    f"{where}[product_data][name]", "parameter_missing", "Missing name."
                )
            quantity = str(item.get("quantity", ""))
            if not quantity.isdigit() or int(quantity) < 1:
                return _invalid(
                    f"line_items[{index}][quantity]", "parameter_missing", "Missing quantity."
                )
            total += int(price["unit_amount"]) * int(quantity)
            currencies.add(price["currency"])
        if len(currencies) != 1:
            return _invalid("line_items", "parameter_invalid", "Line items must share a currency.")
        metadata = params.get("metadata") or {}
        if any(len(name) > 40 or len(value) > 500 for name, value in metadata.items()):
            return _invalid("metadata", "parameter_invalid", "Metadata keys or values too long.")
        session_id = f"cs_test_{secrets.token_urlsafe(40)}"
        created = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_subtotal": total,
            "amount_total": total,
            "currency": currencies.pop(),
            "customer": None,
            "customer_email": params.get("customer_email"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": metadata,
            "payment_intent": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "created": created,
            "expires_at": created + SESSION_LIFETIME_S,
            "livemode": False,
            "url": f"{CHECKOUT_PAGE}{session_id}",
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        }
        self.sessions[session_id] = session
        return 200, dict(session)

    def _create_refund(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        intent = self.payment_intents.get(params.get("payment_intent", ""))
        if intent is None:
            _, body = _invalid(
                "payment_intent",
                "resource_missing",
                f"No such payment_intent: '{params.get('payment_intent')}'",
            )
            return 404, body
        if intent["amount_refunded"] >= intent["amount"]:
            return _invalid(
                "payment_intent",
                "charge_already_refunded",
                f"Charge for {intent['id']} has already been refunded.",
            )
        if self.refuse_refunds:
            return _invalid(
                None, "charge_disputed", "This charge is disputed and cannot be refunded."
            )
        intent["amount_refunded"] = intent["amount"]
        refund = {
            "id": f"re_{secrets.token_hex(12)}",
            "object": "refund",
            "amount": intent["amount"],
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "reason": params.get("reason"),
            "metadata": params.get("metadata") or {},
            "created": int(time.time()),
        }
        self.refunds.append(refund)
        return 200, refund


def form_fields(body: bytes) -> dict[str, Any]:
    """A form-encoded body with Stripe's bracketed keys as nested objects; lists where every
    key of a level is an index (`line_items[0][quantity]=1`)."""
    root: dict[str, Any] = {}
    for name, value in parse_qsl(body.decode(), keep_blank_values=True):
        *path, last = KEY.findall(name)
        node = root
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    fields: dict[str, Any] = _with_lists(root)
    return fields


def _with_lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _with_lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _invalid(param: str | None, code: str, message: str) -> tuple[int, dict[str, Any]]:
    error = {"type": "invalid_request_error", "code": code, "message": message, "param": param}
    return 400, {"error": error}


def _error(status: int, type: str, message: str, code: str | None = None) -> httpx.Response:
    error: dict[str, Any] = {"type": type, "message": message}
    if code is not None:
        error["code"] = code
    return httpx.Response(status, json={"error": error}, headers={"Request-Id": _request_id()})


def _request_id() -> str:
    return f"req_{secrets.token_hex(7)}"
