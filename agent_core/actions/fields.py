"""Typing into a field (input_text) and checking, once the page settled, that the field holds what was typed.

Date and time inputs get their value in the form the browser takes (agent_core.actions.formats), with the
order of day and month taken from the field's own hint (a placeholder "MM/DD/YYYY", its label) or the page's
locale; everything else is filled, then typed key by key where widgets listen for keys (`keys_to_type`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator

from agent_core.actions.formats import FORMATS, DateOrder, FormatRefused, normalise_value, order_from_pattern
from agent_core.actions.targets import ActionFailed, first_line, gone, read_top, still_there
from agent_core.browser.session import BrowserSession
from agent_core.scraper import Element

__all__ = ["UNREAD", "Verify", "input_text", "keys_to_type", "read_now", "text_took"]


class _Unread:
    """What a check is given when settling did not read the element for it: it reads it itself."""


UNREAD: Any = _Unread()


@dataclass(frozen=True)
class Verify:
    """What a performer did (`data`), and `check`, run once the page settled: it raises ActionFailed, naming
    what the element holds now, when the page did not take the action.

    `check` is given what `reads` (a function of the element, run in the page) returned for `element`:
    settling runs it at its end, in the same round trip, when the element is in the top document outside
    shadow roots; otherwise `check` gets UNREAD and reads the element itself (read_now)."""

    data: Any
    check: Callable[[Any], Awaitable[None]]
    element: Element | None = None
    reads: str = ""

    def probe(self) -> tuple[str, str] | None:
        """(selector, script) for settling to read the element with, or None when it cannot."""
        element = self.element
        if element is None or not self.reads or not element.in_top_document:
            return None
        return element.selector, self.reads


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
    if _suggests(element) or element.keys == "own":
        count = len(value) if len(value) <= _TYPED_MAX else _LONG_TAIL
    elif element.keys == "none":
        count = 0
    else:
        count = 1
    tail = value[len(value) - count :]
    cut = max((tail.rfind(c) for c in "\n\r\t"), default=-1)
    return len(tail) - cut - 1


def _suggests(element: Element) -> bool:
    """A field that completes what is typed (a combobox, a datalist, aria-autocomplete)."""
    autocomplete = element.attrs.get("aria-autocomplete", "none").strip().lower() not in ("", "none")
    return element.role == "combobox" or autocomplete or bool(element.attrs.get("list"))


# The field `fill` writes into: the element, a label's control, or the one field inside a wrapper.
_FIELD_JS = """el => {
  const isField = e => e && (e.tagName === 'INPUT' || e.tagName === 'TEXTAREA' || e.isContentEditable);
  let f = isField(el) ? el : (el.tagName === 'LABEL' && isField(el.control)) ? el.control : null;
  if (!f && el.querySelectorAll) {
    const inner = el.querySelectorAll('input:not([type=hidden]), textarea, [contenteditable=""], [contenteditable=true]');
    if (inner.length === 1) f = inner[0];
  }
  return f;
}"""
_HOLDS_JS = f"""el => {{
  const f = ({_FIELD_JS})(el);
  if (!f) return null;
  if (f.tagName === 'INPUT' || f.tagName === 'TEXTAREA')
    return {{value: f.value, type: (f.type || 'text').toLowerCase(), maxLength: f.maxLength}};
  return {{value: f.innerText, type: 'contenteditable', maxLength: -1}};
}}"""
# What tells the order of day and month: the field's hint texts, and its locale when that has a region (or
# is not English, whose speakers write both orders).
_DATE_HINTS_JS = f"""el => {{
  const f = ({_FIELD_JS})(el) || el;
  const texts = [];
  for (const name of ['placeholder', 'title', 'aria-label', 'data-format', 'data-date-format']) {{
    const v = f.getAttribute(name); if (v) texts.push(v);
  }}
  for (const label of (f.labels || [])) texts.push(label.innerText);
  for (const attr of ['aria-describedby', 'aria-labelledby']) {{
    for (const id of (f.getAttribute(attr) || '').split(/\\s+/)) {{
      const d = id && f.ownerDocument.getElementById(id); if (d) texts.push(d.innerText);
    }}
  }}
  const holder = f.closest('[lang]');
  const lang = ((holder && holder.getAttribute('lang')) || '').trim();
  let order = null;
  if (lang && (lang.includes('-') || !/^en$/i.test(lang))) {{
    try {{
      const types = new Intl.DateTimeFormat(lang, {{year: 'numeric', month: 'numeric', day: 'numeric'}})
        .formatToParts(new Date(2012, 8, 10)).map(p => p.type);
      const y = types.indexOf('year'), m = types.indexOf('month'), d = types.indexOf('day');
      if (y > m && y > d) order = m < d ? 'MDY' : 'DMY';
    }} catch (e) {{}}
  }}
  return {{hints: texts.join('\\n'), lang, order}};
}}"""


async def input_text(
    session: BrowserSession, element: Element, locator: Locator, text: str, *, secret: bool, timeout: int
) -> Any:
    """Type `text` into the field, replacing what it holds; the check afterwards compares what it holds.
    `secret`: the text carries a secret's value, which no message may repeat."""
    value, data = text, None
    if element.input_type in FORMATS:
        value, data = await _formatted(element, locator, text)
    typed = keys_to_type(element, value)
    head, tail = value[: len(value) - typed], value[len(value) - typed :]
    try:
        await locator.fill(head, timeout=timeout)
        if tail:
            # Filling left the caret at the end of the field, which has focus: the keys go on from there.
            await session.page.keyboard.type(tail)
            data = {**(data or {}), "typed_keys": len(tail)}
        return Verify(data, lambda held: _check_holds(element, locator, value, held, secret=secret), element, _HOLDS_JS)
    except PlaywrightError as exc:
        if not await still_there(locator):
            raise gone(element.id) from exc
        reason = first_line(exc)
    if element.input_type in FORMATS:  # the browser refused the value: typing its keys would not do better
        raise ActionFailed(f"{element.id} (type={element.input_type}) did not take {value!r}: {reason}")
    # Not fillable (a custom widget, a div that listens to keys): focus it, clear it, type like a person.
    keyboard = session.page.keyboard
    try:
        await locator.click(timeout=timeout)
        await keyboard.press("ControlOrMeta+a")
        await keyboard.press("Delete")
        await keyboard.type(value)
    except PlaywrightError as exc:
        raise ActionFailed(f"could not type into {element.id}: {reason}") from exc
    return Verify(
        {"fallback": "typed"}, lambda held: _check_holds(element, locator, value, held, secret=secret), element, _HOLDS_JS
    )


