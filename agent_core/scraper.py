"""The dom engine's eyes: scrape a page into elements with short ids and the model's listing, and find them again."""

from __future__ import annotations

import functools
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame as PlaywrightFrame
from playwright.async_api import FrameLocator, Locator, Page

from agent_core.errors import BrowserError, InvalidModelOutputError

ID_ATTR = "data-lookout-id"
FRAME_ATTR = "data-lookout-frame"
MAX_TEXT = 120  # element texts, labels and values on a listing line
MAX_CONTEXT = 200  # context lines (the full text stays in ScrapeResult.text)
_SCRAPE_ATTEMPTS = 3
_TOKEN = re.compile(r"^[\w\-./:@#]+$")
_TEXT_INPUTS = frozenset(
    {
        "text",
        "email",
        "search",
        "tel",
        "url",
        "password",
        "number",
        "date",
        "datetime-local",
        "month",
        "week",
        "time",
        "color",
        "range",
    }
)


_INCLUDE = "/* @include controls.js */"


@functools.cache
def scraper_js() -> str:
    """The scraper's page function: js/scraper.js with js/controls.js spliced in where it asks for it."""
    folder = Path(__file__).parent / "js"
    source = (folder / "scraper.js").read_text(encoding="utf-8")
    if source.count(_INCLUDE) != 1:
        raise RuntimeError(f"scraper.js must hold {_INCLUDE} exactly once")
    return source.replace(_INCLUDE, (folder / "controls.js").read_text(encoding="utf-8"))


_SLOT = "__lookoutScrape"


@functools.cache
def scraper_install_js() -> str:
    """An init script (every document, before its own scripts): the scraper as a property of the window that
    page scripts cannot replace (neither writable nor configurable). A scrape then sends a short call, not
    the scraper's ~43 KB of source, which cost every scrape a few milliseconds of encoding, piping and
    compiling on a 2-core machine."""
    return (
        f'try {{ Object.defineProperty(window, "{_SLOT}", {{ value: {scraper_js()}\n, '
        "writable: false, configurable: false, enumerable: false }); } catch (error) {}"
    )


# The installed scraper where it is ours, else null (a document that started without the init script, such as
# the first about:blank): the scrape then sends the whole source.
_CALL_JS = f"""(opts) => {{
  const own = Object.getOwnPropertyDescriptor(window, "{_SLOT}");
  return own && !own.writable && !own.configurable && typeof own.value === "function" ? own.value(opts) : null;
}}"""


