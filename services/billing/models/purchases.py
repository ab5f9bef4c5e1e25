"""Buying diamonds on the wire (camelCase): starting a Stripe Checkout for a package, what the
Stripe webhook answers, and the problems of both."""

from typing import Annotated

import msgspec
from msgspec import Meta

from shared.errors import BadRequest, NotFound, Problem, ServiceUnavailable
from shared.wire import RequestBody

PackageId = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9_]+$",
        max_length=64,
        description="A package on sale (GET /billing/packages), e.g. credits_10",
    ),
]
CheckoutKey = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=255,
        description="Optional, chosen by the client per purchase attempt: the same key again "
        "answers the same Checkout Session. Without it, one session per user, package and "
        "minute.",
    ),
]


# Requests ----------------------------------------------------------------------------------------


class CheckoutRequest(RequestBody):
    """Buy one package of diamonds through Stripe Checkout."""

    package_id: PackageId


# Responses ---------------------------------------------------------------------------------------


class CheckoutStarted(msgspec.Struct, frozen=True, rename="camel"):
    """A Stripe Checkout Session to send the browser to (`url`)."""

    session_id: str
    url: str


class WebhookReceived(msgspec.Struct, frozen=True, rename="camel"):
    """The webhook's answer to Stripe: received, and what came of the event (`credited`,
    `paid`, `duplicate_event`, `duplicate_session`, `mismatch`, `unknown_user`, `ignored`, …);
    Stripe reads only the status."""

    outcome: str
    received: bool = True


# Problems ----------------------------------------------------------------------------------------


class PackageNotFound(NotFound):
    code = "unknown_package"
    title = "No such package"


class PaymentsNotConfigured(ServiceUnavailable):
    """STRIPE_SECRET_KEY (checkout) or STRIPE_WEBHOOK_SECRET (webhook) is not set: a 503, so
    Stripe retries its events until the endpoint is configured."""

    code = "payments_not_configured"
    title = "Payments are not configured"


class PaymentProviderError(Problem):
    """Stripe refused or could not be reached; the detail never carries Stripe's own text."""

    status = 502
    code = "payment_provider_error"
    title = "The payment provider failed"


class InvalidSignature(BadRequest):
    """The webhook's Stripe-Signature does not verify the body (or is too old): nothing was
    read, nothing written."""

    code = "invalid_signature"
    title = "Invalid Stripe signature"
