"""The dom engine's hands: the actions a model may ask for, parsing its reply, and carrying actions out on a page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

import httpx
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame as PlaywrightFrame
from playwright.async_api import FrameLocator, Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent_core.browser import BrowserSession, validate_start_url
from agent_core.errors import BrowserError, InvalidModelOutputError, InvalidTaskError
from agent_core.keys import UnknownKeyError, key_combo
from agent_core.scraper import Element, ScrapeResult, frame_at, frame_selector, locator_for
from agent_core.types import ActionResult

MAX_WAIT_S = 30.0
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
SCROLL_FRACTION = 0.8  # of the viewport height per scroll action


# ---- the actions -----------------------------------------------------------------------------------------
class _Action(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    element_id: str | None = None
    reasoning: str = ""

    @field_validator("element_id", mode="before")
    @classmethod
    def _normalise_id(cls, value: Any) -> Any:
        """Models write "[e12]", "E12" or 12 for e12: accept them all."""
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().strip("[]").strip()
        if not text or text.lower() in ("null", "none"):
            return None
        if text.isdigit():
            return f"e{text}"
        if re.fullmatch(r"[eE]\d+", text):
            return text.lower()
        return text

    @field_validator("reasoning", mode="before")
    @classmethod
    def _reasoning_text(cls, value: Any) -> Any:
        return "" if value is None else value


class _ElementAction(_Action):
    @model_validator(mode="after")
    def _needs_element(self) -> _ElementAction:
        if not self.element_id:
            raise ValueError(f"{getattr(self, 'action_type', 'this action')} needs an element_id")
        return self


class Click(_ElementAction):
    action_type: Literal["click"] = "click"


class InputText(_ElementAction):
    action_type: Literal["input_text"] = "input_text"
    text: str

    @field_validator("text", mode="before")
    @classmethod
    def _scalar_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class SelectOption(_ElementAction):
    action_type: Literal["select_option"] = "select_option"
    option: str

    @field_validator("option", mode="before")
    @classmethod
    def _option_text(cls, value: Any) -> Any:
        if isinstance(value, dict):  # {"label": "France"} or {"value": "fr"}
            value = value.get("label") or value.get("value")
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class Checkbox(_ElementAction):
    action_type: Literal["checkbox"] = "checkbox"
    checked: bool


class UploadFile(_ElementAction):
    action_type: Literal["upload_file"] = "upload_file"
    file_url: str


class Scroll(_Action):
    action_type: Literal["scroll"] = "scroll"
    direction: Literal["up", "down"] = "down"

    @field_validator("direction", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class Keypress(_Action):
    action_type: Literal["keypress"] = "keypress"
    keys: list[str] = Field(min_length=1)

    @field_validator("keys", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Wait(_Action):
    action_type: Literal["wait"] = "wait"
    seconds: float = 1.0

    @field_validator("seconds", mode="after")
    @classmethod
    def _cap(cls, value: float) -> float:
        return min(max(value, 0.0), MAX_WAIT_S)


class GotoUrl(_Action):
    action_type: Literal["goto_url"] = "goto_url"
    url: str


class GoBack(_Action):
    action_type: Literal["go_back"] = "go_back"


class Complete(_Action):
    action_type: Literal["complete"] = "complete"


class TerminateError(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    error_code: str
    reasoning: str = ""


class Terminate(_Action):
    action_type: Literal["terminate"] = "terminate"
    errors: list[TerminateError] = Field(default_factory=list)


Action = Annotated[
    Click
    | InputText
    | SelectOption
    | Checkbox
    | UploadFile
    | Scroll
    | Keypress
    | Wait
    | GotoUrl
    | GoBack
    | Complete
    | Terminate,
    Field(discriminator="action_type"),
]
ACTION_TYPES: tuple[str, ...] = (
    "click",
    "input_text",
    "select_option",
    "checkbox",
    "upload_file",
    "scroll",
    "keypress",
    "wait",
    "goto_url",
    "go_back",
    "complete",
    "terminate",
)
# Names models reach for instead of ours.
_ACTION_ALIASES = {
    "type": "input_text",
    "fill": "input_text",
    "input": "input_text",
    "select": "select_option",
    "check": "checkbox",
    "upload": "upload_file",
    "press": "keypress",
    "key": "keypress",
    "goto": "goto_url",
    "navigate": "goto_url",
    "back": "go_back",
}


class AgentStep(BaseModel):
    """One reply of the model in the dom engine (DESIGN.md, "Contract with the model")."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    thinking: str = ""
    goal_achieved: bool = False
    actions: list[Action]


