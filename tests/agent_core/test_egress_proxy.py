"""The egress proxy spoken to directly (httpx and raw sockets), without a browser: quick checks of its
HTTP handling; tests/agent_core/test_browser_egress.py drives it with Chromium."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from agent_core.egress import EgressPolicy, Resolver
from agent_core.egress_proxy import EgressProxy
from tests.fakes.hosts import LoopbackServer

POLICY = EgressPolicy.from_setting("127.0.0.1/32")


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[EgressProxy]:
    async with EgressProxy(POLICY, resolver=Resolver(ttl=0, lookup=lambda host: [])) as running:
        yield running


async def raw(proxy: EgressProxy, request: bytes) -> bytes:
    host, port = proxy.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


async def test_plain_http_is_forwarded_once_per_connection(
    proxy: EgressProxy, loopback: LoopbackServer
) -> None:
    async with httpx.AsyncClient(proxy=proxy.url, trust_env=False) as client:
        response = await client.post(loopback.url("/ok?x=1"), content=b"body")
    assert (response.status_code, response.text) == (200, "ok from 127.0.0.1")
    assert response.headers["connection"] == "close"
    hit = loopback.hits[0]
    assert (hit.method, hit.path) == ("POST", "/ok?x=1")  # origin-form upstream
    assert "proxy-connection" not in hit.headers and hit.headers["connection"] == "close"


async def test_refused_http_gets_a_403_page_with_the_reason(
    proxy: EgressProxy, loopback2: LoopbackServer
) -> None:
    async with httpx.AsyncClient(proxy=proxy.url, trust_env=False) as client:
        response = await client.get(loopback2.url("/ok"))
    assert response.status_code == 403
    assert "blocked by the egress policy: 127.0.0.2 is a loopback address" in response.text
    assert [r.url for r in proxy.refusals] == [loopback2.url("/ok")]
    assert loopback2.paths() == []


async def test_refused_tunnel(proxy: EgressProxy, loopback2: LoopbackServer) -> None:
    answer = await raw(proxy, f"CONNECT 127.0.0.2:{loopback2.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert b"127.0.0.2 is a loopback address" in answer


async def test_metadata_name_is_refused_without_a_lookup(proxy: EgressProxy) -> None:
    answer = await raw(proxy, b"CONNECT metadata.google.internal:80 HTTP/1.1\r\n\r\n")
    assert b"metadata.google.internal is a cloud metadata host name" in answer


@pytest.mark.parametrize(
    "request_line",
    [b"GET /ok HTTP/1.1", b"GET ftp://127.0.0.1/ HTTP/1.1", b"garbage", b"CONNECT nohost HTTP/1.1"],
)
async def test_what_is_not_a_proxy_request_is_a_400(proxy: EgressProxy, request_line: bytes) -> None:
    answer = await raw(proxy, request_line + b"\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")


async def test_proxy_does_not_connect_to_itself() -> None:
    async with EgressProxy(POLICY) as proxy:
        port = proxy.url.rsplit(":", 1)[1]
        answer = await raw(proxy, f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert b"does not connect to itself" in answer
