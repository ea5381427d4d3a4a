"""The browser: one system Chromium per process, a fresh context per task, navigation, settling, screenshots, live frames, recordings."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Dialog,
    Download,
    Page,
    Playwright,
    Request,
    Response,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame as PlaywrightFrame
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from agent_core.errors import BrowserError, InvalidTaskError
from agent_core.types import BrowserConfig, Frame

log = logging.getLogger(__name__)

FrameCallback = Callable[[Frame], Awaitable[None]]

# Headless on a closed network: no Google services, no GPU, no /dev/shm (small in containers).
# Playwright disables the sandbox by default; "--no-sandbox" is spelled out because it is required as root.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
    "--disable-dev-shm-usage",
)
CHROMIUM_ENV_VARS = ("LOOKOUT_CHROMIUM", "CHROMIUM_PATH")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

SCREENCAST_QUALITY = 60
# Long-lived requests never "finish"; they must not keep a page from counting as settled.
_STREAMING_RESOURCES = frozenset({"websocket", "eventsource", "media", "manifest", "other"})
# A request older than this is treated as a long poll, not as loading.
_STALE_REQUEST_S = 5.0

# Resolves after the next animation frame and the tasks queued behind it (timers an action's handlers set,
# the fetches they start); the 100 ms timer covers pages that do not paint (rAF is throttled there).
# One round trip through the page's task queue: whatever the action's handlers scheduled as tasks (and
# the requests they started) has run when it resolves. Not an animation frame: the screenshot that
# follows every action renders one anyway, and waiting for a frame here cost ~16 ms per action.
_YIELD_JS = """() => new Promise(resolve => {
  const timer = setTimeout(resolve, 100);
  const channel = new MessageChannel();
  channel.port1.onmessage = () => setTimeout(() => { clearTimeout(timer); resolve(); }, 0);
  channel.port2.postMessage(0);
})"""


def image_type(data: bytes) -> str:
    """MIME type of a screenshot from its magic bytes."""
    return "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"


def find_chromium(explicit: str | None = None) -> str:
    """Return the path of a Chromium to launch: `explicit`, else $LOOKOUT_CHROMIUM / $CHROMIUM_PATH,
    else /usr/bin/chromium, then chromium, chromium-browser or google-chrome on PATH.

    Raises BrowserError naming what was tried when nothing usable exists.
    """
    if explicit:
        found = _executable(explicit)
        if found is None:
            raise BrowserError(f"Chromium not found or not executable at {explicit!r}")
        return found
    for var in CHROMIUM_ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            found = _executable(value)
            if found is None:
                raise BrowserError(f"${var} points at {value!r}, which is not an executable Chromium")
            return found
    for candidate in ("/usr/bin/chromium", *CHROMIUM_NAMES):
        found = _executable(candidate)
        if found is not None:
            return found
    raise BrowserError(
        "no Chromium found: install the system package (apt-get install chromium) or set $LOOKOUT_CHROMIUM "
        f"to the browser's path (looked at /usr/bin/chromium and for {', '.join(CHROMIUM_NAMES)} on PATH)"
    )


def _executable(candidate: str) -> str | None:
    if os.sep in candidate:
        return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None
    return shutil.which(candidate)


def validate_start_url(url: str) -> str:
    """Return `url` stripped when it is http(s) with a host; raise InvalidTaskError otherwise.

    Keeps the agent off file://, chrome://, javascript: and data: URLs, whoever asks for them.
    """
    cleaned = (url or "").strip()
    try:
        parts = urlsplit(cleaned)
        host = parts.hostname
    except ValueError:  # e.g. a malformed IPv6 literal
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        shown = cleaned if len(cleaned) <= 200 else cleaned[:200] + "..."
        raise InvalidTaskError(f"task URL must be http(s): {shown!r}")
    return cleaned


def _seconds(ms: int | float) -> str:
    return f"{ms / 1000:g}"


def _first_line(exc: BaseException) -> str:
    """Playwright errors carry a call log after the first line; operators only need the first."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^\w+\.\w+: ", "", text)  # drop the "Page.goto: " prefix
    return re.sub(r"(net::ERR_\w+) at \S+$", r"\1", text)  # the URL is already in our message


