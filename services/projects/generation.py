"""Generations: a site generated from a prompt, refined by a message, or started from a template,
paid for in credits and recorded whatever happens.

Every generation goes the same way:

1. `start_generation` as the caller, one SQL transaction: the generation recorded as pending and
   charged through billing's `charge_credits` (a user's diamonds, a guest's quota). A refusal
   (402, a site not the caller's, nothing to refine) leaves nothing behind. The same
   idempotency key again finds the first generation and charges nothing.
2. The engine (v0) makes the version: `create_chat`, `send_message` to the chat the site's last
   generation made, or for a template `init_template` after the template cache missed, else
   `init_files` with the cached files (no tokens), so every site has a chat of its own: refining
   one site never continues another's (or another tenant's) chat.
3. `finish_generation` as the service role, one transaction: the v0 mirror rows, the site's
   saved data and file list, the generation done. Or, on any failure, `fail_generation`: the
   generation failed and its charge refunded, once; the answer is the engine's problem. A site
   deleted while the engine worked leaves its generation behind (without a site), and finishing
   fails and refunds it (`site_deleted`); the answer is 404.

The flow runs in a task of its own, not in the request: a client that hangs up (a stream closed,
a request cancelled) neither cancels the charge's bookkeeping nor leaves it half done; the answer,
JSON or a stream of events, only observes the task. A request whose key already names a
generation waits for that one to end (polling its row, with a growing wait, up to its deadline)
and answers its outcome: twenty requests at once with one key make one charge, one engine call
and twenty equal answers. Should the process die between charge and result, the row stays
pending past its deadline, and the sweeper (`generation_sweeper`, in every replica) fails and
refunds it; its SQL skips rows another sweep holds, so sweeps at once refund each charge once.
"""

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import structlog
from litestar import Litestar

from services.projects.engine import Engine
from services.projects.models.engine import (
    Chat,
    Content,
    EngineEvent,
    EngineFile,
    EngineNotConfigured,
    EngineRejected,
    EngineUnavailable,
    Finished,
)
from services.projects.models.generations import (
    ContentEvent,
    DoneEvent,
    ErrorEvent,
    GenerateRequest,
    Generation,
    GenerationResult,
    IdempotencyKeyReused,
    NothingToRefine,
    RefineRequest,
    StartedEvent,
    StreamEvent,
    TemplateGenerateRequest,
    VersionEvent,
)
from services.projects.models.sites import SiteNotFound
from services.projects.models.templates import TemplateGeneration, TemplateNotCached
from services.projects.repo.generations import (
    EngineOutput,
    GenerationLedger,
    GenerationRepository,
    StartOutcome,
)
from services.projects.repo.templates import TemplateCacheRepository
from shared.access import Owner
from shared.cache import PROJECT_FILES, PROJECT_LIST, USER_SESSION, Cache, CacheKey
from shared.charges import refused_charge
from shared.config import Settings
from shared.data.plane import DataPlane
from shared.errors import Problem
from shared.identity import service_caller

logger = structlog.stdlib.get_logger(__name__)

DEADLINE_MARGIN_S = 60.0
"""A generation's row outlives the engine's own deadline by this much before the sweeper may
refund it, so a flow that is still working fails it (with its own problem) first."""
SWEEP_EVERY_S = 30.0
SWEEP_BATCH = 100
WAIT_FIRST_S = 0.05
WAIT_LONGEST_S = 1.0
"""A request whose key names a running generation looks at its row after WAIT_FIRST_S, then
after waits growing by half up to WAIT_LONGEST_S."""
MAIN_FILES = ("app/page.tsx", "app/page.jsx", "pages/index.tsx", "index.html")
"""The file saved as the site's `currentCode`, the first of these present (else the first)."""

Emit = Callable[[StreamEvent], None]
Produce = Callable[[StartOutcome, Emit], Awaitable["Produced"]]


