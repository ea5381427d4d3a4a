"""Launching the browser: finding the system Chromium, its flags, the ffmpeg shim, and BrowserManager."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from agent_core.browser.common import first_line
from agent_core.browser.screencast import FrameCallback
from agent_core.browser.session import BrowserSession
from agent_core.browser_egress import OnBlocked
from agent_core.errors import BrowserError
from agent_core.types import BrowserConfig

log = logging.getLogger(__name__)

# Headless on a closed network: no Google services or other background requests (they would go through
# the egress proxy, which resolves every name it is asked for), no GPU, no /dev/shm (small in containers),
# and no WebRTC UDP outside the proxy. The sandbox flag depends on the user: see sandbox_launch_options.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-component-extensions-with-background-pages",
    "--disable-features=AutofillServerCommunication,OptimizationHints,MediaRouter,Translate",
    "--disable-sync",
    "--no-first-run",
    "--no-pings",
    "--disable-quic",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
CHROMIUM_ENV_VARS = ("LOOKOUT_CHROMIUM", "CHROMIUM_PATH")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def sandbox_launch_options(*, euid: int) -> tuple[tuple[str, ...], bool]:
    """(extra Chromium flags, Playwright's `chromium_sandbox`) for a worker running as user `euid`.

    An unprivileged worker runs Chromium with its sandbox on: a page that exploits the renderer is still
    shut in a process with no access to the worker's files or network. Chromium refuses to start with the
    sandbox as root, so as root it runs with --no-sandbox, and a renderer exploit runs with the worker's
    rights: run workers as an unprivileged user (README: Security).
    """
    if euid == 0:
        return ("--no-sandbox",), False
    return (), True


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


# Playwright (1.5x) records with libvpx-vp9 at the size it is given: at 1280x800 its encoder holds about
# 140 MB per page, the largest part of what a recorded run costs. The shim hands Playwright this script
# instead of ffmpeg: the same command with VP8 (libvpx, same .webm container, plays in every browser),
# which encodes in realtime mode with a fraction of the memory and CPU; VP9's tiling options are dropped.
FFMPEG_WRAPPER = """#!/bin/sh
# Lookout: Playwright's video encoding with VP8 in place of VP9 (agent_core/browser/launch.py).
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n - 1))
  case "$a" in
    libvpx-vp9) a=libvpx ;;
    -row-mt|-tile-columns) shift; n=$((n - 1)); continue ;;
  esac
  set -- "$@" "$a"
done
exec {ffmpeg} "$@"
"""


def _ffmpeg_shim() -> str | None:
    """A PLAYWRIGHT_BROWSERS_PATH under which Playwright finds the system ffmpeg, or None if not needed.

    Playwright records video with its own ffmpeg build, which it downloads, and downloads are impossible
    here; the system ffmpeg does the same job, called through FFMPEG_WRAPPER. The shim is a fresh private
    temp dir (never a shared path another user could plant a binary in).
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
    wrapper = root / f"ffmpeg-{revision}" / "ffmpeg-linux"
    wrapper.write_text(FFMPEG_WRAPPER.format(ffmpeg=shlex.quote(system_ffmpeg)))
    wrapper.chmod(0o700)
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
            sandbox_args, sandbox = sandbox_launch_options(euid=os.geteuid())
            try:
                self._browser = await self._playwright.chromium.launch(
                    executable_path=executable,
                    headless=self.config.headless,
                    args=[*sandbox_args, *CHROMIUM_ARGS],
                    chromium_sandbox=sandbox,
                    timeout=60_000,
                )
            except PlaywrightError as exc:
                raise BrowserError(f"could not launch Chromium at {executable}: {first_line(exc)}") from exc
            log.info(
                "launched Chromium %s from %s (sandbox %s)", self._browser.version, executable, "on" if sandbox else "off"
            )

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
        self,
        *,
        config: BrowserConfig | None = None,
        on_frame: FrameCallback | None = None,
        on_blocked: OnBlocked | None = None,
    ) -> BrowserSession:
        """Open a fresh context (cookies, storage, downloads, recordings all its own) with one page.

        `config` overrides the manager's for this session only (viewport, proxy, egress policy,
        recordings...); `on_frame` receives live-view frames once `start_screencast()` is called;
        `on_blocked(url, reason)` hears of every request the egress policy refused.
        """
        if self._browser is None or not self._browser.is_connected():
            await self.start()
        return await BrowserSession.open(self.browser, config or self.config, on_frame=on_frame, on_blocked=on_blocked)
