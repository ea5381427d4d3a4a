"""What an action changed on the page: the scrapes before and after it compared, plus what the session saw
(tabs, dialogs, downloads), as a compact report for the model's history, the timeline and the stored result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent_core.scraper import Element, ScrapeResult

__all__ = ["ChangeReport", "describe_element", "measure_change"]

MAX_ITEMS = 4  # elements, texts or state changes named per kind (the rest are counted)
MAX_TEXT = 100  # characters per text line that appeared
_NAME = 40  # characters of an element's name in a description
SUMMARY_LIMIT = 300  # characters of the one-line summary (what the prompt history shows of it)
_VALUE_ACTIONS = frozenset({"input_text", "select_option", "set_slider"})


@dataclass(frozen=True)
class ChangeReport:
    """What one action changed. Empty fields mean "not that"; `summary()` says it in one bounded line."""

    target: str | None = None
    url: str | None = None  # the URL now, when it changed
    title: str | None = None  # the title now, when it changed
    new_page: bool = False  # another document: a navigation, a reload, a form posted
    new_tab: bool = False
    dialogs: tuple[str, ...] = ()  # JavaScript dialogs the action raised ("confirm: Delete it?"), accepted
    downloads: tuple[str, ...] = ()  # file names
    appeared: tuple[str, ...] = ()  # descriptions of elements that appeared, with their ids ("[e31] option "Egypt"")
    appeared_total: int = 0
    disappeared: tuple[str, ...] = ()
    disappeared_total: int = 0
    changed: tuple[str, ...] = ()  # state changes of listed elements ("[e4] tab "Details" now selected")
    changed_total: int = 0
    text: tuple[str, ...] = ()  # text that appeared (alerts, validation errors, toasts, new content)
    text_total: int = 0
    focus: str | None = None  # the element focus moved to, when not the target
    value: str | None = None  # the target's value now (input_text, select_option, set_slider)
    value_changed: bool = False
    busy: bool = False  # the page was still changing when settling gave up

    @property
    def nothing(self) -> bool:
        return not (
            self.url
            or self.title
            or self.new_page
            or self.new_tab
            or self.dialogs
            or self.downloads
            or self.appeared_total
            or self.disappeared_total
            or self.changed_total
            or self.text_total
            or self.focus
            or self.value_changed
        )

    def summary(self) -> str:
        """One line, at most SUMMARY_LIMIT characters: what changed, or "no visible change"."""
        parts: list[str] = []
        if self.new_tab:
            parts.append("a new tab opened")
        if self.new_page:
            parts.append(f"new page {self.url}" if self.url else "the page reloaded")
        elif self.url:
            parts.append(f"URL now {self.url}")
        if self.title:
            parts.append(f"title now {_quoted(self.title)}")
        parts += [f"dialog {_quoted(dialog)} (accepted)" for dialog in self.dialogs]
        if self.downloads:
            parts.append("downloaded " + ", ".join(self.downloads))
        parts += _listed("new", self.appeared, self.appeared_total)
        parts += _listed("gone", self.disappeared, self.disappeared_total)
        parts += _listed("changed", self.changed, self.changed_total)
        if self.text_total:
            parts += _listed("text", tuple(_quoted(line) for line in self.text), self.text_total)
        if self.focus:
            parts.append(f"focus on {self.focus}")
        if self.value is not None and self.target:
            still = "now" if self.value_changed else "still"
            parts.append(f"[{self.target}] value {still} {_quoted(self.value)}")
        if self.nothing:
            parts.insert(0, "no visible change")
        if self.busy:
            parts.append("the page was still changing")
        line = "; ".join(parts)
        return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1] + "\u2026"

    def to_data(self) -> dict[str, Any]:
        """JSON for the action's stored result and the timeline: the summary plus the fields that are set."""
        data: dict[str, Any] = {"summary": self.summary()}
        for name in (
            "url",
            "title",
            "new_page",
            "new_tab",
            "dialogs",
            "downloads",
            "appeared",
            "disappeared",
            "changed",
            "text",
            "focus",
            "value",
            "busy",
        ):
            value = getattr(self, name)
            if value or (name == "value" and value is not None):
                data[name] = list(value) if isinstance(value, tuple) else value
        for name in ("appeared", "disappeared", "changed", "text"):
            total = getattr(self, f"{name}_total")
            if total > len(getattr(self, name)):
                data[f"{name}_total"] = total
        return data


