"""The control protocol's reference implementation: pause, resume, terminate, retry-step, approvals and
questions to a person (HumanHelp) in memory.

Hosts drive it from wherever operator requests arrive (the Django side feeds it from the database and the
channel layer; the CLI and tests call its methods directly). Also `cancellable`, which races a coroutine
against termination so an in-flight model call stops at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from agent_core.errors import RetryStepRequested, RunTerminatedError
from agent_core.types import Control, HumanReply, SafetyCheck

T = TypeVar("T")


class LocalControl:
    """asyncio-only control state. All methods must be called on the loop that runs the agent."""

    def __init__(self) -> None:
        self._running = asyncio.Event()
        self._running.set()
        self._terminated = asyncio.Event()
        self._terminate_reason = "terminated by operator"
        self._retry_step = False
        self._decision: asyncio.Future[bool] | None = None
        self.pending_checks: list[SafetyCheck] = []
        self.pending_question = ""
        self._reply: asyncio.Future[HumanReply] | None = None
        self._notes: list[str] = []
        self._parked = 0  # how many waits (paused checkpoint, question) the agent is in right now

    # ---- operator side ----
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def request_retry_step(self) -> None:
        self._retry_step = True
        self._running.set()

    def terminate(self, reason: str = "terminated by operator") -> None:
        if not self._terminated.is_set():
            self._terminate_reason = reason
            self._terminated.set()
        self._running.set()
        if self._decision is not None and not self._decision.done():
            self._decision.set_exception(RunTerminatedError(self._terminate_reason))
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(RunTerminatedError(self._terminate_reason))

    def answer(self, reply: HumanReply) -> None:
        """Resolve the pending question, if any. Safe to call when nothing waits."""
        if self._reply is not None and not self._reply.done():
            self._reply.set_result(reply)

    def add_note(self, note: str) -> None:
        """Something to tell the agent in its next prompt (see `take_notes`)."""
        if note.strip():
            self._notes.append(note.strip())

    @property
    def awaiting_input(self) -> bool:
        return self._reply is not None and not self._reply.done()

    @property
    def parked(self) -> bool:
        """True while the agent waits for people (paused at a checkpoint, or on a question): it touches
        its page only after this turns False, so a person may drive the page meanwhile."""
        return self._parked > 0

    def parked_changed(self) -> None:
        """Called whenever `parked` may have changed. Nothing here; hosts override it to say so."""

    def _park(self, delta: int) -> None:
        self._parked += delta
        self.parked_changed()

    def decide(self, approved: bool) -> None:
        """Resolve the pending approval, if any. Safe to call when nothing waits."""
        if self._decision is not None and not self._decision.done():
            self._decision.set_result(approved)

    @property
    def awaiting_approval(self) -> bool:
        return self._decision is not None and not self._decision.done()

    # ---- agent side (the Control protocol) ----
    async def checkpoint(self) -> None:
        self._raise_if_terminated()
        if not self._running.is_set():
            self._park(1)
            try:
                await self._running.wait()
            finally:
                self._park(-1)
            self._raise_if_terminated()
        if self._retry_step:
            self._retry_step = False
            raise RetryStepRequested("operator asked to retry the step")

    async def approve(self, checks: list[SafetyCheck]) -> bool:
        self._raise_if_terminated()
        self.pending_checks = list(checks)
        self._decision = asyncio.get_running_loop().create_future()
        try:
            return await self._decision
        finally:
            self.pending_checks = []
            self._decision = None

    async def ask_human(self, question: str) -> HumanReply:
        """Wait for `answer()`. The agent is parked meanwhile: a person may take its browser over."""
        self._raise_if_terminated()
        self.pending_question = question
        self._reply = asyncio.get_running_loop().create_future()
        self._park(1)
        try:
            return await self._reply
        finally:
            self._park(-1)
            self.pending_question = ""
            self._reply = None

    def take_notes(self) -> list[str]:
        notes, self._notes = self._notes, []
        return notes

    async def wait_terminated(self) -> str:
        await self._terminated.wait()
        return self._terminate_reason

    def _raise_if_terminated(self) -> None:
        if self._terminated.is_set():
            raise RunTerminatedError(self._terminate_reason)


async def cancellable(control: Control, awaitable: Awaitable[T]) -> T:
    """Await `awaitable`, cancelling it and raising RunTerminatedError as soon as the run is terminated."""
    work = asyncio.ensure_future(awaitable)
    stop = asyncio.ensure_future(control.wait_terminated())
    try:
        done, _ = await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            return work.result()
        work.cancel()
        raise RunTerminatedError(stop.result())
    finally:
        for fut in (work, stop):
            if not fut.done():
                fut.cancel()
