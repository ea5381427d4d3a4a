"""The live view: the active page streamed as CDP screencast JPEGs, latest-wins, never blocking the agent."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from agent_core.browser.common import first_line
from agent_core.types import BrowserConfig, Frame

log = logging.getLogger(__name__)

FrameCallback = Callable[[Frame], Awaitable[None]]

SCREENCAST_QUALITY = 60


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame marker, or None if it has none."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    return None


class Screencast:
    """One session's live view. `current_page` names the page to follow; `spawn` runs a background task
    that the session cancels when it closes."""

    def __init__(
        self,
        *,
        context: BrowserContext,
        config: BrowserConfig,
        on_frame: FrameCallback | None,
        current_page: Callable[[], Page],
        spawn: Callable[[Awaitable[Any]], None],
    ) -> None:
        self._context = context
        self._config = config
        self._on_frame = on_frame
        self._current_page = current_page
        self._spawn = spawn
        self._on = False
        self._cast: tuple[Page, CDPSession] | None = None
        self._latest_frame: Frame | None = None
        # The page's size in CSS pixels as the last frame's metadata gave it (deviceWidth, deviceHeight):
        # what a viewer's click on the frame maps onto.
        self.device_size: tuple[float, float] | None = None
        self._deliver_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def active(self) -> bool:
        return self._on

    async def start(self, page: Callable[[], Page]) -> bool:
        """Stream the page `page()` returns to `on_frame`: a slow consumer gets the newest frame when it is
        ready and never delays the browser or the agent. Idempotent (`page` is not called when streaming).
        False when it could not start (the page was between documents): call again to retry."""
        async with self._lock:
            if self._on:
                return True
            self._on = await self._start_cast(page())
            return self._on

    async def stop(self) -> None:
        """Stop streaming. Idempotent."""
        async with self._lock:
            self._on = False
            await self._stop_cast()
            self._latest_frame = None

    async def follow(self) -> None:
        """Move the stream to the current page when the session switched tabs."""
        async with self._lock:
            page = self._current_page()
            if not self._on or (self._cast is not None and self._cast[0] is page):
                return
            await self._stop_cast()
            if not page.is_closed():
                await self._start_cast(page)

    def cancel_delivery(self) -> None:
        """Drop the frame being handed to `on_frame` (the session is closing)."""
        if self._deliver_task is not None and not self._deliver_task.done():
            self._deliver_task.cancel()

    async def _start_cast(self, page: Page) -> bool:
        try:
            cdp = await self._context.new_cdp_session(page)
            cdp.on("Page.screencastFrame", lambda params: self._on_cast_frame(cdp, params))
            self._cast = (page, cdp)
            await cdp.send(
                "Page.startScreencast",
                {
                    "format": "jpeg",
                    "quality": SCREENCAST_QUALITY,
                    "maxWidth": self._config.viewport_width,
                    "maxHeight": self._config.viewport_height,
                    "everyNthFrame": 1,
                },
            )
        except PlaywrightError as exc:
            # The live view is a nicety: losing it must not fail the task. Not streaming, so the next
            # start (the host's next sync) tries again: a navigation may have detached the page meanwhile.
            log.warning("screencast could not start: %s", first_line(exc))
            await self._stop_cast()
            return False
        return True

    async def _stop_cast(self) -> None:
        cast, self._cast = self._cast, None
        if cast is None:
            return
        page, cdp = cast
        if not page.is_closed():
            with contextlib.suppress(PlaywrightError):
                await cdp.send("Page.stopScreencast")
        with contextlib.suppress(PlaywrightError):
            await cdp.detach()

    def _on_cast_frame(self, cdp: CDPSession, params: dict[str, Any]) -> None:
        # Ack first, whatever happens next: Chromium sends no further frame until this one is acked.
        self._spawn(self._ack_frame(cdp, params["sessionId"]))
        if self._on_frame is None or self._cast is None or self._cast[1] is not cdp:
            return
        data = base64.b64decode(params["data"])
        meta = params.get("metadata") or {}
        if meta.get("deviceWidth") and meta.get("deviceHeight"):
            self.device_size = (float(meta["deviceWidth"]), float(meta["deviceHeight"]))
        size = jpeg_size(data) or (int(meta.get("deviceWidth", 0)), int(meta.get("deviceHeight", 0)))
        captured = float(meta.get("timestamp") or time.time())
        self._latest_frame = Frame(data=data, width=size[0], height=size[1], captured_at=captured)
        if self._deliver_task is None or self._deliver_task.done():
            self._deliver_task = asyncio.ensure_future(self._deliver_frames())

    @staticmethod
    async def _ack_frame(cdp: CDPSession, session_id: int) -> None:
        with contextlib.suppress(PlaywrightError):
            await cdp.send("Page.screencastFrameAck", {"sessionId": session_id})

    async def _deliver_frames(self) -> None:
        """Runs beside the agent: hands on_frame the newest frame; frames that arrive meanwhile replace
        each other, so at most one waits."""
        while self._latest_frame is not None and self._on_frame is not None:
            frame, self._latest_frame = self._latest_frame, None
            try:
                await self._on_frame(frame)
            except Exception:  # a broken live view must never break the run
                log.exception("on_frame failed; frame dropped")
