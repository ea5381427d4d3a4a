"""Several independent ways to find an element again, and finding it by them on a later page.

Captured when an action runs (`capture`): role and accessible name, label, placeholder, visible text and
stable attributes (id, name, value of a choice) come from the scrape the action was chosen on; the CSS path
and a test id from one evaluate on the element; the listing line is the scrape's own (stripped of what a
run changes: its id, values, states). `resolve` scores every listed element of the current page by the
locators that point at it alone; the best unique match wins, and what disagreed is said.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from agent_core.scraper import Element, ScrapeResult, frame_for_path, locator_for

# How much one locator pointing at a single element counts. A CSS path alone (the same place in the page)
# is not enough to act on: it takes a locator that says what the element is.
WEIGHTS = {
    "testid": 3,
    "id": 2,
    "name_attr": 2,
    "role_name": 2,
    "label": 2,
    "placeholder": 2,
    "text": 2,
    "listing": 2,
    "css": 1,
}
MIN_SCORE = 2
_CHOICES = frozenset({"radio", "checkbox", "submit", "button", "reset"})


@functools.cache
def locators_js() -> str:
    return (Path(__file__).parent.parent / "js" / "locators.js").read_text(encoding="utf-8")


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


_INPUT_ROLES = {
    "checkbox": "checkbox",
    "radio": "radio",
    "submit": "button",
    "button": "button",
    "reset": "button",
    "image": "button",
    "range": "slider",
    "number": "spinbutton",
    "search": "searchbox",
}


def role_of(element: Element) -> str:
    """The element's ARIA role: its role attribute, else the one its tag implies."""
    if element.role:
        return element.role
    if element.tag == "input" or element.input_type:
        return _INPUT_ROLES.get(element.input_type or "text", "textbox")
    if element.tag == "select":
        return "listbox" if "multiple" in element.attrs else "combobox"
    if element.tag == "a":
        return "link" if element.attrs.get("href") is not None else ""
    return {"button": "button", "textarea": "textbox", "summary": "button"}.get(element.tag, "")


def accessible_name(element: Element) -> str:
    """The name a person (or a screen reader) knows the element by, as the scrape read it."""
    attrs = element.attrs
    for value in (
        attrs.get("aria-label"),
        element.label,
        element.text,
        attrs.get("placeholder"),
        attrs.get("title"),
        attrs.get("alt"),
        attrs.get("value") if element.input_type in _CHOICES else None,
    ):
        if value and value.strip():
            return " ".join(value.split())
    return ""


_LINE_ID = re.compile(r"^\[\w+\](?: \(new\))? ")
_LINE_VALUE = re.compile(r' (?:value|desc|files)=(?:"(?:[^"\\]|\\.)*"|\S+?)(?=[ >])')
_LINE_FLAGS = re.compile(r" (?:checked(?:=mixed)?|selected|expanded=(?:true|false))(?=[ >])")


def listing_key(line: str) -> str:
    """A listing line without what a run changes (its id, values, states), for comparing pages."""
    line = _LINE_ID.sub("", line.strip())
    line = _LINE_VALUE.sub("", line)
    line = _LINE_FLAGS.sub("", line)
    return line.replace("*|", "|").replace('*"', '"')


def from_element(element: Element) -> dict[str, Any]:
    """The locators the scrape itself gives (see `capture` for the rest)."""
    attrs = {key: element.attrs[key] for key in ("id", "name") if element.attrs.get(key)}
    if element.input_type in _CHOICES and element.attrs.get("value"):
        attrs["value"] = element.attrs["value"]  # a radio is its name and value
    locators: dict[str, Any] = {
        "role": role_of(element),
        "name": accessible_name(element),
        "label": " ".join(element.label.split()),
        "placeholder": element.attrs.get("placeholder", ""),
        "text": " ".join(element.text.split()),
        "attrs": attrs,
        "tag": element.tag,
        "type": element.input_type or "",
        "frame_path": list(element.frame_path),
    }
    return {key: value for key, value in locators.items() if value or key == "frame_path"}


async def capture(page: Page, element: Element) -> tuple[dict[str, Any], str]:
    """Every locator of `element` (as scraped) and its listing line; the CSS path and test id are read from
    the live element (left out if it is gone)."""
    locators = from_element(element)
    live = None
    frame = await frame_for_path(page, list(element.frame_path))
    try:
        if frame is not None:  # one round trip; an element in a shadow root needs its locator
            live = await frame.evaluate(f"(a) => ({locators_js()})(a, null)", ["capture", element.id])
        if live is None and element.in_shadow:
            live = await locator_for(page, element).first.evaluate(
                f"(el) => ({locators_js()})(['capture', null], el)", timeout=1000
            )
    except PlaywrightError:
        live = None
    if live:
        if live.get("css"):
            locators["css"] = live["css"]
        if live.get("testid"):
            name, value = live["testid"]
            locators.setdefault("attrs", {})[name] = value
    return locators, listing_key(element.to_line())


