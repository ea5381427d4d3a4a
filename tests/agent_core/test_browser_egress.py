"""The egress policy in a real Chromium: the route guard, and the proxy that covers what routes cannot see.

The policy opens 127.0.0.1/32 only, where the pages under test live; 127.0.0.2 (and ::1, and names that
resolve to loopback) play the internal host. Linux routes all of 127/8 to lo, so a server on 127.0.0.2
proves each refused request would have arrived without the guard: its record must stay empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

from agent_core.browser import BrowserManager
from agent_core.browser_egress import EgressGuard, install_egress_guard
from agent_core.egress import EgressPolicy, Resolver
from agent_core.egress_proxy import EgressProxy
from tests.fakes.hosts import LoopbackServer, loopback_available

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

POLICY = EgressPolicy.from_setting("127.0.0.1/32")
LOOPBACK_REASON = "blocked by the egress policy: 127.0.0.2 is a loopback address"


class Blocked:
    """An on_blocked callback that remembers what it was told and lets a test wait for it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    def __call__(self, url: str, reason: str) -> None:
        self.calls.append((url, reason))
        self._changed.set()

    def urls(self) -> list[str]:
        return [url for url, _ in self.calls]

    async def wait_for(self, url: str, timeout: float = 5.0) -> str:
        """The reason given for `url`, waiting for it to be reported."""
        async with asyncio.timeout(timeout):
            while True:
                for seen, reason in self.calls:
                    if seen == url:
                        return reason
                self._changed.clear()
                await self._changed.wait()


def table(entries: dict[str, Sequence[str]]) -> Resolver:
    """A resolver answering from `entries` only: no real DNS for made-up names."""

    def lookup(host: str) -> Sequence[str]:
        if host not in entries:
            raise OSError(f"{host} is not in the test's table")
        return entries[host]

    return Resolver(ttl=0, lookup=lookup)


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser_manager: BrowserManager) -> AsyncIterator[BrowserContext]:
    ctx = await browser_manager.browser.new_context(service_workers="block")
    ctx.set_default_timeout(5_000)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest_asyncio.fixture(loop_scope="session")
async def blocked() -> Blocked:
    return Blocked()


@pytest_asyncio.fixture(loop_scope="session")
async def guard(context: BrowserContext, blocked: Blocked) -> EgressGuard:
    return await install_egress_guard(context, POLICY, blocked, resolver=table({}))


def no_dns() -> Resolver:
    """For proxies and guards in these tests: Chromium's own background requests (autofill, ...) go
    through the context's proxy too, and must not make the proxy ask real DNS about them."""
    return table({})


async def proxied_context(browser_manager: BrowserManager, proxy: EgressProxy) -> BrowserContext:
    await proxy.start()
    ctx = await browser_manager.browser.new_context(service_workers="block", proxy=proxy.playwright_proxy)
    ctx.set_default_timeout(5_000)
    return ctx


# ---- the route guard -------------------------------------------------------------------------------------
async def test_navigation_to_a_refused_address_fails_with_the_reason(
    context: BrowserContext, guard: EgressGuard, blocked: Blocked, loopback2: LoopbackServer
) -> None:
    page = await context.new_page()
    url = loopback2.url("/ok")
    with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_CLIENT"):
        await page.goto(url)
    assert blocked.calls == [(url, LOOPBACK_REASON)]
    assert guard.reason_for(url) == LOOPBACK_REASON
    assert loopback2.paths() == []


async def test_name_resolving_to_loopback_is_refused(
    browser_manager: BrowserManager, loopback: LoopbackServer
) -> None:
    ctx = await browser_manager.browser.new_context(service_workers="block")
    try:
        found = Blocked()
        await install_egress_guard(ctx, EgressPolicy(), found)  # nothing opened, not even 127.0.0.1
        page = await ctx.new_page()
        url = f"http://localhost:{loopback.port}/ok"
        with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_CLIENT"):
            await page.goto(url)
        assert found.calls == [
            (url, "blocked by the egress policy: localhost resolves to 127.0.0.1, a loopback address")
        ]
        assert loopback.paths() == []
    finally:
        await ctx.close()


@pytest.mark.skipif(not loopback_available("::1"), reason="no IPv6 loopback here")
async def test_ipv6_loopback_is_refused(
    context: BrowserContext, guard: EgressGuard, blocked: Blocked
) -> None:
    with LoopbackServer("::1") as server:
        page = await context.new_page()
        with pytest.raises(PlaywrightError, match="ERR_BLOCKED_BY_CLIENT"):
            await page.goto(server.url("/ok"))
        assert blocked.calls == [
            (server.url("/ok"), "blocked by the egress policy: ::1 is a loopback address")
        ]
        assert server.paths() == []