_ERROR_ITEM = {
    "type": "object",
    "properties": {"error_code": {"type": "string"}, "reasoning": {"type": "string"}},
    "required": ["error_code", "reasoning"],
}
# One flat action object (the parameters each type uses are named in the descriptions): simpler for models
# to follow than a oneOf, and fine for a non-strict json_schema response format.
AGENT_STEP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "thinking": {"type": "string", "description": "What you see on the page and why you act as you do."},
        "goal_achieved": {"type": "boolean", "description": "True once the navigation goal is reached."},
        "actions": {
            "type": "array",
            "description": "Actions to perform in order on the current page.",
            "items": {
                "type": "object",
                "properties": {
                    "action_type": {"type": "string", "enum": list(ACTION_TYPES)},
                    "element_id": {
                        "type": ["string", "null"],
                        "description": 'The id in brackets from the element listing, e.g. "e12"; null when '
                        "the action needs no element.",
                    },
                    "reasoning": {"type": "string"},
                    "text": {"type": "string", "description": "input_text: the text to type."},
                    "option": {
                        "type": "string",
                        "description": "select_option: the option's label or value.",
                    },
                    "checked": {"type": "boolean", "description": "checkbox: the state wanted."},
                    "file_url": {
                        "type": "string",
                        "description": "upload_file: an http(s) URL or a file path.",
                    },
                    "direction": {"type": "string", "enum": ["up", "down"], "description": "scroll"},
                    "keys": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": 'keypress: keys pressed one after another, e.g. ["Enter"], ["Control+a"].',
                    },
                    "seconds": {"type": "number", "description": f"wait: at most {MAX_WAIT_S:g}."},
                    "url": {"type": "string", "description": "goto_url: an http(s) URL."},
                    "errors": {
                        "type": "array",
                        "items": _ERROR_ITEM,
                        "description": "terminate: why the goal cannot be reached, codes from the error mapping.",
                    },
                },
                "required": ["action_type", "element_id", "reasoning"],
            },
        },
    },
    "required": ["thinking", "goal_achieved", "actions"],
}
AGENT_STEP_RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "agent_step", "schema": AGENT_STEP_SCHEMA, "strict": False},
}


# ---- parsing the model's reply -----------------------------------------------------------------------
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)


def parse_agent_step(data: Any) -> AgentStep:
    """Validate a model reply (a JSON string or an already-decoded object) into an AgentStep.

    Raises InvalidModelOutputError with a reason fit for the step's failure record, e.g.
    "action 1: unknown action type 'jump'" or "action 2: missing 'text' for input_text".
    """
    raw = data if isinstance(data, str) else None
    if isinstance(data, bytes):
        data = raw = data.decode("utf-8", "replace")
    if isinstance(data, str):
        text = data.strip()
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidModelOutputError(f"the reply is not JSON: {exc}", raw=raw) from None
    if raw is None:
        try:
            raw = json.dumps(data, default=str)
        except (TypeError, ValueError):
            raw = repr(data)
    if not isinstance(data, dict):
        raise InvalidModelOutputError(
            f"the reply must be a JSON object with thinking, goal_achieved and actions, not {type(data).__name__}",
            raw=raw,
        )
    if "actions" not in data:
        raise InvalidModelOutputError("the reply has no 'actions' list", raw=raw)
    actions = data["actions"]
    if isinstance(actions, dict):  # a single action instead of a list
        actions = [actions]
    if not isinstance(actions, list):
        raise InvalidModelOutputError("'actions' must be a list of action objects", raw=raw)
    normalised: list[dict[str, Any]] = []
    for number, item in enumerate(actions, start=1):
        if not isinstance(item, dict):
            raise InvalidModelOutputError(f"action {number} is not an object", raw=raw)
        kind = item.get("action_type", item.get("type") if isinstance(item.get("type"), str) else None)
        if kind is None or not str(kind).strip():
            raise InvalidModelOutputError(f"action {number} has no action_type", raw=raw)
        name = re.sub(r"[\s\-]+", "_", str(kind).strip().lower())
        name = _ACTION_ALIASES.get(name, name)
        if name not in ACTION_TYPES:
            raise InvalidModelOutputError(
                f"action {number}: unknown action type {str(kind)!r}; expected one of {', '.join(ACTION_TYPES)}",
                raw=raw,
            )
        normalised.append({**item, "action_type": name})
    try:
        return AgentStep.model_validate({**data, "actions": normalised})
    except ValidationError as exc:
        raise InvalidModelOutputError(_describe(exc), raw=raw) from None


