"""Deployments: a site's version deployed to Vercel, paid with credits, followed to ready; and the
domains bought for a site attached to its Vercel project.

A deploy is, in order: `start_deployment` as the user (the 'deploy' charge and a pending row, in
one transaction; the same idempotency key again answers the first deployment), the version's
files from v0 (`Engine.version`), `POST /v13/deployments` with the files base64, then Vercel's
ids and first state recorded as the service role. When v0 or Vercel fails, the deployment is
marked error and its charge refunded (once: SQL changes a status only under the row's lock, and
a final status never changes), and the caller gets 503 `engine_unavailable`, 502
`vercel_refused` or 503 `vercel_unavailable`.

Vercel's state reaches us two ways, both mapped by `STATE_STATUS`/`EVENT_STATUS` into ours
(pending, building, ready, error, cancelled): reading a deployment that is not final refreshes
it from `GET /v13/deployments/{id}`, and the webhook (`x-vercel-signature`, hex HMAC-SHA1 of the
raw body, compared in constant time) reports its events. An error or a cancel refunds.

Each of a site's deployments goes to one Vercel project, named after the site
(`sajtmaskin-<site id>`), which Vercel creates with the first one. The worker (`deployment_work`,
a lifespan every replica runs) attaches bought domains: billing completes a domain order; a pass
claims completed orders whose domain is not yet attached (SQL, reading billing's table, so
neither service imports the other), adds each to its site's Vercel project and shows it on the
site's production deployments. The same pass fails and refunds deployments whose process died
between the charge and Vercel's answer.
"""

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import httpx
import msgspec
import structlog
from litestar import Litestar

from services.projects.engine import Engine
from services.projects.models.deployments import (
    FINAL_STATUSES,
    Deployment,
    DeploymentCreate,
    DeploymentList,
    DeploymentNotFound,
    DeploymentsNotConfigured,
    InvalidSignature,
    VercelRefused,
    VercelUnavailable,
    VersionNotFound,
    WebhookNotConfigured,
    WebhookReceived,
)
from services.projects.models.engine import EngineFile, EngineNotConfigured
from services.projects.models.sites import SiteNotFound
from services.projects.repo.deployments import (
    DeploymentLedger,
    DeploymentRepository,
    DeploymentRow,
)
from shared.access import SignedInUser
from shared.cache import USER_SESSION, Cache
from shared.charges import refused_charge
from shared.config import Settings
from shared.data.plane import DataPlane
from shared.errors import BadRequest, Problem
from shared.identity import service_caller
from shared.vercel import VercelApi, VercelError
from shared.workers import keep_working

logger = structlog.stdlib.get_logger(__name__)

STATE_STATUS = {
    "QUEUED": "building",
    "INITIALIZING": "building",
    "BUILDING": "building",
    "READY": "ready",
    "ERROR": "error",
    "CANCELED": "cancelled",
    "CANCELLED": "cancelled",
    "BLOCKED": "pending",
}
"""Vercel's `readyState` as our status; anything else (BLOCKED, a state Vercel adds) is pending."""

EVENT_STATUS = {
    "deployment.created": "building",
    "deployment.check-ran": "building",
    "deployment.checks-ran": "building",
    "deployment.checks.succeeded": "building",
    "deployment.checks.failed": "building",
    "deployment.succeeded": "ready",
    "deployment.ready": "ready",
    "deployment.promoted": "ready",
    "deployment.error": "error",
    "deployment.canceled": "cancelled",
    "deployment.cancelled": "cancelled",
    "deployment.checkrun.cancel": "cancelled",
}
"""The webhook events that move a deployment, and to what; every other type is ignored."""

REFRESHED_AT_ONCE = 5
"""How many not-final deployments a list refreshes from Vercel (the newest)."""


def status_of(ready_state: str | None) -> str:
    return STATE_STATUS.get((ready_state or "").upper(), "pending")


def project_name(site_id: UUID) -> str:
    """The site's Vercel project: lowercase, unique, stable (≤ 52 characters, as the original)."""
    return f"sajtmaskin-{site_id.hex}"


# Vercel -----------------------------------------------------------------------------------------


def _problem_of(error: VercelError) -> Problem:
    """What the caller of a deploy is told when Vercel did not take it."""
    if error.refused:
        return VercelRefused(f"Vercel refused the deployment: {error}")
    return VercelUnavailable("Vercel could not take the deployment now; try again shortly.")


class VercelDeployment(msgspec.Struct, frozen=True, rename="camel"):
    """What we keep of Vercel's deployment: `url` is a host without a scheme."""

    id: str
    url: str
    ready_state: str
    project_id: str
    inspector_url: str | None = None


