"""The browser: one system Chromium per process, a fresh context per task, navigation, settling, screenshots,
downloads, live frames, recordings.

Split by seam: `launch` (finding and launching Chromium, BrowserManager), `session` (BrowserSession: pages,
dialogs, settling, goto, screenshots), `settle` (the page watcher settling observes), `downloads`,
`screencast` (the live view). Every public name is
importable from here.
"""

from agent_core.browser.downloads import safe_filename
from agent_core.browser.launch import (
    CHROMIUM_ARGS,
    CHROMIUM_ENV_VARS,
    CHROMIUM_NAMES,
    BrowserManager,
    find_chromium,
    sandbox_launch_options,
)
from agent_core.browser.screencast import SCREENCAST_QUALITY, FrameCallback, jpeg_size
from agent_core.browser.session import BrowserSession, image_type, proxy_settings, validate_start_url
from agent_core.browser.settle import ACTION_SETTLE_MS, Settled

__all__ = [
    "ACTION_SETTLE_MS",
    "CHROMIUM_ARGS",
    "CHROMIUM_ENV_VARS",
    "CHROMIUM_NAMES",
    "SCREENCAST_QUALITY",
    "BrowserManager",
    "BrowserSession",
    "FrameCallback",
    "Settled",
    "find_chromium",
    "image_type",
    "jpeg_size",
    "proxy_settings",
    "safe_filename",
    "sandbox_launch_options",
    "validate_start_url",
]