def _proxy_settings(proxy: str) -> dict[str, str]:
    """Split credentials out of "http://user:pass@host:port": Chromium takes them separately."""
    parts = urlsplit(proxy)
    if not parts.username:
        return {"server": proxy}
    server = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    settings = {"server": server, "username": unquote(parts.username)}
    if parts.password:
        settings["password"] = unquote(parts.password)
    return settings


def _safe_filename(name: str) -> str:
    """A download's suggested name, stripped of anything that could climb out of the downloads dir."""
    base = os.path.basename(name.replace("\\", "/")).strip().lstrip(".")
    base = re.sub(r"[\x00-\x1f]", "", base)
    return base[:180] or "download"


def _unique_path(directory: Path, name: str) -> Path:
    target = directory / name
    stem, suffix = target.stem, target.suffix
    counter = 1
    while target.exists():
        counter += 1
        target = directory / f"{stem} ({counter}){suffix}"
    return target


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


def _ffmpeg_shim() -> str | None:
    """A PLAYWRIGHT_BROWSERS_PATH under which Playwright finds the system ffmpeg, or None if not needed.

    Playwright records video with its own ffmpeg build, which it downloads, and downloads are impossible
    here; the system ffmpeg does the same job. The shim is a fresh private temp dir (never a shared path
    another user could plant a binary in).
    """
    if os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or not sys.platform.startswith("linux"):
        return None
    system_ffmpeg = shutil.which("ffmpeg")
    if system_ffmpeg is None:
        return None
    try:
        import playwright

        manifest = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
        entries = json.loads(manifest.read_text())["browsers"]
        revision = next(entry["revision"] for entry in entries if entry["name"] == "ffmpeg")
    except (OSError, ValueError, KeyError, StopIteration):
        return None
    if (Path.home() / ".cache" / "ms-playwright" / f"ffmpeg-{revision}" / "ffmpeg-linux").exists():
        return None
    root = Path(tempfile.mkdtemp(prefix="lookout-playwright-"))
    (root / f"ffmpeg-{revision}").mkdir()
    (root / f"ffmpeg-{revision}" / "ffmpeg-linux").symlink_to(system_ffmpeg)
    return str(root)


class BrowserManager:
    """Owns Playwright and one Chromium for the whole process; hands out a fresh `BrowserSession` per task.

    Use as `async with BrowserManager(config) as manager:` or call `start()` / `close()`. If Chromium dies,
    the next `new_session()` launches it again. All methods must run on the same event loop.
    """

    def __init__(self, config: BrowserConfig) -> None:
        self.config = config
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._ffmpeg_shim: str | None = None
        self._lock = asyncio.Lock()

    @property
    def browser(self) -> Browser:
        if self._browser is None:
            raise BrowserError("the browser is not started")
        return self._browser

    async def start(self) -> None:
        """Launch Chromium. Idempotent: a running browser is left alone."""
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return
            executable = find_chromium(self.config.executable_path)
            if self._playwright is None:
                shim = self._ffmpeg_shim = _ffmpeg_shim()
                if shim is not None:
                    # Read by the Playwright driver when it spawns; put back at once for everyone else.
                    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = shim
                try:
                    self._playwright = await async_playwright().start()
                finally:
                    if shim is not None:
                        os.environ.pop("PLAYWRIGHT_BROWSERS_PATH", None)
            try:
                self._browser = await self._playwright.chromium.launch(
                    executable_path=executable,
                    headless=self.config.headless,
                    args=list(CHROMIUM_ARGS),
                    timeout=60_000,
                )
            except PlaywrightError as exc:
                raise BrowserError(f"could not launch Chromium at {executable}: {_first_line(exc)}") from exc
            log.info("launched Chromium %s from %s", self._browser.version, executable)

    async def close(self) -> None:
        """Close the browser and stop Playwright. Safe to call twice."""
        async with self._lock:
            browser, self._browser = self._browser, None
            playwright, self._playwright = self._playwright, None
            if browser is not None:
                with contextlib.suppress(PlaywrightError):
                    await browser.close()
            if playwright is not None:
                with contextlib.suppress(PlaywrightError):
                    await playwright.stop()
            if self._ffmpeg_shim is not None:
                shutil.rmtree(self._ffmpeg_shim, ignore_errors=True)
                self._ffmpeg_shim = None

    async def __aenter__(self) -> BrowserManager:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def new_session(
        self, *, config: BrowserConfig | None = None, on_frame: FrameCallback | None = None
    ) -> BrowserSession:
        """Open a fresh context (cookies, storage, downloads, recordings all its own) with one page.

        `config` overrides the manager's for this session only (viewport, proxy, recordings...);
        `on_frame` receives live-view frames once `start_screencast()` is called.
        """
        if self._browser is None or not self._browser.is_connected():
            await self.start()
        return await BrowserSession.open(self.browser, config or self.config, on_frame=on_frame)


