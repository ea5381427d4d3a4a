"""Typing a run's secrets: the placeholders in text the model asked to type, replaced by their real values
just before the keys go to the page (see agent_core.secrets for the rules)."""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from agent_core.actions.targets import ActionFailed, evaluate_on
from agent_core.browser.session import BrowserSession
from agent_core.scraper import Element
from agent_core.secrets import SecretRefused

_FOCUSED_JS = """() => {
  const el = document.activeElement;
  return {url: location.href, type: el && el.tagName === 'INPUT' ? (el.type || 'text').toLowerCase() : null};
}"""


async def reveal_into(session: BrowserSession, element: Element, locator: Locator, text: str) -> str:
    """`text` to type into `element`: placeholders replaced for the document the element lives in (a
    cross-origin iframe counts as its own site). ActionFailed, with the reason, when one may not be typed."""
    secrets = session.secrets
    if not secrets.has_placeholders(text):
        return text
    try:
        url = str(await evaluate_on(element, locator, "el => el.ownerDocument.location.href"))
    except PlaywrightError:
        url = session.page.url
    input_type = element.input_type if element.tag == "input" else None
    try:
        return await secrets.reveal(text, url=url, input_type=input_type, target=f"element {element.id}")
    except SecretRefused as exc:
        raise ActionFailed(str(exc), settle=False) from exc


async def reveal_focused(session: BrowserSession, page: Page, text: str) -> str:
    """`text` to type into whatever has the keyboard focus (the cua engine types without an element)."""
    secrets = session.secrets
    if not secrets.has_placeholders(text):
        return text
    try:
        focused = await page.evaluate(_FOCUSED_JS)
        url, input_type = str(focused["url"]), focused["type"]
    except PlaywrightError:
        url, input_type = page.url, None
    try:
        return await secrets.reveal(text, url=url, input_type=input_type, target="the focused element")
    except SecretRefused as exc:
        raise ActionFailed(str(exc), settle=False) from exc