def _listed(label: str, items: tuple[str, ...], total: int) -> list[str]:
    if not total:
        return []
    more = f" (+{total - len(items)} more)" if total > len(items) else ""
    return [f"{total} {label}: " + ", ".join(items) + more]


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _quoted(text: str) -> str:
    return '"' + _clip(text, MAX_TEXT).replace('"', "'") + '"'


def describe_element(element: Element) -> str:
    """Short: id, role or tag, and the name a person would read, e.g. `[e31] option "Egypt"`."""
    kind = element.role or (
        f"input[{element.input_type}]" if element.input_type not in (None, "text") else element.tag
    )
    name = (
        element.text
        or element.label
        or element.attrs.get("aria-label", "")
        or element.attrs.get("placeholder", "")
        or element.name
    )
    return f"[{element.id}] {kind}" + (f' "{_clip(name, _NAME)}"' if name.strip() else "")


def _state(element: Element) -> dict[str, Any]:
    return {
        "checked": element.checked,
        "selected": element.selected,
        "expanded": element.expanded,
        "disabled": element.disabled,
        "value": element.value,
    }


def _state_change(before: Element, after: Element) -> str | None:
    old, new = _state(before), _state(after)
    words = []
    for flag in ("checked", "selected", "expanded"):
        if old[flag] != new[flag] and new[flag] is not None:
            value = new[flag]
            words.append(f"{flag}={value}" if isinstance(value, str) else (flag if value else f"not {flag}"))
    if old["disabled"] != new["disabled"]:
        words.append("disabled" if new["disabled"] else "enabled")
    if old["value"] != new["value"] and new["value"] is not None:
        words.append(f"value {_quoted(new['value'])}")
    return f"{describe_element(after)} now {', '.join(words)}" if words else None


def measure_change(
    *,
    action: dict[str, Any],
    before: ScrapeResult,
    after: ScrapeResult,
    new_tab: bool = False,
    dialogs: Sequence[str] = (),
    downloads: Sequence[str] = (),
    busy: bool = False,
) -> ChangeReport:
    """Compare the page before an action (`before`) with the page after it settled (`after`).

    `action` is the action as hooks see it (action_type, element_id, ...). On a new document only the URL,
    title and the new page are reported: every element on it would be new. Pure: no browser calls."""
    target = action.get("element_id") or None
    url = after.url if after.url != before.url else None
    title = after.title if after.title != before.title else None
    new_page = new_tab or bool(before.doc_token and after.doc_token and before.doc_token != after.doc_token)
    common: dict[str, Any] = {
        "target": target,
        "url": url,
        "title": title,
        "new_page": new_page and not new_tab,
        "new_tab": new_tab,
        "dialogs": tuple(dialogs),
        "downloads": tuple(downloads),
        "busy": busy,
    }
    if new_page:
        return ChangeReport(**common)

    appeared_ids = after.new_since(before)
    appeared = [element for element in after.elements if element.id in appeared_ids]
    disappeared = [element for element in before.elements if after.get(element.id) is None]
    changed: list[str] = []
    for element in after.elements:
        earlier = before.get(element.id)
        if earlier is None or (element.id == target and action.get("action_type") in _VALUE_ACTIONS):
            continue  # the target's value is reported on its own
        change = _state_change(earlier, element)
        if change:
            changed.append(change)

    seen = set(before.text.splitlines())
    named = {element.text for element in appeared}
    text: list[str] = []
    for line in after.text.splitlines():
        line = line.strip()
        if line and line not in seen and line not in named and line not in text:
            text.append(line)

    focus = after.focused if after.focused not in (None, before.focused, target) else None
    value: str | None = None
    value_changed = False
    if target and action.get("action_type") in _VALUE_ACTIONS:
        now, earlier = after.get(target), before.get(target)
        if now is not None and now.value is not None:
            value = now.value
            value_changed = earlier is None or earlier.value != value
    return ChangeReport(
        **common,
        appeared=tuple(describe_element(element) for element in appeared[:MAX_ITEMS]),
        appeared_total=len(appeared),
        disappeared=tuple(describe_element(element) for element in disappeared[:MAX_ITEMS]),
        disappeared_total=len(disappeared),
        changed=tuple(changed[:MAX_ITEMS]),
        changed_total=len(changed),
        text=tuple(_clip(line, MAX_TEXT) for line in text[:MAX_ITEMS]),
        text_total=len(text),
        focus=describe_element(after.element(focus)) if focus and after.get(focus) else None,
        value=value,
        value_changed=value_changed,
    )
