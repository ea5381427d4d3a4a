"""The dom engine: scrape -> screenshot -> ask the chat model -> execute actions by element id, step by step."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from agent_core.actions import (
    AGENT_STEP_SCHEMA,
    Complete,
    Terminate,
    action_to_dict,
    execute_action,
    parse_agent_step,
)
from agent_core.browser import image_type
from agent_core.control import cancellable
from agent_core.engines.base import Engine
from agent_core.engines.steps import StepResult
from agent_core.errors import RetryStepRequested, RunTerminatedError, StepFailedError
from agent_core.extraction import extract
from agent_core.llm import LLMReply
from agent_core.prompts import render_step_prompt
from agent_core.scraper import ScrapeResult, scrape
from agent_core.types import (
    ActionFinished,
    ActionStarted,
    ArtifactKind,
    ArtifactOut,
    LLMDelta,
    LLMResponse,
    StepFinished,
    StepRef,
    StepStarted,
    Usage,
)


@dataclass
class StepTimings:
    """Where a step's time went outside the model call (milliseconds); read by bench/step_overhead.py."""

    scrape: float = 0.0
    screenshot: float = 0.0
    execute: float = 0.0
    hooks: float = 0.0
    model: float = 0.0


class DomEngine(Engine):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[dict[str, Any]] = []
        self.timings: list[StepTimings] = []
        # The screenshot taken after the last action of a step shows the page the next step starts on.
        self._next_screenshot: bytes | None = None


    # ---- one step ---------------------------------------------------------------------------

    async def _artifact(
        self, step: StepRef, kind: ArtifactKind, data: bytes, content_type: str, name: str, action_index: int | None = None
    ) -> None:
        await self.hooks.artifact(
            ArtifactOut(kind=kind, data=data, content_type=content_type, name=name, step=step, action_index=action_index)
        )

    async def _step(self, step: StepRef) -> StepResult:
        t = StepTimings()
        self.timings.append(t)
        started = time.perf_counter()
        step_usage = Usage()

        async def timed_hook(coro: Any) -> None:
            h0 = time.perf_counter()
            await coro
            t.hooks += (time.perf_counter() - h0) * 1000

        await timed_hook(self.hooks.step_started(StepStarted(step=step, url=self.session.page.url)))
        try:
            await self.control.checkpoint()
            s0 = time.perf_counter()
            page_state = await scrape(self.session.page)
            t.scrape = (time.perf_counter() - s0) * 1000
            s0 = time.perf_counter()
            shot = self._next_screenshot or await self.session.screenshot()
            self._next_screenshot = None
            t.screenshot = (time.perf_counter() - s0) * 1000
            system, user = render_step_prompt(
                spec=self.spec,
                current_url=page_state.url,
                element_listing=page_state.listing,
                history=self.history[-self.config.history_window :],
            )
            h0 = time.perf_counter()
            await self._artifact(step, ArtifactKind.SCREENSHOT_LLM, shot, image_type(shot), f"step-{step.order}.{_ext(shot)}")
            await self._artifact(step, ArtifactKind.HTML_SCRAPE, page_state.html.encode(), "text/html", "scrape.html")
            await self._artifact(
                step,
                ArtifactKind.ELEMENT_TREE_FULL,
                json.dumps(page_state.tree).encode(),
                "application/json",
                "element_tree.json",
            )
            await self._artifact(
                step, ArtifactKind.ELEMENT_TREE_PROMPT, page_state.listing.encode(), "text/plain", "elements.txt"
            )
            await self._artifact(
                step, ArtifactKind.LLM_PROMPT, f"{system}\n\n---\n\n{user}".encode(), "text/plain", "prompt.txt"
            )
            t.hooks += (time.perf_counter() - h0) * 1000

            await self.control.checkpoint()

            async def on_delta(text: str) -> None:
                await self.hooks.llm_delta(LLMDelta(step=step, text=text))

            m0 = time.perf_counter()
            try:
                reply: LLMReply = await cancellable(
                    self.control,
                    self.llm.complete_json(
                        system=system,
                        user=user,
                        images=[shot],
                        schema_name="agent_step",
                        schema=AGENT_STEP_SCHEMA,
                        on_delta=on_delta,
                    ),
                )
            finally:
                t.model = (time.perf_counter() - m0) * 1000
            step_usage = step_usage + reply.usage
            self.usage = self.usage + reply.usage
            await timed_hook(self._record_reply(step, reply))
            plan = parse_agent_step(reply.parsed)
            result = await self._execute_plan(step, plan.actions, page_state, t, timed_hook)
            if result.kind == "next" and plan.goal_achieved and not plan.actions:
                result = StepResult(kind="complete")
            if result.kind == "complete" and self.spec.data_extraction_goal:
                step_usage = step_usage + await self._extract(step)
        except RetryStepRequested:
            self._next_screenshot = None
            await self.hooks.step_finished(
                StepFinished(step=step, success=False, error="an operator asked to retry this step", usage=step_usage,
                             duration_ms=(time.perf_counter() - started) * 1000)
            )
            return StepResult(kind="operator_retry")
        except RunTerminatedError as exc:
            await self.hooks.step_finished(
                StepFinished(step=step, success=False, error=exc.reason, usage=step_usage,
                             duration_ms=(time.perf_counter() - started) * 1000)
            )
            raise
        except StepFailedError as exc:
            self._next_screenshot = None
            if exc.raw is not None:
                await self._artifact(step, ArtifactKind.LLM_RESPONSE, exc.raw.encode(), "text/plain", "response.txt")
            await self.hooks.step_finished(
                StepFinished(step=step, success=False, error=str(exc), usage=step_usage,
                             duration_ms=(time.perf_counter() - started) * 1000)
            )
            return StepResult(kind="failed", error=str(exc))
        await timed_hook(
            self.hooks.step_finished(
                StepFinished(step=step, success=True, usage=step_usage, duration_ms=(time.perf_counter() - started) * 1000)
            )
        )
        return result

    async def _record_reply(self, step: StepRef, reply: LLMReply) -> None:
        await self._artifact(
            step, ArtifactKind.LLM_REQUEST, json.dumps(reply.request).encode(), "application/json", "request.json"
        )
        await self._artifact(step, ArtifactKind.LLM_RESPONSE, reply.raw.encode(), "application/json", "response.json")
        parsed = reply.parsed if isinstance(reply.parsed, dict) else None
        await self.hooks.llm_response(LLMResponse(step=step, parsed=parsed, raw=reply.raw, usage=reply.usage))

    async def _execute_plan(
        self, step: StepRef, actions: list[Any], page_state: ScrapeResult, t: StepTimings, timed_hook: Any
    ) -> StepResult:
        for index, action in enumerate(actions):
            if isinstance(action, Complete):
                return StepResult(kind="complete", reasoning=action.reasoning)
            if isinstance(action, Terminate):
                errors = [e.model_dump() if hasattr(e, "model_dump") else dict(e) for e in action.errors]
                return StepResult(kind="terminate", errors=errors, reasoning=action.reasoning)
            await self.control.checkpoint()
            as_dict = action_to_dict(action)
            await timed_hook(self.hooks.action_started(ActionStarted(step=step, index=index, action=as_dict)))
            e0 = time.perf_counter()
            downloads_before = len(self.session.downloads)
            result = await execute_action(self.session, page_state, action)
            t.execute += (time.perf_counter() - e0) * 1000
            for path in self.session.downloads[downloads_before:]:
                await self._artifact(
                    step, ArtifactKind.DOWNLOAD, path.read_bytes(), _guess_type(path.name), path.name, action_index=index
                )
            s0 = time.perf_counter()
            shot = await self.session.screenshot()
            t.screenshot += (time.perf_counter() - s0) * 1000
            self._next_screenshot = shot
            h0 = time.perf_counter()
            await self._artifact(
                step, ArtifactKind.SCREENSHOT_ACTION, shot, image_type(shot), f"action-{index}.{_ext(shot)}", action_index=index
            )
            await self.hooks.action_finished(ActionFinished(step=step, index=index, action=as_dict, result=result))
            t.hooks += (time.perf_counter() - h0) * 1000
            self.history.append(
                {
                    "step": step.order,
                    "action_type": as_dict.get("action_type"),
                    "element_id": as_dict.get("element_id"),
                    "reasoning": as_dict.get("reasoning", ""),
                    "success": result.success,
                    "error": result.error,
                }
            )
            if not result.success:
                raise StepFailedError(f"{as_dict.get('action_type')} failed: {result.error}")
            if result.navigated and index < len(actions) - 1:
                # later actions aim at ids of the page we left: stop here, the next step scrapes anew
                remaining = actions[index + 1 :]
                if remaining and isinstance(remaining[0], Complete):
                    return StepResult(kind="complete", reasoning=remaining[0].reasoning)
                break
        return StepResult(kind="next")

    async def _extract(self, step: StepRef) -> Usage:
        await self.control.checkpoint()
        page_state = await scrape(self.session.page)
        shot = self._next_screenshot or await self.session.screenshot()
        reply = await cancellable(
            self.control,
            extract(
                llm=self.llm,
                spec=self.spec,
                current_url=page_state.url,
                page_text=page_state.text,
                screenshot=shot,
                model=self.llm_config.extraction_model,
            ),
        )
        self.usage = self.usage + reply.usage
        await self._artifact(
            step, ArtifactKind.LLM_REQUEST, json.dumps(reply.request).encode(), "application/json", "extract-request.json"
        )
        await self._artifact(step, ArtifactKind.LLM_RESPONSE, reply.raw.encode(), "application/json", "extract-response.json")
        self.extracted = reply.parsed
        return reply.usage


def _ext(data: bytes) -> str:
    return image_type(data).split("/")[1]


def _guess_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"


