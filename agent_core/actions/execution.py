"""Carrying out one action on the session's page: the dispatcher, settling after it, and each action's performer."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from datetime import datetime
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from agent_core.actions.secret_text import reveal_into
from agent_core.actions.targets import (
    ActionFailed,
    cross_origin_frame,
    failure_on,
    first_line,
    frame_scope,
    gone,
    resolve,
    still_there,
)
from agent_core.actions.uploads import upload_file
from agent_core.actions.vocabulary import (
    Action,
    Checkbox,
    Click,
    Complete,
    GoBack,
    GotoUrl,
    InputText,
    Keypress,
    Scroll,
    SelectOption,
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
    frame = await cross_origin_frame(session, scrape, action)
    since = time.time()
    settle_ms, settled = 0.0, True
    try:
        data = await _perform(session, scrape, action, timeout)
    except ActionFailed as exc:
        success, error, settle = False, str(exc), exc.settle
    except PlaywrightError as exc:
        if session.page.is_closed() or "crash" in str(exc).lower():
            raise session.browser_error(exc, action.action_type) from exc
        success, error = False, f"{action.action_type} failed: {first_line(exc)}"
    if settle:
        outcome = await session.wait_for_settle(ACTION_SETTLE_MS, frame=frame, since=since)
        settle_ms, settled = outcome.ms, outcome.quiet
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
            return await _select(session, element, locator, text, timeout)
        return await _input_text(session, element, locator, text, timeout)
    if isinstance(action, SelectOption):
        return await _select(session, element, locator, action.option, timeout)
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


_DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d-%m-%Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%d %b %Y",
)


def _iso_date(text: str) -> str:
    """Date inputs only take YYYY-MM-DD; models write dates every which way."""
    cleaned = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date().isoformat()
        except ValueError:
            continue
    return cleaned


# Fields whose value is a structured thing (a date, a number, a colour): set, never typed key by key.
_FILLED_TYPES = frozenset({"date", "datetime-local", "month", "week", "time", "color", "range", "number"})
_TYPED_MAX = 64  # a widget that wants keys gets texts up to this long typed whole; longer ones their last 8
_LONG_TAIL = 8


def keys_to_type(element: Element, value: str) -> int:
    """How many of `value`'s last characters to type key by key after filling the rest.

    A person's keystrokes are what search-as-you-type boxes, comboboxes and masks listen for, but typing is
    a round trip per key: type everything into a field that is a combobox, has a datalist or aria-autocomplete,
    or listens for keys itself; the last character where an ancestor or the document listens (or nobody can
    tell); nothing where no one listens. Never a control character: Enter in an input submits its form."""
    if not value or element.input_type in _FILLED_TYPES:
        return 0
    autocomplete = element.attrs.get("aria-autocomplete", "none").strip().lower() not in ("", "none")
    if element.role == "combobox" or autocomplete or element.attrs.get("list") or element.keys == "own":
        count = len(value) if len(value) <= _TYPED_MAX else _LONG_TAIL
    elif element.keys == "none":
        count = 0
    else:
        count = 1
    tail = value[len(value) - count :]
    cut = max((tail.rfind(c) for c in "\n\r\t"), default=-1)
    return len(tail) - cut - 1


async def _input_text(
    session: BrowserSession, element: Element, locator: Locator, text: str, timeout: int
) -> Any:
    value = _iso_date(text) if element.input_type == "date" else text
    typed = keys_to_type(element, value)
    head, tail = value[: len(value) - typed], value[len(value) - typed :]
    try:
        await locator.fill(head, timeout=timeout)
        if tail:
            # Filling left the caret at the end of the field, which has focus: the keys go on from there.
            await session.page.keyboard.type(tail)
            return {"typed_keys": len(tail)}
        return None
    except PlaywrightError as exc:
        if not await still_there(locator):
            raise gone(element.id) from exc
        reason = first_line(exc)
    # Not fillable (a custom widget, a div that listens to keys): focus it, clear it, type like a person.
    keyboard = session.page.keyboard
    try:
        await locator.click(timeout=timeout)
        await keyboard.press("ControlOrMeta+a")
        await keyboard.press("Delete")
        await keyboard.type(value)
    except PlaywrightError as exc:
        raise ActionFailed(f"could not type into {element.id}: {reason}") from exc
    return {"fallback": "typed"}


_OPTIONS_JS = """el => {
  const s = el.tagName === 'SELECT' ? el
    : (el.control && el.control.tagName === 'SELECT') ? el.control
    : el.querySelector ? el.querySelector('select') : null;
  if (!s) return null;
  return Array.from(s.options, o => ({label: (o.label || o.text).trim(), value: o.value, disabled: o.disabled}));
}"""


def match_option(options: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    """The option the model meant: exact label, exact value, then the same ignoring case and spacing,
    then the listing's own "Label (value)" form, then a label that uniquely contains the text."""
    text = wanted.strip().rstrip("*").strip()

    def norm(s: str) -> str:
        return " ".join(s.split()).casefold()

    for key in ("label", "value"):
        for option in options:
            if option[key] == text:
                return option
    for key in ("label", "value"):
        for option in options:
            if norm(option[key]) == norm(text):
                return option
    both = re.fullmatch(r"(.*)\((.*)\)", text)
    if both:
        label, value = both.group(1).strip(), both.group(2).strip()
        for option in options:
            if norm(option["label"]) == norm(label) and norm(option["value"]) == norm(value):
                return option
    if text:
        partial = [option for option in options if norm(text) in norm(option["label"])]
        if len(partial) == 1:
            return partial[0]
    return None


async def _select(
    session: BrowserSession, element: Element, locator: Locator, wanted: str, timeout: int
) -> Any:
    try:
        options: list[dict[str, Any]] | None = await locator.evaluate(_OPTIONS_JS, timeout=timeout)
    except PlaywrightError as exc:
        raise await failure_on(
            locator, element.id, f"could not read the options of {element.id}: {first_line(exc)}"
        ) from exc
    if options is None:
        return await _select_custom(session, element, locator, wanted, timeout)
    choice = match_option(options, wanted)
    if choice is None:
        available = ", ".join(
            option["label"]
            if option["value"] in ("", option["label"])
            else f"{option['label']} ({option['value']})"
            for option in options
        )
        raise ActionFailed(f"no option {wanted!r} in {element.id}; available: {available}")
    if choice.get("disabled"):
        raise ActionFailed(f"option {choice['label']!r} of {element.id} is disabled")
    try:
        await locator.select_option(value=choice["value"], timeout=timeout)
    except PlaywrightError as exc:
        raise await failure_on(
            locator, element.id, f"could not select {choice['label']!r} in {element.id}: {first_line(exc)}"
        ) from exc
    return {"selected": {"label": choice["label"], "value": choice["value"]}}


async def _select_custom(
    session: BrowserSession, element: Element, locator: Locator, wanted: str, timeout: int
) -> Any:
    """A dropdown that is not a <select>: open it, then click the option by its accessible name or text."""
    scope = frame_scope(session.page, element)
    try:
        await locator.click(timeout=timeout)
        target = (
            scope.get_by_role("option", name=wanted, exact=True)
            .or_(scope.get_by_role("menuitem", name=wanted, exact=True))
            .or_(scope.get_by_text(wanted, exact=True))
        )
        await target.first.click(timeout=timeout)
    except PlaywrightError as exc:
        raise ActionFailed(
            f"{element.id} is not a <select> and no option {wanted!r} could be clicked after opening it: "
            f"{first_line(exc)}"
        ) from exc
    return {"selected": {"label": wanted}, "custom": True}


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
        return None
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
    return {"fallback": "dom_click"}


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
