"""The egress policy in the browser: a route guard on the context that refuses requests to refused hosts.

    guard = await install_egress_guard(context, policy, on_blocked=report)   # before the first page opens

What it covers, as measured with Playwright 1.65 and Chromium 156 (tests/agent_core/test_browser_egress.py):
- Every request Playwright's `context.route` sees: navigations (main frame, iframes, popups from
  window.open), subresources (img, script, fetch/XHR, css, ...) and, with `web_sockets=True`, WebSockets
  (through `context.route_web_socket`). A refused one is aborted with "blockedbyclient" (the page or
  `page.goto` sees net::ERR_BLOCKED_BY_CLIENT) and reported to `on_blocked(url, reason)`; `guard.reason_for(url)`
  gives the readable reason to a caller that only has Playwright's error.
- Verdicts are cached per host for the life of the guard, so an allowed request costs a dict lookup after
  the first one; about:, data: and blob: URLs never reach the route.

What it cannot cover, and what covers it instead:
- Redirects. `context.route` is called only for the first URL of a redirect chain: Chromium follows a
  302 from an allowed page to a refused address without asking the route again (measured: the refused
  server receives the request). Not fixable in the route: fulfilling the 3xx by hand is followed
  unrouted too. The guard sees such a hop in the `request` event, too late to stop it, and reports it
  (`Refusal.prevented` False). The fix is `agent_core.egress_proxy.EgressProxy`: give the context that
  proxy and every connection Chromium opens, redirect hops included, is checked and pinned.
- DNS rebinding. The route checks the name; Chromium resolves it again when it connects. Also fixed by
  the proxy, which connects to the very addresses it checked.
- Service workers fetch outside `context.route`: create the context with `service_workers="block"`.
- Route order: Playwright runs route handlers in reverse order of registration and a handler that
  calls `route.continue_()` ends the chain, so install the guard after any other route.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from playwright.async_api import BrowserContext, Request, Route, WebSocketRoute
from playwright.async_api import Error as PlaywrightError

from agent_core.egress import EgressPolicy, Resolver, check_url, parse_url
from agent_core.errors import EgressDenied

log = logging.getLogger(__name__)

# Told about every refusal: (url, reason), the reason being EgressDenied's message.
OnBlocked = Callable[[str, str], Awaitable[None] | None]


@dataclass(frozen=True)
class Refusal:
    """One request the guard refused (or, for a redirect hop, saw and could not stop)."""

    url: str
    reason: str  # "blocked by the egress policy: 10.0.0.5 is a private address"
    kind: str  # "private", "loopback", "metadata", "scheme", ...
    resource_type: str  # Playwright's: "document", "image", "fetch", "websocket", ...
    prevented: bool  # False for a redirect hop Chromium had already sent


class EgressGuard:
    """The route handlers and their per-host verdict cache; made by install_egress_guard."""

    def __init__(
        self, policy: EgressPolicy, on_blocked: OnBlocked | None = None, *, resolver: Resolver | None = None
    ) -> None:
        self.policy = policy
        self.refusals: list[Refusal] = []
        self._on_blocked = on_blocked
        self._resolver = resolver
        self._verdicts: dict[str, asyncio.Future[EgressDenied | None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def verdict(self, url: str) -> EgressDenied | None:
        """The refusal for `url`, or None when the browser may load it. Hosts are looked up once: later
        requests to the same scheme and host share the first answer."""
        try:
            target = parse_url(url)
        except ValueError as exc:
            return EgressDenied(str(exc), kind="invalid", url=url)
        if target.scheme in self.policy.browser_local_schemes:
            return None
        key = f"{target.scheme}://{target.host}"
        pending = self._verdicts.get(key)
        if pending is None:
            pending = self._verdicts[key] = asyncio.ensure_future(self._judge(url))
        denial = await asyncio.shield(pending)
        if denial is None:
            return None
        # The cached refusal names the first URL; report this one.
        return EgressDenied(denial.reason, kind=denial.kind, url=url)

    async def _judge(self, url: str) -> EgressDenied | None:
        try:
            await check_url(url, self.policy, purpose="browser", resolver=self._resolver)
        except EgressDenied as denial:
            return denial
        except Exception as exc:  # fail closed: an unexpected error must not open the door
            log.exception("egress check failed for %s", url)
            return EgressDenied(f"could not check {url}: {exc}", kind="error", url=url)
        return None

    def reason_for(self, url: str) -> str | None:
        """The reason the guard gave for refusing `url`, if it did (to explain a net::ERR_BLOCKED_BY_CLIENT)."""
        return next((r.reason for r in reversed(self.refusals) if r.url == url), None)

    async def _report(self, url: str, denial: EgressDenied, resource_type: str, *, prevented: bool) -> None:
        reason = str(denial)
        if not prevented:
            reason += " (a redirect Chromium had already followed)"
        self.refusals.append(Refusal(url, reason, denial.kind, resource_type, prevented))
        log.info("egress refused %s %s: %s", resource_type, url, reason)
        if self._on_blocked is not None:
            try:
                outcome = self._on_blocked(url, reason)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:  # a broken reporter must not let the request through or kill the handler
                log.exception("on_blocked failed for %s", url)

    async def handle_route(self, route: Route) -> None:
        request = route.request
        denial = await self.verdict(request.url)
        if denial is None:
            with contextlib.suppress(PlaywrightError):  # the page may have closed meanwhile
                await route.fallback()
            return
        with contextlib.suppress(PlaywrightError):
            await route.abort("blockedbyclient")
        await self._report(request.url, denial, request.resource_type, prevented=True)

    async def handle_web_socket(self, ws: WebSocketRoute) -> None:
        denial = await self.verdict(ws.url)
        if denial is None:
            ws.connect_to_server()
            return
        with contextlib.suppress(PlaywrightError):
            await ws.close(code=1008, reason=str(denial)[:120])  # 1008: policy violation
        await self._report(ws.url, denial, "websocket", prevented=True)

    def on_request(self, request: Request) -> None:
        """Redirect hops never reach the route: judge them here, after the fact, and report refusals."""
        if request.redirected_from is None:
            return
        task = asyncio.ensure_future(self._judge_redirect(request))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _judge_redirect(self, request: Request) -> None:
        denial = await self.verdict(request.url)
        if denial is not None:
            await self._report(request.url, denial, request.resource_type, prevented=False)


async def install_egress_guard(
    context: BrowserContext,
    policy: EgressPolicy,
    on_blocked: OnBlocked | None = None,
    *,
    web_sockets: bool = True,
    watch_redirects: bool = True,
    resolver: Resolver | None = None,
) -> EgressGuard:
    """Check every request of `context` against `policy`; refused ones are aborted ("blockedbyclient")
    and reported to `on_blocked(url, reason)` (sync or async).

    Call it before the context opens its first page, after any other `context.route`. `web_sockets`:
    also guard WebSockets (Playwright then relays their frames, a little slower). `watch_redirects`:
    report redirect hops to refused hosts that Chromium followed unasked (pass False when the context
    goes through an EgressProxy, which refuses them itself and reports them once). Create the context
    with `service_workers="block"`: service workers fetch around the route.
    """
    guard = EgressGuard(policy, on_blocked, resolver=resolver)
    await context.route("**/*", guard.handle_route)
    if web_sockets:
        await context.route_web_socket(re.compile(r".*"), guard.handle_web_socket)
    if watch_redirects:
        context.on("request", guard.on_request)
    return guard
