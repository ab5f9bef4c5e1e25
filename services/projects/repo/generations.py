"""The queries of generations: starting one (and charging for it) and reading one as the caller;
finishing, failing and sweeping them as the service role, which alone may end a generation (a
client that could would keep a result unpaid, or be refunded for one it got)."""

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from services.projects.models.generations import Generation
from shared.data.query import Rpc, Select, eq
from shared.data.repository import Repository
from shared.data.rows import row_as

GENERATION_COLUMNS = (
    "id",
    "app_project_id",
    "kind",
    "status",
    "cost",
    "balance_after",
    "error_code",
    "error_message",
    "v0_chat_id",
    "v0_version_id",
    "version_id",
    "demo_url",
    "files",
    "deadline_at",
)


class StartOutcome(msgspec.Struct, frozen=True):
    """What `start_generation` did: 'started' or 'existing' (generation_id, status, cost,
    balance, v0_chat_id: the chat a refine continues, deadline_at), 'not_found',
    'nothing_to_refine', or billing's refusal: 'insufficient' (required, balance),
    'quota_exceeded', 'requires_account', 'unknown_action'."""

    outcome: str
    generation_id: UUID | None
    status: str | None
    cost: int | None
    balance: int | None
    required: int | None
    v0_chat_id: str | None
    deadline_at: datetime | None


class EngineOutput(msgspec.Struct, frozen=True, kw_only=True):
    """What the engine made, to record: v0's ids, the preview and the files
    ([{name, content, locked}])."""

    v0_project_id: str | None
    v0_chat_id: str
    web_url: str | None
    v0_version_id: str
    demo_url: str | None
    files: list[dict[str, Any]]
    code: str | None


class Ended(msgspec.Struct, frozen=True):
    """How finishing or failing went: 'done' / 'failed', 'site_deleted' (finishing found its
    site deleted: failed and refunded instead), 'not_pending' (it had already ended: `status`
    says how) or 'unknown_generation'."""

    outcome: str
    status: str | None


class Swept(msgspec.Struct, frozen=True):
    """A generation the sweeper failed, the user it charged (None: a guest's), and billing's
    refund outcome (None: nothing charged)."""

    generation_id: UUID
    user_id: UUID | None
    refund: str | None


class GenerationRepository(Repository):
    """Generations as their caller: start one of its own site (charged as the caller), and read
    those of its sites."""

    async def start(
        self,
        site_id: UUID,
        kind: str,
        model_tier: str,
        idempotency_key: str,
        deadline_s: int,
    ) -> StartOutcome:
        rows = await self.rows(
            Rpc(
                "start_generation",
                {
                    "p_app_project_id": site_id,
                    "p_kind": kind,
                    "p_model_tier": model_tier,
                    "p_idempotency_key": idempotency_key,
                    "p_deadline_s": deadline_s,
                },
            )
        )
        return row_as(StartOutcome, rows[0])

    async def get(self, generation_id: UUID) -> Generation | None:
        return await self.one_or_none(
            Select("generations", GENERATION_COLUMNS, (eq("id", generation_id),)), Generation
        )


class GenerationLedger(Repository):
    """Ending generations, run as the service role (reviewed: only the service may say a paid
    generation is done, failed or abandoned)."""

    async def finish(self, generation_id: UUID, output: EngineOutput) -> Ended:
        """Record the engine's output (mirror rows, the site's saved data, the result) and mark
        the generation done, in one transaction; only a pending one."""
        rows = await self.rows(
            Rpc(
                "finish_generation",
                {
                    "p_generation_id": generation_id,
                    "p_v0_project_id": output.v0_project_id,
                    "p_v0_chat_id": output.v0_chat_id,
                    "p_web_url": output.web_url,
                    "p_v0_version_id": output.v0_version_id,
                    "p_demo_url": output.demo_url,
                    "p_files": output.files,
                    "p_code": output.code,
                },
            )
        )
        return row_as(Ended, rows[0])

    async def fail(self, generation_id: UUID, code: str, message: str) -> Ended:
        """Mark a pending generation failed and refund its charge, once."""
        rows = await self.rows(
            Rpc(
                "fail_generation",
                {
                    "p_generation_id": generation_id,
                    "p_error_code": code,
                    "p_error_message": message,
                },
            )
        )
        return row_as(Ended, rows[0])

    async def sweep(self, batch: int) -> list[Swept]:
        """Fail and refund up to `batch` generations pending past their deadline."""
        rows = await self.rows(Rpc("sweep_generations", {"p_batch": batch}))
        return [row_as(Swept, row) for row in rows]
