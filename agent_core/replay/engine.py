"""ReplayEngine: carry a Script out without the model; ask the model (one normal dom step) only for a step that
no longer fits, then go on from the next recorded step that still does; hand back the repaired script.

Each recorded step becomes one step of the run (mode "replayed"): find its element by the recorded locators,
act through the dom engine's executor (secrets revealed from placeholders, egress rules, approvals asked
again), check the expected change (the URL it led to, a visible change for clicks). A step whose element
cannot be found, or whose action fails or changes something else than recorded, is handed to the model:
a dom step (mode "model", `why` names the step and the problem) with the goal, the history and a notice
of what the recorded step did. The run fails only when the model cannot get past it either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from pydantic import TypeAdapter, ValidationError

from agent_core.actions.execution import execute_action
from agent_core.actions.vocabulary import Action, action_to_dict
from agent_core.browser.settle import ACTION_SETTLE_MS
from agent_core.engines.dom import DomEngine, PageView, StepTimings, _Before
from agent_core.engines.steps import StepResult, one_step
from agent_core.errors import RetryStepRequested, RunTerminatedError, StepFailedError
from agent_core.extraction import validate_extraction
from agent_core.llm import LLMReply
from agent_core.replay.locators import Resolution, resolve
from agent_core.replay.recorder import ScriptRecorder, read_fields
from agent_core.replay.script import Script, ScriptError, ScriptStep, fill_references
from agent_core.scraper import ScrapeResult, scrape
from agent_core.types import (
    ASKED_MODEL,
    REPLAYED,
    ActionFinished,
    ActionResult,
    ActionStarted,
    RunHooks,
    RunOutcome,
    RunStatus,
    SafetyCheck,
    ScriptOut,
    StepFinished,
    StepRef,
    StepStarted,
    Usage,
)

__all__ = ["ReplayEngine"]

_ACTION: TypeAdapter[Action] = TypeAdapter(Action)
_LATE_NAVIGATION_MS = 1000


class _Modes(RunHooks):
    """The host's hooks, with the replay's current mode and why on step and action events."""

    def __init__(self, inner: RunHooks, engine: ReplayEngine) -> None:
        self.inner, self.engine = inner, engine

    def __getattribute__(self, name: str) -> Any:
        if name in ("step_started", "action_started", "action_finished", "inner", "engine"):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "inner"), name)

    async def step_started(self, event: StepStarted) -> None:
        await self.inner.step_started(dataclasses.replace(event, mode=self.engine.mode, why=self.engine.why))

    async def action_started(self, event: ActionStarted) -> None:
        await self.inner.action_started(dataclasses.replace(event, mode=self.engine.mode, why=self.engine.why))

    async def action_finished(self, event: ActionFinished) -> None:
        await self.inner.action_finished(dataclasses.replace(event, mode=self.engine.mode, why=self.engine.why))


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


class ReplayEngine(DomEngine):
    def __init__(self, *, script: Script, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script
        self.hooks = _Modes(self.hooks, self)
        # The new version: steps replayed (locators refreshed), and what the model did (the dom engine records it).
        self.new_version = ScriptRecorder(self.spec)
        self.recorder = self.new_version
        self.mode, self.why = REPLAYED, ""
        self.model_calls = 0
        self.model_steps = 0  # steps handed to the model (heals and carrying on)
        self.healed: list[int] = []  # 1-based numbers of the new version's steps the model made
        self.replayed = 0
        self._notice = ""
        self._order = 0
        self._selectors_worked = False  # the recorded extraction selectors answered

    # ---- model calls are counted ---------------------------------------------------------------------------

    async def ask(self, step: StepRef, observation: PageView) -> LLMReply:
        self.model_calls += 1
        return await super().ask(step, observation)

    async def _extract(self, step: StepRef, answer: str | None) -> Usage:
        self.model_calls += 1
        return await super()._extract(step, answer)

    def action_screenshot(self, result: ActionResult) -> bool:
        """A replayed action keeps a screenshot when it loaded another page or went wrong (the final screenshot
        shows the end): a screenshot per action would cost a replay about a quarter of its time."""
        return self.mode == ASKED_MODEL or not result.success or result.navigated

    def _loop_notes(self, page: ScrapeResult) -> list[str]:
        return [*super()._loop_notes(page), *([self._notice] if self._notice else [])]

    # ---- the run ------------------------------------------------------------------------------------------

    async def run(self) -> RunOutcome:
        steps = self.script.steps
        index, completed, failure = 0, False, None
        while index < len(steps) and failure is None:
            item = steps[index]
            problem, denied = await self._replay(index, item)
            if denied:
                return self._finish(RunStatus.TERMINATED, denied)
            if problem is None:
                index += 1
                continue
            why = f"step {index + 1} ({item.describe()}): {problem}"
            result = await self._heal(item, why)
            if result.kind == "denied":
                return self._finish(RunStatus.TERMINATED, result.error)
            if result.kind not in ("next", "complete"):
                failure = f"replay {why}; the model could not get past it either: {self._ended(result)}"
                break
            if result.kind == "complete":
                completed = True
                break
            index = await self._next_fitting(index + 1)
            if index < 0:  # the rest of the script no longer fits: the model carries on to the goal
                result = await self._carry_on(why)
                if result.kind != "complete":
                    failure = f"replay {why}; after the model's step no later recorded step fits, and then: {self._ended(result)}"
                completed = True
                break
        if failure is not None:
            return self._finish(RunStatus.FAILED, failure)
        if not completed and self.spec.data_extraction_goal:
            failure = await self._extraction()
            if failure:
                return self._finish(RunStatus.FAILED, failure)
        if self.healed:
            document = await self.new_version.document(
                self.session.page,
                extracted=self.extracted,
                recorded=self.script.recorded,
                extraction=self.script.extraction if self._selectors_worked else None,
            )
            await self.hooks.script(ScriptOut(document=document, healed_steps=list(self.healed), reason="repaired"))
        return self._finish(RunStatus.COMPLETED, None)

    def _finish(self, status: RunStatus, reason: str | None) -> RunOutcome:
        recorded = self.script.recorded or {}
        recorded_tokens = int(recorded.get("input_tokens") or 0) + int(recorded.get("output_tokens") or 0)
        spent = self.usage.input_tokens + self.usage.output_tokens
        return RunOutcome(
            status=status,
            failure_reason=reason,
            extracted_information=self.extracted,
            usage=self.usage,
            steps=self._order,
            replay={
                "steps_replayed": self.replayed,
                "steps_healed": len(self.healed),
                "model_calls": self.model_calls,
                "model_calls_recorded": int(recorded.get("model_calls") or 0),
                "tokens_saved": max(0, recorded_tokens - spent),
                "script_steps": len(self.script.steps),
            },
        )

    @staticmethod
    def _ended(result: StepResult) -> str:
        if result.kind == "terminate":
            codes = ", ".join(e.get("error_code", "") for e in result.errors) or "no error code"
            return f"the agent stopped the task ({codes}): {result.reasoning}".strip()
        return result.error or "the step limit was reached"

    def _next_ref(self) -> StepRef:
        self._order += 1
        return StepRef(self._order)

    async def _page(self) -> ScrapeResult:
        """The page as the next step finds it: the read after the last action when it is still fresh."""
        page = self._next_page if self._next_page is not None and self._next_page.url == self.session.page.url else None
        self._next_page = None
        return page or await scrape(self.session.page, include_html=False)

    # ---- one recorded step ----------------------------------------------------------------------------------

    async def _replay(self, index: int, item: ScriptStep) -> tuple[str | None, str | None]:
        """Replay step `index` as one step of the run: (problem, None) when it did not go as recorded (None: it
        did), or (None, reason) when an operator denied its safety checks."""
        step = self._next_ref()
        self.mode, self.why = REPLAYED, ""
        self.timings.append(StepTimings())
        started = time.perf_counter()
        await self.hooks.step_started(StepStarted(step=step, url=self.session.page.url))

        async def finish(error: str | None) -> None:
            await self.hooks.step_finished(
                StepFinished(step=step, success=error is None, error=error, duration_ms=(time.perf_counter() - started) * 1000)
            )

        try:
            await self.control.checkpoint()
            problem, denied = await self._replay_step(step, index, item)
        except RetryStepRequested:
            self.forget_step()
            await finish("an operator asked to retry this step")
            return await self._replay(index, item)
        except RunTerminatedError as exc:
            await finish(exc.reason)
            raise
        except StepFailedError as exc:  # the page could not be read (crashed, closed): the model's turn
            self.forget_step()
            problem, denied = str(exc), None
        await finish(denied or problem)
        return problem, denied

    async def _replay_step(self, step: StepRef, index: int, item: ScriptStep) -> tuple[str | None, str | None]:
        page = await self._page()
        resolution: Resolution | None = None
        element_id = None
        if item.target is not None:
            resolution = await resolve(self.session.page, page, item.target, item.listing_line)
            if resolution.element is None:
                # It may still be arriving: once more after the page settles.
                await self.session.wait_for_settle(1000)
                page = await scrape(self.session.page, include_html=False)
                resolution = await resolve(self.session.page, page, item.target, item.listing_line)
            if resolution.element is None:
                return resolution.problem, None
            element_id = resolution.element.id
        try:
            params = fill_references(item.params, self.spec.navigation_payload)
            action = _ACTION.validate_python(
                {**params, "action_type": item.action, "element_id": element_id, "reasoning": f"replayed step {index + 1}"}
            )
        except (ScriptError, ValidationError) as exc:
            return str(exc), None
        if item.checks:  # it needed an operator's approval when recorded: it needs it again
            checks = [SafetyCheck(id=c.get("id", ""), code=c.get("code", ""), message=c.get("message", "")) for c in item.checks]
            if not await self.control.approve(checks):
                return None, f"an operator denied the safety checks of replay step {index + 1} ({item.describe()})"
        as_dict = action_to_dict(action)
        as_dict["replay"] = {"step": index + 1, **({"locators": resolution.to_data()} if resolution else {})}
        # Locators that disagreed are taken again, so a repaired version knows the element as it is now.
        stale = resolution is not None and bool(resolution.disagreed)
        captured = await self.new_version.before(self.session.page, page, as_dict) if stale else None
        before = _Before(page=page, tab=self.session.page, dialogs=len(self.session.dialogs), action=as_dict)
        self._measured = None
        result, self._next_screenshot = await self._perform_action(
            step,
            0,
            as_dict,
            functools.partial(execute_action, self.session, page, action),
            functools.partial(self._measure, before, False),
        )
        self._next_at = time.monotonic()
        self._next_page = self._measured
        changes = result.data.get("changes") if isinstance(result.data, dict) else None
        self.history.append(
            {
                "step": step.order,
                "action_type": item.action,
                "element_id": element_id,
                "target": item.describe(),
                "reasoning": "replayed from the recorded script",
                "success": result.success,
                "error": result.error,
                "changes": changes.get("summary") if changes else None,
            }
        )
        problem = f"{item.action} failed: {result.error}" if not result.success else await self._unexpected(item, result)
        if problem is None:
            self.replayed += 1
            if captured is not None:
                self.new_version.after(captured, result, self.session.page.url)
            else:
                self.new_version.keep(item)
        return problem, None

    async def _unexpected(self, item: ScriptStep, result: Any) -> str | None:
        """What went otherwise than recorded: the page the action led to, or a click that changed nothing."""
        expect = item.expect
        url = self.session.page.url
        want = _path(str(expect.get("url") or ""))
        if expect.get("url") and _path(url) != want and expect.get("navigates") and not result.navigated:
            # A navigation that starts late (a script submitting the form after a tick): give it a moment.
            with contextlib.suppress(PlaywrightError):
                await self.session.page.wait_for_url(lambda u: _path(u) == want, timeout=_LATE_NAVIGATION_MS)
                await self.session.wait_for_settle(ACTION_SETTLE_MS)
                self._next_page = None
            url = self.session.page.url
        if expect.get("url") and _path(url) != want:
            return f"it was expected to lead to {_path(str(expect['url']))}, but the page is at {_path(url)}"
        if expect.get("navigates") and not result.navigated:
            return "it was expected to load another page, but the page stayed"
        changes = result.data.get("changes") if isinstance(result.data, dict) else None
        summary = str((changes or {}).get("summary") or "")
        if item.action in ("click", "keypress") and expect.get("changed") and summary.startswith("no visible change"):
            return f"it was expected to change the page ({expect.get('change', '')}), but nothing changed"
        return None

    # ---- the model, for a step that no longer fits ---------------------------------------------------------

    def _notice_for(self, item: ScriptStep, why: str) -> str:
        expect = item.expect
        led = f" and led to {_path(str(expect['url']))}" if expect.get("url") else ""
        line = f" (recorded as {item.listing_line})" if item.listing_line else ""
        return (
            f"This run replays a recorded script without asking you, but its {why}. The recorded step did "
            f"{item.describe()}{line}{led}. Do what that step was meant to do on the page as it is now, "
            "then the replay goes on with the rest of the script."
        )

    async def _heal(self, item: ScriptStep, why: str) -> StepResult:
        """One normal dom step (retried like any) for the step that failed; its actions enter the new version."""
        self._notice = self._notice_for(item, why)
        try:
            return await self._model_step(why)
        finally:
            self._notice = ""

    async def _carry_on(self, why: str) -> StepResult:
        """Ordinary dom steps until the model completes the goal (or the step budget ends)."""
        self._notice = "The rest of the recorded script no longer fits this page: go on to the goal yourself."
        try:
            # The task's step limit counts the model's steps: replayed ones cost no model call.
            limit = min(self.spec.max_steps, self.config.max_steps)
            while self.model_steps < limit:
                result = await self._model_step(f"{why}; no later recorded step fits the page")
                if result.kind != "next":
                    return result
            return StepResult(kind="failed", error=f"the step limit ({limit} model steps) was reached")
        finally:
            self._notice = ""

    async def _model_step(self, why: str) -> StepResult:
        self.mode, self.why = ASKED_MODEL, why
        self.forget_step()
        self.model_steps += 1
        first = len(self.new_version.steps)
        order = self._next_ref().order
        try:
            result, _, _ = await one_step(self._step, order, max_retries=self.config.max_retries_per_step)
            if result.kind == "failed":
                return result
        finally:
            self.mode, self.why = REPLAYED, ""
        self.healed += range(first + 1, len(self.new_version.steps) + 1)
        return result

    async def _next_fitting(self, start: int) -> int:
        """The first recorded step from `start` on whose element is on the page now (or which needs none);
        len(steps) when the script is done, -1 when none of the rest fits."""
        steps = self.script.steps
        if start >= len(steps):
            return len(steps)
        page = await scrape(self.session.page, include_html=False)
        self._next_page, self._next_at = page, time.monotonic()
        for index in range(start, len(steps)):
            target = steps[index].target
            if target is None:
                return index
            if (await resolve(self.session.page, page, target, steps[index].listing_line)).element is not None:
                return index
        return -1

    # ---- extraction ------------------------------------------------------------------------------------------

    async def _extraction(self) -> str | None:
        """Read the extraction off the page with the recorded selectors; when they cannot answer, one model
        call (a step of its own, mode "model"). Returns a failure reason, or None."""
        extraction = self.script.extraction or {}
        reason = "the recorded run's extraction cannot be read off the page by selectors"
        if extraction.get("fields"):
            read = await read_fields(self.session.page, extraction["fields"], extraction.get("constants"))
            if read is not None:
                try:
                    await validate_extraction(read, self.spec.extracted_information_schema)
                except StepFailedError as exc:
                    reason = f"what the recorded selectors read does not fit the schema: {exc}"
                else:
                    self.extracted, self._selectors_worked = read, True
                    return None
            else:
                reason = "a recorded extraction selector finds nothing on the page now"
        step = self._next_ref()
        self.mode, self.why = ASKED_MODEL, f"extraction: {reason}"
        self.timings.append(StepTimings())
        await self.hooks.step_started(StepStarted(step=step, url=self.session.page.url))
        started = time.perf_counter()
        error = None
        usage = Usage()
        for _attempt in range(self.config.max_retries_per_step + 1):
            try:
                usage = await self._extract(step, None)
                error = None
                break
            except StepFailedError as exc:
                error = str(exc)
        await self.hooks.step_finished(
            StepFinished(step=step, success=error is None, error=error, usage=usage, duration_ms=(time.perf_counter() - started) * 1000)
        )
        self.mode, self.why = REPLAYED, ""
        return f"the extraction failed: {error}" if error else None