async def test_allowed_page_loads_while_its_refused_subresources_are_aborted(
    context: BrowserContext,
    guard: EgressGuard,
    blocked: Blocked,
    loopback: LoopbackServer,
    loopback2: LoopbackServer,
) -> None:
    image, api = loopback2.url("/ok?img"), loopback2.url("/ok?fetch")
    loopback.pages["/page"] = f"""<title>start</title>
        <img src="{image}">
        <script>
          fetch("/ok").then(r => r.text()).then(t => {{ document.title = t }});
          fetch("{api}").catch(() => {{ document.body.dataset.failed = "yes" }});
        </script>"""
    page = await context.new_page()
    await page.goto(loopback.url("/page"))
    await page.wait_for_function(
        "document.title === 'ok from 127.0.0.1' && document.body.dataset.failed === 'yes'"
    )
    assert await blocked.wait_for(image) == LOOPBACK_REASON
    assert await blocked.wait_for(api) == LOOPBACK_REASON
    assert loopback2.paths() == []
    assert "/ok" in loopback.paths()


async def test_popup_to_a_refused_address_is_stopped(
    context: BrowserContext,
    guard: EgressGuard,
    blocked: Blocked,
    loopback: LoopbackServer,
    loopback2: LoopbackServer,
) -> None:
    loopback.pages["/opener"] = "<h1>opener</h1>"
    page = await context.new_page()
    await page.goto(loopback.url("/opener"))
    target = loopback2.url("/ok?popup")
    async with context.expect_page() as popup_info:
        await page.evaluate("url => { window.open(url) }", target)
    popup = await popup_info.value
    assert await blocked.wait_for(target) == LOOPBACK_REASON
    assert popup.url in (target, "about:blank", "chrome-error://chromewebdata/")
    assert loopback2.paths() == []


async def test_browser_local_urls_are_left_alone(
    context: BrowserContext, guard: EgressGuard, blocked: Blocked
) -> None:
    page = await context.new_page()
    await page.goto("data:text/html,<h1>inline</h1>")
    assert await page.inner_text("h1") == "inline"
    await page.goto("about:blank")
    assert blocked.calls == []


async def test_websockets_are_guarded(
    context: BrowserContext,
    guard: EgressGuard,
    blocked: Blocked,
    loopback: LoopbackServer,
    loopback2: LoopbackServer,
) -> None:
    loopback.pages["/ws-page"] = "<h1>ws</h1>"
    page = await context.new_page()
    await page.goto(loopback.url("/ws-page"))
    talk = """url => new Promise(done => {
        const ws = new WebSocket(url);
        ws.onopen = () => ws.send("hello");
        ws.onmessage = event => done("echo " + event.data);
        ws.onclose = event => done("closed " + event.code);
    })"""
    allowed, refused = (
        loopback.url("/ws").replace("http:", "ws:"),
        loopback2.url("/ws").replace("http:", "ws:"),
    )
    assert await page.evaluate(talk, allowed) == "echo hello"
    assert await page.evaluate(talk, refused) == "closed 1008"
    assert await blocked.wait_for(refused) == LOOPBACK_REASON
    assert loopback2.paths() == []


async def test_verdicts_are_cached_per_host(
    browser_manager: BrowserManager, loopback: LoopbackServer
) -> None:
    lookups: list[str] = []

    def lookup(host: str) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    ctx = await browser_manager.browser.new_context(service_workers="block")
    try:
        await install_egress_guard(ctx, POLICY, resolver=Resolver(ttl=0, lookup=lookup))
        loopback.pages["/many"] = "".join(f'<img src="/ok?{i}">' for i in range(5))
        page = await ctx.new_page()
        await page.goto(f"http://localhost:{loopback.port}/many", wait_until="load")
        assert lookups == ["localhost"]
    finally:
        await ctx.close()


# ---- redirects: what the route sees, and the proxy that closes the gap ---------------------------------
async def test_route_alone_does_not_see_redirect_hops(
    context: BrowserContext,
    guard: EgressGuard,
    blocked: Blocked,
    loopback: LoopbackServer,
    loopback2: LoopbackServer,
) -> None:
    """Measured, and the reason EgressProxy exists: Playwright calls the route for the first URL of a
    redirect chain only, so Chromium follows a redirect to a refused address. The guard notices the
    hop afterwards and reports it as not prevented."""
    target = loopback2.url("/ok")
    page = await context.new_page()
    await page.goto(loopback.url(f"/redirect?to={target}"))
    assert loopback2.paths() == ["/ok"]  # the request got through
    reason = await blocked.wait_for(target)
    assert reason == LOOPBACK_REASON + " (a redirect Chromium had already followed)"
    assert [r.prevented for r in guard.refusals if r.url == target] == [False]