def _describe(exc: ValidationError) -> str:
    reasons = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if len(loc) >= 2 and loc[0] == "actions" and isinstance(loc[1], int):
            prefix = f"action {loc[1] + 1}"
            kind = str(loc[2]) if len(loc) > 2 else "action"
            field = ".".join(str(part) for part in loc[3:])
            if error.get("type") == "missing" and field:
                reasons.append(f"{prefix}: missing {field!r} for {kind}")
            elif field:
                reasons.append(f"{prefix}: {field!r} for {kind}: {message}")
            else:
                reasons.append(f"{prefix}: {message}")
        else:
            field = ".".join(str(part) for part in loc) or "reply"
            reasons.append(
                f"missing {field!r}" if error.get("type") == "missing" else f"{field!r}: {message}"
            )
    return "; ".join(reasons) or "invalid agent step"


def action_to_dict(action: Action) -> dict[str, Any]:
    """action_type, element_id, reasoning and the type's own parameters, JSON-ready."""
    return action.model_dump(mode="json")


# ---- execution ---------------------------------------------------------------------------------------
class ActionFailed(Exception):
    """An action that could not be carried out; becomes ActionResult(success=False, error=str(exc))."""

    def __init__(self, message: str, *, settle: bool = True) -> None:
        super().__init__(message)
        self.settle = settle  # False when the page was not touched


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"^\w+\.\w+: ", "", line)


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
    frame = await _cross_origin_frame(session, scrape, action)
    try:
        data = await _perform(session, scrape, action, timeout)
    except ActionFailed as exc:
        success, error, settle = False, str(exc), exc.settle
    except PlaywrightError as exc:
        if session.page.is_closed() or "crash" in str(exc).lower():
            raise session.browser_error(exc, action.action_type) from exc
        success, error = False, f"{action.action_type} failed: {_first_line(exc)}"
    if settle:
        await session.wait_for_settle(frame=frame)
        saved = await session.wait_for_downloads(since=downloads_before)
        if saved:
            data = {**(data or {}), "downloads": [str(path) for path in saved]}
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
    element, locator = await _resolve(session, scrape, action.element_id)
    if isinstance(action, Click):
        return await _click(element, locator, timeout)
    if isinstance(action, InputText):
        if element.tag == "select":
            return await _select(session, element, locator, action.text, timeout)
        return await _input_text(session, element, locator, action.text, timeout)
    if isinstance(action, SelectOption):
        return await _select(session, element, locator, action.option, timeout)
    if isinstance(action, Checkbox):
        return await _checkbox(element, locator, action.checked, timeout)
    if isinstance(action, UploadFile):
        return await _upload(session, element, locator, action.file_url, timeout)
    raise ActionFailed(f"cannot execute {action.action_type}", settle=False)


async def _cross_origin_frame(
    session: BrowserSession, scrape: ScrapeResult, action: Action
) -> PlaywrightFrame | None:
    """The frame of an element inside an out-of-process (cross-origin) iframe, which settling must visit:
    the main page's event loop says nothing about it. None for everything else (no extra round trip)."""
    element = scrape.get(action.element_id) if action.element_id else None
    if element is None or not element.frame_path:
        return None
    frame: PlaywrightFrame | None = session.page.main_frame
    for index in element.frame_path:
        frame = await frame_at(frame, index) if frame is not None else None
    if frame is None or frame.parent_frame is None:
        return None
    try:
        same_origin = await frame.parent_frame.evaluate(
            "i => { const f = document.querySelector(i); try { return !!(f && f.contentDocument); }"
            " catch (e) { return false; } }",
            f'[data-lookout-frame="{element.frame_path[-1]}"]',
        )
    except PlaywrightError:
        return None
    return None if same_origin else frame


