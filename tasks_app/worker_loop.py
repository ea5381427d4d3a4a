"""One long-lived event loop (and so one Chromium) per worker process, in a background thread.

Celery's prefork children run sync jobs; Playwright objects belong to the loop that made them, so a job
submits its coroutine here instead of calling asyncio.run() (which would need a new browser every time).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from agent_core.browser import BrowserManager

T = TypeVar("T")

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
    return asyncio.run_coroutine_threadsafe(coro, _ensure_loop())


async def get_browser() -> BrowserManager:
    """The browser of the running loop, started on first use (new_session relaunches a dead one)."""
    from tasks_app.agent_bridge import browser_config

    loop_id = id(asyncio.get_running_loop())
    manager = _browsers.get(loop_id)
    if manager is None:
        manager = BrowserManager(browser_config())
        await manager.start()
        _browsers[loop_id] = manager
    return manager


async def close_browsers() -> None:
    loop_id = id(asyncio.get_running_loop())
    manager = _browsers.pop(loop_id, None)
    if manager is not None:
        await manager.close()