class ProjectDomain(msgspec.Struct, frozen=True):
    name: str
    verified: bool | None = None


class Vercel:
    """Vercel's REST API for deployments and project domains, for one team (or the token's own
    account), over the process's shared HTTP client; no retries (a POST twice is two
    deployments)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._api = VercelApi(settings, http, DeploymentsNotConfigured)

    @property
    def configured(self) -> bool:
        return self._api.configured

    async def create_deployment(
        self, name: str, target: str, files: list[EngineFile]
    ) -> VercelDeployment:
        """A new deployment of `files` to the project `name` (created by its first one)."""
        body: dict[str, Any] = {
            "name": name,
            "files": [
                {
                    "file": file.name,
                    "data": base64.b64encode(file.content.encode()).decode(),
                    "encoding": "base64",
                }
                for file in files
            ],
            "projectSettings": {"framework": "nextjs"},
        }
        if target == "production":
            body["target"] = "production"
        return await self._api.call(
            "POST",
            "/v13/deployments",
            VercelDeployment,
            query={"skipAutoDetectionConfirmation": "1"},
            body=body,
        )

    async def deployment(self, deployment_id: str) -> VercelDeployment:
        return await self._api.call("GET", f"/v13/deployments/{deployment_id}", VercelDeployment)

    async def add_domain(self, project_id: str, domain: str) -> ProjectDomain:
        """Add `domain` to the project. Already on this project counts as added."""
        try:
            return await self._api.call(
                "POST", f"/v9/projects/{project_id}/domains", ProjectDomain, body={"name": domain}
            )
        except VercelError as error:
            if error.code == "domain_already_exists":
                return ProjectDomain(domain)
            raise


# The webhook's body -------------------------------------------------------------------------------


class _EventDeployment(msgspec.Struct, frozen=True):
    id: str | None = None


class _EventPayload(msgspec.Struct, frozen=True):
    deployment: _EventDeployment | None = None


class _Event(msgspec.Struct, frozen=True):
    type: str = ""
    payload: _EventPayload | None = None


# Deployments --------------------------------------------------------------------------------------


class Timing(msgspec.Struct, frozen=True):
    """How the worker paces itself (seconds)."""

    poll_s: float = 15.0
    domain_lease_s: int = 60
    """How long a claimed domain is another worker's to leave alone."""
    interrupted_s: int = 600
    """A deployment still without Vercel's id this long after its charge was interrupted."""


