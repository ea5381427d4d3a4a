"""Browser fixtures for agent_core tests: one Chromium for the whole run, a fresh context (session) per test.

Both live on the session-wide event loop (Playwright objects belong to the loop that made them), so a
test using them runs there too:

    pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

    async def test_title(site, session):
        await session.goto(site.url("table/"))
        assert await session.page.title() == "Products"

`site` (the local test sites, tests/sites/server.py) comes from tests/conftest.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest_asyncio

from agent_core.browser import BrowserManager, BrowserSession
from agent_core.egress import EgressPolicy
from agent_core.types import BrowserConfig

# The local test sites and fakes listen on loopback, which BrowserConfig's default policy refuses: these
# tests open it explicitly (tests of the policy itself build their own).
LOCAL_POLICY = EgressPolicy.from_setting("127.0.0.0/8, ::1/128")

# Short timeouts: everything is local, and a test that waits should fail fast rather than hang.
TEST_BROWSER_CONFIG = BrowserConfig(
    action_timeout_ms=2_000,
    navigation_timeout_ms=10_000,
    upload_dirs=(tempfile.gettempdir(),),
    egress=LOCAL_POLICY,
)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser_manager() -> AsyncIterator[BrowserManager]:
    manager = BrowserManager(TEST_BROWSER_CONFIG)
    await manager.start()
    try:
        yield manager
    finally:
        await manager.close()


@pytest_asyncio.fixture(loop_scope="session")
async def session(browser_manager: BrowserManager, tmp_path: Path) -> AsyncIterator[BrowserSession]:
    """A fresh browser context with one page; downloads land in tmp_path/downloads."""
    browser_session = await browser_manager.new_session(
        config=replace(TEST_BROWSER_CONFIG, downloads_dir=str(tmp_path / "downloads"))
    )
    try:
        yield browser_session
    finally:
        await browser_session.close()
