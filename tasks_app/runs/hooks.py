"""What the agent reports, recorded: `RecordingHooks` turns agent_core's hook calls into rows, stored
artifacts, scripts and numbered timeline events (through `services.runs`, each write in a worker thread), and
forwards what is never stored (model deltas, live frames) straight to the channel layer."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from agent_core.browser import BrowserSession
from agent_core.types import (
    ActionFinished,
    ActionStarted,
    ArtifactOut,
    EgressBlocked,
    Frame,
    LLMDelta,
    LLMResponse,
    RunHooks,
    ScriptOut,
    StepFinished,
    StepStarted,
)
from tasks_app.errors import LookoutError
from tasks_app.events import LLMDeltaData, apublish, frames_group, task_group
from tasks_app.pricing import cost_of
from tasks_app.services import runs as run_services
from tasks_app.services import scripts as script_services

logger = logging.getLogger(__name__)

# Refusals recorded one by one per run; past this a page asking for thousands of refused URLs costs a
# counter, and one event at the end says how many more there were.
MAX_EGRESS_EVENTS = 50


class RecordingHooks(RunHooks):
    """Writes what the agent reports for one task. Keeps the agent's (order, retry) and action indexes
    mapped to the rows it created, so later reports attach to the right step and action."""

    def __init__(self, task_id: Any) -> None:
        self.task_id = task_id
        self.steps: dict[tuple[int, int], int] = {}
        self.actions: dict[tuple[int, int], int] = {}
        self.session: BrowserSession | None = None
        self.egress_refusals = 0
        self._frame_pending: Frame | None = None
        self._frame_sender: asyncio.Task[None] | None = None

    async def step_started(self, event: StepStarted) -> None:
        step_id = await database_sync_to_async(run_services.start_step)(
            task_id=self.task_id,
            order=event.step.order,
            retry_index=event.step.retry_index,
            url=event.url,
            mode=event.mode,
            why=event.why,
        )
        self.steps[(event.step.order, event.step.retry_index)] = step_id

    async def step_finished(self, event: StepFinished) -> None:
        step_id = self.steps.get((event.step.order, event.step.retry_index))
        if step_id is None:
            return
        await database_sync_to_async(run_services.finish_step)(
            task_id=self.task_id,
            step_id=step_id,
            order=event.step.order,
            retry_index=event.step.retry_index,
            success=event.success,
            error=event.error,
            input_tokens=event.usage.input_tokens,
            output_tokens=event.usage.output_tokens,
            cost=cost_of(event.usage),
            duration_ms=event.duration_ms,
        )

    async def action_started(self, event: ActionStarted) -> None:
        step_id = self.steps[(event.step.order, event.step.retry_index)]
        action_id = await database_sync_to_async(run_services.start_action)(
            task_id=self.task_id,
            step_id=step_id,
            index=event.index,
            action=event.action,
            mode=event.mode,
            why=event.why,
        )
        self.actions[(step_id, event.index)] = action_id

    async def action_finished(self, event: ActionFinished) -> None:
        step_id = self.steps[(event.step.order, event.step.retry_index)]
        result = event.result
        await database_sync_to_async(run_services.finish_action)(
            task_id=self.task_id,
            step_id=step_id,
            action_id=self.actions.get((step_id, event.index)),
            index=event.index,
            action_type=event.action.get("action_type"),
            success=result.success,
            error=result.error,
            navigated=result.navigated,
            data=result.data,
            duration_ms=result.duration_ms,
        )

    async def artifact(self, event: ArtifactOut) -> None:
        """Screenshots, HTML, prompts, downloads and recordings: stored through the artifact storage."""
        step_id = self.steps.get((event.step.order, event.step.retry_index)) if event.step else None
        action_id = self.actions.get((step_id, event.action_index)) if step_id and event.action_index is not None else None
        await database_sync_to_async(run_services.store_artifact)(
            task_id=self.task_id,
            step_id=step_id,
            action_id=action_id,
            kind=event.kind.value,
            name=event.name,
            content_type=event.content_type,
            data=event.data,
        )

    async def llm_delta(self, event: LLMDelta) -> None:
        data: LLMDeltaData = {"order": event.step.order, "retry_index": event.step.retry_index, "text": event.text}
        payload = {"seq": None, "type": "llm.delta", "ts": timezone.now().isoformat(), "data": data}
        await apublish(task_group(self.task_id), "timeline.event", payload)

    async def llm_response(self, event: LLMResponse) -> None:
        await database_sync_to_async(run_services.record_llm_response)(
            task_id=self.task_id,
            step_id=self.steps.get((event.step.order, event.step.retry_index)),
            order=event.step.order,
            retry_index=event.step.retry_index,
            parsed=event.parsed,
            raw=event.raw,
            input_tokens=event.usage.input_tokens,
            output_tokens=event.usage.output_tokens,
        )

    async def egress_blocked(self, event: EgressBlocked) -> None:
        self.egress_refusals += 1
        if self.egress_refusals <= MAX_EGRESS_EVENTS:
            await database_sync_to_async(run_services.record_egress_blocked)(
                task_id=self.task_id, url=event.url, reason=event.reason
            )

    async def finish(self) -> None:
        """The run is over: record what was left off (one event counting the refusals past the first ones)."""
        omitted = self.egress_refusals - MAX_EGRESS_EVENTS
        if omitted > 0:
            await database_sync_to_async(run_services.record_egress_blocked)(
                task_id=self.task_id,
                url="",
                reason=f"and {omitted} more requests blocked by the egress policy",
                omitted=omitted,
            )

    # live view: latest-wins, never blocking the agent
    async def frame(self, event: Frame) -> None:
        self._frame_pending = event
        if self._frame_sender is None or self._frame_sender.done():
            self._frame_sender = asyncio.create_task(self._send_frames())

    async def _send_frames(self) -> None:
        while self._frame_pending is not None:
            frame, self._frame_pending = self._frame_pending, None
            await apublish(frames_group(self.task_id), "live.frame", {"jpeg": frame.data, "ts": frame.captured_at})

    async def browser_ready(self, session: Any) -> None:
        self.session = session

    async def script(self, event: ScriptOut) -> None:
        """A script the run recorded (or, in a replay, repaired): stored as a new version (services.scripts).
        One that cannot be stored is logged, not raised: the run it comes from still completed."""
        try:
            await database_sync_to_async(script_services.save_script)(
                task_id=self.task_id, document=event.document, healed_steps=list(event.healed_steps), reason=event.reason
            )
        except (LookoutError, ValueError):
            logger.exception("the script of task %s was not stored", self.task_id)

    async def storage_state(self, state: dict[str, Any]) -> None:
        """A completed run's saved login: stored encrypted as the task's profile (see services.runs)."""
        await database_sync_to_async(run_services.save_run_profile)(task_id=self.task_id, state=state)
