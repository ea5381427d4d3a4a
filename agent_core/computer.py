"""Computer-use actions: validate what the model asks for, map its key names, perform it on the page by pixel."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from agent_core.actions.secret_text import reveal_focused
from agent_core.actions.targets import ActionFailed
from agent_core.browser.session import BrowserSession
from agent_core.browser.settle import ACTION_SETTLE_MS
from agent_core.control import cancellable
from agent_core.errors import InvalidModelOutputError
from agent_core.keys import UnknownKeyError, key_combo, playwright_key
from agent_core.types import ActionResult, Control

__all__ = [
    "ACTION_TYPES",
    "UnknownKeyError",
    "key_combo",
    "parse_action",
    "perform_action",
    "playwright_key",
    "viewport_size",
]

ACTION_TYPES = ("click", "double_click", "drag", "keypress", "move", "screenshot", "scroll", "type", "wait")
MOUSE_BUTTONS: dict[str, Literal["left", "middle", "right"]] = {
    "left": "left",
    "right": "right",
    "middle": "middle",
    "wheel": "middle",
}
HISTORY_BUTTONS = ("back", "forward")
WAIT_S = 1.0  # the `wait` action carries no duration; a second is what OpenAI's reference loop sleeps


# ---- key names ----------------------------------------------------------------------------------------------



# ---- validating the model's actions ---------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _needs_point(action: dict[str, Any], kind: str) -> None:
    if not (_number(action.get("x")) and _number(action.get("y"))):
        raise InvalidModelOutputError(f"{kind} needs numeric x and y coordinates, got {json.dumps(action)[:200]}")


def parse_action(action: Any) -> dict[str, Any]:
    """Validate a computer_call's `action`; return it with defaults filled in (button, scroll amounts).

    Raises InvalidModelOutputError naming what is wrong: no action, unknown type, missing coordinates or
    parameters. Whether coordinates fall inside the viewport is checked when the action runs.
    """
    if isinstance(action, dict):
        action = {key: value for key, value in action.items() if value is not None}  # the SDK fills in nulls
    if not isinstance(action, dict) or not action:
        raise InvalidModelOutputError("computer_call has no action")
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        raise InvalidModelOutputError(
            f"unknown computer action type {kind!r} (known: {', '.join(ACTION_TYPES)})"
        )
    parsed = dict(action)
    if kind != "keypress" and "keys" in parsed:  # modifier keys held during a mouse action
        held = parsed["keys"]
        if not isinstance(held, list) or not all(isinstance(k, str) and k for k in held):
            raise InvalidModelOutputError(f"{kind} has keys that are not a list of key names: {held!r}")
        if not held:
            del parsed["keys"]
    if kind == "click":
        button = str(parsed.get("button") or "left").lower()
        if button not in MOUSE_BUTTONS and button not in HISTORY_BUTTONS:
            raise InvalidModelOutputError(f"click with unknown mouse button {button!r}")
        parsed["button"] = button
        if button not in HISTORY_BUTTONS:
            _needs_point(parsed, kind)
    elif kind in ("double_click", "move"):
        _needs_point(parsed, kind)
    elif kind == "scroll":
        _needs_point(parsed, kind)
        for axis in ("scroll_x", "scroll_y"):
            parsed[axis] = parsed.get(axis) if parsed.get(axis) is not None else 0
            if not _number(parsed[axis]):
                raise InvalidModelOutputError(f"scroll needs a numeric {axis}, got {parsed[axis]!r}")
    elif kind == "drag":
        path = parsed.get("path")
        if not isinstance(path, list) or len(path) < 2:
            raise InvalidModelOutputError("drag needs a path of at least two points")
        for point in path:
            if not isinstance(point, dict):
                raise InvalidModelOutputError(f"drag path point {point!r} is not an object with x and y")
            _needs_point(point, "each drag path point")
    elif kind == "type":
        if not isinstance(parsed.get("text"), str):
            raise InvalidModelOutputError("type needs a text string")
    elif kind == "keypress":
        keys = parsed.get("keys")
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise InvalidModelOutputError("keypress needs a non-empty list of key names")
        parsed["keys"] = keys
    return parsed



# ---- carrying out one action ----------------------------------------------------------------------------


def viewport_size(session: BrowserSession, page: Page) -> tuple[int, int]:
    size = page.viewport_size
    if size:
        return size["width"], size["height"]
    return session.config.viewport_width, session.config.viewport_height


def _inside(kind: str, x: float, y: float, width: int, height: int) -> tuple[float, float]:
    if not (0 <= x < width and 0 <= y < height):
        raise ActionFailed(
            f"{kind} at ({x:g}, {y:g}) is outside the {width}x{height} viewport", settle=False
        )
    return float(x), float(y)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def perform_action(session: BrowserSession, action: dict[str, Any], control: Control) -> ActionResult:
    """Carry out one parsed computer action on the active page, then let the page settle.

    Never raises for what can go wrong with the action itself (coordinates outside the viewport, an
    unknown key, no page to go back to): that is ActionResult(success=False, error=...). Raises
    BrowserError when the page crashed or closed, RunTerminatedError when terminated during a `wait`.
    """
    started = time.perf_counter()
    page = session.check_page()
    url_before, navigations_before = page.url, session.navigations
    downloads_before = session.downloads_started
    success, error, settle = True, None, True
    since = time.time()
    try:
        await _perform(session, page, action, control)
    except ActionFailed as exc:
        success, error, settle = False, str(exc), exc.settle
    except PlaywrightError as exc:
        if session.page.is_closed() or "crash" in str(exc).lower():
            raise session.browser_error(exc, str(action.get("type"))) from exc
        success, error = False, f"{action.get('type')} failed: {_first_line(exc)}"
    data: dict[str, Any] | None = None
    settled = None
    if settle:
        settled = await session.wait_for_settle(ACTION_SETTLE_MS, since=since)
        saved = await session.wait_for_downloads(since=downloads_before)
        if saved:
            data = {"downloads": [str(path) for path in saved]}
        stopped = session.downloads_stopped(since=downloads_before)
        if stopped and success:
            success, error = False, "; ".join(stopped)
    navigated = (
        session.page is not page or session.navigations != navigations_before or session.page.url != url_before
    )
    return ActionResult(
        success=success,
        error=error,
        data=data,
        navigated=navigated,
        duration_ms=(time.perf_counter() - started) * 1000,
        settle_ms=settled.ms if settled else 0.0,
        settled=settled.quiet if settled else True,
    )


async def _perform(session: BrowserSession, page: Page, action: dict[str, Any], control: Control) -> None:
    held: list[str] = []
    if action["type"] != "keypress" and action.get("keys"):
        try:
            held = [playwright_key(key) for key in action["keys"]]
        except UnknownKeyError as exc:
            raise ActionFailed(f"{action['type']} with keys {action['keys']}: {exc}", settle=False) from exc
    for key in held:
        await page.keyboard.down(key)
    try:
        await _perform_one(session, page, action, control)
    finally:
        for key in reversed(held):
            await page.keyboard.up(key)


async def _perform_one(session: BrowserSession, page: Page, action: dict[str, Any], control: Control) -> None:
    kind = str(action["type"])
    width, height = viewport_size(session, page)
    mouse = page.mouse
    if kind == "click" and action["button"] in HISTORY_BUTTONS:
        await _history(session, page, str(action["button"]))
    elif kind == "click":
        x, y = _inside(kind, action["x"], action["y"], width, height)
        await mouse.click(x, y, button=MOUSE_BUTTONS[action["button"]])
    elif kind == "double_click":
        x, y = _inside(kind, action["x"], action["y"], width, height)
        await mouse.dblclick(x, y)
    elif kind == "move":
        x, y = _inside(kind, action["x"], action["y"], width, height)
        await mouse.move(x, y)
    elif kind == "scroll":
        x, y = _inside(kind, action["x"], action["y"], width, height)
        await mouse.move(x, y)  # the wheel scrolls whatever is under the pointer
        await mouse.wheel(float(action["scroll_x"]), float(action["scroll_y"]))
    elif kind == "drag":
        points = [_inside("drag", p["x"], p["y"], width, height) for p in action["path"]]
        await mouse.move(*points[0])
        await mouse.down()
        try:
            for point in points[1:]:
                await mouse.move(*point, steps=2)  # intermediate moves: pages start a drag on movement
        finally:
            await mouse.up()
    elif kind == "type":
        await page.keyboard.type(await reveal_focused(session, page, str(action["text"])))
    elif kind == "keypress":
        try:
            combo = key_combo(action["keys"])
        except UnknownKeyError as exc:
            raise ActionFailed(f"keypress {action['keys']}: {exc}", settle=False) from exc
        await page.keyboard.press(combo)
    elif kind == "wait":
        await cancellable(control, asyncio.sleep(WAIT_S))
    # "screenshot": nothing to do; the next turn sends a fresh screenshot anyway


async def _history(session: BrowserSession, page: Page, direction: str) -> None:
    timeout = session.config.navigation_timeout_ms
    before = page.url
    go = page.go_back if direction == "back" else page.go_forward
    try:
        response = await go(timeout=timeout, wait_until="domcontentloaded")
    except PlaywrightError as exc:
        raise ActionFailed(f"going {direction} failed: {_first_line(exc)}") from exc
    if response is None and page.url == before:
        raise ActionFailed(f"there is no page to go {direction} to")

