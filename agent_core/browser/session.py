"""One task's browser context: its pages and tabs, dialogs, navigation, settling, screenshots, closing."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from playwright.async_api import Browser, BrowserContext, Dialog, Page, Request, Response
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame as PlaywrightFrame
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from agent_core.browser.common import first_line, unique_path
from agent_core.browser.downloads import Downloads
from agent_core.browser.screencast import FrameCallback, Screencast
from agent_core.browser.settle import QUIET_MS, Settled, settle_in, watcher_js
from agent_core.browser_egress import EgressGuard, OnBlocked, install_egress_guard
from agent_core.egress import check_url, parse_url
from agent_core.egress_proxy import NET_ERROR_HEADER, EgressProxy
from agent_core.errors import BrowserError, EgressDenied, InvalidTaskError
from agent_core.scraper import scraper_install_js
from agent_core.secrets import Secrets
from agent_core.types import BrowserConfig

log = logging.getLogger(__name__)

VIDEO_MAX_SIDE = 800


def video_size(width: int, height: int) -> dict[str, int]:
    """The recording's frame size: the viewport scaled down to fit VIDEO_MAX_SIDE (Playwright's own default),
    even sides. 1280x800 records at 800x500: the encoder holds a third of the memory of the full size, the
    text stays legible, and the trace keeps full-size screenshots."""
    scale = min(1.0, VIDEO_MAX_SIDE / max(width, height))
    return {"width": int(width * scale) & ~1, "height": int(height * scale) & ~1}


_STREAMING_RESOURCES = frozenset({"websocket", "eventsource", "media", "manifest", "other"})
# A request older than this is treated as a long poll, not as loading.
_STALE_REQUEST_S = 5.0

# In every document: note when a navigation to another document begins (a form submitted with Enter, a
# link). Chromium starts its request a moment later, later still through the egress route and proxy, and
# until then nothing on the network side says the page is about to change.
_LEAVING_JS = """(() => { try {
  navigation.addEventListener("navigate", event => {
    if (!event.destination.sameDocument && !event.downloadRequest) window.__lookoutLeaving = true;
  });
} catch (error) {} })()"""
# How long a page that said it is leaving may take to start its request.
_LEAVING_WAIT_S = 2.0


def image_type(data: bytes) -> str:
    """MIME type of a screenshot from its magic bytes."""
    return "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"


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


# What Chromium says when the egress guard aborted a request, or the egress proxy refused a tunnel.
_EGRESS_ERRORS = ("ERR_BLOCKED_BY_CLIENT", "ERR_TUNNEL_CONNECTION_FAILED")
_DENIED_PREFIX = "blocked by the egress policy: "


class EgressReports:
    """The refusals of one session's egress guard, egress proxy and own checks: the latest few are kept
    (to explain a failed navigation), each is passed on to the host's `on_blocked(url, reason)`."""

    def __init__(self, forward: OnBlocked | None = None) -> None:
        self.count = 0
        self.recent: deque[tuple[str, str]] = deque(maxlen=32)
        self._forward = forward

    async def report(self, url: str, reason: str) -> None:
        self.count += 1
        self.recent.append((url, reason))
        if self._forward is None:
            return
        try:
            outcome = self._forward(url, reason)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # a broken reporter must not change what the browser does
            log.exception("reporting the refusal of %s failed", url)

    def since(self, count: int) -> list[tuple[str, str]]:
        """The refusals reported after the `count`-th (as many as are still kept)."""
        new = self.count - count
        return list(self.recent)[-new:] if new > 0 else []


def _seconds(ms: int | float) -> str:
    return f"{ms / 1000:g}"