@dataclass(frozen=True)
class Element:
    """One interactable element as the scraper saw it. `id` is also its data-lookout-id attribute."""

    id: str
    tag: str
    attrs: dict[str, str]
    text: str
    frame_path: tuple[int, ...]
    rect: tuple[float, float, float, float]  # x, y, width, height in top-level viewport pixels
    # input, button, select, textarea, summary, link, role, editable, label (a visible label standing in for
    # its hidden control), or found by behaviour: onclick, listener (a click, double-click or right-click
    # listener of its own, or a jQuery delegated selector), draggable, icon (an icon under a delegating
    # listener), focusable (tabindex), pointer
    kind: str = ""
    role: str | None = None
    label: str = ""
    input_type: str | None = None
    value: str | None = None
    checked: bool | str | None = None  # "mixed" for aria-checked="mixed"
    selected: bool | None = None
    disabled: bool = False
    readonly: bool = False
    required: bool = False
    expanded: bool | None = None
    haspopup: str | None = None  # aria-haspopup: menu, listbox, dialog, tree, grid
    multiple: bool = False  # a select that takes several options
    # sliders, spinners, number and date fields: range and step as the page gives them; valuetext says
    # what aria-valuetext shows when it is more than the number; value_format is what date and time
    # fields take ("YYYY-MM-DD", "HH:MM", ...)
    value_min: str | None = None
    value_max: str | None = None
    value_step: str | None = None
    valuetext: str | None = None
    value_format: str | None = None
    truncated: bool = False  # `value` was cut for the listing (read the element to get all of it)
    editable: bool = False
    options: list[dict[str, Any]] = field(default_factory=list)  # select: {label, value, selected, disabled}
    options_total: int = 0
    files: list[str] = field(default_factory=list)
    description: str = ""  # aria-describedby text, e.g. a validation error
    in_shadow: bool = False
    doc_token: str = ""  # identifies the document the element lived in (stale-id detection)
    # text fields: who listens for key events, "own", "delegated" (an ancestor or the document), "none",
    # "unknown" (agent_core/js/watcher.js); input_text types key by key after it
    keys: str = ""

    @property
    def selector(self) -> str:
        return f'[{ID_ATTR}="{self.id}"]'

    @property
    def in_top_document(self) -> bool:
        """In the page's own document, outside iframes and shadow roots: one plain evaluate reaches it."""
        return not self.frame_path and not self.in_shadow

    @property
    def name(self) -> str:
        return self.attrs.get("name", "")

    def to_line(self, *, new: bool = False) -> str:
        """The element's line in the listing, e.g. `[e3] <button>Submit</button>`; an element that was not
        there at the last step (`new`) is `[e3] (new) <button>Submit</button>`."""
        proxy = self.kind == "label" and self.input_type is not None
        tag = "input" if proxy else self.tag
        parts: list[str] = []

        def add(key: str, value: str | None, *, quote: bool = True) -> None:
            if value is None:
                return
            parts.append(f"{key}={_quoted(value) if quote or not _TOKEN.match(value) else value}")

        if self.input_type:
            add("type", self.input_type, quote=False)
        if self.attrs.get("role"):
            add("role", self.attrs["role"], quote=False)
        if self.name:
            add("name", self.name, quote=False)
        text = self.text
        label = self.label or (text if proxy else "")
        if label and (label != text or proxy):
            add("label", _clip(label))
        aria = self.attrs.get("aria-label", "").strip()
        if aria and aria not in (self.label, text):
            add("aria-label", _clip(aria))
        for key in ("placeholder", "title", "alt"):
            value = self.attrs.get(key, "").strip()
            if value and value not in (self.label, text):
                add(key, _clip(value))
        if self.haspopup:
            add("haspopup", self.haspopup, quote=False)
        if self.tag == "a" and self.attrs.get("href"):
            add("href", _short_href(self.attrs["href"]))
        if self.tag == "select":
            if not self.multiple:  # a multiple select's choices are the options marked *
                add("value", self.value or "")
            add("options", _options_summary(self.options, self.options_total))
        elif self.tag == "textarea" or self.input_type in _TEXT_INPUTS:
            add("value", self.value or "")
        elif self.value is not None:
            add("value", self.value)
        if self.truncated:
            parts.append("truncated")
        if self.valuetext:
            add("valuetext", _clip(self.valuetext))
        add("min", self.value_min, quote=False)
        add("max", self.value_max, quote=False)
        add("step", self.value_step, quote=False)
        if self.value_format:
            add("format", self.value_format)
        if self.files:
            add("files", ", ".join(self.files))
        if self.description:
            add("desc", _clip(self.description))
        flags = []
        if self.checked is True:
            flags.append("checked")
        elif self.checked == "mixed":
            flags.append("checked=mixed")
        if self.selected:
            flags.append("selected")
        if self.expanded is not None:
            flags.append("expanded" if self.expanded else "collapsed")
        if self.multiple:
            flags.append("multiple")
        if self.editable:
            flags.append("contenteditable")
        for flag in ("disabled", "readonly", "required"):
            if getattr(self, flag):
                flags.append(flag)
        head = " ".join([tag, *parts, *flags])
        body = "" if proxy else text
        mark = f"[{self.id}] (new)" if new else f"[{self.id}]"
        if body or tag in ("a", "button"):
            return f"{mark} <{head}>{body}</{tag}>"
        return f"{mark} <{head}>"


@dataclass(frozen=True)
class ScrapeResult:
    """A page as the model sees it: elements by id, the listing, plus the raw tree, HTML and visible text."""

    url: str
    title: str
    elements: list[Element]
    listing: str
    tree: list[dict[str, Any]]
    html: str
    text: str  # the visible page text, in reading order (for extraction)
    duration_ms: float = 0.0
    doc_token: str = ""  # identifies the top document: a new one means the page was replaced
    focused: str | None = None  # id of the listed element that has focus
    _by_id: dict[str, Element] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {element.id: element for element in self.elements})

    def element(self, element_id: str) -> Element:
        """The element with this id; InvalidModelOutputError if the scrape has none (the model made it up)."""
        try:
            return self._by_id[element_id]
        except KeyError:
            raise InvalidModelOutputError(f"unknown element id {element_id!r}") from None

    def get(self, element_id: str) -> Element | None:
        return self._by_id.get(element_id)

    def marked_listing(self, new_ids: set[str] | frozenset[str]) -> str:
        """The listing with the elements in `new_ids` marked new (see Element.to_line)."""
        if not new_ids:
            return self.listing
        return "\n".join(_flatten(self.tree, new_ids)[1])

    def new_since(self, earlier: ScrapeResult | None) -> frozenset[str]:
        """Ids of elements that `earlier` did not list although it read the same document (or frame):
        what appeared since. Nothing on a new page, where everything would be new."""
        if earlier is None:
            return frozenset()
        documents = {element.doc_token for element in earlier.elements} | {earlier.doc_token}
        return frozenset(
            element.id
            for element in self.elements
            if element.doc_token in documents and earlier.get(element.id) is None
        )


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _short_href(href: str) -> str:
    href = href.strip()
    if href.lower().startswith("javascript:"):
        return "javascript:"
    return href if len(href) <= 80 else href[:79] + "\u2026"


