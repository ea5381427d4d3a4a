"""Carrying out one action on the session's page: the dispatcher, settling after it, and each action's performer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from agent_core.actions.choices import select_options
from agent_core.actions.fields import UNREAD, Verify, input_text, read_now
from agent_core.actions.secret_text import reveal_into
from agent_core.actions.sliders import set_slider
from agent_core.actions.targets import (
    ActionFailed,
    failure_on,
    first_line,
    gone,
    resolve,
    still_there,
    touched_frame,
)
from agent_core.actions.uploads import upload_file
from agent_core.actions.vocabulary import (
    READ_TEXT_LIMIT,
    Action,
    Checkbox,
    Click,
    Complete,
    GoBack,
    GotoUrl,
    Hover,
    InputText,
    Keypress,
    ReadText,
    Scroll,
    SelectOption,
    SetSlider,
    Terminate,
    UploadFile,
    Wait,
)
from agent_core.browser.session import BrowserSession, validate_start_url
from agent_core.browser.settle import ACTION_SETTLE_MS
from agent_core.errors import BrowserError, EgressDenied, InvalidTaskError
from agent_core.keys import UnknownKeyError, key_combo
from agent_core.scraper import Element, ScrapeResult
from agent_core.types import ActionResult

SCROLL_FRACTION = 0.8  # of the viewport height per scroll action


async def execute_action(
    session: BrowserSession, scrape: ScrapeResult, action: Action, *, timeout_ms: int | None = None
) -> ActionResult:
    """Carry out one action on the session's active page, then let the page settle.

    Never raises for what can go wrong with one action (unknown or vanished element, no such option, a
    timeout): that comes back as ActionResult(success=False, error=...). Raises BrowserError only when
    the page itself crashed or closed, which ends the step. `complete` and `terminate` are no-ops here.
    Files a click downloads are saved to the session's downloads dir; their paths are in
    `result.data["downloads"]`.
    """
    started = time.perf_counter()
    if isinstance(action, Complete | Terminate):
        return ActionResult(success=True, duration_ms=(time.perf_counter() - started) * 1000)
    timeout = timeout_ms or session.config.action_timeout_ms
    page_before = session.page
    url_before = page_before.url
    navigations_before = session.navigations
    downloads_before = session.downloads_started
    success, error, data, settle = True, None, None, True
    check: Verify | None = None
    frame = await touched_frame(session, scrape, action)
    since = time.time()
    settle_ms, settled = 0.0, True
    read: list[Any] | None = None  # what settling read of the checked element, in a one-item list
    try:
        data = await _perform(session, scrape, action, timeout)
        if isinstance(data, Verify):
            check, data = data, data.data
    except ActionFailed as exc:
        success, error, settle = False, str(exc), exc.settle
    except PlaywrightError as exc:
        if session.page.is_closed() or "crash" in str(exc).lower():
            raise session.browser_error(exc, action.action_type) from exc
        success, error = False, f"{action.action_type} failed: {first_line(exc)}"
    if settle:
        probe = check.probe() if check is not None else None
        outcome = await session.wait_for_settle(ACTION_SETTLE_MS, frame=frame, since=since, probe=probe)
        settle_ms, settled, read = outcome.ms, outcome.quiet, outcome.read
        saved = await session.wait_for_downloads(since=downloads_before)
        if saved:
            data = {**(data or {}), "downloads": [str(path) for path in saved]}
        stopped = session.downloads_stopped(since=downloads_before)
        if stopped and success:  # the model reads it in its history, the operator on the timeline
            success, error = False, "; ".join(stopped)
    navigated = (
        session.page is not page_before
        or session.navigations != navigations_before
        or session.page.url != url_before
    )
    if check is not None and success and not navigated:
        # Checked on the settled page: a widget may refuse or rewrite a value a moment after it was set.
        try:
            await check.check(read[0] if read else UNREAD)
        except ActionFailed as exc:
            success, error = False, str(exc)
    return ActionResult(
        success=success,
        error=error,
        data=data,
        navigated=navigated,
        duration_ms=(time.perf_counter() - started) * 1000,
        settle_ms=settle_ms,
        settled=settled,
    )


async def _perform(session: BrowserSession, scrape: ScrapeResult, action: Action, timeout: int) -> Any:
    page = session.check_page()
    if isinstance(action, Wait):
        await asyncio.sleep(action.seconds)  # the only sleep: the model asked for it
        return None
    if isinstance(action, GotoUrl):
        return await _goto(session, action.url)
    if isinstance(action, GoBack):
        return await _go_back(session, page)
    if isinstance(action, Scroll):
        return await _scroll(session, scrape, action, timeout)
    if isinstance(action, Keypress):
        return await _keypress(session, scrape, action, timeout)
    element, locator = await resolve(session, scrape, action.element_id)
    if isinstance(action, Click):
        return await _click(element, locator, timeout)
    if isinstance(action, InputText):
        text = await reveal_into(session, element, locator, action.text)  # secrets: at the last moment
        if element.tag == "select":
            return await select_options(session, element, locator, text, timeout)
        if element.input_type == "range" or element.role == "slider" or _spin_button(element):
            return await set_slider(session, element, locator, _slider_number(element, text), timeout)
        return await input_text(session, element, locator, text, secret=text != action.text, timeout=timeout)
    if isinstance(action, SelectOption):
        return await select_options(session, element, locator, action.option, timeout)
    if isinstance(action, SetSlider):
        return await set_slider(session, element, locator, action.value, timeout)
    if isinstance(action, Hover):
        return await _hover(element, locator, timeout)
    if isinstance(action, ReadText):
        return await _read_text(element, locator, action.offset, timeout)
    if isinstance(action, Checkbox):
        return await _checkbox(element, locator, action.checked, timeout)
    if isinstance(action, UploadFile):
        return await upload_file(session, element, locator, action.file_url, timeout)
    raise ActionFailed(f"cannot execute {action.action_type}", settle=False)


async def _click(element: Element, locator: Locator, timeout: int) -> Any:
    first_try = max(500, int(timeout * 0.6))
    try:
        await locator.click(timeout=first_try)
        return None
    except PlaywrightError as exc:
        if not await still_there(locator):
            raise gone(element.id) from exc
        reason = first_line(exc)
    # Playwright gave up (covered by another element, never stable, outside the viewport): a DOM click
    # still reaches the handlers, unless the element is disabled.
    try:
        if not await locator.is_enabled(timeout=1000):
            raise ActionFailed(f"element {element.id} is disabled")
        await locator.evaluate("el => el.click()", timeout=max(500, timeout - first_try))
    except PlaywrightError as exc:
        raise await failure_on(locator, element.id, f"could not click {element.id}: {reason}") from exc
    return {"fallback": "dom_click", "reason": reason}


def _spin_button(element: Element) -> bool:
    """A spin button built from other elements (not an input, not editable): it takes keys, not text."""
    return element.role == "spinbutton" and element.tag not in ("input", "textarea") and not element.editable


def _slider_number(element: Element, text: str) -> float:
    """input_text into a slider: the number it asks for, set as set_slider does."""
    try:
        return SetSlider.model_validate({"element_id": element.id, "value": text}).value
    except ValueError:
        raise ActionFailed(
            f"{element.id} is a slider or spinner: set it with set_slider and a number, not {text!r}", settle=False
        ) from None


async def _hover(element: Element, locator: Locator, timeout: int) -> Any:
    """Rest the mouse on the element (menus and tooltips that open on hover open). Covered by another
    element, the mouse still goes to its place and it is told as the mouse's events would tell it."""
    first_try = max(500, int(timeout * 0.6))
    try:
        await locator.hover(timeout=first_try)
        return None
    except PlaywrightError as exc:
        if not await still_there(locator):
            raise gone(element.id) from exc
        reason = first_line(exc)
    try:
        await locator.hover(force=True, timeout=max(500, timeout - first_try))
        await locator.dispatch_event("mouseover")
        await locator.dispatch_event("mouseenter")
    except PlaywrightError as exc:
        raise await failure_on(locator, element.id, f"could not hover {element.id}: {reason}") from exc
    return {"fallback": "events", "reason": reason}


