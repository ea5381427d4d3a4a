"""Server-side HTTP fetches under the egress policy: an upload's file_url (async) and webhooks (sync).

    result = await fetch(url, policy, max_bytes=50 * 2**20, dest=lambda url, headers: folder / "file")
    result = fetch_sync(hook_url, policy, method="POST", content=body, headers=headers, max_redirects=0)

How the policy holds:
- Redirects are followed by hand (at most `max_redirects`, 5 by default), and every hop's scheme is
  checked before it is sent. Credentials (Cookie, Authorization) are dropped when a hop leaves the
  first URL's origin.
- DNS rebinding: httpx's connection pool is given a network backend (`_GuardedBackend`) whose
  `connect_tcp` resolves the host, checks every address with the policy and then connects to one of
  those very addresses. There is no second lookup between the check and the connect, so a name that
  answers "public" to the check and "127.0.0.1" a moment later gains nothing. TLS still verifies the
  certificate against the host name (httpcore wraps the socket with server_hostname = the URL's host).
  Pooled connections are reused only for the same scheme, host and port, which were checked when the
  connection was opened.
- Through a `proxy` the proxy connects, not us: each hop is then checked with a lookup of our own before
  it is sent (no pinning possible), and the connection to the proxy itself is trusted (the operator
  configured it).
- The body streams into a file or a buffer and stops past `max_bytes` (ResponseTooLarge, or a truncated
  result with `truncate=True`); per-operation timeouts plus an overall `deadline` bound slow servers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpcore
import httpx

from agent_core.egress import (
    EgressPolicy,
    Resolver,
    check_url,
    parse_url,
    vet_host,
)
from agent_core.errors import EgressDenied, FetchError, ResponseTooLarge

DEFAULT_MAX_BYTES = 10 * 2**20
DEFAULT_MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Dropped from a hop that leaves the first URL's origin.
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

# Where a body goes: a path, or a function of (final URL, response headers) that picks one (e.g. from
# Content-Disposition). None keeps it in memory.
Destination = Path | Callable[[str, httpx.Headers], Path] | None


@dataclass(frozen=True)
class FetchResult:
    """What came back from the last hop."""

    url: str  # the final URL, after redirects
    status_code: int
    headers: httpx.Headers
    content: bytes  # the body when kept in memory; b"" when written to `path`
    path: Path | None  # where the body was written, when a destination was given
    size: int  # bytes of body read
    truncated: bool  # the body went past max_bytes and truncate=True kept only the start
    redirects: tuple[str, ...]  # the URLs that answered with a redirect, in order
    encoding: str = "utf-8"  # the response's charset, for `text`

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        """The in-memory body as text (replacing what does not decode)."""
        try:
            return self.content.decode(self.encoding, "replace")
        except LookupError:  # a charset Python does not know
            return self.content.decode("utf-8", "replace")


# ---- pinned connections --------------------------------------------------------------------------------
class _GuardedAsyncBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check, then connect to a checked address: the only place a socket is opened."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await vet_host(host, self._policy, resolver=self._resolver)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # vet_host never returns an empty tuple
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise EgressDenied("unix sockets are not allowed", kind="scheme")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _async_transport(
    policy: EgressPolicy, resolver: Resolver | None, proxy: str | None, verify: bool
) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(verify=verify, proxy=proxy, trust_env=False)
    if proxy is None:
        # httpx has no public hook for the network backend, so its pool (the one attribute that holds it;
        # httpx 0.27-0.28) is replaced by an identical pool that opens sockets only through the guard.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            network_backend=_GuardedAsyncBackend(policy, resolver),
        )
    return transport


# ---- the parts both entry points share ------------------------------------------------------------------
@dataclass
class _Hop:
    url: str
    method: str
    headers: dict[str, str]
    content: bytes | None


def _first_hop(url: str, method: str, headers: Mapping[str, str] | None, content: bytes | None) -> _Hop:
    return _Hop(url=url, method=method.upper(), headers=dict(headers or {}), content=content)


def _check_scheme(url: str, policy: EgressPolicy) -> None:
    """Scheme and host syntax; the addresses are checked when the connection opens (or by the caller
    when going through a proxy)."""
    try:
        target = parse_url(url)
    except ValueError as exc:
        raise EgressDenied(str(exc), kind="invalid", url=url) from None
    policy.check_scheme(target, purpose="fetch", url=url)


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def _next_hop(hop: _Hop, response: httpx.Response, first_url: str) -> _Hop:
    """The request a browser would send after `response` (a redirect): 303, and 301/302 after a POST,
    become a GET without body; 307/308 repeat the method and body. Credentials stay with the first origin."""
    location = response.headers.get("location")
    if not location:
        raise FetchError(f"{hop.url} answered {response.status_code} without a Location")
    try:
        url = str(httpx.URL(hop.url).join(location.strip()))
    except httpx.InvalidURL as exc:
        raise FetchError(f"{hop.url} redirected to an invalid URL: {location[:200]!r}") from exc
    method, content, headers = hop.method, hop.content, dict(hop.headers)
    if (
        response.status_code == 303
        and method != "HEAD"
        or response.status_code in (301, 302)
        and method == "POST"
    ):
        method, content = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
    if _origin(url) != _origin(first_url):
        headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
    return _Hop(url=url, method=method, headers=headers, content=content)


class _Sink:
    """Collects a body into memory or a file, refusing (or cutting) it past max_bytes."""

    def __init__(
        self, *, url: str, headers: httpx.Headers, dest: Destination, max_bytes: int, truncate: bool
    ) -> None:
        self.url, self.max_bytes, self.truncate = url, max_bytes, truncate
        self.size = 0
        self.truncated = False
        self.buffer = bytearray()
        self.path: Path | None = None
        self._file: IO[bytes] | None = None
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes and not truncate:
            raise self._too_large()
        if dest is not None:
            self.path = dest if isinstance(dest, Path) else dest(url, headers)
            self._file = self.path.open("wb")

    def _too_large(self) -> ResponseTooLarge:
        return ResponseTooLarge(f"{self.url} is larger than {_size(self.max_bytes)}")

    def write(self, chunk: bytes) -> bool:
        """Take a chunk; False once the body is full (with truncate=True)."""
        room = self.max_bytes - self.size
        if len(chunk) > room:
            if not self.truncate:
                raise self._too_large()
            chunk, self.truncated = chunk[:room], True
        self.size += len(chunk)
        if self._file is not None:
            self._file.write(chunk)
        else:
            self.buffer += chunk
        return not self.truncated

    def close(self, *, failed: bool) -> None:
        if self._file is not None:
            self._file.close()
            if failed and self.path is not None:
                self.path.unlink(missing_ok=True)


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n} bytes"


def _result(hop: _Hop, response: httpx.Response, sink: _Sink | None, redirects: list[str]) -> FetchResult:
    return FetchResult(
        url=hop.url,
        status_code=response.status_code,
        headers=response.headers,
        content=bytes(sink.buffer) if sink is not None else b"",
        path=sink.path if sink is not None else None,
        size=sink.size if sink is not None else 0,
        truncated=sink.truncated if sink is not None else False,
        redirects=tuple(redirects),
        encoding=response.charset_encoding or "utf-8",
    )


def _too_many(url: str, max_redirects: int) -> FetchError:
    return FetchError(f"{url} redirected more than {max_redirects} times")


def _failed(url: str, exc: httpx.HTTPError | httpx.InvalidURL) -> FetchError:
    if isinstance(exc, httpx.TimeoutException):
        return FetchError(f"timed out fetching {url}")
    return FetchError(f"could not fetch {url}: {exc or type(exc).__name__}")


def _past(deadline: float | None, url: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise FetchError(f"timed out fetching {url}")


# ---- entry points ----------------------------------------------------------------------------------------
async def fetch(
    url: str,
    policy: EgressPolicy,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    dest: Destination = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    truncate: bool = False,
    follow_redirects: bool = True,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    timeout: float = 30.0,
    deadline: float | None = 120.0,
    proxy: str | None = None,
    verify: bool = True,
    resolver: Resolver | None = None,
) -> FetchResult:
    """Fetch `url` under `policy`, following at most `max_redirects` redirects by hand (with
    `follow_redirects=False` a redirect is returned like any other response).

    Returns the last response whatever its status (check `.ok`); its body is in `.content`, or in the
    file `dest` names (removed again if the fetch fails). Raises EgressDenied when a hop is refused,
    ResponseTooLarge past `max_bytes` (unless `truncate`), FetchError for everything else that goes
    wrong (connection, TLS, `timeout` per operation, `deadline` seconds overall, too many redirects).
    """
    hop = _first_hop(url, method, headers, content)
    redirects: list[str] = []
    ends = time.monotonic() + deadline if deadline is not None else None
    transport = _async_transport(policy, resolver, proxy, verify)
    async with httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False) as client:
        while True:
            _past(ends, hop.url)
            _check_scheme(hop.url, policy)
            if proxy is not None:
                await check_url(hop.url, policy, resolver=resolver)
            sink: _Sink | None = None
            try:
                async with client.stream(
                    hop.method, hop.url, headers=hop.headers, content=hop.content
                ) as response:
                    if follow_redirects and response.status_code in REDIRECT_STATUSES:
                        if len(redirects) >= max_redirects:
                            raise _too_many(url, max_redirects)
                        redirects.append(hop.url)
                        hop = _next_hop(hop, response, url)
                        continue
                    sink = _Sink(
                        url=hop.url,
                        headers=response.headers,
                        dest=dest,
                        max_bytes=max_bytes,
                        truncate=truncate,
                    )
                    async for chunk in response.aiter_bytes():
                        _past(ends, hop.url)
                        if not sink.write(chunk):
                            break
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                if sink is not None:
                    sink.close(failed=True)
                raise _failed(hop.url, exc) from exc
            except BaseException as exc:
                if sink is not None:
                    sink.close(failed=True)
                if isinstance(exc, EgressDenied) and not exc.url:
                    exc.url = hop.url  # refused when connecting, where only the host is known
                raise
            sink.close(failed=False)
            return _result(hop, response, sink, redirects)


def fetch_sync(url: str, policy: EgressPolicy, **options: Any) -> FetchResult:
    """Blocking `fetch`, same arguments and errors (for Django webhooks and other sync callers): runs it on
    an event loop of its own, in a thread of its own when the calling thread already runs one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch(url, policy, **options))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(fetch(url, policy, **options))).result()