def _options_summary(options: list[dict[str, Any]], total: int) -> str:
    shown = []
    for option in options:
        label, value = str(option.get("label", "")), str(option.get("value", ""))
        item = label if value in ("", label) else f"{label} ({value})"
        if option.get("selected"):
            item += "*"
        shown.append(item)
    if total > len(options):
        shown.append(f"... {total - len(options)} more")
    return "|".join(shown)


def _element(node: dict[str, Any]) -> Element:
    value = node.get("value")
    if value is None and (node["tag"] == "textarea" or node.get("input_type") in _TEXT_INPUTS):
        value = ""  # the scraper leaves empty strings out of its JSON
    return Element(
        id=node["id"],
        tag=node["tag"],
        attrs={str(k): str(v) for k, v in (node.get("attrs") or {}).items()},
        text=node.get("text") or "",
        frame_path=tuple(node.get("frame_path") or ()),
        rect=tuple(node.get("rect") or (0.0, 0.0, 0.0, 0.0)),
        kind=node.get("kind") or "",
        role=node.get("role"),
        label=node.get("label") or "",
        input_type=node.get("input_type"),
        value=value,
        checked=node.get("checked"),
        selected=node.get("selected"),
        disabled=bool(node.get("disabled")),
        readonly=bool(node.get("readonly")),
        required=bool(node.get("required")),
        expanded=node.get("expanded"),
        haspopup=node.get("haspopup"),
        multiple=bool(node.get("multiple")),
        value_min=node.get("value_min"),
        value_max=node.get("value_max"),
        value_step=node.get("value_step"),
        valuetext=node.get("valuetext"),
        value_format=node.get("value_format"),
        truncated=bool(node.get("truncated")),
        editable=bool(node.get("editable")),
        options=list(node.get("options") or []),
        options_total=int(node.get("options_total") or len(node.get("options") or [])),
        files=list(node.get("files") or []),
        description=node.get("description") or "",
        in_shadow=bool(node.get("in_shadow")),
        doc_token=node.get("doc_token") or "",
        keys=node.get("keys") or "",
    )


