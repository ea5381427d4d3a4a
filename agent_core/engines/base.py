"""What both engines share: their inputs, the life of one step, extraction, and how a run's outcome is built.

`Engine._step` is a template method: it owns everything a step does whatever the engine (hooks, artifacts,
recording the model's reply, usage, extraction at completion, and how each kind of failure ends the step).
An engine only says how to look at the page (`observe`), ask its model (`ask`) and carry the reply out (`act`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from agent_core.browser.session import BrowserSession, image_type
from agent_core.control import cancellable
from agent_core.engines.steps import StepResult, step_limit_reason, step_loop
from agent_core.errors import RetryStepRequested, RunTerminatedError, StepFailedError
from agent_core.extraction import extract
from agent_core.llm import LLMReply, OpenAIClient
from agent_core.scraper import scrape
from agent_core.types import (
    ActionFinished,
    ActionResult,
    ActionStarted,
    AgentConfig,
    ArtifactKind,
    ArtifactOut,
    Control,
    HumanHelp,
    HumanReply,
    LLMConfig,
    LLMDelta,
    LLMResponse,
    RunHooks,
    RunOutcome,
    RunStatus,
    StepFinished,
    StepRef,
    StepStarted,
    TaskSpec,
    Usage,
)

__all__ = ["Engine", "StepTimings"]

Observation = TypeVar("Observation")
TimedPart = Literal["scrape", "screenshot", "execute", "hooks", "model", "overlap"]


@dataclass
class StepTimings:
    """Where a step's time went (milliseconds); read by bench/step_overhead.py."""

    scrape: float = 0.0
    screenshot: float = 0.0
    execute: float = 0.0
    hooks: float = 0.0
    model: float = 0.0
    overlap: float = 0.0  # of scrape and screenshot, which ran at the same time: the step's wall time is less

    def add(self, part: TimedPart, ms: float) -> None:
        setattr(self, part, getattr(self, part) + ms)