class Produced(msgspec.Struct, frozen=True):
    """What the engine (or the template cache) gave for a generation."""

    output: EngineOutput
    from_engine: bool


class Run(msgspec.Struct, frozen=True):
    """A generation under way: its task (which ends it, whoever watches) and its events."""

    generation_id: UUID
    task: "asyncio.Task[GenerationResult]"
    events: "asyncio.Queue[StreamEvent | None]"

    async def result(self) -> GenerationResult:
        """The outcome; the task goes on if the waiting request is cancelled."""
        return await asyncio.shield(self.task)

    async def stream(self) -> AsyncIterator[StreamEvent]:
        """The events as they come, ending with `done` or `error`."""
        while (event := await self.events.get()) is not None:
            yield event


class Generations:
    """Generate, refine and template generations, each charged as its caller and ended as the
    service; one per process."""

    def __init__(
        self,
        settings: Settings,
        data: DataPlane,
        cache: Cache,
        engine: Engine,
        *,
        sweep_every_s: float = SWEEP_EVERY_S,
    ) -> None:
        self._settings = settings
        self._data = data
        self._cache = cache
        self._engine = engine
        # As the service role: ending and sweeping generations is the service's, never a client's.
        self._ledger = GenerationLedger(data, service_caller(settings))
        self._deadline_s = math.ceil(settings.v0_deadline_s + DEADLINE_MARGIN_S)
        self.sweep_every_s = sweep_every_s
        self._running: set[asyncio.Task[GenerationResult]] = set()

    # Starting ------------------------------------------------------------------------------------

    async def generate(
        self, owner: Owner, site_id: UUID, request: GenerateRequest, *, streaming: bool = False
    ) -> Run:
        """Charge for and run a generation of `site_id` from `request.prompt` (through v0's
        stream when `streaming`, its content passed on as events)."""

        async def produce(started: StartOutcome, emit: Emit) -> Produced:
            if streaming:
                return await _streamed(
                    emit, self._engine.stream_chat(request.prompt, request.model)
                )
            return _produced(await self._engine.create_chat(request.prompt, request.model))

        return await self._begin(
            owner, site_id, "generate", request.model, request.idempotency_key, produce
        )

    async def refine(
        self, owner: Owner, site_id: UUID, request: RefineRequest, *, streaming: bool = False
    ) -> Run:
        """Charge for and run a refine of `site_id`: `request.message` to the chat of the site's
        newest finished generation; `NothingToRefine` (409) when it has none."""

        async def produce(started: StartOutcome, emit: Emit) -> Produced:
            chat_id = started.v0_chat_id or ""
            if streaming:
                return await _streamed(
                    emit, self._engine.stream_message(chat_id, request.message, request.model)
                )
            return _produced(
                await self._engine.send_message(chat_id, request.message, request.model)
            )

        return await self._begin(
            owner, site_id, "refine", request.model, request.idempotency_key, produce
        )

    async def from_template(
        self, owner: Owner, template_id: str, request: TemplateGenerateRequest
    ) -> Run:
        """Charge for (as a generation) and start `request.project_id` from v0's template: a new
        chat of the site's own from the files of the caller's own or the shared cached
        generation when one is live (the entry left as it is), else v0's template, which then
        becomes the calling user's own cache entry."""

        async def produce(started: StartOutcome, emit: Emit) -> Produced:
            cached = await self._cached_template(owner, template_id)
            if cached is not None:
                chat = await self._engine.init_files(cached)
                return Produced(_output_of(chat, cached), from_engine=False)
            produced = _produced(await self._engine.init_template(template_id))
            await self._cache_template(owner, template_id, produced.output)
            return produced

        return await self._begin(
            owner, request.project_id, "template", "standard", request.idempotency_key, produce
        )

    async def close(self, timeout_s: float = 10.0) -> None:
        """Let generations under way end (on shutdown); those that do not in time are left to
        the sweeper."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout_s)

    # The flow ------------------------------------------------------------------------------------

    async def _begin(
        self,
        owner: Owner,
        site_id: UUID,
        kind: str,
        model: str,
        key: str,
        produce: Produce,
    ) -> Run:
        """Start the generation (refusals raise here, before any answer begins) and its task."""
        if not self._engine.configured:
            # Charging for a generation that cannot run would only be refunded at once (a cached
            # template too needs v0: the site's own chat is made from the cached files).
            raise EngineNotConfigured()
        started = await GenerationRepository(self._data, owner.caller).start(
            site_id, kind, model, key, self._deadline_s
        )
        _refuse(started, kind)
        assert started.generation_id is not None  # set for 'started' and 'existing'
        events: asyncio.Queue[StreamEvent | None] = asyncio.Queue()

        def emit(event: StreamEvent) -> None:
            events.put_nowait(event)

        if started.outcome == "started":
            await self._balance_changed(owner)
            work = self._run(owner, site_id, started, produce, emit)
        else:
            work = self._await_existing(owner, site_id, kind, started.generation_id, emit)
        emit(StartedEvent(started.generation_id))
        task = asyncio.create_task(_ending(work, events), name=f"generation-{kind}")
        self._running.add(task)
        task.add_done_callback(_forget(self._running))
        return Run(started.generation_id, task, events)

    async def _run(
        self,
        owner: Owner,
        site_id: UUID,
        started: StartOutcome,
        produce: Produce,
        emit: Emit,
    ) -> GenerationResult:
        generation_id = started.generation_id
        assert generation_id is not None
        ledger = self._ledger
        log = logger.bind(generation=str(generation_id), site=str(site_id))
        try:
            produced = await produce(started, emit)
            ended = await ledger.finish(generation_id, produced.output)
        except Problem as problem:
            reason = getattr(problem, "reason", problem.detail)
            log.warning("generation failed", code=problem.code, reason=reason)
            await self._fail(owner, ledger, generation_id, problem.code, problem.detail)
            raise
        except BaseException:
            log.exception("generation failed")
            await asyncio.shield(
                self._fail(
                    owner,
                    ledger,
                    generation_id,
                    EngineUnavailable.code,
                    "The generation could not be completed.",
                )
            )
            raise
        if ended.outcome == "site_deleted":
            # Its site was deleted while the engine worked: finishing failed and refunded it.
            log.warning("generation's site deleted before its result came; refunded")
            await self._balance_changed(owner)
            raise SiteNotFound()
        if ended.outcome == "done":
            await self._cache.invalidate(_list_key(owner), PROJECT_FILES.key(site_id))
            log.info("generation done", from_engine=produced.from_engine)
        else:
            # Swept (past its deadline) before the engine answered.
            log.warning("generation ended before its result came", outcome=ended.outcome)
        return await self._outcome(owner, site_id, generation_id, emit)

    async def _fail(
        self, owner: Owner, ledger: GenerationLedger, generation_id: UUID, code: str, message: str
    ) -> None:
        try:
            await ledger.fail(generation_id, code, message)
        except Exception:
            # The sweeper refunds it after its deadline.
            logger.exception("generation could not be failed", generation=str(generation_id))
            return
        await self._balance_changed(owner)

    async def _balance_changed(self, owner: Owner) -> None:
        # The cached user (diamonds) is stale: the next reader loads it afresh.
        if owner.user_id is not None:
            await self._cache.invalidate(USER_SESSION.key(owner.user_id))

    async def _await_existing(
        self, owner: Owner, site_id: UUID, kind: str, generation_id: UUID, emit: Emit
    ) -> GenerationResult:
        """The outcome of the generation the key already names, once it has one."""
        repository = GenerationRepository(self._data, owner.caller)
        wait = WAIT_FIRST_S
        while True:
            generation = await repository.get(generation_id)
            if generation is None:
                raise SiteNotFound()
            if (generation.app_project_id, generation.kind) != (site_id, kind):
                raise IdempotencyKeyReused()
            if generation.status != "pending":
                return _outcome_of(generation, emit)
            if datetime.now(UTC) >= generation.deadline_at:
                # Its process is gone; end it now rather than wait for the sweeper.
                ledger = self._ledger
                await self._fail(
                    owner,
                    ledger,
                    generation_id,
                    EngineUnavailable.code,
                    "The generation did not finish before its deadline.",
                )
                continue
            await asyncio.sleep(wait)
            wait = min(wait * 1.5, WAIT_LONGEST_S)

    async def _outcome(
        self, owner: Owner, site_id: UUID, generation_id: UUID, emit: Emit
    ) -> GenerationResult:
        generation = await GenerationRepository(self._data, owner.caller).get(generation_id)
        if generation is None:
            raise SiteNotFound()
        return _outcome_of(generation, emit)

    # Templates -----------------------------------------------------------------------------------

    async def _cached_template(self, owner: Owner, template_id: str) -> list[EngineFile] | None:
        """The files of the live cache entry the caller sees (its own, else the shared one);
        None when there is none, or it holds no file to start a chat from."""
        try:
            cached = await TemplateCacheRepository(self._data, owner.caller).live(template_id)
        except TemplateNotCached:
            return None
        return _cached_files(cached.files_json) or None

    async def _cache_template(self, owner: Owner, template_id: str, output: EngineOutput) -> None:
        """The generation as the calling user's own cache entry (guests may not write it); a
        cache that cannot be written costs a later call to v0, not this generation."""
        if owner.user_id is None:
            return
        try:
            await TemplateCacheRepository(self._data, owner.caller).cache_own(
                TemplateGeneration(
                    template_id=template_id,
                    chat_id=output.v0_chat_id,
                    demo_url=output.demo_url,
                    version_id=output.v0_version_id,
                    files_json=output.files,
                    code=output.code,
                    model="standard",
                )
            )
        except Problem as problem:
            logger.warning("template cache not written", template=template_id, code=problem.code)

    # The sweeper ---------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """One pass: fail and refund the generations pending past their deadline, and drop the
        cached user (its balance) of everyone refunded; how many."""
        ledger = self._ledger
        swept = await ledger.sweep(SWEEP_BATCH)
        for generation in swept:
            logger.warning(
                "abandoned generation refunded",
                generation=str(generation.generation_id),
                refund=generation.refund,
            )
        refunded = {g.user_id for g in swept if g.user_id is not None and g.refund is not None}
        if refunded:
            await self._cache.invalidate(*(USER_SESSION.key(user) for user in refunded))
        return len(swept)

    async def run_sweeper(self, stop: asyncio.Event) -> None:
        """Sweep every `sweep_every_s` until `stop` is set; a failing pass (the database away)
        is logged and tried again next time."""
        while not stop.is_set():
            try:
                while await self.sweep() >= SWEEP_BATCH:
                    pass
            except Problem as problem:
                logger.warning("generation sweep failed", code=problem.code)
            except Exception:
                logger.exception("generation sweep failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.sweep_every_s)


@asynccontextmanager
async def generation_sweeper(app: Litestar) -> AsyncIterator[None]:
    """A lifespan that refunds abandoned generations in the background while the app runs (after
    the one that builds `app.state.generations`); on shutdown, generations under way are given a
    moment to end."""
    generations: Generations = app.state.generations
    stop = asyncio.Event()
    task = asyncio.create_task(generations.run_sweeper(stop), name="generation-sweeper")
    try:
        yield
    finally:
        stop.set()
        await task
        await generations.close()


# Helpers -----------------------------------------------------------------------------------------


async def _ending(
    work: Awaitable[GenerationResult], events: "asyncio.Queue[StreamEvent | None]"
) -> GenerationResult:
    """`work`, with its last events: `done`, or `error` with the problem it raised; then the
    end of the stream."""
    try:
        result = await work
    except Problem as problem:
        events.put_nowait(ErrorEvent(problem.body()))
        raise
    except BaseException:
        events.put_nowait(ErrorEvent(EngineUnavailable("internal").body()))
        raise
    else:
        events.put_nowait(DoneEvent(result))
        return result
    finally:
        events.put_nowait(None)


def _produced(chat: Chat) -> Produced:
    return Produced(_output_of(chat), from_engine=True)


async def _streamed(emit: Emit, events: AsyncIterator[EngineEvent]) -> Produced:
    """The engine's chat from its stream, each piece of content passed on as it comes."""
    finished: Chat | None = None
    async for event in events:
        if isinstance(event, Content):
            emit(ContentEvent(event.delta))
        elif isinstance(event, Finished):
            finished = event.chat
    if finished is None:
        raise EngineUnavailable("v0's stream ended without the chat")
    return _produced(finished)