def _flatten(
    tree: list[dict[str, Any]], new_ids: set[str] | frozenset[str] = frozenset()
) -> tuple[list[Element], list[str], list[str]]:
    """Walk the tree in document order: elements, listing lines (`new_ids` marked new), visible-text lines."""
    elements: list[Element] = []
    listing: list[str] = []
    text: list[str] = []

    def visit(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            kind = node.get("type")
            if kind == "text":
                if node.get("listed", True):
                    line = _clip(node["text"], MAX_CONTEXT)
                    if not listing or listing[-1] != line:
                        listing.append(line)
                text.append(node["text"])
            elif kind == "element":
                element = _element(node)
                elements.append(element)
                listing.append(element.to_line(new=element.id in new_ids))
                if element.text and not node.get("long_text"):
                    text.append(element.text)
                visit(node.get("children") or [])
            elif kind == "frame":
                visit(node.get("children") or [])

    visit(tree)
    return elements, listing, text


def _find_frame_node(nodes: list[dict[str, Any]], path: list[int]) -> dict[str, Any] | None:
    for node in nodes:
        if node.get("type") == "frame" and node.get("path") == path:
            return node
        found = _find_frame_node(node.get("children") or [], path)
        if found is not None:
            return found
    return None


async def frame_at(parent: PlaywrightFrame, index: int) -> PlaywrightFrame | None:
    """The child frame of `parent` whose iframe element the scraper numbered `index`, if any."""
    for child in parent.child_frames:
        try:
            handle = await child.frame_element()
            key = await handle.get_attribute(FRAME_ATTR)
        except PlaywrightError:
            continue
        if key == str(index):
            return child
    return None


async def frame_for_path(page: Page, path: list[int] | tuple[int, ...]) -> PlaywrightFrame | None:
    """The Playwright frame behind a frame path (the scraper numbered each iframe element)."""
    frame: PlaywrightFrame | None = page.main_frame
    for index in path:
        frame = await frame_at(frame, index) if frame is not None else None
    return frame


def _navigation_race(exc: BaseException) -> bool:
    message = str(exc).lower()
    return "context was destroyed" in message or "navigat" in message or "cannot find context" in message


async def _evaluate(target: Page | PlaywrightFrame, page: Page, options: dict[str, Any]) -> dict[str, Any]:
    for attempt in range(_SCRAPE_ATTEMPTS):
        try:
            raw = await target.evaluate(_CALL_JS, options)
            if raw is None:
                raw = await target.evaluate(scraper_js(), options)
            result: dict[str, Any] = json.loads(raw)
            return result
        except PlaywrightError as exc:
            if page.is_closed():
                raise BrowserError("page was closed", raw=str(exc)) from exc
            if "crash" in str(exc).lower():
                raise BrowserError("page crashed", raw=str(exc)) from exc
            if attempt + 1 < _SCRAPE_ATTEMPTS and _navigation_race(exc):
                # The page navigated under us: read the new document once it exists.
                try:
                    await page.wait_for_load_state("domcontentloaded", timeout=5000)
                except PlaywrightError:
                    pass
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BrowserError(f"could not read the page: {first}", raw=str(exc)) from exc
    raise AssertionError("unreachable")


async def scrape(page: Page, *, include_html: bool = True) -> ScrapeResult:
    """Read the page: one evaluate covers the document, its same-origin iframes and open shadow roots;
    each cross-origin iframe costs one more. Tags elements with data-lookout-id (a page side effect, kept
    stable across scrapes). Raises BrowserError when the page cannot be read (crashed, closed)."""
    started = time.perf_counter()
    raw = await _evaluate(page, page, {"maxText": MAX_TEXT, "html": include_html})
    tree: list[dict[str, Any]] = raw["tree"]
    pending: list[dict[str, Any]] = list(raw.get("pending_frames") or [])
    seq = int(raw.get("seq") or 0)
    if pending:
        while pending:
            item = pending.pop(0)
            frame = await frame_for_path(page, item["path"])
            node = _find_frame_node(tree, item["path"])
            if frame is None or node is None:
                continue
            try:
                sub = await _evaluate(
                    frame,
                    page,
                    {
                        "maxText": MAX_TEXT,
                        "html": False,
                        "framePath": item["path"],
                        "offset": item["offset"],
                        "startSeq": seq,
                    },
                )
            except BrowserError:
                if page.is_closed():
                    raise
                continue  # a frame that navigated away or detached: the rest of the page is still useful
            node["children"] = sub["tree"]
            seq = max(seq, int(sub.get("seq") or 0))
            pending.extend(sub.get("pending_frames") or [])
        # Remember the highest id in the top window too, so the next scrape never reuses one.
        try:
            await page.evaluate("s => { window.__lookoutSeq = Math.max(window.__lookoutSeq || 0, s); }", seq)
        except PlaywrightError:
            pass
    elements, listing, text = _flatten(tree)
    return ScrapeResult(
        url=raw.get("url") or page.url,
        title=raw.get("title") or "",
        elements=elements,
        listing="\n".join(listing),
        tree=tree,
        html=raw.get("html") or "",
        text="\n".join(text),
        duration_ms=(time.perf_counter() - started) * 1000,
        doc_token=raw.get("doc") or "",
        focused=raw.get("focused"),
    )


def frame_selector(index: int) -> str:
    return f'iframe[{FRAME_ATTR}="{index}"], frame[{FRAME_ATTR}="{index}"]'


def locator_for(page: Page, element: Element) -> Locator:
    """A locator for the element: through its iframes by the scraper's frame numbers, then by id
    (Playwright's CSS pierces open shadow roots). May match nothing if the page changed since the scrape."""
    scope: Page | FrameLocator = page
    for index in element.frame_path:
        scope = scope.frame_locator(frame_selector(index))
    return scope.locator(element.selector)