def _gone(element_id: str) -> ActionFailed:
    return ActionFailed(f"element {element_id} is no longer on the page", settle=False)


async def _resolve(
    session: BrowserSession, scrape: ScrapeResult, element_id: str | None
) -> tuple[Element, Locator]:
    """The element's live locator, checked to be in the document the scrape read (ids restart after a
    navigation, so "e5" on a new page is another element)."""
    if not element_id:
        raise ActionFailed("this action needs an element_id", settle=False)
    element = scrape.get(element_id)
    if element is None:
        raise ActionFailed(f"unknown element id {element_id}", settle=False)
    locator = locator_for(session.page, element)
    try:
        tokens: list[str] = await locator.evaluate_all(
            "els => els.map(e => e.ownerDocument.__lookoutToken || '')"
        )
    except PlaywrightError as exc:
        session.check_page()
        raise _gone(element_id) from exc
    for index, token in enumerate(tokens):
        if not element.doc_token or token == element.doc_token:
            return element, locator.nth(index)
    raise _gone(element_id)


async def _still_there(locator: Locator) -> bool:
    try:
        return await locator.count() > 0
    except PlaywrightError:
        return False


async def _click(element: Element, locator: Locator, timeout: int) -> Any:
    first_try = max(500, int(timeout * 0.6))
    try:
        await locator.click(timeout=first_try)
        return None
    except PlaywrightError as exc:
        if not await _still_there(locator):
            raise _gone(element.id) from exc
        reason = _first_line(exc)
    # Playwright gave up (covered by another element, never stable, outside the viewport): a DOM click
    # still reaches the handlers, unless the element is disabled.
    try:
        if not await locator.is_enabled(timeout=1000):
            raise ActionFailed(f"element {element.id} is disabled")
        await locator.evaluate("el => el.click()", timeout=max(500, timeout - first_try))
    except PlaywrightError as exc:
        if not await _still_there(locator):
            raise _gone(element.id) from exc
        raise ActionFailed(f"could not click {element.id}: {reason}") from exc
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


async def _input_text(
    session: BrowserSession, element: Element, locator: Locator, text: str, timeout: int
) -> Any:
    value = _iso_date(text) if element.input_type == "date" else text
    try:
        await locator.fill(value, timeout=timeout)
        return None
    except PlaywrightError as exc:
        if not await _still_there(locator):
            raise _gone(element.id) from exc
        reason = _first_line(exc)
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


def _scope(page: Page, element: Element) -> Page | FrameLocator:
    scope: Page | FrameLocator = page
    for index in element.frame_path:
        scope = scope.frame_locator(frame_selector(index))
    return scope


async def _select(
    session: BrowserSession, element: Element, locator: Locator, wanted: str, timeout: int
) -> Any:
    try:
        options: list[dict[str, Any]] | None = await locator.evaluate(_OPTIONS_JS, timeout=timeout)
    except PlaywrightError as exc:
        if not await _still_there(locator):
            raise _gone(element.id) from exc
        raise ActionFailed(f"could not read the options of {element.id}: {_first_line(exc)}") from exc
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
        if not await _still_there(locator):
            raise _gone(element.id) from exc
        raise ActionFailed(
            f"could not select {choice['label']!r} in {element.id}: {_first_line(exc)}"
        ) from exc
    return {"selected": {"label": choice["label"], "value": choice["value"]}}


async def _select_custom(
    session: BrowserSession, element: Element, locator: Locator, wanted: str, timeout: int
) -> Any:
    """A dropdown that is not a <select>: open it, then click the option by its accessible name or text."""
    scope = _scope(session.page, element)
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
            f"{_first_line(exc)}"
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
        if not await _still_there(locator):
            raise _gone(element.id) from exc
        reason = _first_line(exc)
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


