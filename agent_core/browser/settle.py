"""Settling by observation: the page watcher (agent_core/js/watcher.js) and the call that asks it whether the
page is quiet. BrowserSession.wait_for_settle drives it together with its own view of the network."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Frame as PlaywrightFrame
from playwright.async_api import Page

# Settling after an action is observed in the page by the watcher (agent_core/js/watcher.js): it resolves once
# nothing the action started is pending and the DOM has been quiet for QUIET_MS, or after the budget. The
# expression installs the watcher first in a document that started without it (then it knows only what
# happens from now on, which makes it the old one-turn yield plus the network).
QUIET_MS = 100
ACTION_SETTLE_MS = 2000  # the cap after an action


@functools.cache
def watcher_js() -> str:
    return (Path(__file__).parent.parent / "js" / "watcher.js").read_text(encoding="utf-8")


# The short form runs where the init script installed the watcher (nearly everywhere); the long one carries
# the watcher's source to a document that started without it.
# Both also say (`leaving`) whether a navigation to another document began meanwhile (set by the session's
# init script; read and cleared here, so settling stays one round trip).
_TAKE_LEAVING = "const leaving = !!window.__lookoutLeaving; window.__lookoutLeaving = false;"


@functools.lru_cache(maxsize=32)
def _settled_js(read: str = "") -> str:
    """What runs on the watcher's settled state. With `read` (a script of an element): it also runs on the
    element `opts.probe` selects, which is what a check after the action reads, in the same round trip; the
    state's `probe` is [what it returned] (null inside when the element is gone), or null when it threw."""
    if not read:
        return f"state => {{ {_TAKE_LEAVING} return Object.assign(state, {{leaving}}); }}"
    probe = (
        "let probe = null; try { const el = document.querySelector(opts.probe); "
        f"probe = [el ? ({read})(el) : null]; }} catch (error) {{}}"
    )
    return f"state => {{ {_TAKE_LEAVING} {probe} return Object.assign(state, {{leaving, probe}}); }}"


@functools.lru_cache(maxsize=32)
def _settle_js(read: str = "") -> str:
    return f"(opts) => window.__lookoutWatch ? window.__lookoutWatch.settle(opts).then({_settled_js(read)}) : null"


@functools.cache
def _install_and_settle_js() -> str:
    return "(opts) => {\n" + watcher_js() + f"\nreturn window.__lookoutWatch.settle(opts).then({_settled_js()});\n}}"


async def settle_in(
    target: Page | PlaywrightFrame, options: dict[str, Any], timeout_s: float, probe: tuple[str, str] | None = None
) -> Any:
    """Run the watcher's settle in a page or frame, installing the watcher first where it is missing.
    `probe`: (selector, script) to read an element with once settled (the state's `probe`)."""
    if probe is not None:
        options = {**options, "probe": probe[0]}
    script = _settle_js(probe[1] if probe is not None else "")
    state = await asyncio.wait_for(target.evaluate(script, options), timeout=timeout_s)
    if state is None:
        state = await asyncio.wait_for(target.evaluate(_install_and_settle_js(), options), timeout=timeout_s)
    return state


@dataclass(frozen=True)
class Settled:
    """How settling went: how long it took, and whether the page was quiet (False: the budget ran out)."""

    ms: float
    quiet: bool
    read: list[Any] | None = None  # [what the probe read] when settling read an element (see settle_in)