class Deployments:
    """Deploys, their states and the webhook; bought domains attached. One per process."""

    def __init__(
        self,
        settings: Settings,
        data: DataPlane,
        cache: Cache,
        engine: Engine,
        vercel: Vercel,
        timing: Timing | None = None,
    ) -> None:
        self._data = data
        self._cache = cache
        self._engine = engine
        self._vercel = vercel
        self._secret = settings.vercel_webhook_secret
        self._ledger = DeploymentLedger(data, service_caller(settings))
        self.timing = timing or Timing()

    async def deploy(
        self, user: SignedInUser, site_id: UUID, request: DeploymentCreate
    ) -> Deployment:
        """Deploy one of the site's versions, charged once per idempotency key. Raises
        `SiteNotFound`/`VersionNotFound` (404), `InsufficientCredits` (402), `AccountRequired`
        (401), `DeploymentsNotConfigured` (503), and after a refund the engine's problem,
        `VercelRefused` (502) or `VercelUnavailable` (503)."""
        if not self._vercel.configured:
            raise DeploymentsNotConfigured()
        if not self._engine.configured:
            raise EngineNotConfigured("Deployments read the version's files from v0: V0_API_KEY.")
        mine = DeploymentRepository(self._data, user.caller)
        started = await mine.start(
            site_id, request.version_id, request.target, request.idempotency_key
        )
        refused = refused_charge(
            started.outcome, "deploy", required=started.required, balance=started.balance
        )
        if refused is not None:
            raise refused
        match started.outcome:
            case "started" | "existing":
                assert started.deployment_id is not None  # start_deployment's contract
            case "not_found":
                raise SiteNotFound()
            case "version_not_found":
                raise VersionNotFound()
            case _:
                raise ValueError(f"start_deployment answered {started.outcome!r}")
        if started.outcome == "started":
            await self._balance_changed(user.id)
            assert started.v0_chat_id is not None
            assert started.v0_version_id is not None
            await self._send(
                started.deployment_id,
                user.id,
                project_name(site_id),
                request.target,
                started.v0_chat_id,
                started.v0_version_id,
            )
        row = await mine.deployment(site_id, started.deployment_id)
        if row is None:
            raise DeploymentNotFound()
        return row.wire()

    async def list(self, user: SignedInUser, site_id: UUID) -> DeploymentList:
        """The site's deployments, newest first; the newest that are not final refreshed from
        Vercel first. `SiteNotFound` (404) when the site is not the caller's."""
        mine = DeploymentRepository(self._data, user.caller)
        rows = await mine.of_site(site_id)
        if not rows and not await mine.sees_site(site_id):
            raise SiteNotFound()
        stale = [row for row in rows if _refreshable(row)][:REFRESHED_AT_ONCE]
        if stale:
            await asyncio.gather(*(self._refresh(row) for row in stale))
            rows = await mine.of_site(site_id)
        return DeploymentList([row.wire() for row in rows])

    async def get(self, user: SignedInUser, site_id: UUID, deployment_id: UUID) -> Deployment:
        """One of the site's deployments, refreshed from Vercel while it is not final;
        `DeploymentNotFound` (404) otherwise."""
        mine = DeploymentRepository(self._data, user.caller)
        row = await mine.deployment(site_id, deployment_id)
        if row is None:
            raise DeploymentNotFound()
        if _refreshable(row):
            await self._refresh(row)
            row = await mine.deployment(site_id, deployment_id) or row
        return row.wire()

    async def receive(self, raw: bytes, signature: str | None) -> WebhookReceived:
        """One webhook delivery: verified over the raw body, then a deployment event moves our
        deployment (error and cancel refund); anything else is answered 200 and ignored, so
        Vercel does not send it again."""
        if not self._secret:
            raise WebhookNotConfigured()
        expected = hmac.new(self._secret.encode(), raw, hashlib.sha1).hexdigest().encode()
        # As bytes: a header that is not ASCII is a wrong signature, not a TypeError.
        given = (signature or "").strip().lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected, given):
            raise InvalidSignature()
        try:
            event = msgspec.json.decode(raw, type=_Event)
        except msgspec.DecodeError:
            raise BadRequest("The delivery is not a Vercel event.") from None
        log = logger.bind(event_type=event.type)
        status = EVENT_STATUS.get(event.type)
        if status is None:
            log.info("vercel event needs nothing of us")
            return WebhookReceived(ignored=True, reason="event_type")
        vercel_id = (
            event.payload.deployment.id if event.payload and event.payload.deployment else None
        )
        if not vercel_id:
            return WebhookReceived(ignored=True, reason="no_deployment")
        row = await self._ledger.by_vercel_id(vercel_id)
        if row is None:
            log.info("vercel event about a deployment we do not know", vercel_id=vercel_id)
            return WebhookReceived(ignored=True, reason="unknown_deployment")
        changed = await self._change(
            row.id,
            status,
            vercel_state=None,
            error_code=f"vercel_{status}",
            error_message=f"Vercel reported the deployment {status}.",
        )
        log.info("vercel event", deployment_id=str(row.id), outcome=changed)
        return WebhookReceived(status=changed)

    # The worker -----------------------------------------------------------------------------------

    async def work(self) -> int:
        """One pass: deployments interrupted before Vercel's answer failed and refunded, bought
        domains attached to their sites' Vercel projects. How many of each were handled."""
        swept = await self._ledger.sweep(self.timing.interrupted_s, 100)
        for gone in swept:
            logger.warning(
                "deployment interrupted, refunded", deployment_id=str(gone.deployment_id)
            )
            if gone.user_id is not None and gone.refund == "refunded":
                await self._balance_changed(gone.user_id)
        return len(swept) + await self.attach_domains()

    async def attach_domains(self) -> int:
        """Add each bought domain that is due to its site's Vercel project; how many were
        attached."""
        if not self._vercel.configured:
            return 0
        attached = 0
        for due in await self._ledger.claim_domains(20, self.timing.domain_lease_s):
            log = logger.bind(domain=due.domain, site_id=str(due.app_project_id))
            try:
                added = await self._vercel.add_domain(due.vercel_project_id, due.domain)
            except VercelError as error:
                log.warning("domain not attached", error=str(error), attempts=due.attempts)
                await self._ledger.domain_attached(
                    due.site_domain_id, due.vercel_project_id, verified=None, error=str(error)
                )
                continue
            outcome = await self._ledger.domain_attached(
                due.site_domain_id, due.vercel_project_id, verified=added.verified
            )
            log.info("domain attached", outcome=outcome)
            attached += outcome == "attached"
        return attached

    async def run(self, stop: asyncio.Event) -> None:
        """Passes every `poll_s` until `stop` is set; a failed pass is logged, not fatal."""

        async def one_pass() -> bool:
            await self.work()
            return False

        await keep_working("deployment worker", one_pass, stop, self.timing.poll_s)

    # Steps ----------------------------------------------------------------------------------------

    async def _send(
        self,
        deployment_id: UUID,
        user_id: UUID,
        name: str,
        target: str,
        v0_chat_id: str,
        v0_version_id: str,
    ) -> None:
        """The version's files to Vercel, and Vercel's answer recorded; on failure the
        deployment fails (refunded) and the problem is raised."""
        log = logger.bind(deployment_id=str(deployment_id))
        try:
            version = await self._engine.version(v0_chat_id, v0_version_id)
        except Problem as unavailable:
            log.warning("version files unavailable", reason=getattr(unavailable, "reason", None))
            await self._fail(deployment_id, user_id, unavailable.code, unavailable.detail)
            raise
        try:
            created = await self._vercel.create_deployment(name, target, version.files)
        except VercelError as error:
            log.warning("vercel refused the deployment", error=str(error), status=error.status)
            refusal = _problem_of(error)
            await self._fail(deployment_id, user_id, refusal.code, str(error))
            raise refusal from None
        recorded = await self._ledger.record_vercel(
            deployment_id,
            vercel_deployment_id=created.id,
            vercel_project_id=created.project_id,
            url=_https(created.url),
            inspector_url=created.inspector_url,
            status=status_of(created.ready_state),
            vercel_state=created.ready_state,
        )
        if recorded.refund == "refunded":
            await self._balance_changed(user_id)

    async def _refresh(self, row: DeploymentRow) -> None:
        """The deployment's state as Vercel has it now; Vercel failing leaves it as it was."""
        assert row.vercel_deployment_id is not None
        try:
            seen = await self._vercel.deployment(row.vercel_deployment_id)
        except (VercelError, DeploymentsNotConfigured) as error:
            logger.warning("deployment not refreshed", deployment_id=str(row.id), error=str(error))
            return
        status = status_of(seen.ready_state)
        await self._change(
            row.id,
            status,
            vercel_state=seen.ready_state,
            error_code=f"vercel_{seen.ready_state.lower()}",
            error_message=f"Vercel reported the deployment {seen.ready_state.lower()}.",
        )

    async def _change(
        self,
        deployment_id: UUID,
        status: str,
        *,
        vercel_state: str | None,
        error_code: str,
        error_message: str,
    ) -> str | None:
        """Move the deployment to `status`; `error_code` and `error_message` are kept only for
        error and cancelled."""
        changed = await self._ledger.change_status(
            deployment_id,
            status,
            vercel_state=vercel_state,
            error_code=error_code if status in ("error", "cancelled") else None,
            error_message=error_message if status in ("error", "cancelled") else None,
        )
        if changed.refund == "refunded" and changed.user_id is not None:
            await self._balance_changed(changed.user_id)
        return changed.status

    async def _fail(self, deployment_id: UUID, user_id: UUID, code: str, message: str) -> None:
        changed = await self._ledger.change_status(
            deployment_id, "error", error_code=code, error_message=message
        )
        if changed.refund == "refunded":
            await self._balance_changed(user_id)

    async def _balance_changed(self, user_id: UUID) -> None:
        # The cached user (diamonds) is stale: the next reader loads it afresh.
        await self._cache.invalidate(USER_SESSION.key(user_id))


def _refreshable(row: DeploymentRow) -> bool:
    return row.status not in FINAL_STATUSES and row.vercel_deployment_id is not None


def _https(host: str) -> str:
    return host if host.startswith(("https://", "http://")) else f"https://{host}"


# Lifespans ----------------------------------------------------------------------------------------


@asynccontextmanager
async def deployments_domain(app: Litestar) -> AsyncIterator[None]:
    """Build `state.deployments` (deploys, their states, the webhook, domains) over the shared
    clients and the app's `state.engine` (built here when no lifespan before built one), and run
    its worker while the app runs: every replica may, since claims and status changes are
    conditional in SQL. On shutdown a pass under way is finished."""
    state = app.state
    engine = state.get("engine") or Engine(state.settings, state.http)
    deployments = Deployments(
        state.settings, state.data_plane, state.cache, engine, Vercel(state.settings, state.http)
    )
    state.deployments = deployments
    stop = asyncio.Event()
    task = asyncio.create_task(deployments.run(stop), name="deployment-worker")
    try:
        yield
    finally:
        stop.set()
        await task