async def _materialise(session: BrowserSession, file_url: str) -> Path:
    """A local path for the file to upload: the path itself, a file:// URL, or an http(s) URL fetched
    (with the session's cookies, user agent, extra headers and proxy, at most MAX_UPLOAD_BYTES) into a
    fresh folder under the session's downloads dir, keeping the server's file name."""
    source = file_url.strip()
    scheme = urlsplit(source).scheme.lower()
    if scheme not in ("http", "https"):
        path = Path(unquote(urlsplit(source).path)) if scheme == "file" else Path(source).expanduser()
        # A page can talk the model into asking for any file the worker can read: local files are
        # allowed only inside the folders the host configured for uploads.
        roots = [Path(r).resolve() for r in session.config.upload_dirs]
        resolved = path.resolve()
        if not any(resolved.is_relative_to(root) for root in roots):
            raise ActionFailed(
                f"local file {file_url} is outside the allowed upload folders; give an http(s) URL instead"
            )
        if not path.is_file():
            raise ActionFailed(f"file to upload not found: {file_url}")
        return path
    uploads = session.downloads_dir / ".uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=uploads))
    headers = dict(session.config.extra_headers)
    if session.config.user_agent:
        headers["User-Agent"] = session.config.user_agent
    cookies = {
        c["name"]: c["value"] for c in await session.context.cookies(source) if "name" in c and "value" in c
    }
    try:
        async with httpx.AsyncClient(
            follow_redirects=True,
            timeout=session.config.navigation_timeout_ms / 1000,
            headers=headers,
            cookies=cookies,
            proxy=session.config.proxy or None,
        ) as client:
            async with client.stream("GET", source) as response:
                response.raise_for_status()
                target = folder / _download_name(response.headers.get("content-disposition", ""), source)
                size = 0
                with target.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_UPLOAD_BYTES:
                            raise ActionFailed(f"{source} is larger than {MAX_UPLOAD_BYTES // 2**20} MB")
                        out.write(chunk)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        raise ActionFailed(f"could not fetch {source}: {exc}") from exc
    return target


def _download_name(disposition: str, url: str) -> str:
    match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", disposition, re.IGNORECASE)
    name = unquote(match.group(1)) if match else unquote(Path(urlsplit(url).path).name)
    name = os.path.basename(name.replace("\\", "/")).strip().lstrip(".")
    return name[:120] or "upload"


async def _upload(
    session: BrowserSession, element: Element, locator: Locator, file_url: str, timeout: int
) -> Any:
    path = await _materialise(session, file_url)
    target: Locator | None = None
    if element.input_type == "file":  # the input itself, or a label standing in for it
        target = locator
    else:
        inner = locator.locator("input[type=file]")
        if await inner.count():
            target = inner.first
    try:
        if target is not None:
            await target.set_input_files(path, timeout=timeout)
        else:
            # A styled button that opens the file picker from script.
            async with session.page.expect_file_chooser(timeout=timeout) as chooser_info:
                await locator.click(timeout=timeout)
            chooser = await chooser_info.value
            await chooser.set_files(path)
    except PlaywrightError as exc:
        if not await _still_there(locator):
            raise _gone(element.id) from exc
        raise ActionFailed(f"could not upload {path.name} with {element.id}: {_first_line(exc)}") from exc
    return {"file": path.name, "size": path.stat().st_size}


async def _scroll(session: BrowserSession, scrape: ScrapeResult, action: Scroll, timeout: int) -> Any:
    page = session.page
    width, height = session.config.viewport_width, session.config.viewport_height
    if action.element_id:
        # The wheel scrolls whatever is under the mouse: hover the element to scroll its container.
        element, locator = await _resolve(session, scrape, action.element_id)
        try:
            await locator.hover(timeout=timeout)
        except PlaywrightError as exc:
            if not await _still_there(locator):
                raise _gone(element.id) from exc
            raise ActionFailed(f"could not reach {element.id} to scroll it: {_first_line(exc)}") from exc
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
        element, locator = await _resolve(session, scrape, action.element_id)
        try:
            await locator.focus(timeout=timeout)
        except PlaywrightError as exc:
            if not await _still_there(locator):
                raise _gone(element.id) from exc
            raise ActionFailed(f"could not focus {element.id}: {_first_line(exc)}") from exc
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
