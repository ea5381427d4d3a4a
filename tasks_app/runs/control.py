"""Operator decisions, read back into the run: this is where a pause becomes a paused run.

The task row is the source of truth. Services change it (pause, resume, terminate, retry step, approve,
deny) and send `control.wake` on the task's control group; `DbControl.watch()` wakes on that (or polls
every few seconds), re-reads the row and mirrors it into agent_core's LocalControl, which the agent
awaits at its checkpoints. It also starts and stops the screencast as viewers come and go.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from agent_core.control import LocalControl
from agent_core.types import SafetyCheck
from tasks_app.events import SafetyCheckData, control_group
from tasks_app.models import Task
from tasks_app.runs.hooks import RecordingHooks
from tasks_app.selectors.tasks import control_state
from tasks_app.services import runs as run_services
from tasks_app.services.live_view import viewer_count
from tasks_app.services.tasks import request_approval

logger = logging.getLogger(__name__)

ENDED = frozenset({Task.Status.TERMINATED, Task.Status.CANCELED, Task.Status.FAILED, Task.Status.TIMED_OUT})


class DbControl(LocalControl):
    """LocalControl kept in step with the task row. `watch()` runs beside the agent for the whole run."""

    POLL_SECONDS = 2.0

    def __init__(self, task_id: Any, hooks: RecordingHooks) -> None:
        super().__init__()
        self.task_id = task_id
        self.hooks = hooks
        self.layer = get_channel_layer()
        self._approving = False
        self._screencasting = False

    async def sync(self) -> None:
        """Re-read the row and mirror it. Called on every wake-up and poll."""
        state = await database_sync_to_async(control_state)(task_id=self.task_id)
        if state is None:
            self.terminate("the task was deleted")
            return
        if state.status in ENDED:
            if self._approving and state.stop_cause == Task.StopCause.SAFETY_CHECK_DENIED:
                self.decide(False)  # the engine ends the run itself, naming the denied checks
            else:
                self.terminate(state.failure_reason or f"task is {state.status}")
        elif state.status == Task.Status.PAUSED:
            self.pause()
        elif state.status == Task.Status.RUNNING:
            if await database_sync_to_async(run_services.take_retry_step_request)(task_id=self.task_id):
                self.request_retry_step()
            self.resume()
            if self._approving:
                self.decide(True)
        await self._sync_screencast()

    async def _sync_screencast(self) -> None:
        session = self.hooks.session
        if session is None:
            return
        watching = await viewer_count(self.task_id) > 0
        try:
            if watching and not self._screencasting:
                await session.start_screencast()
                self._screencasting = True
            elif not watching and self._screencasting:
                await session.stop_screencast()
                self._screencasting = False
        except Exception:  # noqa: BLE001 - the live view must never hurt the run
            logger.warning("screencast toggle failed", exc_info=True)

    async def watch(self) -> None:
        """Until cancelled: wake on channel-layer messages for this task, or every POLL_SECONDS."""
        layer = self.layer
        channel = await layer.new_channel() if layer else None
        if layer and channel:
            await layer.group_add(control_group(self.task_id), channel)
        try:
            while True:
                if layer and channel:
                    try:
                        await asyncio.wait_for(layer.receive(channel), timeout=self.POLL_SECONDS)
                    except TimeoutError:
                        pass
                else:
                    await asyncio.sleep(self.POLL_SECONDS)
                await self.sync()
        finally:
            if layer and channel:
                try:
                    await layer.group_discard(control_group(self.task_id), channel)
                except Exception:  # noqa: BLE001 - the layer may be gone at shutdown
                    pass

    async def approve(self, checks: list[SafetyCheck]) -> bool:
        """Put the task in awaiting_approval with the checks, then wait for an operator's decision."""
        payload: list[SafetyCheckData] = [{"id": c.id, "code": c.code, "message": c.message} for c in checks]
        task = await Task.objects.aget(pk=self.task_id)
        await database_sync_to_async(request_approval)(task=task, checks=payload)
        self._approving = True
        try:
            return await super().approve(checks)
        finally:
            self._approving = False