async def _formatted(element: Element, locator: Locator, text: str) -> tuple[str, dict[str, Any] | None]:
    """`text` in the form the date/time field takes, and what was done to it (None when nothing)."""
    order: DateOrder | None = None
    source = ""
    if re.search(r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d", text):  # a numeric date: which order does the page use?
        try:
            found = await locator.evaluate(_DATE_HINTS_JS)
        except PlaywrightError:
            found = {"hints": "", "lang": "", "order": None}
        order = order_from_pattern(str(found.get("hints") or ""))
        if order is not None:
            source = "the field's hint"
        elif found.get("order") in ("MDY", "DMY"):
            order, source = found["order"], f"the page's locale {found.get('lang')}"
    try:
        value = normalise_value(str(element.input_type), text, order=order)
    except FormatRefused as exc:
        raise ActionFailed(f"{element.id}: {exc}", settle=False) from None
    if value == text:
        return value, None
    data: dict[str, Any] = {"value": value}
    if source:
        data["order"] = f"{'month' if order == 'MDY' else 'day'} first, as {source} says"
    return value, data


async def read_now(element: Element, locator: Locator, script: str, held: Any = UNREAD) -> Any:
    """`script` run on the element if it is still there (None if not), in one round trip and without waiting
    for it: a check after an action reads the element as it is, or finds it gone. An element of the top
    document outside shadow roots is read with one plain evaluate (a locator's evaluate_all costs several
    round trips through Playwright's selector engine: ~5 ms a step)."""
    if held is not UNREAD:
        return held  # settling read it already
    if element.in_top_document:
        found = await read_top(element, locator, script)
        return found[0] if found else None
    return await locator.evaluate_all(f"els => els.length ? ({script})(els[0]) : null")


async def _check_holds(element: Element, locator: Locator, expected: str, held: Any, *, secret: bool) -> None:
    try:
        held = await read_now(element, locator, _HOLDS_JS, held)
    except PlaywrightError:
        return  # gone or replaced since (a re-render): nothing left to compare
    if held is None:
        return  # a widget with no field inside: what it shows is in the change report
    value = str(held.get("value") or "")
    if text_took(expected, value, suggests=_suggests(element)):
        return
    if secret or held.get("type") == "password":
        raise ActionFailed(
            f"{element.id} did not take the text typed: it holds {len(value)} characters, not {len(expected)}"
        )
    note = ""
    limit = int(held.get("maxLength") or -1)
    if 0 < limit == len(value) < len(expected):
        note = f" (it takes at most {limit} characters)"
    raise ActionFailed(f"{element.id} did not take {_clip(expected)!r}: it holds {_clip(value)!r}{note}")


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _alnum(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _number(text: str) -> float | None:
    cleaned = re.sub(r"[\s,$€£¥%]", "", text)
    try:
        return float(cleaned) if cleaned else None
    except ValueError:
        return None


def text_took(expected: str, held: str, *, suggests: bool = False) -> bool:
    """Whether a field holding `held` took `expected`: the same text, give or take spacing and case, the
    punctuation a mask adds ("(555) 123-4567" for "5551234567"), a number's formatting ("1,000.00"), the same
    date or time written another way, or, in a field that completes what is typed, the completion of it."""
    if held == expected or _fold(held) == _fold(expected):
        return True
    if suggests and _fold(held).startswith(_fold(expected)):
        return True
    letters = _alnum(expected)
    if letters and letters == _alnum(held):
        return True
    number = _number(expected)
    if number is not None and number == _number(held):
        return True
    return _same_moment(expected, held)


def _same_moment(expected: str, held: str) -> bool:
    """A date or time a picker wrote its own way ("2012-09-10" shown as "09/10/2012", "8:22 PM" as "20:22"):
    the same when one side reads only one way and the other can read as it."""
    for kind in ("date", "time"):
        one, other = _readings(kind, expected), _readings(kind, held)
        if one and other and (len(one) == 1 or len(other) == 1) and one & other:
            return True
    return False


def _readings(kind: str, text: str) -> set[str]:
    found: set[str] = set()
    if not text.strip() or not any(ch.isdigit() for ch in text):
        return found
    orders: tuple[DateOrder, ...] = ("MDY", "DMY")
    for order in orders:
        try:
            found.add(normalise_value(kind, text, order=order))
        except FormatRefused:
            pass
    return found
