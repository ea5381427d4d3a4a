"""A person's hands on the agent's page: input events from a live-view viewer, replayed through the browser's
own input pipeline (Playwright's mouse and keyboard, i.e. CDP `Input.dispatch*`), and a compact record of
what the person did, for the timeline and for the model.

Events are plain dicts, as a viewer sends them. Points are fractions of the frame the viewer sees (0..1 from
the top left), mapped onto the page's CSS pixels by the live view's frame size, so the viewer's screen size
does not matter:

    {"t": "move", "x": 0.5, "y": 0.25}
    {"t": "down", "x": .., "y": .., "button": "left", "clicks": 1}     (clicks 2 on a double click)
    {"t": "up", "x": .., "y": .., "button": "left", "clicks": 1}
    {"t": "wheel", "x": .., "y": .., "dx": 0, "dy": 120}
    {"t": "keydown", "key": "a"} / {"t": "keyup", "key": "a"}          (DOM `KeyboardEvent.key` values)
    {"t": "paste", "text": "..."}                                        (also IME text)

No script runs in the page's world to deliver input: the page sees trusted events. To say which element a
click or typing went to, a small read-only function runs in an isolated world (invisible to the page's own
scripts) that reads `elementFromPoint` and `activeElement`.

Coalescing: typing into one field is one record (its value masked when the field is a password), a click is
one record naming the element, a run of wheel events is one "scrolled", each page reached is one "went to".
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from playwright.async_api import CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from agent_core.browser.session import BrowserSession

log = logging.getLogger(__name__)

__all__ = ["InputRejected", "OperatorAction", "RemoteInput", "summarize"]

MouseButton = Literal["left", "middle", "right"]
BUTTONS: dict[str, MouseButton] = {"left": "left", "middle": "middle", "right": "right"}
MODIFIERS = frozenset({"Shift", "Control", "Alt", "Meta"})
# Keys that end typing into a field (focus moves or the form is submitted).
FIELD_ENDERS = frozenset({"Tab", "Enter", "Escape"})
DRAG_PX = 6.0  # a press and release further apart than this is a drag
MAX_TEXT = 10_000  # characters of one paste
PASSWORD_MASK = "••••••"

_DESCRIBE_JS = """(x, y) => {
  const pick = (el) => {
    const control = el && el.closest ? el.closest(
      'a,button,input,select,textarea,summary,label,[role=button],[role=link],[role=checkbox],[role=radio],' +
      '[role=tab],[role=menuitem],[role=option],[role=switch],[contenteditable=""],[contenteditable=true]') : null;
    return control || el;
  };
  let el = x === null ? document.activeElement : pick(document.elementFromPoint(x, y));
  while (el && el.shadowRoot && (x === null ? el.shadowRoot.activeElement : null)) el = el.shadowRoot.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const text = (s) => (s || '').replace(/\\s+/g, ' ').trim().slice(0, 80);
  const label = el.labels && el.labels.length ? text(el.labels[0].innerText) : '';
  return {
    tag: el.tagName.toLowerCase(),
    type: (el.getAttribute('type') || '').toLowerCase(),
    role: el.getAttribute('role') || '',
    name: el.getAttribute('name') || '',
    id: el.id || '',
    label,
    aria: text(el.getAttribute('aria-label')),
    placeholder: text(el.getAttribute('placeholder')),
    text: ['input', 'textarea', 'select'].includes(el.tagName.toLowerCase()) ? '' : text(el.innerText),
    editable: el.isContentEditable || ['input', 'textarea'].includes(el.tagName.toLowerCase()),
  };
}"""


class InputRejected(ValueError):
    """An input event that is malformed or names an unknown key: not applied."""


@dataclass(frozen=True)
class OperatorAction:
    """One coalesced thing a person did. `text` reads as the end of "The person …", e.g.
    `clicked the button "Sign in"` or `typed "ada" into the text field "Username"`."""

    kind: str  # click, double_click, right_click, drag, type, key, scroll, navigate
    text: str


def summarize(actions: list[OperatorAction], *, by: str = "", idle_seconds: float | None = None) -> str:
    """The note the model gets after a person had control."""
    who = f"A person ({by})" if by else "A person"
    head = f"{who} had control of the browser while you were paused"
    if idle_seconds is not None:
        head += f"; control was released after {idle_seconds:g} s without input"
    if not actions:
        return head + ". They did nothing on the page. Carry on from the page as it is now."
    lines = "\n".join(f"- {a.text}" for a in actions)
    return f"{head}. What they did, in order:\n{lines}\nCarry on from the page as they left it (shown now)."


def describe(info: Mapping[str, Any] | None) -> str:
    """`the button "Sign in"`, `the password field "Password"`, `the link "Plans"`, from _DESCRIBE_JS."""
    if not info:
        return "the page"
    tag, kind, role = str(info.get("tag", "")), str(info.get("type", "")), str(info.get("role", ""))
    name = next(
        (str(info[k]) for k in ("label", "aria", "text", "placeholder", "name", "id") if str(info.get(k) or "").strip()),
        "",
    )
    if tag == "input" and kind == "password":
        what = "password field"
    elif tag == "input" and kind in ("checkbox", "radio"):
        what = kind
    elif tag == "input" and kind in ("submit", "button", "reset", "image"):
        what = "button"
    elif tag in ("input", "textarea") or info.get("editable"):
        what = "text field"
    elif tag == "select":
        what = "drop-down"
    elif tag == "a" or role == "link":
        what = "link"
    elif tag == "button" or role == "button":
        what = "button"
    elif role:
        what = role
    else:
        what = f"<{tag}>" if tag else "element"
    return f'the {what} "{name}"' if name else f"the {what}"


def _is_password(info: Mapping[str, Any] | None) -> bool:
    return bool(info) and info.get("tag") == "input" and info.get("type") == "password"  # type: ignore[union-attr]


def _fraction(event: Mapping[str, Any], key: str) -> float:
    value = event.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InputRejected(f"{event.get('t')} needs a numeric {key}")
    return min(max(float(value), 0.0), 1.0)


class RemoteInput:
    """One spell of a person's control over a session's pages. Not thread-safe; apply events in order."""

    def __init__(self, session: BrowserSession) -> None:
        self.session = session
        self.actions: list[OperatorAction] = []  # everything recorded, for the summary
        self._reported = 0  # actions[:_reported] were handed out by take_new_actions
        self._buttons: set[MouseButton] = set()
        self._keys: set[str] = set()
        self._press: tuple[float, float, dict[str, Any] | None, int, str] | None = None  # x, y, target, clicks, button
        self._field: dict[str, Any] | None = None  # the field being typed into
        self._field_known = False
        self._typed: list[str] = []
        self._scroll: float = 0.0
        self._key_run: tuple[str, int] | None = None
        self._last_url = session.page.url
        self._world: tuple[Page, CDPSession, int] | None = None

    # ---- applying events -----------------------------------------------------------------------------
    async def apply(self, event: Mapping[str, Any]) -> None:
        """Replay one viewer event on the active page. Raises InputRejected for a malformed event; a
        Playwright error (the page is navigating, a key Chromium does not know) is raised as InputRejected too."""
        kind = event.get("t")
        page = self.session.check_page()
        self._note_navigation()
        try:
            if kind in ("move", "down", "up", "wheel"):
                await self._mouse(page, str(kind), event)
            elif kind in ("keydown", "keyup"):
                await self._key(page, str(kind), event)
            elif kind == "paste":
                text = event.get("text")
                if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
                    raise InputRejected(f"paste needs a text of 1 to {MAX_TEXT} characters")
                await self._typing_into(page)
                await page.keyboard.insert_text(text)
                self._typed.append(text)
            else:
                raise InputRejected(f"unknown input event {kind!r}")
        except PlaywrightError as exc:
            raise InputRejected(f"{kind} could not be applied: {str(exc).splitlines()[0] if str(exc) else exc}") from exc

    async def _mouse(self, page: Page, kind: str, event: Mapping[str, Any]) -> None:
        width, height = self.session.live_view_size()
        x, y = _fraction(event, "x") * width, _fraction(event, "y") * height
        x, y = min(x, width - 1), min(y, height - 1)
        mouse = page.mouse
        if kind == "move":
            await mouse.move(x, y)
        elif kind == "wheel":
            dx, dy = event.get("dx", 0), event.get("dy", 0)
            if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (dx, dy)):
                raise InputRejected("wheel needs numeric dx and dy")
            self._end_typing()
            await mouse.move(x, y)
            await mouse.wheel(max(-5000.0, min(5000.0, float(dx))), max(-5000.0, min(5000.0, float(dy))))
            self._scroll += float(dy)
        else:
            button = BUTTONS.get(str(event.get("button") or "left"))
            if button is None:
                raise InputRejected(f"unknown mouse button {event.get('button')!r}")
            clicks = event.get("clicks", 1)
            clicks = int(clicks) if isinstance(clicks, int) and not isinstance(clicks, bool) and 1 <= clicks <= 3 else 1
            await mouse.move(x, y)
            if kind == "down":
                self._end_typing()
                self._end_scroll()
                target = await self._describe(page, x, y) if clicks == 1 else (self._press[2] if self._press else None)
                self._press = (x, y, target, clicks, button)
                self._buttons.add(button)
                await mouse.down(button=button, click_count=clicks)
            else:
                self._buttons.discard(button)
                await mouse.up(button=button, click_count=clicks)
                self._record_press(x, y)

    async def _key(self, page: Page, kind: str, event: Mapping[str, Any]) -> None:
        key = event.get("key")
        if not isinstance(key, str) or not key or len(key) > 40:
            raise InputRejected("key events need a key name")
        if kind == "keyup":
            if key in self._keys:
                self._keys.discard(key)
                await page.keyboard.up(key)
            return
        text_key = len(key) == 1 and not (self._keys & {"Control", "Alt", "Meta"})
        if text_key:
            await self._typing_into(page)
        try:
            await page.keyboard.down(key)
            self._keys.add(key)
        except PlaywrightError:
            if not text_key:
                raise
            await page.keyboard.insert_text(key)  # a character the keyboard layout does not have (é, ß, …)
        if text_key:
            self._typed.append(key)
            return
        if key == "Backspace" and self._field_known:
            if self._typed:
                last = self._typed.pop()
                if len(last) > 1:
                    self._typed.append(last[:-1])
            return
        if key in MODIFIERS:
            return
        combo = "+".join([*sorted(self._keys & MODIFIERS), key])
        if key in FIELD_ENDERS or combo != key:
            self._end_typing()
        if not (self._field_known and key in ("ArrowLeft", "ArrowRight", "Home", "End", "Delete")):
            self._record_key(combo)

    async def release_all(self) -> None:
        """Let go of every key and button still down (the viewer left, or control ended)."""
        page = self.session.page
        if page.is_closed():
            return
        with contextlib.suppress(PlaywrightError):
            for key in list(self._keys):
                await page.keyboard.up(key)
            for button in list(self._buttons):
                await page.mouse.up(button=button)
        self._keys.clear()
        self._buttons.clear()

    # ---- the record ----------------------------------------------------------------------------------
    @property
    def has_new_actions(self) -> bool:
        return len(self.actions) > self._reported or self.session.page.url != self._last_url

    def take_new_actions(self) -> list[OperatorAction]:
        """Records completed since the last call (typing still going on is not complete yet)."""
        self._note_navigation()
        new = self.actions[self._reported :]
        self._reported = len(self.actions)
        return new

    def finish(self) -> list[OperatorAction]:
        """Close whatever is open (typing, scrolling) and return the records not handed out yet."""
        self._end_typing()
        self._end_scroll()
        self._end_key_run()
        return self.take_new_actions()

    async def close(self) -> None:
        await self.release_all()
        await self._drop_world()

    def _add(self, kind: str, text: str) -> None:
        if kind != "key":
            self._end_key_run()
        self.actions.append(OperatorAction(kind=kind, text=text))

    def _note_navigation(self) -> None:
        url = self.session.page.url
        if url != self._last_url:
            self._end_typing()
            self._end_scroll()
            self._last_url = url
            self._add("navigate", f"went to {url}")

    def _record_press(self, x: float, y: float) -> None:
        press, self._press = self._press, None
        if press is None:
            return
        x0, y0, target, clicks, button = press
        if math.hypot(x - x0, y - y0) > DRAG_PX:
            self._add("drag", f"dragged from {describe(target)} to ({x:.0f}, {y:.0f})")
        elif button == "right":
            self._add("right_click", f"right-clicked {describe(target)}")
        elif clicks >= 2 and self.actions and self.actions[-1].kind == "click":
            self.actions[-1] = OperatorAction(kind="double_click", text=f"double-clicked {describe(target)}")
        else:
            self._add("click", f"clicked {describe(target)}")
        if target and target.get("editable"):
            self._field, self._field_known = target, True  # typing that follows goes into this field

    def _record_key(self, combo: str) -> None:
        if self._key_run and self._key_run[0] == combo and self.actions and self.actions[-1].kind == "key":
            count = self._key_run[1] + 1
            self.actions[-1] = OperatorAction(kind="key", text=f"pressed {combo} ({count} times)")
            self._key_run = (combo, count)
            return
        self._add("key", f"pressed {combo}")
        self._key_run = (combo, 1)

    def _end_key_run(self) -> None:
        self._key_run = None

    async def _typing_into(self, page: Page) -> None:
        """Typing starts or goes on: find the focused field the first time."""
        if not self._field_known:
            self._field = await self._describe(page, None, None)
            self._field_known = True
            self._typed = []

    def _end_typing(self) -> None:
        if self._field_known and self._typed:
            value = "".join(self._typed)
            shown = PASSWORD_MASK if _is_password(self._field) else json.dumps(value[:200], ensure_ascii=False)
            self._add("type", f"typed {shown} into {describe(self._field)}")
        self._field, self._field_known, self._typed = None, False, []

    def _end_scroll(self) -> None:
        if self._scroll:
            self._add("scroll", f"scrolled {'down' if self._scroll > 0 else 'up'} ({abs(self._scroll):.0f} px)")
        self._scroll = 0.0

    # ---- what is where (read-only, in an isolated world) -----------------------------------------------
    async def _describe(self, page: Page, x: float | None, y: float | None) -> dict[str, Any] | None:
        for _ in range(2):
            try:
                cdp, context_id = await self._isolated_world(page)
                result = await cdp.send(
                    "Runtime.evaluate",
                    {
                        "expression": f"({_DESCRIBE_JS})({json.dumps(x)}, {json.dumps(y)})",
                        "contextId": context_id,
                        "returnByValue": True,
                    },
                )
            except PlaywrightError:
                await self._drop_world()  # the page navigated: its world is gone; make another
                continue
            value = (result.get("result") or {}).get("value")
            if result.get("exceptionDetails"):
                await self._drop_world()
                continue
            return value if isinstance(value, dict) else None
        return None

    async def _drop_world(self) -> None:
        world, self._world = self._world, None
        if world is not None:
            with contextlib.suppress(PlaywrightError):
                await world[1].detach()

    async def _isolated_world(self, page: Page) -> tuple[CDPSession, int]:
        if self._world is not None and self._world[0] is page:
            return self._world[1], self._world[2]
        await self._drop_world()
        cdp = await self.session.context.new_cdp_session(page)
        tree = await cdp.send("Page.getFrameTree")
        world = await cdp.send(
            "Page.createIsolatedWorld", {"frameId": tree["frameTree"]["frame"]["id"], "worldName": "lookout-operator"}
        )
        self._world = (page, cdp, int(world["executionContextId"]))
        return cdp, self._world[2]