@dataclass
class Resolution:
    """Where the locators led: the element (None when nothing or something ambiguous won), the locators
    that pointed at it alone, and for the others what they found instead."""

    element: Element | None
    agreed: list[str] = field(default_factory=list)
    disagreed: dict[str, str] = field(default_factory=dict)
    problem: str = ""

    def to_data(self) -> dict[str, Any]:
        return {"agreed": self.agreed, "disagreed": self.disagreed}


def _test_attr(attrs: dict[str, str]) -> tuple[str, str] | None:
    for name, value in attrs.items():
        if name.startswith("data-"):
            return name, value
    return None


async def resolve(page: Page, scrape: ScrapeResult, target: dict[str, Any], listing_line: str = "") -> Resolution:
    """Find the element `target` (captured locators) names among the listed elements of `scrape`."""
    path = list(target.get("frame_path") or [])
    elements = [e for e in scrape.elements if list(e.frame_path) == path]
    attrs = target.get("attrs") or {}
    matches: dict[str, list[str]] = {}

    def by(kind: str, wanted: str | None, have: Any) -> None:
        if wanted:
            matches[kind] = [e.id for e in elements if _norm(have(e)) == _norm(wanted)]

    if target.get("role") and target.get("name"):
        role, name = _norm(target["role"]), _norm(target["name"])
        matches["role_name"] = [
            e.id for e in elements if _norm(role_of(e)) == role and _norm(accessible_name(e)) == name
        ]
    by("label", target.get("label"), lambda e: e.label)
    by("placeholder", target.get("placeholder"), lambda e: e.attrs.get("placeholder"))
    by("text", target.get("text"), lambda e: e.text)
    by("id", attrs.get("id"), lambda e: e.attrs.get("id"))
    if attrs.get("name"):
        matches["name_attr"] = [
            e.id
            for e in elements
            if e.attrs.get("name") == attrs["name"]
            and e.tag == target.get("tag", e.tag)
            and (not attrs.get("value") or e.attrs.get("value") == attrs["value"])
        ]
    if listing_line:
        matches["listing"] = [e.id for e in elements if listing_key(e.to_line()) == listing_line]
    testid = _test_attr(attrs)
    if target.get("css") or testid:
        frame = await frame_for_path(page, path)
        found: dict[str, list[str]] = {}
        if frame is not None:
            try:
                found = await frame.evaluate(
                    f"(a) => ({locators_js()})(a, null)", ["resolve", {"css": target.get("css"), "testid": testid}]
                )
            except PlaywrightError:
                found = {}
        listed = {e.id for e in elements}
        if target.get("css"):
            matches["css"] = [i for i in found.get("css", []) if i in listed]
        if testid:
            matches["testid"] = [i for i in found.get("testid", []) if i in listed]
    return decide(scrape, matches)


def decide(scrape: ScrapeResult, matches: dict[str, list[str]]) -> Resolution:
    """The element the locators agree on, or the best unique match (see WEIGHTS, MIN_SCORE)."""
    scores: dict[str, int] = {}
    for kind, ids in matches.items():
        if len(ids) == 1:
            scores[ids[0]] = scores.get(ids[0], 0) + WEIGHTS[kind]
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    winner: str | None = None
    problem = ""
    if not ranked:
        nothing = all(not ids for ids in matches.values())
        problem = "no element matches its recorded locators" if nothing else "its locators match several elements"
    elif len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        problem = "its locators point at different elements, none more than the others"
    elif ranked[0][1] < MIN_SCORE:
        problem = "only its position in the page still matches (its name, label, text and attributes do not)"
    else:
        winner = ranked[0][0]
    resolution = Resolution(element=scrape.get(winner) if winner else None, problem=problem)
    for kind, ids in matches.items():
        if winner is not None and ids == [winner]:
            resolution.agreed.append(kind)
        elif not ids:
            resolution.disagreed[kind] = "no match"
        elif len(ids) > 1:
            resolution.disagreed[kind] = f"{len(ids)} matches"
        else:
            resolution.disagreed[kind] = f"another element ({ids[0]})"
    return resolution


# ---- extraction by selector ---------------------------------------------------------------------------------


async def find_texts(page: Page, texts: list[str]) -> list[dict[str, Any] | None]:
    """For each text, the smallest visible element holding it: {css, before, after} (context within it)."""
    try:
        found: list[dict[str, Any] | None] = await page.evaluate(f"(a) => ({locators_js()})(a, null)", ["find", texts])
    except PlaywrightError:
        return [None] * len(texts)
    return found


async def read_texts(page: Page, selectors: list[str]) -> list[str | None]:
    """The visible text of the one element each selector finds (None when none or several)."""
    try:
        read: list[str | None] = await page.evaluate(f"(a) => ({locators_js()})(a, null)", ["read", selectors])
    except PlaywrightError:
        return [None] * len(selectors)
    return read
