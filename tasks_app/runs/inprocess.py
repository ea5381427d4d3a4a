"""The embedded runner: runs execute on the ASGI server's own event loop (the in-memory channel layer
lives there, so events reach the websocket clients of this process).

`project.asgi` records the server's loop on the first request; `dispatch` schedules runs onto it from
whatever thread committed the task. Start-up also ends runs that a previous server process left active.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import os
import socket
import threading
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from tasks_app.runs.browser import get_browser
from tasks_app.runs.execute import execute_task
from tasks_app.selectors.tasks import queued_task_ids
from tasks_app.services.retention import apply_retention
from tasks_app.services.sweeper import recover_runs_of, redispatch_deferred, sweep_stale_runs

logger = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()
_running: set[asyncio.Task[Any]] = set()
# Runs wait here, in dispatch order, while LOOKOUT_MAX_CONCURRENT_RUNS are executing (loop thread only).
_waiting: collections.deque[Any] = collections.deque()


def worker_prefix() -> str:
    return f"inprocess:{socket.gethostname()}:"


def attach_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called from the ASGI app on each connection; the first call per loop also recovers old runs."""
    global _loop
    if _loop is loop:
        return
    with _lock:
        if _loop is loop:
            return
        _loop = loop
    if settings.LOOKOUT_RUNNER == "inprocess":
        loop.create_task(_startup())


async def _startup() -> None:
    ended = await database_sync_to_async(recover_runs_of)(worker_prefix="inprocess:")
    if ended:
        logger.warning("ended %d run(s) left active by a previous server process", len(ended))
    # queued tasks lived only in the old process's memory: schedule them again
    for task_id in await database_sync_to_async(queued_task_ids)():
        _start(task_id)
    asyncio.get_running_loop().create_task(_sweep_forever())


async def _sweep_forever() -> None:
    """The embedded mode's beat: lost runs, deferred runs, and (every LOOKOUT_RETENTION_SECONDS) retention."""
    loop = asyncio.get_running_loop()
    retention_due = loop.time()
    while True:
        await asyncio.sleep(max(5.0, settings.LOOKOUT_STALE_AFTER_SECONDS / 2))
        try:
            await database_sync_to_async(sweep_stale_runs)()
            await database_sync_to_async(redispatch_deferred)()
            if loop.time() >= retention_due:
                retention_due = loop.time() + settings.LOOKOUT_RETENTION_SECONDS
                await database_sync_to_async(apply_retention)()
        except Exception:  # noqa: BLE001
            logger.exception("sweeper failed")


def _start(task_id: Any) -> None:
    """Queue the task behind those already waiting, then start as many as the limit allows."""
    if task_id not in _waiting:
        _waiting.append(task_id)
    _pump()


def _pump() -> None:
    while _waiting and len(_running) < max(1, settings.LOOKOUT_MAX_CONCURRENT_RUNS):
        task = asyncio.get_running_loop().create_task(_run(_waiting.popleft()))
        _running.add(task)
        task.add_done_callback(_finished)


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    _pump()


async def _run(task_id: Any) -> None:
    try:
        await execute_task(task_id, browser=await get_browser(), worker=f"{worker_prefix()}{os.getpid()}")
    except Exception:  # noqa: BLE001
        logger.exception("in-process run of %s failed", task_id)


def schedule(task_id: Any) -> None:
    """Run the task on the server's loop. Callable from any thread (typically an on_commit hook)."""
    loop = _loop
    if loop is None or loop.is_closed():
        logger.warning("task %s is queued, but no server loop is running to execute it yet", task_id)
        return
    # A fresh context: inheriting the request's would tie the run to that request's (soon closed)
    # sync executor ("CurrentThreadExecutor already quit").
    loop.call_soon_threadsafe(_start, task_id, context=contextvars.Context())


def schedule_later(delay: float, fn: Any, *args: Any) -> bool:
    """Run a sync callable in a thread after `delay` seconds on the server loop. False if no loop."""
    loop = _loop
    if loop is None or loop.is_closed():
        return False

    def fire() -> None:
        loop.run_in_executor(None, fn, *args)

    loop.call_soon_threadsafe(lambda: loop.call_later(delay, fire), context=contextvars.Context())
    return True