def _refuse(started: StartOutcome, kind: str) -> None:
    """`start_generation`'s refusals as problems (a template is charged as a generation)."""
    action = "refine" if kind == "refine" else "generate"
    refused = refused_charge(
        started.outcome, action, required=started.required, balance=started.balance
    )
    if refused is not None:
        raise refused
    match started.outcome:
        case "started" | "existing":
            return
        case "not_found":
            raise SiteNotFound()
        case "nothing_to_refine":
            raise NothingToRefine()
    raise ValueError(f"start_generation answered {started.outcome!r}")


def _outcome_of(generation: Generation, emit: Emit) -> GenerationResult:
    """A generation that ended, as its answer (done) or its problem (failed)."""
    if generation.status == "done":
        emit(VersionEvent(generation.version_id, generation.demo_url))
        return generation.result()
    message = generation.error_message or "The generation failed."
    match generation.error_code:
        case EngineRejected.code:
            raise EngineRejected(message)
        case EngineNotConfigured.code:
            raise EngineNotConfigured(message)
    raise EngineUnavailable(f"generation {generation.id} failed: {generation.error_code}")


def _output_of(chat: Chat, given: list[EngineFile] | None = None) -> EngineOutput:
    """The chat's completed latest version, to record; its files, else the `given` ones the
    chat was started from (should v0 answer a version without them)."""
    version = chat.latest_version
    if version is None or version.status != "completed":
        raise EngineUnavailable(f"v0 chat {chat.id} has no completed version", chat_id=chat.id)
    files = [
        {"name": f.name, "content": f.content, "locked": f.locked}
        for f in (version.files or given or [])
    ]
    return EngineOutput(
        v0_project_id=chat.v0_project_id,
        v0_chat_id=chat.id,
        web_url=chat.web_url or None,
        v0_version_id=version.id,
        demo_url=version.demo_url,
        files=files,
        code=_main_code(files),
    )


def _main_code(files: list[dict[str, Any]]) -> str | None:
    by_name = {file["name"]: file.get("content") for file in files}
    for name in MAIN_FILES:
        if name in by_name:
            return by_name[name]
    return files[0].get("content") if files else None


def _cached_files(files_json: Any) -> list[EngineFile]:
    """A cache entry's files ([{name, content, locked}]); anything else is no file."""
    if not isinstance(files_json, list):
        return []
    return [
        EngineFile(
            name=file["name"],
            content=file["content"] if isinstance(file.get("content"), str) else "",
            locked=bool(file.get("locked", False)),
        )
        for file in files_json
        if isinstance(file, dict) and isinstance(file.get("name"), str)
    ]


def _list_key(owner: Owner) -> CacheKey:
    return PROJECT_LIST.key(owner.user_id or owner.guest_session or "")


def _forget(running: "set[asyncio.Task[GenerationResult]]") -> Callable[[Any], None]:
    def forget(task: "asyncio.Task[GenerationResult]") -> None:
        running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failure nobody awaited is not logged again

    return forget
