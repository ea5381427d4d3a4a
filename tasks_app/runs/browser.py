"""The worker's browser: one long-lived event loop and one Chromium per process, a fresh context per run.

Celery's prefork children run sync jobs; Playwright objects belong to the loop that made them, so a job
submits its coroutine to this process's agent loop (a background thread) instead of calling asyncio.run()
(which would need a new browser every time). The in-process runner uses the ASGI server's loop instead;
either way `get_browser()` returns the browser of the running loop. `shutdown()` closes them when the
worker process stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from agent_core.browser import BrowserManager
from tasks_app.runs.config import browser_config

T = TypeVar("T")
logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_browsers: dict[int, BrowserManager] = {}


def _ensure_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="lookout-agent-loop", daemon=True).start()
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run `coro` on this process's agent loop; the caller waits on the returned future."""
    return asyncio.run_coroutine_threadsafe(coro, _ensure_loop())


async def get_browser() -> BrowserManager:
    """The browser of the running loop, started on first use (new_session relaunches a dead one)."""
    loop_id = id(asyncio.get_running_loop())
    manager = _browsers.get(loop_id)
    if manager is None:
        manager = BrowserManager(browser_config())
        await manager.start()
        _browsers[loop_id] = manager
    return manager


async def close_browser() -> bool:
    """Close the browser of the running loop, if it has one; True if there was one."""
    manager = _browsers.pop(id(asyncio.get_running_loop()), None)
    if manager is None:
        return False
    await manager.close()
    return True


def shutdown(timeout: float = 10.0) -> None:
    """At worker-process exit: close the agent loop's browser (so no Chromium outlives its worker) and
    stop the loop. Safe to call when nothing was started."""
    loop = _loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return
    try:
        if submit(close_browser()).result(timeout=timeout):
            logger.info("closed the worker's browser")
    except Exception:  # noqa: BLE001 - exiting anyway; the OS reaps what is left
        logger.warning("closing the worker's browser failed", exc_info=True)
    loop.call_soon_threadsafe(loop.stop)