_TEXT_JS = """el => {
  const f = (el.tagName === 'LABEL' && el.control) ? el.control : el;
  if (f.tagName === 'INPUT') return {type: (f.type || 'text').toLowerCase(), text: f.value};
  if (f.tagName === 'TEXTAREA') return {type: 'textarea', text: f.value};
  if (f.tagName === 'SELECT')
    return {type: 'select', text: Array.from(f.selectedOptions, o => (o.label || o.text).trim()).join('\\n')};
  const shown = f.innerText;
  return {type: 'text', text: shown && shown.trim() ? shown : (f.textContent || '')};
}"""


async def _read_text(element: Element, locator: Locator, offset: int, timeout: int) -> Any:
    """The element's whole text (a field's value), READ_TEXT_LIMIT characters of it from `offset`."""
    try:
        found = await locator.evaluate(_TEXT_JS, timeout=timeout)
    except PlaywrightError as exc:
        raise await failure_on(locator, element.id, f"could not read {element.id}: {first_line(exc)}") from exc
    if found.get("type") == "password":
        raise ActionFailed(f"{element.id} is a password field: its value is not read", settle=False)
    text = str(found.get("text") or "")
    if offset and offset >= len(text):
        raise ActionFailed(
            f"{element.id} holds {len(text)} characters: offset {offset} is past its end", settle=False
        )
    part = text[offset : offset + READ_TEXT_LIMIT]
    return {"text": part, "offset": offset, "total": len(text)}


_CHECKED_JS = """el => {
  const input = el.tagName === 'INPUT' ? el
    : el.control || (el.querySelector && el.querySelector('input[type=checkbox], input[type=radio]'));
  if (input) return input.checked;
  const aria = el.getAttribute('aria-checked') ?? el.getAttribute('aria-pressed');
  return aria === null ? null : aria === 'true';
}"""