async def test_proxy_stops_a_redirect_to_a_refused_address(
    browser_manager: BrowserManager, loopback: LoopbackServer, loopback2: LoopbackServer
) -> None:
    found = Blocked()
    async with EgressProxy(POLICY, found, resolver=no_dns()) as proxy:
        ctx = await proxied_context(browser_manager, proxy)
        try:
            await install_egress_guard(ctx, POLICY, found, watch_redirects=False, resolver=no_dns())
            page = await ctx.new_page()
            target = loopback2.url("/ok")
            response = await page.goto(loopback.url(f"/redirect?to={target}"))
            assert response is not None and response.status == 403
            assert await page.inner_text("h1") == LOOPBACK_REASON  # what the model reads
            assert await found.wait_for(target) == LOOPBACK_REASON
            # A script's fetch() through a redirect is stopped the same way.
            loopback.pages["/page"] = "<h1>page</h1>"
            await page.goto(loopback.url("/page"))
            api = loopback2.url("/ok?api")
            status = await page.evaluate(
                "url => fetch(url).then(r => r.status, e => 'failed')", loopback.url(f"/redirect?to={api}")
            )
            assert status in (403, "failed")
            assert await found.wait_for(api) == LOOPBACK_REASON
            assert loopback2.paths() == []
        finally:
            await ctx.close()


async def test_proxy_keeps_ordinary_browsing_working(
    browser_manager: BrowserManager, loopback: LoopbackServer
) -> None:
    loopback.pages["/form"] = """<form method=post action="/redirect?status=303&to=/ok">
        <input name=q value=1><button>Go</button></form>"""
    async with EgressProxy(POLICY, resolver=no_dns()) as proxy:
        ctx = await proxied_context(browser_manager, proxy)
        try:
            page = await ctx.new_page()
            await page.goto(loopback.url("/form"))
            async with page.expect_navigation():
                await page.click("button")
            assert (page.url, await page.inner_text("body")) == (loopback.url("/ok"), "ok from 127.0.0.1")
            talk = """url => new Promise(done => {
                const ws = new WebSocket(url);
                ws.onopen = () => ws.send("hello");
                ws.onmessage = event => done("echo " + event.data);
                ws.onerror = () => done("error");
            })"""
            assert await page.evaluate(talk, loopback.url("/ws").replace("http:", "ws:")) == "echo hello"
            assert [hit.method for hit in loopback.hits if hit.path.startswith("/redirect")] == ["POST"]
            assert [r.url for r in proxy.refusals if "127.0.0.1" in r.url] == []
        finally:
            await ctx.close()


async def test_proxy_refuses_a_websocket_tunnel(
    browser_manager: BrowserManager, loopback: LoopbackServer, loopback2: LoopbackServer
) -> None:
    found = Blocked()
    loopback.pages["/page"] = "<h1>page</h1>"
    async with EgressProxy(POLICY, found, resolver=no_dns()) as proxy:
        ctx = await proxied_context(browser_manager, proxy)
        try:
            page = await ctx.new_page()
            await page.goto(loopback.url("/page"))
            outcome = await page.evaluate(
                """url => new Promise(done => {
                    const ws = new WebSocket(url);
                    ws.onopen = () => done("open");
                    ws.onerror = () => done("error");
                })""",
                loopback2.url("/ws").replace("http:", "ws:"),
            )
            assert outcome == "error"
            assert await found.wait_for(f"127.0.0.2:{loopback2.port}") == LOOPBACK_REASON
            assert loopback2.paths() == []
        finally:
            await ctx.close()


async def test_proxy_connects_to_the_address_it_checked(
    browser_manager: BrowserManager, loopback2: LoopbackServer
) -> None:
    """DNS rebinding: the route's lookup said 127.0.0.1 (allowed); when the connection is made the name
    says 127.0.0.2. The proxy judges the answer it connects with, and Chromium never resolves at all."""
    url = f"http://rebind.test:{loopback2.port}/ok"
    found = Blocked()
    async with EgressProxy(POLICY, found, resolver=table({"rebind.test": ["127.0.0.2"]})) as proxy:
        ctx = await proxied_context(browser_manager, proxy)
        try:
            await install_egress_guard(
                ctx, POLICY, resolver=table({"rebind.test": ["127.0.0.1"]}), watch_redirects=False
            )
            page = await ctx.new_page()
            response = await page.goto(url)
            assert response is not None and response.status == 403
            assert (
                url,
                "blocked by the egress policy: rebind.test resolves to 127.0.0.2, a loopback address",
            ) in found.calls
            assert loopback2.paths() == []
        finally:
            await ctx.close()
    # And with 127.0.0.2 allowed the same name is served from the address the proxy resolved.
    open_policy = EgressPolicy.from_setting("127.0.0.2/32")
    async with EgressProxy(open_policy, resolver=table({"rebind.test": ["127.0.0.2"]})) as proxy:
        ctx = await proxied_context(browser_manager, proxy)
        try:
            page = await ctx.new_page()
            await page.goto(url)
            assert await page.inner_text("body") == "ok from 127.0.0.2"
            assert loopback2.hits[0].host_header == f"rebind.test:{loopback2.port}"
        finally:
            await ctx.close()
