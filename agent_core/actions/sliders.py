"""Setting a slider or spin button to a value (set_slider), the way the widget answers: an <input type=range>
is set and told (input, change) as a person's drag would; a custom role=slider handle gets its keys (Home,
End, arrows, PageUp/PageDown) or, when keys do nothing, a drag along its track. The value it holds is read
back (aria-valuenow or the input's value) and the action fails, naming it, when the target was not reached."""

from __future__ import annotations

import math
from typing import Any

from playwright.async_api import ElementHandle, Locator, Page
from playwright.async_api import Error as PlaywrightError

from agent_core.actions.fields import Verify
from agent_core.actions.targets import ActionFailed, failure_on, first_line
from agent_core.browser.session import BrowserSession
from agent_core.scraper import Element

__all__ = ["set_slider"]

_MAX_PRESSES = 400  # key presses one set_slider may spend
_DRAG_TRIES = 5

_SLIDER = "input[type=range], input[type=number], [role=slider], [role=spinbutton]"
_FIND_JS = f"""el => {{
  const sel = '{_SLIDER}';
  if (el.matches(sel)) return el;
  if (el.tagName === 'LABEL' && el.control && el.control.matches(sel)) return el.control;
  const inner = el.querySelectorAll(sel);
  return inner.length === 1 ? inner[0] : null;
}}"""
# Read after the next frame: widgets often draw (and set aria-valuenow) in requestAnimationFrame. A page that
# gets no frames (hidden) is read after 50 ms instead.
_STATE_JS = """s => new Promise(done => {
  let sent = false;
  const resolve = (state) => { if (!sent) { sent = true; done(state); } };
  const read = () => {
  const num = v => (v === null || v === undefined || String(v).trim() === '' || isNaN(Number(v))) ? null : Number(v);
  if (s.tagName === 'INPUT') resolve({
    native: (s.type || '').toLowerCase(), value: num(s.value), min: num(s.min), max: num(s.max),
    step: s.step || '', disabled: s.disabled || s.readOnly, focused: document.activeElement === s,
    connected: s.isConnected,
  });
  else resolve({
    native: null, value: num(s.getAttribute('aria-valuenow')), min: num(s.getAttribute('aria-valuemin')),
    max: num(s.getAttribute('aria-valuemax')), vertical: s.getAttribute('aria-orientation') === 'vertical',
    disabled: s.getAttribute('aria-disabled') === 'true',
    focused: document.activeElement === s || s.contains(document.activeElement), connected: s.isConnected,
  });
  };
  requestAnimationFrame(read);
  setTimeout(read, 50);
})"""
_SET_RANGE_JS = """(s, v) => {
  const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  s.focus();
  setter.call(s, String(v));
  s.dispatchEvent(new Event('input', {bubbles: true}));
  s.dispatchEvent(new Event('change', {bubbles: true}));
}"""
# The track a handle slides along: the nearest ancestor clearly longer than the handle in its direction.
_TRACK_JS = """(s, vertical) => {
  const own = s.getBoundingClientRect();
  for (let el = s.parentElement; el && el !== document.body; el = el.parentElement) {
    const r = el.getBoundingClientRect();
    if (vertical ? r.height > own.height * 2 : r.width > own.width * 2) return el;
  }
  return null;
}"""
_OPPOSITE = {"ArrowRight": "ArrowLeft", "ArrowLeft": "ArrowRight", "ArrowUp": "ArrowDown", "ArrowDown": "ArrowUp",
             "PageUp": "PageDown", "PageDown": "PageUp"}  # fmt: skip


def _num(value: float) -> str:
    return f"{value:g}"


