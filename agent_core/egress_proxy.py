"""A local forward proxy that holds a browser context to the egress policy, connection by connection.

    proxy = EgressProxy(policy, on_blocked=report)
    await proxy.start()
    context = await browser.new_context(proxy=proxy.playwright_proxy, service_workers="block")
    ...
    await context.close(); await proxy.close()

Chromium sends everything the context fetches through it (Playwright adds `<-loopback>` to the bypass
list, so even 127.0.0.1 goes through): HTTPS and WebSockets as CONNECT tunnels, plain HTTP as
absolute-form requests. For each, the proxy resolves the host, checks every address with the policy
and connects to one of those same addresses. That covers what `context.route` cannot: redirect hops
(each is a new proxy request), DNS rebinding (no second lookup between check and connect), workers and
anything else that opens a connection. A refused plain-HTTP request gets a 403 page whose text is the
reason (the model reads it); a refused tunnel gets a 403 that Chromium shows as
net::ERR_TUNNEL_CONNECTION_FAILED. Both are reported to `on_blocked(url, reason)`.

A host that cannot be reached gets a 502 whose `X-Lookout-Net-Error` header names the error Chromium would
have shown without a proxy (`ERR_CONNECTION_REFUSED`, ...); `proxy.unreachable["host:port"]` keeps it
too, for a tunnel (where Chromium shows only net::ERR_TUNNEL_CONNECTION_FAILED).

Plain HTTP is sent upstream with `Connection: close` (and the answer marked so), one request per
connection, so the proxy never has to frame HTTP messages itself. Not covered: WebRTC's UDP (launch
Chromium with `--force-webrtc-ip-handling-policy=disable_non_proxied_udp`), and a context that must use
the operator's own upstream proxy (that proxy then owns egress).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import html
import inspect
import ipaddress
import logging
from collections.abc import Sequence
from typing import Any

from agent_core.browser_egress import OnBlocked, Refusal
from agent_core.egress import EgressPolicy, IPAddress, Resolver, parse_url, vet_host
from agent_core.errors import EgressDenied

log = logging.getLogger(__name__)

_MAX_HEAD = 64 * 1024
NET_ERROR_HEADER = "X-Lookout-Net-Error"
_MAX_UNREACHABLE = 256
_HOP_BY_HOP = frozenset({"proxy-connection", "proxy-authorization", "keep-alive", "connection"})


class EgressProxy:
    """One listening socket on 127.0.0.1; use one per browser context (its refusals are that context's)."""

    def __init__(
        self,
        policy: EgressPolicy,
        on_blocked: OnBlocked | None = None,
        *,
        resolver: Resolver | None = None,
        connect_timeout: float = 10.0,
        head_timeout: float = 30.0,
    ) -> None:
        self.policy = policy
        self.refusals: list[Refusal] = []
        self.unreachable: dict[str, str] = {}  # "host:port" -> Chromium's name for the error, latest last
        self._on_blocked = on_blocked
        self._resolver = resolver
        self._connect_timeout = connect_timeout
        self._head_timeout = head_timeout
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1. Idempotent."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=_MAX_HEAD)
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (str(host), int(port))

    @property
    def url(self) -> str:
        if self._address is None:
            raise RuntimeError("the egress proxy is not started")
        return f"http://{self._address[0]}:{self._address[1]}"

    @property
    def playwright_proxy(self) -> dict[str, str]:
        """The `proxy=` argument of `browser.new_context()`."""
        return {"server": self.url}

    async def close(self) -> None:
        """Stop listening and cut every open connection. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def __aenter__(self) -> EgressProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- one client connection ------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass  # the proxy is closing
        except Exception:
            log.exception("egress proxy connection failed")
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._head_timeout)
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3:
            await _answer(writer, 400, "bad request line")
            return
        method, target, version = parts
        headers = [line for line in header_lines if line]
        if method.upper() == "CONNECT":
            await self._tunnel(target, reader, writer)
        else:
            await self._forward(method, target, version, headers, reader, writer)

    async def _tunnel(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, _, port_text = target.rpartition(":")
        if not host or not port_text.isdigit():
            await _answer(writer, 400, "CONNECT needs host:port")
            return
        port = int(port_text)
        upstream = await self._open(host, port, f"{host}:{port}", "tunnel", writer)
        if upstream is None:
            return
        up_reader, up_writer = upstream
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        await _splice(reader, writer, up_reader, up_writer)

    async def _forward(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            parsed = parse_url(target)
        except ValueError:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "ws") or not parsed.host:
            await _answer(writer, 400, "the egress proxy takes absolute http:// URLs and CONNECT")
            return
        port = parsed.port or 80
        upstream = await self._open(parsed.host, port, target, "http", writer)
        if upstream is None:
            return
        up_reader, up_writer = upstream
        upgrade = any(line.lower().startswith("upgrade:") for line in headers)
        kept = [line for line in headers if line.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP]
        if upgrade:
            kept.append("Connection: Upgrade")
        else:
            kept.append("Connection: close")
        up_writer.write(f"{method} {_origin_form(target)} {version}\r\n".encode("latin-1"))
        up_writer.write(("\r\n".join(kept) + "\r\n\r\n").encode("latin-1"))
        await up_writer.drain()
        # The request body (if any) flows up while the answer comes down. The answer's head is marked
        # "Connection: close" too, so Chromium does not reuse this connection for another host; the body
        # and anything after an upgrade are relayed untouched.
        await _splice(reader, writer, up_reader, up_writer, upgrade=upgrade, rewrite_head=True)

    async def _open(
        self, host: str, port: int, url: str, kind: str, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Check `host` and connect to one of its checked addresses; answer the client and return None
        when refused or unreachable."""
        try:
            addresses = await vet_host(host, self.policy, resolver=self._resolver, url=url)
            if (
                self._address is not None
                and port == self._address[1]
                and any(_same(address, self._address[0]) for address in addresses)
            ):
                raise EgressDenied("the egress proxy does not connect to itself", kind="loop", url=url)
        except EgressDenied as denial:
            await self._report(url, denial, kind)
            await _answer(writer, 403, str(denial))
            return None
        except ValueError as exc:
            await _answer(writer, 400, f"not a valid host: {exc}")
            return None
        try:
            return await _connect(addresses, port, self._connect_timeout)
        except (OSError, TimeoutError) as exc:
            code = net_error(exc)
            key = f"{host}:{port}"
            self.unreachable.pop(key, None)
            self.unreachable[key] = code
            if len(self.unreachable) > _MAX_UNREACHABLE:
                self.unreachable.pop(next(iter(self.unreachable)))
            await _answer(
                writer,
                502,
                f"could not connect to {host}:{port}: {exc or type(exc).__name__}",
                headers={NET_ERROR_HEADER: code},
            )
            return None

    async def _report(self, url: str, denial: EgressDenied, kind: str) -> None:
        reason = str(denial)
        self.refusals.append(Refusal(url, reason, denial.kind, kind, True))
        log.info("egress proxy refused %s: %s", url, reason)
        if self._on_blocked is not None:
            try:
                outcome = self._on_blocked(url, reason)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("on_blocked failed for %s", url)


def _same(address: IPAddress, host: str) -> bool:
    try:
        return address == ipaddress.ip_address(host)
    except ValueError:
        return False


def _origin_form(target: str) -> str:
    """`http://host:port/path?q` -> `/path?q` (the fragment never reaches a proxy)."""
    rest = target.split("://", 1)[1]
    slash = rest.find("/")
    query = rest.find("?")
    cut = min(i for i in (slash, query, len(rest)) if i >= 0)
    path = rest[cut:]
    return path if path.startswith("/") else "/" + path


async def _connect(
    addresses: Sequence[IPAddress], port: int, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    error: BaseException | None = None
    for address in addresses:
        try:
            return await asyncio.wait_for(asyncio.open_connection(str(address), port), timeout)
        except (OSError, TimeoutError) as exc:
            error = exc
    raise error if error is not None else OSError("no address to connect to")


def net_error(exc: BaseException) -> str:
    """Chromium's name for a failed connection (without the net:: prefix)."""
    if isinstance(exc, TimeoutError):
        return "ERR_CONNECTION_TIMED_OUT"
    if isinstance(exc, ConnectionRefusedError):
        return "ERR_CONNECTION_REFUSED"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "ERR_ADDRESS_UNREACHABLE"
    return "ERR_CONNECTION_FAILED"


async def _answer(
    writer: asyncio.StreamWriter, status: int, message: str, *, headers: dict[str, str] | None = None
) -> None:
    reasons = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}
    body = f"<!doctype html><title>{status}</title><h1>{html.escape(message)}</h1>\n".encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    writer.write(
        f"HTTP/1.1 {status} {reasons.get(status, 'Error')}\r\n"
        f"Content-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n{extra}"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()


async def _relay_head(
    up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upgrade: bool
) -> bool:
    """Copy the upstream answer's head to the client with `Connection: close` (unless it switches
    protocols). False when upstream closed without answering."""
    try:
        head = await up_reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            writer.write(exc.partial)
        return False
    status_line, *lines = head.decode("latin-1").split("\r\n")
    status = status_line.split(" ", 2)[1] if status_line.count(" ") >= 1 else ""
    if (upgrade and status == "101") or status.startswith("1"):
        writer.write(head)
    else:
        kept = [line for line in lines if line and line.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP]
        writer.write(("\r\n".join([status_line, *kept, "Connection: close"]) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    return True


async def _splice(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
    *,
    upgrade: bool = False,
    rewrite_head: bool = False,
) -> None:
    """Relay both ways until the upstream side is done (a client that only half-closes may still be
    waiting for the answer), then cut the client's side too. `rewrite_head`: pass the answer's head
    through _relay_head first."""
    to_upstream = asyncio.ensure_future(_pipe(reader, up_writer))
    try:
        if not rewrite_head or await _relay_head(up_reader, writer, upgrade=upgrade):
            await _pipe(up_reader, writer)
    finally:
        to_upstream.cancel()
        await asyncio.gather(to_upstream, return_exceptions=True)
        up_writer.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if sink.can_write_eof():
                sink.write_eof()