def proxy_settings(proxy: str) -> dict[str, str]:
    """Split credentials out of "http://user:pass@host:port": Chromium takes them separately."""
    parts = urlsplit(proxy)
    if not parts.username:
        return {"server": proxy}
    server = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    settings = {"server": server, "username": unquote(parts.username)}
    if parts.password:
        settings["password"] = unquote(parts.password)
    return settings


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
        egress: EgressReports | None = None,
        egress_guard: EgressGuard | None = None,
        egress_proxy: EgressProxy | None = None,
    ) -> None:
        self.context = context
        self.page = page
        self.config = config
        self.secrets = Secrets()  # the run's secrets, revealed as they are typed (set by run_agent)
        self.downloads_dir = downloads_dir
        self._downloads = Downloads(downloads_dir, max_bytes=config.max_download_bytes)
        self.downloads: list[Path] = self._downloads.saved  # saved files, in the order they finished
        self.dialogs: list[str] = []  # "confirm: Delete this item?" for every dialog the session accepted
        self.navigations = 0  # main-frame navigations of the active page, plus tab switches
        self._trace_path = trace_path
        self.egress = egress or EgressReports()
        self.egress_guard = egress_guard
        self._egress_proxy = egress_proxy
        self._pages: list[Page] = []
        self._crashed: set[Page] = set()
        self._closed = False
        self._inflight: dict[Request, float] = {}
        self._request_done = asyncio.Event()
        self._requests_started = 0
        self._request_started = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._screencast = Screencast(
            context=context, config=config, on_frame=on_frame, current_page=lambda: self.page, spawn=self._spawn
        )

        context.on("page", self._on_new_page)
        context.on("request", self._on_request)
        context.on("requestfinished", self._on_request_done)
        context.on("requestfailed", self._on_request_done)
        context.on("response", self._on_response)
        self._attach(page)

    @classmethod
    async def open(
        cls,
        browser: Browser,
        config: BrowserConfig,
        *,
        on_frame: FrameCallback | None = None,
        on_blocked: OnBlocked | None = None,
    ) -> BrowserSession:
        """Create the context and its first page from `config`. Prefer `BrowserManager.new_session()`.

        The context is held to `config.egress`: unless an operator proxy is configured, Chromium goes
        through a local EgressProxy (every connection, redirect hops included, is checked and pinned),
        and an egress guard on the context refuses requests before they leave (with a readable reason).
        Service workers are blocked (they would fetch around the guard). Every refusal goes to
        `on_blocked(url, reason)`.
        """
        egress = EgressReports(on_blocked)
        proxy: EgressProxy | None = None
        if not config.proxy:
            proxy = EgressProxy(config.egress, egress.report)
            await proxy.start()
        try:
            return await cls._open(browser, config, on_frame=on_frame, egress=egress, proxy=proxy)
        except BaseException:
            if proxy is not None:
                await proxy.close()
            raise

    @classmethod
    async def _open(
        cls,
        browser: Browser,
        config: BrowserConfig,
        *,
        on_frame: FrameCallback | None,
        egress: EgressReports,
        proxy: EgressProxy | None,
    ) -> BrowserSession:
        downloads_dir = Path(config.downloads_dir or tempfile.mkdtemp(prefix="lookout-downloads-"))
        downloads_dir.mkdir(parents=True, exist_ok=True)
        viewport = {"width": config.viewport_width, "height": config.viewport_height}
        options: dict[str, Any] = {"viewport": viewport, "accept_downloads": True, "service_workers": "block"}
        if config.user_agent:
            options["user_agent"] = config.user_agent
        if config.extra_headers:
            options["extra_http_headers"] = dict(config.extra_headers)
        if config.proxy:
            options["proxy"] = proxy_settings(config.proxy)  # the operator's proxy then owns egress
        elif proxy is not None:
            options["proxy"] = proxy.playwright_proxy
        if config.storage_state is not None:
            options["storage_state"] = config.storage_state  # a saved login (cookies, local storage)
        if config.video_dir:
            Path(config.video_dir).mkdir(parents=True, exist_ok=True)
            options["record_video_dir"] = config.video_dir
            options["record_video_size"] = video_size(config.viewport_width, config.viewport_height)
        if config.har_path:
            Path(config.har_path).parent.mkdir(parents=True, exist_ok=True)
            options["record_har_path"] = config.har_path
        # Redirect hops never reach the guard's route; the egress proxy refuses them itself. Without it
        # (an operator proxy) the guard at least reports the hops Chromium followed.
        def guard(context: BrowserContext) -> Awaitable[EgressGuard]:
            return install_egress_guard(context, config.egress, egress.report, watch_redirects=proxy is None)

        try:
            context, page, egress_guard = await cls._new_context(browser, options, guard)
        except PlaywrightError as exc:
            if "record_video_dir" not in options:
                raise BrowserError(f"could not open a browser context: {first_line(exc)}") from exc
            # A recording must never cost the task: go on without video.
            log.warning("video recording unavailable, continuing without: %s", first_line(exc))
            options.pop("record_video_dir")
            options.pop("record_video_size")
            try:
                context, page, egress_guard = await cls._new_context(browser, options, guard)
            except PlaywrightError as again:
                raise BrowserError(f"could not open a browser context: {first_line(again)}") from again
        context.set_default_timeout(config.action_timeout_ms)
        await context.add_init_script(script=watcher_js())  # how settling knows what the page is busy with
        await context.add_init_script(script=scraper_install_js())  # a scrape then sends a short call
        context.set_default_navigation_timeout(config.navigation_timeout_ms)
        trace_path: Path | None = None
        if config.trace:
            try:
                await context.tracing.start(screenshots=True, snapshots=True)
                # Beside the other recordings (the host's run folder) when there are any.
                recordings_dir = config.video_dir or (str(Path(config.har_path).parent) if config.har_path else None)
                trace_dir = Path(recordings_dir or tempfile.mkdtemp(prefix="lookout-trace-"))
                trace_path = unique_path(trace_dir, "trace.zip")
            except PlaywrightError as exc:
                log.warning("tracing unavailable, continuing without: %s", first_line(exc))
        return cls(
            context=context,
            page=page,
            config=config,
            downloads_dir=downloads_dir,
            trace_path=trace_path,
            on_frame=on_frame,
            egress=egress,
            egress_guard=egress_guard,
            egress_proxy=proxy,
        )

    @staticmethod
    async def _new_context(
        browser: Browser, options: dict[str, Any], guard: Callable[[BrowserContext], Awaitable[EgressGuard]]
    ) -> tuple[BrowserContext, Page, EgressGuard]:
        context = await browser.new_context(**options)
        try:
            await context.add_init_script(script=_LEAVING_JS)
            installed = await guard(context)  # before the first page, so nothing loads unguarded
            return context, await context.new_page(), installed
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
        page.on("download", self._downloads.on_download)
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
        if self._screencast.active:
            self._spawn(self._screencast.follow())

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
        return BrowserError(f"{what}: {first_line(exc)}", raw=str(exc))

    # ---- network activity ----------------------------------------------------------------------------
    def _on_request(self, request: Request) -> None:
        if request.resource_type in _STREAMING_RESOURCES:
            return
        self._inflight[request] = time.monotonic()
        self._requests_started += 1
        self._request_started.set()

    async def _request_after(self, count: int, timeout_s: float) -> None:
        """Return once more than `count` requests have started, or after `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._requests_started <= count:
                    self._request_started.clear()
                    await self._request_started.wait()

    def _on_request_done(self, request: Request) -> None:
        if self._inflight.pop(request, None) is not None:
            self._request_done.set()

    def _on_response(self, response: Response) -> None:
        # Chromium reports a fetch() as finished only once the page reads its body, which many pages never
        # do: for anything but a document, the answer arriving is quiet enough.
        if response.request.resource_type != "document":
            self._on_request_done(response.request)

    def _busy(self, since: float | None = None) -> bool:
        """Requests in flight (started at or after `since`, a time.monotonic() value, when given)."""
        cutoff = time.monotonic() - _STALE_REQUEST_S
        busy = False
        for request, started in list(self._inflight.items()):
            if started < cutoff:
                del self._inflight[request]  # a long poll or a lost event: stop waiting for it
            elif since is None or started >= since:
                busy = True
        return busy

    async def _network_quiet(self, since: float | None, timeout_s: float) -> bool:
        """Wait until no request started since `since` is in flight; False if there was one to wait for."""
        if not self._busy(since):
            return True
        deadline = time.monotonic() + timeout_s
        while self._busy(since) and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._request_done.wait(), timeout=max(0.001, deadline - time.monotonic()))
            self._request_done.clear()
        return False

    # ---- navigation, settling, screenshots -------------------------------------------------------------
    async def goto(self, url: str) -> None:
        """Navigate the active page to `url` (http(s) only), then let it settle.

        Raises InvalidTaskError for a non-http(s) URL, EgressDenied when the egress policy refuses the URL
        (checked before the browser is asked) or a redirect on the way, BrowserError on timeout, network
        error or crash. A URL that answers with a file download counts as success (the file lands in
        `downloads`).
        """
        url = validate_start_url(url)
        try:
            await check_url(url, self.config.egress, purpose="browser")
        except EgressDenied as refused:
            await self.egress.report(url, str(refused))
            raise
        page = self.check_page()
        timeout = self.config.navigation_timeout_ms
        downloads_before = self.downloads_started
        refusals_before = self.egress.count
        try:
            response = await page.goto(url, timeout=timeout, wait_until="domcontentloaded")
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
                    await asyncio.wait_for(self._downloads.seen(downloads_before), timeout=timeout / 1000)
                return
            if any(code in str(exc) for code in _EGRESS_ERRORS):
                blocked = self._egress_denial(refusals_before, url=url)
                if blocked is not None:
                    raise blocked from exc
                unreachable = self._unreachable(url)
                if unreachable is not None:  # a tunnel the egress proxy could not open
                    raise BrowserError(f"navigation to {url} failed: net::{unreachable}", raw=str(exc)) from exc
            raise self.browser_error(exc, f"navigation to {url} failed") from exc
        if response is not None and response.status == 403 and self.egress.count > refusals_before:
            # A plain-http redirect the egress proxy refused: it answered 403 with the reason.
            denial = self._egress_denial(refusals_before, url=response.url, exact=True)
            if denial is not None:
                raise denial
        if response is not None and response.status == 502 and self._egress_proxy is not None:
            # The egress proxy could not reach the host: the error Chromium would have given without it.
            code = await response.header_value(NET_ERROR_HEADER)
            if code:
                raise BrowserError(f"navigation to {url} failed: net::{code}")
        await self.wait_for_settle()

    def _unreachable(self, url: str) -> str | None:
        """The connection error the egress proxy met for `url`'s host and port, if it met one."""
        if self._egress_proxy is None:
            return None
        try:
            target = parse_url(url)
        except ValueError:
            return None
        port = target.port or (443 if target.scheme in ("https", "wss") else 80)
        host = f"[{target.host}]" if ":" in target.host else target.host
        return self._egress_proxy.unreachable.get(f"{host}:{port}") or self._egress_proxy.unreachable.get(
            f"{target.host}:{port}"
        )

    def _egress_denial(self, since: int, *, url: str, exact: bool = False) -> EgressDenied | None:
        """The refusal that stopped a navigation to `url`, among those reported after the `since`-th: the
        one for that URL, else (unless `exact`) the latest (a refused tunnel is reported as host:port)."""
        refusals = self.egress.since(since)
        reason = next((r for u, r in reversed(refusals) if u == url), None)
        if reason is None and refusals and not exact:
            reason = refusals[-1][1]
        if reason is None:
            return None
        return EgressDenied(reason.removeprefix(_DENIED_PREFIX), url=url)

    async def wait_for_settle(
        self,
        timeout_ms: int = 3000,
        *,
        frame: PlaywrightFrame | None = None,
        since: float | None = None,
        probe: tuple[str, str] | None = None,
    ) -> Settled:
        """Wait until the active page has loaded and is quiet, at most `timeout_ms`; say how it went.

        Observed, never a fixed sleep: the page's watcher (agent_core/js/watcher.js) waits for the load
        event, then until nothing started since `since` is pending (timers up to 1 s, animation frames, fetch/XHR,
        finite CSS animations) and the DOM has been quiet for 100 ms after the last change those made (in a
        document the action led to, building it up to its load event is loading, and 30 ms of quiet after
        that event will do unless something changes); then no request started since `since` may still be in
        flight. A page where nothing happened pays one round trip. `since`: when the action began (time.time(), seconds); None after a navigation of our
        own, when only the network and one turn of the page's task queue are awaited. `frame`: an iframe
        the last action touched, watched the same way (its DOM, its own event loop when cross-origin, and a
        navigation of its own, which is followed to the next document's load).
        `probe`: (selector, script) to run on an element of the top document once it is settled, in the same
        round trip (a check after the action): `Settled.read` holds [its result], or None.
        Never raises: a page that keeps busy just uses up the budget.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + timeout_ms / 1000
        since_ms = since * 1000 if since is not None else None
        # The same instant on the clock the in-flight requests are stamped with.
        since_mono = time.monotonic() - (time.time() - since) if since is not None else None
        idle_from = 0.0
        failures = 0

        def left_ms() -> float:
            return max(0.0, (deadline - loop.time()) * 1000)

        def settled(quiet: bool, state: Any = None) -> Settled:
            read = state.get("probe") if isinstance(state, dict) else None
            return Settled(ms=(loop.time() - started) * 1000, quiet=quiet, read=read if isinstance(read, list) else None)

        def options() -> dict[str, float]:
            # No `since`: the watcher counts from now, which waits only for the turn (and what is pending).
            return {
                "since": since_ms if since_ms is not None else time.time() * 1000,
                "quiet": QUIET_MS,
                "budget": left_ms(),
                "idleFrom": idle_from,
            }

        while left_ms() > 0 and failures < 5:
            page = self.page
            if self._closed or page.is_closed() or page in self._crashed:
                return settled(False)
            try:
                requests_before = self._requests_started
                if failures:
                    # A navigation got in the way: the next document's load first (the watcher waits for it
                    # too, but only once it exists).
                    await page.wait_for_load_state("load", timeout=left_ms() or 1)
                state = await settle_in(page, options(), left_ms() / 1000 + 0.5, probe)
                # A navigation to another document began (a form submitted with Enter) and its request is not
                # out yet (it leaves later through the egress route and proxy): wait for it, then settle again.
                if state and state.get("leaving") and self._requests_started == requests_before:
                    await self._request_after(requests_before, min(_LEAVING_WAIT_S, left_ms() / 1000))
                    continue
                # Visited on every round, so that a document it went on to is settled as well.
                if frame is not None and await self._frame_moves_on(frame, options(), requests_before, left_ms()):
                    continue
            except (TimeoutError, PlaywrightError):
                # Mostly "execution context was destroyed": a navigation started; go round again.
                failures += 1
                await self._network_quiet(since_mono, left_ms() / 1000)
                continue
            if page is not self.page:
                continue  # a new tab opened meanwhile: settle that one
            if await self._network_quiet(since_mono, left_ms() / 1000):
                return settled(bool(state and state.get("quiet")), state)
            # A request ended: the page reads and renders its answer next, so look again from here.
            idle_from = time.time() * 1000
        return settled(False)

    async def _frame_moves_on(
        self, frame: PlaywrightFrame, options: dict[str, float], requests_before: int, left_ms: float
    ) -> bool:
        """Settle an iframe the last action touched; True while it is going to another document (its form
        submitted, a link followed inside it), so the caller looks again once that document is there."""
        if frame.is_detached() or left_ms <= 0:
            return False
        try:
            state = await settle_in(frame, options, left_ms / 1000 + 0.5)
        except PlaywrightError:
            # Its document was replaced while we asked ("context destroyed"): wait for the next one's load.
            with contextlib.suppress(PlaywrightError):
                await frame.wait_for_load_state("load", timeout=left_ms or 1)
            return not frame.is_detached()
        if not (state and state.get("leaving")):
            return False
        if self._requests_started == requests_before:
            await self._request_after(requests_before, min(_LEAVING_WAIT_S, left_ms / 1000))
        return True

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

    # ---- downloads and the live view -------------------------------------------------------------------
    @property
    def downloads_started(self) -> int:
        """How many downloads began so far; pass it to `wait_for_downloads(since=...)` before an action."""
        return self._downloads.started

    async def wait_for_downloads(self, *, since: int, timeout_ms: int | None = None) -> list[Path]:
        """Wait for the downloads started after `since` to be saved; return the saved paths.

        Downloads still running at the timeout keep going in the background and join `downloads` later.
        """
        timeout = timeout_ms if timeout_ms is not None else self.config.navigation_timeout_ms
        return await self._downloads.wait(since=since, timeout_s=timeout / 1000)

    def downloads_stopped(self, *, since: int) -> list[str]:
        """Why downloads started after `since` were stopped (past `config.max_download_bytes`), if any were:
        "download of big.iso stopped: larger than 100 MB"."""
        return self._downloads.stopped_since(since)

    async def start_screencast(self) -> bool:
        """Stream the active page as JPEG frames to `on_frame`, latest-wins: a slow consumer gets the
        newest frame when it is ready and never delays the browser or the agent. Idempotent. False when
        it could not start yet (the page was between documents): call again."""
        return await self._screencast.start(self.check_page)

    async def stop_screencast(self) -> None:
        """Stop streaming. Idempotent."""
        await self._screencast.stop()

    def live_view_size(self) -> tuple[float, float]:
        """The active page's size in CSS pixels, as the live view's frames show it (their metadata), or the
        viewport's before any frame: a point on a frame maps to the page by these."""
        if self._screencast.device_size is not None:
            return self._screencast.device_size
        size = self.page.viewport_size
        if size:
            return float(size["width"]), float(size["height"])
        return float(self.config.viewport_width), float(self.config.viewport_height)

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
        self._screencast.cancel_delivery()
        self._closed = True
        if self._trace_path is not None:
            try:
                await self.context.tracing.stop(path=self._trace_path)
                outputs["trace"] = self._trace_path
            except PlaywrightError as exc:
                log.warning("trace could not be saved: %s", first_line(exc))
        videos = [page.video for page in self._pages if page.video is not None]
        try:
            await self.context.close()
        except PlaywrightError as exc:
            log.warning("closing the browser context failed: %s", first_line(exc))
        for index, video in enumerate(videos):
            try:
                path = Path(await video.path())
            except PlaywrightError as exc:
                log.warning("video could not be saved: %s", first_line(exc))
                continue
            if path.is_file():
                outputs["video" if index == 0 else f"video_{index + 1}"] = path
        if self.config.har_path:
            har = Path(self.config.har_path)
            if har.is_file():
                outputs["har"] = har
            else:
                log.warning("HAR was not written to %s", har)
        self._downloads.cancel()
        for task in list(self._background):
            task.cancel()
        if self._egress_proxy is not None:
            await self._egress_proxy.close()
        return outputs