class BrowserSession:
    """One task's browser context and its active page.

    `page` follows the newest tab: a click that opens a new tab switches to it, and closing the active
    tab falls back to the most recent one still open. Operations on a crashed or closed page raise
    BrowserError("page crashed" / "page was closed") instead of hanging.
    """

    def __init__(
        self,
        *,
        context: BrowserContext,
        page: Page,
        config: BrowserConfig,
        downloads_dir: Path,
        trace_path: Path | None,
        on_frame: FrameCallback | None,
    ) -> None:
        self.context = context
        self.page = page
        self.config = config
        self.downloads_dir = downloads_dir
        self.downloads: list[Path] = []
        self.dialogs: list[str] = []  # "confirm: Delete this item?" for every dialog the session accepted
        self.navigations = 0  # main-frame navigations of the active page, plus tab switches
        self._trace_path = trace_path
        self._on_frame = on_frame
        self._pages: list[Page] = []
        self._crashed: set[Page] = set()
        self._closed = False
        self._inflight: dict[Request, float] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._download_tasks: list[asyncio.Task[Path | None]] = []
        self._download_started = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        # screencast state
        self._screencasting = False
        self._cast: tuple[Page, CDPSession] | None = None
        self._latest_frame: Frame | None = None
        self._deliver_task: asyncio.Task[None] | None = None
        self._cast_lock = asyncio.Lock()

        context.on("page", self._on_new_page)
        context.on("request", self._on_request)
        context.on("requestfinished", self._on_request_done)
        context.on("requestfailed", self._on_request_done)
        context.on("response", self._on_response)
        self._attach(page)

    @classmethod
    async def open(
        cls, browser: Browser, config: BrowserConfig, *, on_frame: FrameCallback | None = None
    ) -> BrowserSession:
        """Create the context and its first page from `config`. Prefer `BrowserManager.new_session()`."""
        downloads_dir = Path(config.downloads_dir or tempfile.mkdtemp(prefix="lookout-downloads-"))
        downloads_dir.mkdir(parents=True, exist_ok=True)
        viewport = {"width": config.viewport_width, "height": config.viewport_height}
        options: dict[str, Any] = {"viewport": viewport, "accept_downloads": True}
        if config.user_agent:
            options["user_agent"] = config.user_agent
        if config.extra_headers:
            options["extra_http_headers"] = dict(config.extra_headers)
        if config.proxy:
            options["proxy"] = _proxy_settings(config.proxy)
        if config.video_dir:
            Path(config.video_dir).mkdir(parents=True, exist_ok=True)
            options["record_video_dir"] = config.video_dir
            options["record_video_size"] = viewport
        if config.har_path:
            Path(config.har_path).parent.mkdir(parents=True, exist_ok=True)
            options["record_har_path"] = config.har_path
        try:
            context, page = await cls._new_context(browser, options)
        except PlaywrightError as exc:
            if "record_video_dir" not in options:
                raise BrowserError(f"could not open a browser context: {_first_line(exc)}") from exc
            # A recording must never cost the task: go on without video.
            log.warning("video recording unavailable, continuing without: %s", _first_line(exc))
            options.pop("record_video_dir")
            options.pop("record_video_size")
            try:
                context, page = await cls._new_context(browser, options)
            except PlaywrightError as again:
                raise BrowserError(f"could not open a browser context: {_first_line(again)}") from again
        context.set_default_timeout(config.action_timeout_ms)
        context.set_default_navigation_timeout(config.navigation_timeout_ms)
        trace_path: Path | None = None
        if config.trace:
            try:
                await context.tracing.start(screenshots=True, snapshots=True)
                # Beside the other recordings (the host's run folder) when there are any.
                recordings_dir = config.video_dir or (str(Path(config.har_path).parent) if config.har_path else None)
                trace_dir = Path(recordings_dir or tempfile.mkdtemp(prefix="lookout-trace-"))
                trace_path = _unique_path(trace_dir, "trace.zip")
            except PlaywrightError as exc:
                log.warning("tracing unavailable, continuing without: %s", _first_line(exc))
        return cls(
            context=context,
            page=page,
            config=config,
            downloads_dir=downloads_dir,
            trace_path=trace_path,
            on_frame=on_frame,
        )

    @staticmethod
    async def _new_context(browser: Browser, options: dict[str, Any]) -> tuple[BrowserContext, Page]:
        context = await browser.new_context(**options)
        try:
            return context, await context.new_page()
        except PlaywrightError:
            with contextlib.suppress(PlaywrightError):
                await context.close()
            raise

    async def __aenter__(self) -> BrowserSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ---- page tracking -------------------------------------------------------------------------------
    def _attach(self, page: Page) -> None:
        self._pages.append(page)
        page.on("crash", self._on_crash)
        page.on("close", self._on_page_close)
        page.on("download", self._on_download)
        page.on("dialog", self._on_dialog)
        page.on("framenavigated", lambda frame: self._on_navigated(page, frame))

    def _on_new_page(self, page: Page) -> None:
        if page not in self._pages:
            self._attach(page)
        self._switch_to(page)

    def _switch_to(self, page: Page) -> None:
        if page is self.page:
            return
        self.page = page
        self.navigations += 1
        if self._screencasting:
            self._spawn(self._restart_screencast())

    def _on_navigated(self, page: Page, frame: PlaywrightFrame) -> None:
        if page is self.page and frame.parent_frame is None:
            self.navigations += 1

    def _on_crash(self, page: Page) -> None:
        log.warning("page crashed: %s", page.url)
        self._crashed.add(page)

    def _on_page_close(self, page: Page) -> None:
        if page is not self.page or self._closed:
            return
        still_open = [p for p in self._pages if not p.is_closed()]
        if still_open:
            self._switch_to(still_open[-1])

    def _on_dialog(self, dialog: Dialog) -> None:
        # With a listener Playwright no longer auto-dismisses, so every dialog must be answered here:
        # accept (the model clicked whatever raised it on purpose), and keep the message for the record.
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        self._spawn(self._answer_dialog(dialog))

    @staticmethod
    async def _answer_dialog(dialog: Dialog) -> None:
        with contextlib.suppress(PlaywrightError):
            if dialog.type == "prompt":
                await dialog.accept(dialog.default_value)
            else:
                await dialog.accept()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def check_page(self) -> Page:
        """The active page, or BrowserError if it crashed or closed (the same rule for every operation)."""
        page = self.page
        if page in self._crashed:
            raise BrowserError("page crashed")
        if self._closed or page.is_closed():
            raise BrowserError("page was closed")
        return page

    def browser_error(self, exc: BaseException, what: str) -> BrowserError:
        page = self.page
        if page in self._crashed or "crash" in str(exc).lower():
            return BrowserError("page crashed", raw=str(exc))
        if self._closed or page.is_closed() or "has been closed" in str(exc):
            return BrowserError("page was closed", raw=str(exc))
        return BrowserError(f"{what}: {_first_line(exc)}", raw=str(exc))

    # ---- network activity ----------------------------------------------------------------------------
    def _on_request(self, request: Request) -> None:
        if request.resource_type in _STREAMING_RESOURCES:
            return
        self._inflight[request] = time.monotonic()
        self._idle.clear()

    def _on_request_done(self, request: Request) -> None:
        if self._inflight.pop(request, None) is not None and not self._busy():
            self._idle.set()

    def _on_response(self, response: Response) -> None:
        # Chromium reports a fetch() as finished only once the page reads its body, which many pages never
        # do: for anything but a document, the answer arriving is quiet enough.
        if response.request.resource_type != "document":
            self._on_request_done(response.request)

    def _busy(self) -> bool:
        cutoff = time.monotonic() - _STALE_REQUEST_S
        for request, started in list(self._inflight.items()):
            if started < cutoff:
                del self._inflight[request]  # a long poll or a lost event: stop waiting for it
        return bool(self._inflight)

    # ---- navigation, settling, screenshots -------------------------------------------------------------
    async def goto(self, url: str) -> None:
        """Navigate the active page to `url` (http(s) only), then let it settle.

        Raises InvalidTaskError for a non-http(s) URL, BrowserError on timeout, network error or crash.
        A URL that answers with a file download counts as success (the file lands in `downloads`).
        """
        url = validate_start_url(url)
        page = self.check_page()
        timeout = self.config.navigation_timeout_ms
        downloads_before = self.downloads_started
        try:
            await page.goto(url, timeout=timeout, wait_until="domcontentloaded")
        except PlaywrightTimeoutError as exc:
            if page in self._crashed:
                raise BrowserError("page crashed", raw=str(exc)) from exc
            raise BrowserError(
                f"navigation to {url} timed out after {_seconds(timeout)} s", raw=str(exc)
            ) from exc
        except PlaywrightError as exc:
            if "Download is starting" in str(exc):
                # Playwright reports the download event just after this error: wait for it, so the
                # caller finds the file in `downloads_started` / `wait_for_downloads`.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._download_seen(downloads_before), timeout=timeout / 1000)
                return
            raise self.browser_error(exc, f"navigation to {url} failed") from exc
        await self.wait_for_settle()

    async def wait_for_settle(self, timeout_ms: int = 3000, *, frame: PlaywrightFrame | None = None) -> None:
        """Wait until the active page has loaded and its network is quiet, at most `timeout_ms`.

        Event-driven: load state, in-flight request bookkeeping and a round trip through the page's event
        loop (the next animation frame and the tasks behind it), no fixed sleep. `frame`: a cross-origin
        iframe the last action touched, which runs on its own event loop and gets the same round trip.
        Never raises: a page that keeps loading just uses up the budget.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        failures = 0

        def left_ms() -> float:
            return max(0.0, (deadline - loop.time()) * 1000)

        while left_ms() > 0 and failures < 5:
            page = self.page
            if self._closed or page.is_closed() or page in self._crashed:
                return
            try:
                await page.wait_for_load_state("load", timeout=left_ms() or 1)
                await asyncio.wait_for(page.evaluate(_YIELD_JS), timeout=left_ms() / 1000)
                if frame is not None:
                    if not frame.is_detached():
                        # Its navigation ("context destroyed") or detachment only means it moved on.
                        with contextlib.suppress(PlaywrightError):
                            await asyncio.wait_for(frame.evaluate(_YIELD_JS), timeout=left_ms() / 1000)
                    frame = None
            except (TimeoutError, PlaywrightError):
                # Mostly "execution context was destroyed": a navigation started; go round again.
                failures += 1
                if self._busy():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._idle.wait(), timeout=left_ms() / 1000)
                continue
            if page is not self.page:
                continue  # a new tab opened meanwhile: settle that one
            if not self._busy():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=left_ms() / 1000)

    async def screenshot(self, *, full_page: bool = False) -> bytes:
        """The viewport (or the whole page) as JPEG (quality from config; None gives PNG).
        Raises BrowserError if the page crashed or closed."""
        page = self.check_page()
        quality = self.config.screenshot_quality
        try:
            if quality is None:
                return await page.screenshot(
                    type="png",
                    full_page=full_page,
                    caret="initial",
                    timeout=max(self.config.action_timeout_ms, 10_000),
                )
            return await page.screenshot(
                type="jpeg",
                quality=quality,
                full_page=full_page,
                # Playwright hides the text caret by default with an injected style, which costs a style
                # recalculation (~10 ms here) per shot; a visible caret even tells the model where focus is.
                caret="initial",
                timeout=max(self.config.action_timeout_ms, 10_000),
            )
        except PlaywrightError as exc:
            raise self.browser_error(exc, "screenshot failed") from exc

    # ---- downloads -----------------------------------------------------------------------------------
    def _on_download(self, download: Download) -> None:
        self._download_tasks.append(asyncio.ensure_future(self._save_download(download)))
        self._download_started.set()

    async def _download_seen(self, before: int) -> None:
        while self.downloads_started <= before:
            self._download_started.clear()
            await self._download_started.wait()

    async def _save_download(self, download: Download) -> Path | None:
        target = _unique_path(self.downloads_dir, _safe_filename(download.suggested_filename))
        try:
            await download.save_as(target)
        except PlaywrightError as exc:
            log.warning("download of %s failed: %s", download.url, _first_line(exc))
            return None
        failure = await download.failure()
        if failure:
            log.warning("download of %s failed: %s", download.url, failure)
            return None
        self.downloads.append(target)
        return target

    @property
    def downloads_started(self) -> int:
        """How many downloads began so far; pass it to `wait_for_downloads(since=...)` before an action."""
        return len(self._download_tasks)

    async def wait_for_downloads(self, *, since: int, timeout_ms: int | None = None) -> list[Path]:
        """Wait for the downloads started after `since` to be saved; return the saved paths.

        Downloads still running at the timeout keep going in the background and join `downloads` later.
        """
        tasks = self._download_tasks[since:]
        if not tasks:
            return []
        timeout = (timeout_ms if timeout_ms is not None else self.config.navigation_timeout_ms) / 1000
        done, _ = await asyncio.wait(tasks, timeout=timeout)
        return [path for task in tasks if task in done and (path := task.result()) is not None]

    # ---- live view -----------------------------------------------------------------------------------
    async def start_screencast(self) -> None:
        """Stream the active page as JPEG frames to `on_frame`, latest-wins: a slow consumer gets the
        newest frame when it is ready and never delays the browser or the agent. Idempotent."""
        async with self._cast_lock:
            if self._screencasting:
                return
            self._screencasting = True
            await self._start_cast(self.check_page())

    async def stop_screencast(self) -> None:
        """Stop streaming. Idempotent."""
        async with self._cast_lock:
            self._screencasting = False
            await self._stop_cast()
            self._latest_frame = None

    async def _restart_screencast(self) -> None:
        async with self._cast_lock:
            if not self._screencasting or (self._cast is not None and self._cast[0] is self.page):
                return
            await self._stop_cast()
            if not self.page.is_closed():
                await self._start_cast(self.page)

    async def _start_cast(self, page: Page) -> None:
        try:
            cdp = await self.context.new_cdp_session(page)
            cdp.on("Page.screencastFrame", lambda params: self._on_cast_frame(cdp, params))
            self._cast = (page, cdp)
            await cdp.send(
                "Page.startScreencast",
                {
                    "format": "jpeg",
                    "quality": SCREENCAST_QUALITY,
                    "maxWidth": self.config.viewport_width,
                    "maxHeight": self.config.viewport_height,
                    "everyNthFrame": 1,
                },
            )
        except PlaywrightError as exc:
            # The live view is a nicety: losing it must not fail the task.
            log.warning("screencast could not start: %s", _first_line(exc))

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

    # ---- the end -------------------------------------------------------------------------------------
    async def close(self) -> dict[str, Path]:
        """Close the context and return the recordings it produced: {"video", "har", "trace"} as enabled
        (extra tabs' videos as "video_2", ...). A recording that failed is logged and left out.
        Downloads stay in `downloads_dir`. Safe to call twice (the second call returns {})."""
        if self._closed:
            return {}
        outputs: dict[str, Path] = {}
        with contextlib.suppress(Exception):
            await self.stop_screencast()
        if self._deliver_task is not None and not self._deliver_task.done():
            self._deliver_task.cancel()
        self._closed = True
        if self._trace_path is not None:
            try:
                await self.context.tracing.stop(path=self._trace_path)
                outputs["trace"] = self._trace_path
            except PlaywrightError as exc:
                log.warning("trace could not be saved: %s", _first_line(exc))
        videos = [page.video for page in self._pages if page.video is not None]
        try:
            await self.context.close()
        except PlaywrightError as exc:
            log.warning("closing the browser context failed: %s", _first_line(exc))
        for index, video in enumerate(videos):
            try:
                path = Path(await video.path())
            except PlaywrightError as exc:
                log.warning("video could not be saved: %s", _first_line(exc))
                continue
            if path.is_file():
                outputs["video" if index == 0 else f"video_{index + 1}"] = path
        if self.config.har_path:
            har = Path(self.config.har_path)
            if har.is_file():
                outputs["har"] = har
            else:
                log.warning("HAR was not written to %s", har)
        for task in self._download_tasks:
            if not task.done():
                task.cancel()
        for task in list(self._background):
            task.cancel()
        return outputs
