"""Deployments on the wire (camelCase): the request that deploys a version of a site to Vercel,
a deployment as its owner sees it, the Vercel webhook's answer, and the problems a paid
deployment is refused with.

Billing's refusals (402 `insufficient_credits`, 401 `requires_account`) are stated here with
billing's codes and shapes: projects charges through billing's SQL function, never its code.
"""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from shared.errors import NotFound, Problem, ServiceUnavailable, Unauthorized
from shared.wire import RequestBody

Target = Literal["preview", "production"]
Status = Literal["pending", "building", "ready", "error", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"ready", "error", "cancelled"})

IdempotencyKey = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        description="Chosen by the client, one per deployment: the same key again answers the "
        "first deployment, charging nothing and deploying nothing more",
    ),
]


# Requests ----------------------------------------------------------------------------------------


class DeploymentCreate(RequestBody):
    """Deploy one of the site's versions (`versionId`, as its version list names it) to Vercel:
    a preview, or production."""

    version_id: UUID
    idempotency_key: IdempotencyKey
    target: Target = "preview"


# Responses ---------------------------------------------------------------------------------------


class Deployment(msgspec.Struct, frozen=True, rename="camel"):
    """A deployment of one of the site's versions.

    `status` follows Vercel's state: pending (not yet accepted, or blocked), building, ready,
    error or cancelled (the last two refunded). `url` is where it is served once ready
    (`https://…vercel.app`), `inspectorUrl` Vercel's page about it, `domain` the site's own
    domain serving it (a production deployment of a site whose bought domain is attached).
    `cost` is what it took in diamonds (0 for admins) and `balance` the balance right after the
    charge."""

    id: UUID
    site_id: UUID | None
    version_id: UUID
    target: str
    status: str
    url: str | None
    inspector_url: str | None
    domain: str | None
    vercel_deployment_id: str | None
    cost: int | None
    balance: int | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


class DeploymentList(msgspec.Struct, frozen=True):
    """The site's deployments, newest first."""

    deployments: list[Deployment]


class WebhookReceived(msgspec.Struct, frozen=True, rename="camel"):
    """The webhook's answer to Vercel (which reads only the status): what came of the delivery.
    `ignored` with a `reason` (an event type we do not follow, a deployment we do not know),
    else the deployment's `status` after it."""

    ok: bool = True
    ignored: bool = False
    reason: str | None = None
    status: str | None = None


# Problems ----------------------------------------------------------------------------------------


class DeploymentNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no such deployment of this site.")


class VersionNotFound(NotFound):
    """The version is not one the site's generations made."""

    code = "version_not_found"
    title = "No such version"

    def __init__(self) -> None:
        super().__init__("This site has no such version to deploy.")


class DeploymentsNotConfigured(ServiceUnavailable):
    code = "deployments_not_configured"
    title = "Deployments are not configured"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "Deployments need VERCEL_TOKEN.")


class VercelRefused(Problem):
    """Vercel looked at the deployment and refused it (a 4xx other than a rate limit); the
    charge was refunded."""

    status = 502
    code = "vercel_refused"
    title = "Vercel refused the deployment"


class VercelUnavailable(ServiceUnavailable):
    """Vercel failed, limited us or could not be reached; the charge was refunded and trying
    again later may work."""

    code = "vercel_unavailable"
    title = "Vercel is unavailable"


class WebhookNotConfigured(ServiceUnavailable):
    code = "webhook_not_configured"
    title = "The Vercel webhook is not configured"

    def __init__(self) -> None:
        super().__init__("Vercel's webhook needs VERCEL_WEBHOOK_SECRET.")


class InvalidSignature(Unauthorized):
    code = "invalid_signature"
    title = "Invalid webhook signature"

    def __init__(self) -> None:
        super().__init__("The x-vercel-signature header does not sign this body.")
