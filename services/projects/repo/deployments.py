"""The queries of deployments: starting one (and charging for it) and reading them as the caller;
recording Vercel's answers and states, sweeping and attaching domains as the service role, which
alone writes a deployment (a client that could would mark one ready that never built, or error
to be refunded for one that did)."""

from datetime import datetime
from uuid import UUID

import msgspec

from services.projects.models.deployments import Deployment
from shared.data.query import Rpc, Select, desc, eq
from shared.data.repository import Repository
from shared.data.rows import row_as

DEPLOYMENT_COLUMNS = (
    "id",
    "app_project_id",
    "version_id",
    "target",
    "status",
    "url",
    "inspector_url",
    "domain",
    "vercel_deployment_id",
    "cost",
    "balance_after",
    "error_code",
    "error_message",
    "created_at",
    "updated_at",
)
LIST_LIMIT = 100


class StartOutcome(msgspec.Struct, frozen=True):
    """What `start_deployment` did: 'started' or 'existing' (deployment_id, status, cost,
    balance, and v0's ids of the version), 'not_found', 'version_not_found', or billing's
    refusal: 'insufficient' (required, balance), 'requires_account', 'unknown_action'."""

    outcome: str
    deployment_id: UUID | None
    status: str | None
    cost: int | None
    balance: int | None
    required: int | None
    v0_chat_id: str | None
    v0_version_id: str | None


class StatusChange(msgspec.Struct, frozen=True):
    """What a status change did: 'changed', 'unchanged', 'recorded', 'already_recorded' or
    'unknown_deployment'; the status after it, billing's refund outcome when it refunded, and
    the site's owner (whose balance a refund changed)."""

    outcome: str
    status: str | None
    refund: str | None
    user_id: UUID | None


class SweptDeployment(msgspec.Struct, frozen=True):
    deployment_id: UUID
    refund: str | None
    user_id: UUID | None


class DomainAttachment(msgspec.Struct, frozen=True):
    """A bought domain to add to its site's Vercel project, claimed for a while."""

    site_domain_id: UUID
    app_project_id: UUID
    domain: str
    vercel_project_id: str
    attempts: int


class DeploymentRow(msgspec.Struct, frozen=True):
    """A deployment as its row holds it."""

    id: UUID
    app_project_id: UUID | None
    version_id: UUID
    target: str
    status: str
    url: str | None
    inspector_url: str | None
    domain: str | None
    vercel_deployment_id: str | None
    cost: int | None
    balance_after: int | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime

    def wire(self) -> Deployment:
        return Deployment(
            id=self.id,
            site_id=self.app_project_id,
            version_id=self.version_id,
            target=self.target,
            status=self.status,
            url=self.url,
            inspector_url=self.inspector_url,
            domain=self.domain,
            vercel_deployment_id=self.vercel_deployment_id,
            cost=self.cost,
            balance=self.balance_after,
            error_code=self.error_code,
            error_message=self.error_message,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class DeploymentRepository(Repository):
    """Deployments as one user sees them (row-level security: their own sites')."""

    async def start(
        self, site_id: UUID, version_id: UUID, target: str, idempotency_key: str
    ) -> StartOutcome:
        """Charge the caller for a deployment and record it as pending, once per site and key."""
        rows = await self.rows(
            Rpc(
                "start_deployment",
                {
                    "p_app_project_id": site_id,
                    "p_version_id": version_id,
                    "p_target": target,
                    "p_idempotency_key": idempotency_key,
                },
            )
        )
        return row_as(StartOutcome, rows[0])

    async def of_site(self, site_id: UUID) -> list[DeploymentRow]:
        """The site's deployments, newest first."""
        rows = await self.rows(
            Select(
                "deployments",
                DEPLOYMENT_COLUMNS,
                (eq("app_project_id", site_id),),
                order=(desc("created_at"), desc("id")),
                limit=LIST_LIMIT,
            )
        )
        return [row_as(DeploymentRow, row) for row in rows]

    async def sees_site(self, site_id: UUID) -> bool:
        """Whether the site is the caller's (a site without deployments lists none; anyone
        else's is not found)."""
        return bool(await self.rows(Select("app_projects", ("id",), (eq("id", site_id),))))

    async def deployment(self, site_id: UUID, deployment_id: UUID) -> DeploymentRow | None:
        """One of the site's deployments; None when the caller sees no such one."""
        return await self.one_or_none(
            Select(
                "deployments",
                DEPLOYMENT_COLUMNS,
                (eq("app_project_id", site_id), eq("id", deployment_id)),
            ),
            DeploymentRow,
        )


class DeploymentLedger(Repository):
    """Deployments as the projects service writes them: run as the service role."""

    async def by_vercel_id(self, vercel_deployment_id: str) -> DeploymentRow | None:
        return await self.one_or_none(
            Select(
                "deployments",
                DEPLOYMENT_COLUMNS,
                (eq("vercel_deployment_id", vercel_deployment_id),),
            ),
            DeploymentRow,
        )

    async def record_vercel(
        self,
        deployment_id: UUID,
        *,
        vercel_deployment_id: str,
        vercel_project_id: str,
        url: str,
        inspector_url: str | None,
        status: str,
        vercel_state: str,
    ) -> StatusChange:
        """Record Vercel's ids, URL and first state for a deployment it accepted."""
        return await self._change(
            Rpc(
                "record_vercel_deployment",
                {
                    "p_deployment_id": deployment_id,
                    "p_vercel_deployment_id": vercel_deployment_id,
                    "p_vercel_project_id": vercel_project_id,
                    "p_url": url,
                    "p_inspector_url": inspector_url,
                    "p_status": status,
                    "p_vercel_state": vercel_state,
                },
            )
        )

    async def change_status(
        self,
        deployment_id: UUID,
        status: str,
        *,
        vercel_state: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> StatusChange:
        """Move a deployment to `status` (final ones never change; error and cancelled refund
        the charge once)."""
        return await self._change(
            Rpc(
                "change_deployment_status",
                {
                    "p_deployment_id": deployment_id,
                    "p_status": status,
                    "p_vercel_state": vercel_state,
                    "p_error_code": error_code,
                    "p_error_message": error_message,
                },
            )
        )

    async def sweep(self, after_s: int, batch: int) -> list[SweptDeployment]:
        """Fail and refund deployments left pending without a Vercel id for `after_s`."""
        rows = await self.rows(Rpc("sweep_deployments", {"p_after_s": after_s, "p_batch": batch}))
        return [row_as(SweptDeployment, row) for row in rows]

    async def claim_domains(self, batch: int, lease_s: int) -> list[DomainAttachment]:
        """Bought domains due to be added to their site's Vercel project, claimed for
        `lease_s`."""
        rows = await self.rows(
            Rpc("claim_domain_attachments", {"p_batch": batch, "p_lease_s": lease_s})
        )
        return [row_as(DomainAttachment, row) for row in rows]

    async def domain_attached(
        self,
        site_domain_id: UUID,
        vercel_project_id: str,
        *,
        verified: bool | None,
        error: str | None = None,
    ) -> str:
        """Record Vercel's answer to adding a domain: attached (shown on the site's production
        deployments), or an error to try again after a backoff. The outcome."""
        rows = await self.rows(
            Rpc(
                "record_domain_attachment",
                {
                    "p_site_domain_id": site_domain_id,
                    "p_vercel_project_id": vercel_project_id,
                    "p_verified": verified,
                    "p_error": error,
                },
            )
        )
        outcome: str = rows[0]["outcome"]
        return outcome

    async def _change(self, query: Rpc) -> StatusChange:
        rows = await self.rows(query)
        return row_as(StatusChange, rows[0])
