"""A browser session held to its egress policy and download cap, and Chromium's flags (sandbox, background
requests).

The policy opens 127.0.0.1/32 only, where the pages under test live; 127.0.0.2 (tests/fakes/hosts.py)
plays the internal host, and its record of requests must stay empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from agent_core.actions import Click, GotoUrl, UploadFile, execute_action
from agent_core.browser import CHROMIUM_ARGS, BrowserManager, BrowserSession, sandbox_launch_options
from agent_core.egress import EgressPolicy
from agent_core.errors import EgressDenied
from agent_core.scraper import scrape
from tests.agent_core.conftest import TEST_BROWSER_CONFIG
from tests.agent_core.test_actions import find
from tests.conftest import FOREIGN_LOOKUPS
from tests.fakes.hosts import LoopbackServer
from tests.sites.server import TestSite

ONLY_FIRST = EgressPolicy.from_setting("127.0.0.1/32")
REFUSED = "blocked by the egress policy: 127.0.0.2 is a loopback address"


# ---- Chromium's flags (no browser) ------------------------------------------------------------------------
def test_sandbox_is_on_unless_running_as_root() -> None:
    assert sandbox_launch_options(euid=1000) == ((), True)
    assert sandbox_launch_options(euid=0) == (("--no-sandbox",), False)
    assert "--no-sandbox" not in CHROMIUM_ARGS


def test_webrtc_cannot_go_around_the_proxy() -> None:
    assert "--force-webrtc-ip-handling-policy=disable_non_proxied_udp" in CHROMIUM_ARGS


# ---- the session ------------------------------------------------------------------------------------------
class Reports:
    """The session's on_blocked: remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, url: str, reason: str) -> None:
        self.calls.append((url, reason))


@pytest_asyncio.fixture(loop_scope="session")
async def reports() -> Reports:
    return Reports()


@pytest_asyncio.fixture(loop_scope="session")
async def guarded(
    browser_manager: BrowserManager, tmp_path: Path, reports: Reports
) -> AsyncIterator[BrowserSession]:
    """A session under ONLY_FIRST, with a 1 MB download cap."""
    config = replace(
        TEST_BROWSER_CONFIG,
        egress=ONLY_FIRST,
        downloads_dir=str(tmp_path / "downloads"),
        max_download_bytes=2**20,
    )
    session = await browser_manager.new_session(config=config, on_blocked=reports)
    try:
        yield session
    finally:
        await session.close()


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_goto_a_refused_address_is_refused_before_the_browser_is_asked(
    guarded: BrowserSession, reports: Reports, loopback2: LoopbackServer
) -> None:
    url = loopback2.url("/ok")
    with pytest.raises(EgressDenied) as caught:
        await guarded.goto(url)
    assert str(caught.value) == REFUSED
    assert reports.calls == [(url, REFUSED)]
    assert loopback2.paths() == []


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_a_redirect_to_a_refused_address_is_stopped_by_the_sessions_proxy(
    guarded: BrowserSession, reports: Reports, loopback: LoopbackServer, loopback2: LoopbackServer
) -> None:
    target = loopback2.url("/ok")
    with pytest.raises(EgressDenied, match=f"^{REFUSED}$"):
        await guarded.goto(loopback.url(f"/redirect?to={target}"))
    assert (target, REFUSED) in reports.calls
    assert loopback2.paths() == []
    # As an action the model reads the reason.
    result = await execute_action(
        guarded, await scrape(guarded.page), GotoUrl(url=loopback.url(f"/redirect?to={target}"))
    )
    assert (result.success, result.error) == (False, REFUSED)
    assert loopback2.paths() == []


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_refused_subresources_are_reported(
    guarded: BrowserSession, reports: Reports, loopback: LoopbackServer, loopback2: LoopbackServer
) -> None:
    image, hop = loopback2.url("/ok?img"), loopback2.url("/ok?hop")
    loopback.pages["/page"] = f'<h1>page</h1><img src="{image}"><img src="/redirect?to={hop}">'
    await guarded.goto(loopback.url("/page"))
    async with asyncio.timeout(5):
        while not {image, hop} <= {url for url, _ in reports.calls}:
            await asyncio.sleep(0.05)
    assert all(reason == REFUSED for _, reason in reports.calls)
    assert loopback2.paths() == []


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("how", ["direct", "redirect"])
async def test_upload_from_a_refused_address_fails_with_the_reason(
    how: str,
    guarded: BrowserSession,
    reports: Reports,
    site: TestSite,
    loopback: LoopbackServer,
    loopback2: LoopbackServer,
) -> None:
    secret = loopback2.url("/admin/login/")
    loopback2.pages["/admin/login/"] = "<h1>internal admin</h1>"
    file_url = secret if how == "direct" else loopback.url(f"/redirect?to={secret}")
    await guarded.goto(site.url("job/documents.html"))
    page = await scrape(guarded.page)
    result = await execute_action(guarded, page, UploadFile(element_id=find(page, "name=cv").id, file_url=file_url))
    assert (result.success, result.error) == (False, REFUSED)
    assert reports.calls == [(secret, REFUSED)]
    assert loopback2.paths() == []


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_an_oversize_download_is_stopped_while_it_runs(guarded: BrowserSession, site: TestSite) -> None:
    await guarded.goto(site.url("download/archive.html"))
    page = await scrape(guarded.page)
    result = await execute_action(guarded, page, Click(element_id=find(page, "Download the archive").id))
    assert (result.success, result.error) == (False, "download of archive.bin stopped: larger than 1 MB")
    assert guarded.downloads == [] and not any(guarded.downloads_dir.iterdir())
    [stream] = site.streams
    assert not stream["complete"] and stream["sent"] < stream["size"]  # cut off, not merely thrown away


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_a_download_under_the_cap_is_kept(guarded: BrowserSession, site: TestSite) -> None:
    await guarded.goto(site.url("download/"))
    page = await scrape(guarded.page)
    result = await execute_action(guarded, page, Click(element_id=find(page, "Download report").id))
    assert result.success and [Path(p).name for p in result.data["downloads"]] == ["report.csv"]


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_chromium_asks_for_no_foreign_host(
    guarded: BrowserSession, reports: Reports, site: TestSite
) -> None:
    """Typing into forms made Chromium ask content-autofill.googleapis.com through the egress proxy (which
    then looked the name up); CHROMIUM_ARGS turn such background requests off."""
    lookups_before = len(FOREIGN_LOOKUPS)
    await guarded.goto(site.url("login/"))
    await guarded.page.fill("input[name=username]", "ada")
    await guarded.page.fill("input[name=password]", "lovelace")
    await guarded.page.press("input[name=password]", "Enter")
    await guarded.goto(site.url("job/"))
    await guarded.page.fill("input[name=email]", "ada@example.test")
    await asyncio.sleep(2)  # background requests come on their own time; give them a chance to show
    assert reports.calls == []
    assert FOREIGN_LOOKUPS[lookups_before:] == []