def _same(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


async def set_slider(
    session: BrowserSession, element: Element, locator: Locator, target: float, timeout: int
) -> Any:
    """Move the element's slider (itself, its label's control, or the one slider inside it) to `target`."""
    try:
        found = (await locator.evaluate_handle(_FIND_JS, timeout=timeout)).as_element()
    except PlaywrightError as exc:
        raise await failure_on(locator, element.id, f"could not reach {element.id}: {first_line(exc)}") from exc
    if found is None:
        raise ActionFailed(
            f"{element.id} is not a slider (no input type=range or number, no role=slider or spinbutton)",
            settle=False,
        )
    handle: ElementHandle = found
    state = await _state(handle)
    if state["disabled"]:
        raise ActionFailed(f"{element.id} is disabled", settle=False)
    low, high = state["min"], state["max"]
    if state["native"] == "range":
        low, high = 0.0 if low is None else low, 100.0 if high is None else high
    if (low is not None and target < low) or (high is not None and target > high):
        span = f"{_num(low) if low is not None else '…'} to {_num(high) if high is not None else '…'}"
        raise ActionFailed(f"{_num(target)} is outside {element.id}'s range, {span}", settle=False)
    if state["native"] == "range":
        _check_step(element, target, low or 0.0, high or 100.0, state["step"])
        await handle.evaluate(_SET_RANGE_JS, _num(target))
        how, step = "set", None
    elif state["native"] is not None:  # input type=number: a spin button that is a text field
        await handle.fill(_num(target), timeout=timeout)
        how, step = "typed", None
    else:
        if state["value"] is None:
            raise ActionFailed(
                f"{element.id} does not say its value (no aria-valuenow): use click or keypress on it", settle=False
            )
        how, step = await _move(session.page, handle, state, target, timeout)
    reached = (await _state(handle))["value"]
    if not _same(reached, target):
        raise ActionFailed(_missed(element, target, reached, how, step))
    return Verify({"value": target, "by": how}, lambda _held: _check_value(element, handle, target))


def _check_step(element: Element, target: float, low: float, high: float, step_attr: str) -> None:
    """A native range snaps to its step: refuse a value it cannot hold, naming the nearest ones."""
    try:
        step = float(step_attr) if step_attr and step_attr.lower() != "any" else (None if step_attr else 1.0)
    except ValueError:
        step = 1.0
    if not step or step <= 0:
        return
    steps = (target - low) / step
    if math.isclose(steps, round(steps), abs_tol=1e-7):
        return
    below = low + math.floor(steps) * step
    above = min(high, below + step)
    raise ActionFailed(
        f"{_num(target)} is not a value {element.id} can hold: it goes from {_num(low)} to {_num(high)} in steps "
        f"of {_num(step)} (nearest: {_num(below)} or {_num(above)})",
        settle=False,
    )


async def _state(handle: ElementHandle) -> dict[str, Any]:
    state: dict[str, Any] = await handle.evaluate(_STATE_JS)
    return state


async def _move(
    page: Page, handle: ElementHandle, state: dict[str, Any], target: float, timeout: int
) -> tuple[str, float | None]:
    """Keys first (what a keyboard user does, and exact); a drag when the keys move nothing. Returns how,
    and the step of one key press when keys moved it."""
    if _same(state["value"], target):
        return "keys", 0.0
    try:
        await handle.scroll_into_view_if_needed(timeout=timeout)
        await handle.focus()
    except PlaywrightError:
        pass
    if (await _state(handle))["focused"]:
        step = await _by_keys(page, handle, state, target)
        if step is not None:
            return "keys", step
    await _by_drag(page, handle, state, target)
    return "drag", None


async def _value(handle: ElementHandle) -> float | None:
    value = (await _state(handle))["value"]
    return None if value is None else float(value)


async def _by_keys(page: Page, handle: ElementHandle, state: dict[str, Any], target: float) -> float | None:
    """Press keys until the value is `target` or cannot come closer. Returns the step of one arrow press
    (0 when none was needed), None when no key moved it."""
    now = float(state["value"])
    if _same(now, target):
        return 0.0
    for key, end in (("Home", state["min"]), ("End", state["max"])):
        if end is not None and _same(end, target):
            await page.keyboard.press(key)
            if _same(await _value(handle), target):
                return 0.0
    up, down, step = await _arrow_keys(page, handle, now, target)
    if step is None or up is None or down is None:
        return None
    presses = 1
    now = float(await _value(handle) or 0.0)
    big: tuple[str, str, float] | None = None
    tried_big = False
    seen = {now}
    while not _same(now, target) and presses < _MAX_PRESSES:
        gap = target - now
        if abs(gap) <= step / 2:
            break  # the closest the steps allow
        if not tried_big and abs(gap) > step * 20:
            tried_big = True
            big = await _page_keys(page, handle, now, step, gap > 0)
            now = float(await _value(handle) or now)
            presses += 1
            continue
        if big is not None and abs(gap) >= big[2]:
            key, size = (big[0] if gap > 0 else big[1]), big[2]
        else:
            key, size = (up if gap > 0 else down), step
        count = max(1, min(int(abs(gap) // size) if size else 1, _MAX_PRESSES - presses))
        for _ in range(count):
            await page.keyboard.press(key)
        presses += count
        after = await _value(handle)
        if after is None or _same(after, now) or after in seen:
            break  # at an end, the widget stopped answering, or it goes back and forth around the target
        seen.add(after)
        now = after
    return step


async def _arrow_keys(
    page: Page, handle: ElementHandle, now: float, target: float
) -> tuple[str | None, str | None, float | None]:
    """(key that raises the value, key that lowers it, the step of one press), found by pressing toward
    `target`: ArrowRight/ArrowLeft, or ArrowUp/ArrowDown for a widget that only answers those."""
    for key in (("ArrowRight", "ArrowUp") if target > now else ("ArrowLeft", "ArrowDown")):
        await page.keyboard.press(key)
        after = await _value(handle)
        if after is not None and not _same(after, now):
            raises = after > now
            up, down = (key, _OPPOSITE[key]) if raises else (_OPPOSITE[key], key)
            return up, down, abs(after - now)
    return None, None, None


async def _page_keys(
    page: Page, handle: ElementHandle, now: float, step: float, raise_it: bool
) -> tuple[str, str, float] | None:
    """PageUp/PageDown when the widget moves by bigger steps with them (one press to find out)."""
    key = "PageUp" if raise_it else "PageDown"
    await page.keyboard.press(key)
    after = await _value(handle)
    if after is None or abs(after - now) <= step * 1.5 or (after > now) != raise_it:
        return None
    return "PageUp", "PageDown", abs(after - now)


async def _by_drag(page: Page, handle: ElementHandle, state: dict[str, Any], target: float) -> None:
    """Drag the handle along its track to where `target` sits, then correct from what it reads."""
    vertical = bool(state.get("vertical"))
    low = 0.0 if state["min"] is None else float(state["min"])
    high = 100.0 if state["max"] is None else float(state["max"])
    track = (await handle.evaluate_handle(_TRACK_JS, vertical)).as_element()
    box = await handle.bounding_box()
    area = await track.bounding_box() if track is not None else None
    if track is not None:
        await track.dispose()
    if box is None or area is None or high <= low:
        return
    length = area["height"] if vertical else area["width"]
    per_unit = length / (high - low)
    fraction = (target - low) / (high - low)
    for attempt in range(_DRAG_TRIES):
        box = await handle.bounding_box()
        if box is None:
            return
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        if attempt == 0:
            to_x = area["x"] + fraction * area["width"] if not vertical else x
            to_y = area["y"] + (1 - fraction) * area["height"] if vertical else y
        else:
            now = await _value(handle)
            if now is None or _same(now, target):
                return
            shift = (target - now) * per_unit
            to_x, to_y = (x, y - shift) if vertical else (x + shift, y)
        await page.mouse.move(x, y)
        await page.mouse.down()
        await page.mouse.move(to_x, to_y, steps=8)
        await page.mouse.up()
        if _same(await _value(handle), target):
            return


def _missed(element: Element, target: float, reached: float | None, how: str, step: float | None) -> str:
    holds = "no value" if reached is None else _num(reached)
    if how == "keys" and step:
        return f"{element.id} holds {holds}, not {_num(target)}: its arrow keys move it in steps of {_num(step)}"
    if how == "drag":
        return f"{element.id} holds {holds}, not {_num(target)}: neither its keys nor dragging its handle got there"
    return f"{element.id} did not take {_num(target)}: it holds {holds}"


async def _check_value(element: Element, handle: ElementHandle, target: float) -> None:
    try:
        state = await _state(handle)
    except PlaywrightError:
        return  # gone since: nothing left to compare
    now = state["value"]
    if state["connected"] and not _same(now, target):  # a replaced handle holds what it held
        holds = "no value" if now is None else _num(now)
        raise ActionFailed(f"{element.id} did not keep {_num(target)}: it holds {holds}")