class Engine(ABC, Generic[Observation]):
    """Base of the dom and cua engines; `run()` drives the task to a RunOutcome.

    `Observation` is what an engine's `observe` hands to its `ask` and `act` for the same step.
    """

    # Whether a step that fails after the model's reply was stored still keeps the failure's raw text
    # (StepFailedError.raw) as "response.txt". The dom engine keeps it (the rejected plan as parsed, a
    # browser's message); the cua engine does not, its stored reply already holding what the model said.
    keep_raw_after_reply: ClassVar[bool] = False

    def __init__(
        self,
        *,
        spec: TaskSpec,
        session: BrowserSession,
        llm: OpenAIClient,
        llm_config: LLMConfig,
        hooks: RunHooks,
        control: Control,
        config: AgentConfig,
    ) -> None:
        self.spec, self.session, self.llm, self.llm_config = spec, session, llm, llm_config
        self.hooks, self.control, self.config = hooks, control, config
        self.usage = Usage()
        self.extracted: Any = None
        self.timings: list[StepTimings] = []  # one per step attempt
        self.notes: list[str] = []  # from people, for the next prompt (see human_notes)

    async def run(self) -> RunOutcome:
        """Steps until one ends the run (see engines.steps.step_loop), then the outcome that ending means."""
        end = await step_loop(
            self._step,
            max_steps=min(self.spec.max_steps, self.config.max_steps),
            max_retries=self.config.max_retries_per_step,
        )
        if end.failure:
            return self._outcome(RunStatus.FAILED, end.failure, end.steps)
        if end.result is None:
            return self._outcome(RunStatus.FAILED, step_limit_reason(end.max_steps), end.steps)
        if end.result.kind == "terminate":  # the model gave up, with error codes from the mapping
            codes = ", ".join(e.get("error_code", "") for e in end.result.errors) or "no error code"
            reason = f"the agent stopped the task ({codes}): {end.result.reasoning}".strip()
            return self._outcome(RunStatus.TERMINATED, reason, end.steps, errors=end.result.errors)
        if end.result.kind == "denied":  # an operator denied a safety check
            return self._outcome(RunStatus.TERMINATED, end.result.error, end.steps)
        return self._outcome(RunStatus.COMPLETED, None, end.steps)

    # ---- what each engine says ----------------------------------------------------------------------------

    @abstractmethod
    async def observe(self, step: StepRef) -> Observation:
        """Look at the page for this step and store what was seen as the step's artifacts."""

    @abstractmethod
    async def ask(self, step: StepRef, observation: Observation) -> LLMReply:
        """Ask the model what to do about `observation`, through `cancellable` so termination stops it."""

    @abstractmethod
    async def act(self, step: StepRef, observation: Observation, reply: LLMReply) -> StepResult:
        """Read the stored reply and carry it out (see `_perform_action`). Raise StepFailedError for a step
        worth retrying. A "complete" result carries the model's final answer when it gave one."""

    def reply_reasoning(self, reply: LLMReply) -> str:
        """Reasoning in `reply` that was not streamed while it was generated: sent as one delta. None here."""
        return ""

    def forget_step(self) -> None:
        """The step ended without a result (failed, or an operator retried it): drop what it left for the
        next step. Nothing here."""

    async def current_screenshot(self) -> bytes:
        """The page as it is now."""
        return await self.session.screenshot()

    # ---- people: questions and notes ----------------------------------------------------------------------

    async def ask_human(self, question: str) -> HumanReply:
        """Ask the run's people `question` and wait for the reply (the control must offer HumanHelp). The
        reply also becomes a note for the next prompt."""
        if not isinstance(self.control, HumanHelp):
            raise StepFailedError("no person can answer questions in this run")
        reply = await self.control.ask_human(question)
        who = f"The person ({reply.by})" if reply.by else "The person"
        if reply.handled:
            self.notes.append(f'You asked: "{question}". {who} took over the browser and handled it themselves.')
        else:
            self.notes.append(f'You asked: "{question}". {who} answered: "{reply.answer}"')
        return reply

    def human_notes(self) -> list[str]:
        """Notes from people not yet seen by the model: kept (across retries) until `notes_delivered()`."""
        if isinstance(self.control, HumanHelp):
            self.notes.extend(self.control.take_notes())
        return list(self.notes)

    def notes_delivered(self) -> None:
        self.notes = []

    # ---- the life of a step -------------------------------------------------------------------------------

    async def _step(self, step: StepRef) -> StepResult:
        """observe -> ask -> act (-> extract on completion), reported through the hooks from step_started to
        step_finished. A failure a retry may fix returns "failed"; an operator's retry "operator_retry";
        termination is reported and re-raised."""
        self.timings.append(StepTimings())
        started = time.perf_counter()
        usage = Usage()
        replied = False

        async def finish(success: bool, error: str | None = None) -> None:
            with self._timed("hooks"):
                await self.hooks.step_finished(
                    StepFinished(
                        step=step,
                        success=success,
                        error=error,
                        usage=usage,
                        duration_ms=(time.perf_counter() - started) * 1000,
                    )
                )

        with self._timed("hooks"):
            await self.hooks.step_started(StepStarted(step=step, url=self.session.page.url))
        try:
            await self.control.checkpoint()
            observation = await self.observe(step)
            await self.control.checkpoint()
            with self._timed("model"):
                reply = await self.ask(step, observation)
            usage = usage + reply.usage
            self.usage = self.usage + reply.usage
            with self._timed("hooks"):
                await self._record_reply(step, reply)
            replied = True
            result = await self.act(step, observation, reply)
            if result.kind == "complete" and self.spec.data_extraction_goal:
                usage = usage + await self._extract(step, result.answer)
        except RetryStepRequested:
            self.forget_step()
            await finish(False, "an operator asked to retry this step")
            return StepResult(kind="operator_retry")
        except RunTerminatedError as exc:
            await finish(False, exc.reason)
            raise
        except StepFailedError as exc:  # LLMError, InvalidModelOutputError and BrowserError among them
            self.forget_step()
            if exc.raw is not None and (not replied or self.keep_raw_after_reply):
                await self._artifact(step, ArtifactKind.LLM_RESPONSE, exc.raw.encode(), "text/plain", "response.txt")
            await finish(False, str(exc))
            return StepResult(kind="failed", error=str(exc))
        if result.kind == "denied":
            await finish(False, result.error)
        else:
            await finish(True)
        return result

    async def _record_reply(self, step: StepRef, reply: LLMReply) -> None:
        await self._artifact(
            step, ArtifactKind.LLM_REQUEST, json.dumps(reply.request).encode(), "application/json", "request.json"
        )
        await self._artifact(step, ArtifactKind.LLM_RESPONSE, reply.raw.encode(), "application/json", "response.json")
        reasoning = self.reply_reasoning(reply)
        if reasoning:
            await self.hooks.llm_delta(LLMDelta(step=step, text=reasoning))
        parsed = reply.parsed if isinstance(reply.parsed, dict) else None
        await self.hooks.llm_response(LLMResponse(step=step, parsed=parsed, raw=reply.raw, usage=reply.usage))

    async def _perform_action(
        self,
        step: StepRef,
        index: int,
        action: dict[str, Any],
        perform: Callable[[], Awaitable[ActionResult]],
        measure: Callable[[ActionResult], Awaitable[ActionResult]] | None = None,
    ) -> tuple[ActionResult, bytes]:
        """Run one action (`action` is how hooks see it; `perform` carries it out) between a checkpoint and
        its hooks; keep the files it downloaded and a screenshot of the page after it, which is returned.
        `measure` reads the settled page before the screenshot and returns the result with what it found
        (the dom engine's change report); its time counts as scraping. No screenshot (b"") when
        `action_screenshot` says so."""
        await self.control.checkpoint()
        with self._timed("hooks"):
            await self.hooks.action_started(ActionStarted(step=step, index=index, action=action))
        downloads_before = len(self.session.downloads)
        with self._timed("execute"):
            result = await perform()
        # The screenshot is taken while the page is read (one waits on the compositor, the other on the page's
        # script), so a step pays for the longer of the two, not both.
        shooting = asyncio.ensure_future(self._timed_screenshot()) if self.action_screenshot(result) else None
        timings, started = self.timings[-1], time.perf_counter()
        parts_before = timings.scrape + timings.screenshot
        try:
            if measure is not None:
                with self._timed("scrape"):
                    result = await measure(result)
            shot = await shooting if shooting is not None else b""
        finally:
            if shooting is not None and not shooting.done():
                shooting.cancel()
        wall = (time.perf_counter() - started) * 1000
        timings.add("overlap", max(0.0, timings.scrape + timings.screenshot - parts_before - wall))
        for path in self.session.downloads[downloads_before:]:
            await self._artifact(
                step, ArtifactKind.DOWNLOAD, path.read_bytes(), _content_type(path.name), path.name, action_index=index
            )
        with self._timed("hooks"):
            if shot:
                await self._screenshot_artifact(step, ArtifactKind.SCREENSHOT_ACTION, shot, f"action-{index}", index)
            await self.hooks.action_finished(ActionFinished(step=step, index=index, action=action, result=result))
        return result, shot

    async def _timed_screenshot(self) -> bytes:
        with self._timed("screenshot"):
            return await self.session.screenshot()

    def action_screenshot(self, result: ActionResult) -> bool:
        """Whether to keep a screenshot of the page after this action (b"" is returned otherwise). Always here."""
        return True

    async def _extract(self, step: StepRef, answer: str | None) -> Usage:
        """One more model call answering the data_extraction_goal from the page, and from the model's final
        `answer` when it gave one; sets `extracted` (checked against the task's schema) and returns the usage."""
        await self.control.checkpoint()
        page_state = await scrape(self.session.page, include_html=False)
        shot = await self.current_screenshot()
        page_text = page_state.text
        if answer is not None:
            page_text = f"The browsing agent's final answer:\n{answer}\n\n---\n\n{page_text}"
        page_text = self.session.secrets.mask_text(page_text)
        try:
            reply = await cancellable(
                self.control,
                extract(
                    llm=self.llm,
                    spec=self.spec,
                    current_url=page_state.url,
                    page_text=page_text,
                    screenshot=shot,
                    model=self.llm_config.extraction_model,
                ),
            )
        except StepFailedError as exc:
            # An engine that keeps raw text after the reply stores it once, as the step fails.
            if exc.raw is not None and not self.keep_raw_after_reply:
                await self._artifact(
                    step, ArtifactKind.LLM_RESPONSE, exc.raw.encode(), "text/plain", "extract-response.txt"
                )
            raise
        self.usage = self.usage + reply.usage
        await self._artifact(
            step, ArtifactKind.LLM_REQUEST, json.dumps(reply.request).encode(), "application/json", "extract-request.json"
        )
        await self._artifact(step, ArtifactKind.LLM_RESPONSE, reply.raw.encode(), "application/json", "extract-response.json")
        self.extracted = reply.parsed
        return reply.usage

    # ---- small helpers ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _timed(self, part: TimedPart) -> Iterator[None]:
        """Add the time the block takes to `part` of the current step's timings."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[-1].add(part, (time.perf_counter() - started) * 1000)

    async def _artifact(
        self,
        step: StepRef,
        kind: ArtifactKind,
        data: bytes,
        content_type: str,
        name: str,
        action_index: int | None = None,
    ) -> None:
        await self.hooks.artifact(
            ArtifactOut(kind=kind, data=data, content_type=content_type, name=name, step=step, action_index=action_index)
        )

    async def _screenshot_artifact(
        self, step: StepRef, kind: ArtifactKind, shot: bytes, stem: str, action_index: int | None = None
    ) -> None:
        """Store a screenshot as `<stem>.jpeg` or `<stem>.png`, after its format."""
        content_type = image_type(shot)
        name = f"{stem}.{content_type.split('/')[1]}"
        await self._artifact(step, kind, shot, content_type, name, action_index=action_index)

    def _outcome(
        self, status: RunStatus, reason: str | None, steps: int, errors: list[dict[str, Any]] | None = None
    ) -> RunOutcome:
        return RunOutcome(
            status=status,
            failure_reason=reason,
            extracted_information=self.extracted,
            errors=errors or [],
            usage=self.usage,
            steps=steps,
        )


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