async def _checkbox(element: Element, locator: Locator, checked: bool, timeout: int) -> Any:
    first_try = max(500, int(timeout * 0.6))
    try:
        await locator.set_checked(checked, timeout=first_try)
        return Verify(None, lambda held: _check_checked(element, locator, checked, held), element, _CHECKED_JS)
    except PlaywrightError as exc:
        if not await still_there(locator):
            raise gone(element.id) from exc
        reason = first_line(exc)
    # A hidden input behind custom styling, or a widget that flips its state late: click it in the DOM
    # and read the state back.
    wanted = "check" if checked else "uncheck"
    try:
        if await locator.evaluate(_CHECKED_JS, timeout=timeout) != checked:
            await locator.evaluate("el => el.click()", timeout=timeout)
        state = await locator.evaluate(_CHECKED_JS, timeout=timeout)
    except PlaywrightError as exc:
        raise ActionFailed(f"could not {wanted} {element.id}: {reason}") from exc
    if state is not None and state != checked:
        raise ActionFailed(f"could not {wanted} {element.id}: {reason}")
    return Verify(
        {"fallback": "dom_click"}, lambda held: _check_checked(element, locator, checked, held), element, _CHECKED_JS
    )


async def _check_checked(element: Element, locator: Locator, checked: bool, held: Any) -> None:
    """On the settled page: a box the page unticked again (or ticked) a moment later fails the action."""
    try:
        state = await read_now(element, locator, _CHECKED_JS, held)
    except PlaywrightError:
        return  # gone or replaced since: nothing left to compare
    if state is not None and state != checked:
        now = "checked" if state else "unchecked"
        raise ActionFailed(f"{element.id} did not stay {'checked' if checked else 'unchecked'}: it is {now} now")


async def _scroll(session: BrowserSession, scrape: ScrapeResult, action: Scroll, timeout: int) -> Any:
    page = session.page
    width, height = session.config.viewport_width, session.config.viewport_height
    if action.element_id:
        # The wheel scrolls whatever is under the mouse: hover the element to scroll its container.
        element, locator = await resolve(session, scrape, action.element_id)
        try:
            await locator.hover(timeout=timeout)
        except PlaywrightError as exc:
            raise await failure_on(
                locator, element.id, f"could not reach {element.id} to scroll it: {first_line(exc)}"
            ) from exc
    else:
        await page.mouse.move(width / 2, height / 2)
    delta = height * SCROLL_FRACTION * (1 if action.direction == "down" else -1)
    await page.mouse.wheel(0, delta)
    # The compositor applies a wheel scroll on its next frame: wait for that one frame (scroll only).
    with contextlib.suppress(PlaywrightError):
        await page.evaluate(_NEXT_FRAME_JS)
    return None


_NEXT_FRAME_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))"


def normalise_key(key: str) -> str:
    """Playwright's name for a key the way models write it: "ENTER" and "Return" → "Enter",
    "ctrl+a" → "Control+a", "cmd+shift+k" → "Meta+Shift+k". A name it cannot place is passed on as
    written (Playwright then says what is wrong with it)."""
    stripped = key.strip()
    if stripped in ("+", " "):
        return "Space" if stripped == " " else stripped
    try:
        return key_combo([stripped])
    except UnknownKeyError:
        return stripped


async def _keypress(session: BrowserSession, scrape: ScrapeResult, action: Keypress, timeout: int) -> Any:
    if action.element_id:
        element, locator = await resolve(session, scrape, action.element_id)
        try:
            await locator.focus(timeout=timeout)
        except PlaywrightError as exc:
            raise await failure_on(
                locator, element.id, f"could not focus {element.id}: {first_line(exc)}"
            ) from exc
    for key in action.keys:
        name = normalise_key(key)
        try:
            await session.page.keyboard.press(name)
        except PlaywrightError as exc:
            if "Unknown key" not in str(exc):
                raise
            await session.page.keyboard.type(key)  # "hello" is text, not a key
    return None


async def _goto(session: BrowserSession, url: str) -> Any:
    try:
        validate_start_url(url)
    except InvalidTaskError:
        raise ActionFailed(f"goto_url needs an http(s) URL, not {url!r}", settle=False) from None
    try:
        await session.goto(url)
    except EgressDenied as exc:  # "blocked by the egress policy: 10.0.0.5 is a private address"
        raise ActionFailed(str(exc)) from exc
    except BrowserError as exc:
        if str(exc) in ("page crashed", "page was closed"):
            raise
        raise ActionFailed(str(exc)) from exc
    return None


async def _go_back(session: BrowserSession, page: Page) -> Any:
    before = page.url
    try:
        await page.go_back(timeout=session.config.navigation_timeout_ms, wait_until="domcontentloaded")
    except PlaywrightTimeoutError as exc:
        raise ActionFailed(
            f"going back timed out after {session.config.navigation_timeout_ms / 1000:g} s"
        ) from exc
    if page.url == before:
        raise ActionFailed("there is no previous page to go back to")
    return None
