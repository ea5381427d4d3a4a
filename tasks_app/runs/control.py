"""Operator decisions, read back into the run: this is where a pause becomes a paused run.

The task row is the source of truth. Services change it (pause, resume, terminate, retry step, approve,
deny, take and release control, answer) and send `control.wake` on the task's control group;
`DbControl.watch()` wakes on that (or polls every few seconds), re-reads the row and mirrors it into
agent_core's LocalControl, which the agent awaits at its checkpoints. It also starts and stops the
screencast as viewers come and go.

Take control: the live view's consumer forwards the holder's input events here (`control.input` on the
same group). They are applied to the page (agent_core's RemoteInput) only while the agent is parked
(paused at a checkpoint, or waiting on its question) and only for the holder; anything else is refused
with a message to the sender. What the person did goes to the timeline as it happens and, once control is
released, to the model as a note; a hold with no input for LOOKOUT_CONTROL_IDLE_SECONDS is released.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from agent_core.browser.remote_input import InputRejected, OperatorAction, RemoteInput, summarize
from agent_core.control import LocalControl
from agent_core.errors import AgentError
from agent_core.types import HumanReply, SafetyCheck
from tasks_app.events import LiveControlData, SafetyCheckData, apublish, control_group, frames_group
from tasks_app.models import Task
from tasks_app.runs.hooks import RecordingHooks
from tasks_app.selectors.tasks import ControlState, control_state
from tasks_app.services import control as control_services
from tasks_app.services import runs as run_services
from tasks_app.services.live_view import viewer_count
from tasks_app.services.tasks import request_approval

logger = logging.getLogger(__name__)

ENDED = frozenset({Task.Status.TERMINATED, Task.Status.CANCELED, Task.Status.FAILED, Task.Status.TIMED_OUT})
HOLDABLE = frozenset({Task.Status.RUNNING, Task.Status.PAUSED, Task.Status.AWAITING_INPUT})
NOT_PAUSED_YET = "The agent is finishing its current action; your input is applied once it has paused."
REFUSAL_INTERVAL_S = 1.0  # at most one refusal message per second to a viewer


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
        # take control
        self._holder: tuple[int | None, str] = (None, "")
        self._remote: RemoteInput | None = None
        self._remote_by = ""
        self._idle_release = False
        self._last_input = time.monotonic()
        self._inputs: collections.deque[dict[str, Any]] = collections.deque()
        self._input_ready = asyncio.Event()
        self._input_worker: asyncio.Task[None] | None = None
        self._refused_at: dict[str, float] = {}
        self._record_lock = asyncio.Lock()
        self._live_ready: bool | None = None

    async def sync(self) -> None:
        """Re-read the row and mirror it. Called on every wake-up and poll."""
        state = await database_sync_to_async(control_state)(task_id=self.task_id)
        if state is None:
            self.terminate("the task was deleted")
            return
        # Who holds the browser first: a release hands its note (and a fresh look at the page) to the agent
        # before the resume below lets it run.
        await self._sync_holder(state)
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
            if state.has_reply and self.awaiting_input:
                reply = await database_sync_to_async(control_services.take_input_reply)(task_id=self.task_id)
                if reply is not None:
                    self.answer(
                        HumanReply(answer=str(reply.get("answer") or ""), by=str(reply.get("by") or ""),
                                   handled=bool(reply.get("handled")))
                    )  # fmt: skip
        elif state.status == Task.Status.AWAITING_INPUT:
            await self._expire_question(state)
        await self._sync_screencast()
        if self._holder[1]:
            await self._publish_live()

    async def _sync_screencast(self) -> None:
        session = self.hooks.session
        if session is None:
            return
        watching = await viewer_count(self.task_id) > 0
        try:
            if watching and not self._screencasting:
                # False when the page was between documents: the next sync (a poll away) tries again.
                self._screencasting = await session.start_screencast()
            elif not watching and self._screencasting:
                await session.stop_screencast()
                self._screencasting = False
        except Exception:  # noqa: BLE001 - the live view must never hurt the run
            logger.warning("screencast toggle failed", exc_info=True)

    async def watch(self) -> None:
        """Until cancelled: wake on channel-layer messages for this task, or every POLL_SECONDS. Input
        events of the person in control are queued for the input worker, not synced on."""
        layer = self.layer
        channel = await layer.new_channel() if layer else None
        if layer and channel:
            await layer.group_add(control_group(self.task_id), channel)
        self._input_worker = asyncio.ensure_future(self._apply_inputs())
        last_sync = 0.0
        try:
            while True:
                message: dict[str, Any] = {}
                if layer and channel:
                    try:
                        message = await asyncio.wait_for(layer.receive(channel), timeout=self.POLL_SECONDS)
                    except TimeoutError:
                        pass
                else:
                    await asyncio.sleep(self.POLL_SECONDS)
                if message.get("type") == "control.input":
                    self._inputs.append(message.get("payload") or {})
                    self._input_ready.set()
                    if time.monotonic() - last_sync < self.POLL_SECONDS:
                        continue
                await self.sync()
                last_sync = time.monotonic()
                await self._release_if_idle()
        finally:
            self._input_worker.cancel()
            if self._remote is not None:
                await self._end_hold()
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

    # ---- ask a person -------------------------------------------------------------------------------------

    async def ask_human(self, question: str) -> HumanReply:
        """Put the task in awaiting_input with the question, then wait for the answer (or for the person
        in control to release it: "handled it myself"). LOOKOUT_INPUT_TIMEOUT bounds the wait."""
        task = await Task.objects.select_related("organization").aget(pk=self.task_id)
        await database_sync_to_async(control_services.request_input)(task=task, question=question)
        # An answer may already be in: look once the question is registered below.
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.sync()))
        return await super().ask_human(question)

    async def _expire_question(self, state: ControlState) -> None:
        """A question nobody answered within LOOKOUT_INPUT_TIMEOUT fails the run (not while a person holds
        control: they are handling it, and an idle hold is released first)."""
        if state.holder or state.input_requested_at is None:
            return
        expired = await database_sync_to_async(control_services.expire_input_request)(
            task_id=self.task_id, timeout_s=settings.LOOKOUT_INPUT_TIMEOUT
        )
        if expired is not None:
            self.terminate(expired.failure_reason)

    # ---- take control -------------------------------------------------------------------------------------

    def parked_changed(self) -> None:
        if self._holder[1] and self._live_ready != self.parked:
            asyncio.ensure_future(self._publish_live())

    async def _publish_live(self) -> None:
        ready = bool(self._holder[1]) and self.parked
        self._live_ready = ready
        data: LiveControlData = {"holder_id": self._holder[0], "holder": self._holder[1], "ready": ready}
        await apublish(frames_group(self.task_id), "live.control", dict(data))

    async def _sync_holder(self, state: ControlState) -> None:
        holder = (state.holder_id, state.holder) if state.holder and state.status in HOLDABLE else (None, "")
        if holder == self._holder:
            return
        self._holder = holder
        if self._remote is not None or self._remote_by:
            await self._end_hold()
        if holder[1]:
            self._remote_by = holder[1]
            self._last_input = time.monotonic()
            self._idle_release = False
        await self._publish_live()

    def _remote_input(self) -> RemoteInput | None:
        if self._remote is None and self.hooks.session is not None and self._remote_by:
            self._remote = RemoteInput(self.hooks.session)
        return self._remote

    async def _end_hold(self) -> None:
        """Control ended (released, taken over, idle, or the run ended): record what the person did and
        tell the agent; if they touched the page while it was paused, its step starts again from there."""
        remote, by, self._remote, self._remote_by = self._remote, self._remote_by, None, ""
        actions: list[OperatorAction] = []
        if remote is not None:
            await self._record_actions(remote, by=by, final=True)
            actions = remote.actions
            try:
                await remote.close()
            except Exception:  # noqa: BLE001 - the page may be gone with the run
                logger.warning("closing the operator's input failed", exc_info=True)
        idle = settings.LOOKOUT_CONTROL_IDLE_SECONDS if self._idle_release else None
        self.add_note(summarize(actions, by=by, idle_seconds=idle))
        if actions and not self.awaiting_input:
            self._retry_step = True  # the plan in hand aims at the page as it was: look again

    async def _release_if_idle(self) -> None:
        if not self._holder[1] or time.monotonic() - self._last_input < settings.LOOKOUT_CONTROL_IDLE_SECONDS:
            return
        self._idle_release = True
        task = await Task.objects.select_related("organization").aget(pk=self.task_id)
        try:
            await database_sync_to_async(control_services.release_control)(task=task, by=None, reason="idle")
        except Exception:  # noqa: BLE001 - released meanwhile by someone else: the next sync sees it
            logger.info("idle release of task %s not needed", self.task_id)
        await self.sync()

    async def _apply_inputs(self) -> None:
        """Apply queued input events in order, one at a time; consecutive mouse moves collapse to the last."""
        while True:
            if not self._inputs:
                self._input_ready.clear()
                await self._input_ready.wait()
                continue
            payload = self._inputs.popleft()
            event = payload.get("event")
            while (
                isinstance(event, dict) and event.get("t") == "move" and self._inputs
                and (self._inputs[0].get("event") or {}).get("t") == "move"
            ):  # fmt: skip
                payload = self._inputs.popleft()
                event = payload.get("event")
            try:
                await self._apply_one(payload)
            except Exception:  # noqa: BLE001 - one bad event must not stop the others, or the run
                logger.warning("operator input failed", exc_info=True)

    async def _apply_one(self, payload: dict[str, Any]) -> None:
        event, user_id, reply_to = payload.get("event"), payload.get("user_id"), str(payload.get("reply_to") or "")
        if not isinstance(event, dict):
            return
        if user_id is None or user_id != self._holder[0]:
            await self.sync()  # control may have just changed hands
            if user_id is None or user_id != self._holder[0]:
                holder = self._holder[1]
                await self._refuse(reply_to, f"{holder} has control of this browser." if holder else "Take control first.")
                return
        if not self.parked:
            await self._refuse(reply_to, NOT_PAUSED_YET)
            return
        remote = self._remote_input()
        if remote is None:
            await self._refuse(reply_to, "The browser is not open yet.")
            return
        try:
            await remote.apply(event)
        except (InputRejected, AgentError) as exc:
            await self._refuse(reply_to, f"Input not applied: {exc}")
            return
        self._last_input = time.monotonic()
        if remote.has_new_actions:
            asyncio.ensure_future(self._record_actions(remote, by=self._remote_by))

    async def _record_actions(self, remote: RemoteInput, *, by: str, final: bool = False) -> None:
        async with self._record_lock:
            actions = remote.finish() if final else remote.take_new_actions()
            if actions:
                await database_sync_to_async(control_services.record_control_actions)(
                    task_id=self.task_id, by=by, actions=[(a.kind, a.text) for a in actions]
                )

    async def _refuse(self, reply_to: str, message: str) -> None:
        if not reply_to or self.layer is None:
            return
        now = time.monotonic()
        if now - self._refused_at.get(reply_to, 0.0) < REFUSAL_INTERVAL_S:
            return
        self._refused_at[reply_to] = now
        try:
            await self.layer.send(reply_to, {"type": "live.refused", "payload": {"message": message}})
        except Exception:  # noqa: BLE001 - the viewer is gone
            pass
