"""Finding an action's element on the live page, and ActionFailed, how an action says it could not be done."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame as PlaywrightFrame
from playwright.async_api import FrameLocator, Locator, Page

from agent_core.actions.vocabulary import Action
from agent_core.browser.session import BrowserSession
from agent_core.scraper import Element, ScrapeResult, frame_for_path, frame_selector, locator_for


class ActionFailed(Exception):
    """An action that could not be carried out; becomes ActionResult(success=False, error=str(exc))."""

    def __init__(self, message: str, *, settle: bool = True) -> None:
        super().__init__(message)
        self.settle = settle  # False when the page was not touched


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"^\w+\.\w+: ", "", line)


async def touched_frame(session: BrowserSession, scrape: ScrapeResult, action: Action) -> PlaywrightFrame | None:
    """The frame of an element inside an iframe, which settling must visit as well: the main page's watcher
    sees neither that frame's DOM nor its navigation (a form submitted inside it). None for an element of
    the top document (no extra round trip)."""
    element = scrape.get(action.element_id) if action.element_id else None
    if element is None or not element.frame_path:
        return None
    frame = await frame_for_path(session.page, element.frame_path)
    if frame is None or frame.parent_frame is None:
        return None
    return frame


def gone(element_id: str) -> ActionFailed:
    return ActionFailed(f"element {element_id} is no longer on the page", settle=False)


_TOKENS_JS = "sel => Array.from(document.querySelectorAll(sel), e => e.ownerDocument.__lookoutToken || '')"


async def resolve(
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
        if element.in_top_document:
            # One plain evaluate (a locator's evaluate_all costs several round trips through Playwright's
            # selector engine, ~10 ms an action). One match of this document: the locator itself, which
            # Playwright's strictness still guards (its CSS also looks into shadow roots).
            tokens: list[str] = await session.page.evaluate(_TOKENS_JS, element.selector)
            if len(tokens) == 1 and (not element.doc_token or tokens[0] == element.doc_token):
                return element, locator
        tokens = await locator.evaluate_all("els => els.map(e => e.ownerDocument.__lookoutToken || '')")
    except PlaywrightError as exc:
        session.check_page()
        raise gone(element_id) from exc
    for index, token in enumerate(tokens):
        if not element.doc_token or token == element.doc_token:
            return element, locator.nth(index)
    raise gone(element_id)


async def read_top(element: Element, locator: Locator, script: str) -> list[Any] | None:
    """[`script` run on the element] by one plain evaluate of the top document, None when it is not there.
    For an element of the top document (Element.in_top_document): a locator's evaluate goes through
    Playwright's selector engine, several round trips."""
    found: list[Any] | None = await locator.page.main_frame.evaluate(
        f"sel => {{ const el = document.querySelector(sel); return el ? [({script})(el)] : null; }}",
        element.selector,
    )
    return found


async def evaluate_on(element: Element, locator: Locator, script: str, *, timeout: float | None = None) -> Any:
    """`script` (a function of the element) run on the element: by read_top when it is in the top document
    (~40 ms less than a locator's evaluate here), else, or when it is not found at once, the locator's way
    (it then waits for the element, or raises as Playwright does)."""
    if element.in_top_document:
        found = await read_top(element, locator, script)
        if found is not None:
            return found[0]
    return await locator.evaluate(script, timeout=timeout)


async def failure_on(locator: Locator, element_id: str, message: str) -> ActionFailed:
    """ActionFailed(message) for an action on `locator` that Playwright refused, or the "no longer on the
    page" failure when the element has gone meanwhile (which is then the real reason)."""
    if not await still_there(locator):
        return gone(element_id)
    return ActionFailed(message)


async def still_there(locator: Locator) -> bool:
    try:
        return await locator.count() > 0
    except PlaywrightError:
        return False


def frame_scope(page: Page, element: Element) -> Page | FrameLocator:
    scope: Page | FrameLocator = page
    for index in element.frame_path:
        scope = scope.frame_locator(frame_selector(index))
    return scope
