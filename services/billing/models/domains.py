"""Domain orders on the wire (camelCase): quotes, orders and the contact Vercel registers a domain
to, and the problems of ordering one."""

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from shared.errors import Conflict, NotFound, Problem, ValidationFailed
from shared.wire import RequestBody

CURRENCY = "SEK"
"""What customers pay domains in (whole kronor)."""

# A registrable name: dot-separated labels of letters, digits and inner hyphens (IDNs in their
# xn-- form), a top-level label that does not start with a digit; compared in lower case.
DOMAIN = re.compile(
    r"(?=.{3,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
DomainName = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=253,
        pattern=r"^[A-Za-z0-9.-]+$",
        description="A domain name, e.g. bageriet.se",
        examples=["bageriet.se"],
    ),
]
Years = Annotated[int, Meta(ge=1, le=10, description="Registration period in years")]

Name = Annotated[str, Meta(min_length=1, max_length=100)]
Line = Annotated[str, Meta(min_length=1, max_length=200)]


def normalized_domain(domain: str) -> str:
    """`domain` in lower case without a trailing dot; ValueError (in msgspec's words, so a
    body reports it as a field) when it is not a registrable name."""
    name = domain.strip().rstrip(".").lower()
    if not DOMAIN.fullmatch(name):
        raise ValueError("Expected a domain name such as bageriet.se - at `$.domain`")
    return name


# Requests ----------------------------------------------------------------------------------------


class DomainContact(RequestBody):
    """The registrant, as Vercel's registrar takes it (`contactInformation`)."""

    first_name: Name
    last_name: Name
    email: Annotated[str, Meta(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    phone: Annotated[
        str, Meta(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +46701234567")
    ]
    address1: Line
    city: Name
    zip: Annotated[str, Meta(min_length=1, max_length=20)]
    country: Annotated[str, Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. SE")]
    address2: Line | None = None
    state: Name | None = None
    """Defaults to the city: Vercel needs one, and Swedish addresses have none."""
    company_name: Name | None = None

    def registrant(self) -> dict[str, str]:
        """`contactInformation` for Vercel (camelCase, no empty members, `state` filled)."""
        contact = {
            key: value for key, value in msgspec.to_builtins(self).items() if value is not None
        }
        contact.setdefault("state", self.city)
        return contact


class DomainOrderCreate(RequestBody):
    """Order `domain` for one of the caller's app projects."""

    project_id: UUID
    domain: DomainName
    contact: DomainContact
    years: Years = 1

    def __post_init__(self) -> None:
        self.domain = normalized_domain(self.domain)


# Responses ---------------------------------------------------------------------------------------


class DomainQuote(msgspec.Struct, frozen=True, rename="camel"):
    """What a domain costs the customer now, and whether it can be registered."""

    domain: str
    years: int
    available: bool
    price: int
    currency: str = CURRENCY


class DomainOrderStarted(msgspec.Struct, frozen=True, rename="camel"):
    """An order awaiting payment: send the browser to `url` (Stripe Checkout)."""

    order_id: UUID
    session_id: str
    url: str


class DomainOrder(msgspec.Struct, frozen=True, rename="camel"):
    """An order and where it stands: pending_payment, paid, purchasing, completed, failed,
    refunded or cancelled (`failureReason` says why, for the last three)."""

    id: UUID
    project_id: UUID | None
    domain: str
    years: int
    customer_price: int | None = msgspec.field(name="price")
    """Whole kronor, as charged."""
    currency: str
    status: str
    failure_reason: str | None
    created_at: datetime
    paid_at: datetime | None
    completed_at: datetime | None


class DomainOrderList(msgspec.Struct, frozen=True, rename="camel"):
    """The caller's orders, newest first."""

    orders: list[DomainOrder]


# Problems ----------------------------------------------------------------------------------------


class ProjectNotFound(NotFound):
    code = "project_not_found"
    title = "No such project"


class DomainOrderNotFound(NotFound):
    code = "domain_order_not_found"
    title = "No such domain order"


class DomainUnavailable(Conflict):
    code = "domain_unavailable"
    title = "The domain is taken"


class DomainNotSupported(ValidationFailed):
    """Vercel does not sell this name (its top-level domain, its length, …)."""

    code = "domain_not_supported"
    title = "The domain cannot be registered here"


class RegistrarFailed(Problem):
    """Vercel's registrar failed or could not be reached."""

    status = 502
    code = "registrar_error"
    title = "The domain registrar failed"
