"""Choosing options (select_option): one option of a <select>, exactly the options listed on a <select
multiple>, or an option of a dropdown built from other elements; checked once the page settled."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator

from agent_core.actions.fields import Verify, read_now
from agent_core.actions.targets import ActionFailed, evaluate_on, failure_on, first_line, frame_scope
from agent_core.browser.session import BrowserSession
from agent_core.scraper import Element

__all__ = ["match_option", "select_options"]

_SELECT_JS = """el => el.tagName === 'SELECT' ? el
    : (el.control && el.control.tagName === 'SELECT') ? el.control
    : el.querySelector ? el.querySelector('select') : null"""
_OPTIONS_JS = f"""el => {{
  const s = ({_SELECT_JS})(el);
  if (!s) return null;
  return {{
    multiple: s.multiple,
    options: Array.from(s.options, o => ({{label: (o.label || o.text).trim(), value: o.value, disabled: o.disabled}})),
  }};
}}"""
_CHOSEN_JS = f"""el => {{
  const s = ({_SELECT_JS})(el);
  return s ? Array.from(s.selectedOptions, o => ({{label: (o.label || o.text).trim(), value: o.value}})) : null;
}}"""


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


async def select_options(
    session: BrowserSession, element: Element, locator: Locator, wanted: str | list[str], timeout: int
) -> Any:
    """Choose `wanted` (a string, or a list for a <select multiple>, whose selection becomes exactly that
    list) in the element's <select>, or in a custom dropdown when it has none."""
    try:
        found: dict[str, Any] | None = await evaluate_on(element, locator, _OPTIONS_JS, timeout=timeout)
    except PlaywrightError as exc:
        raise await failure_on(
            locator, element.id, f"could not read the options of {element.id}: {first_line(exc)}"
        ) from exc
    names = wanted if isinstance(wanted, list) else [wanted]
    names = list(dict.fromkeys(names))
    if found is None:
        if len(names) != 1:
            raise ActionFailed(
                f"{element.id} is not a <select multiple>: choose one option at a time (a string), or click "
                "each option of this widget",
                settle=False,
            )
        return await _select_custom(session, element, locator, names[0], timeout)
    options: list[dict[str, Any]] = found["options"]
    if not found["multiple"] and len(names) != 1:
        raise ActionFailed(
            f"{element.id} takes one option, not {len(names)}: give \"option\" as a string "
            "(only a <select multiple> takes a list)",
            settle=False,
        )
    chosen = [_choice(element, options, name) for name in names]
    values = [option["value"] for option in chosen]
    try:
        await locator.select_option(value=values, timeout=timeout)
    except PlaywrightError as exc:
        what = ", ".join(repr(option["label"]) for option in chosen) or "no option"
        raise await failure_on(
            locator, element.id, f"could not select {what} in {element.id}: {first_line(exc)}"
        ) from exc
    picked = [{"label": option["label"], "value": option["value"]} for option in chosen]
    data = {"selected": picked if found["multiple"] else picked[0]}
    return Verify(data, lambda held: _check_chosen(element, locator, picked, held), element, _CHOSEN_JS)


def _choice(element: Element, options: list[dict[str, Any]], name: str) -> dict[str, Any]:
    choice = match_option(options, name)
    if choice is None:
        available = ", ".join(
            option["label"]
            if option["value"] in ("", option["label"])
            else f"{option['label']} ({option['value']})"
            for option in options
        )
        raise ActionFailed(f"no option {name!r} in {element.id}; available: {available}", settle=False)
    if choice.get("disabled"):
        raise ActionFailed(f"option {choice['label']!r} of {element.id} is disabled", settle=False)
    return choice


async def _check_chosen(element: Element, locator: Locator, picked: list[dict[str, str]], read: Any) -> None:
    try:
        held: list[dict[str, str]] | None = await read_now(element, locator, _CHOSEN_JS, read)
    except PlaywrightError:
        return  # gone or replaced since: nothing left to compare
    if held is None or {o["value"] for o in held} == {o["value"] for o in picked}:
        return
    now = ", ".join(repr(o["label"]) for o in held) or "nothing"
    wanted = ", ".join(repr(o["label"]) for o in picked) or "nothing"
    raise ActionFailed(f"{element.id} did not keep {wanted}: it holds {now}")


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
