"""The safe server-side fetch: hops checked one by one, connections pinned to checked addresses, size caps.

Servers listen on 127.0.0.1 (the "allowed" host: policies here open 127.0.0.1/32 only) and 127.0.0.2 (the
"internal" one); each records what reached it, so a refusal is proven by an empty record.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agent_core.egress import EgressPolicy, Resolver
from agent_core.egress_proxy import EgressProxy
from agent_core.errors import EgressDenied, FetchError, ResponseTooLarge
from agent_core.fetch import fetch, fetch_sync
from tests.fakes.hosts import LoopbackServer

ONLY_FIRST = EgressPolicy.from_setting("127.0.0.1/32")
BOTH = EgressPolicy.from_setting("127.0.0.1/32, 127.0.0.2/32")


async def test_allowed_url_is_fetched(loopback: LoopbackServer) -> None:
    result = await fetch(loopback.url("/ok"), ONLY_FIRST)
    assert (result.status_code, result.text, result.redirects) == (200, "ok from 127.0.0.1", ())
    assert result.ok and result.url == loopback.url("/ok")


async def test_refused_url_is_never_sent(loopback: LoopbackServer) -> None:
    with pytest.raises(EgressDenied, match="127.0.0.1 is a loopback address"):
        await fetch(loopback.url("/ok"), EgressPolicy())
    assert loopback.paths() == []


async def test_redirect_leaving_the_policy_is_refused(
    loopback: LoopbackServer, loopback2: LoopbackServer
) -> None:
    start = loopback.url(f"/redirect?to={loopback2.url('/ok')}")
    with pytest.raises(EgressDenied, match="127.0.0.2 is a loopback address") as caught:
        await fetch(start, ONLY_FIRST)
    assert caught.value.url == loopback2.url("/ok")
    assert loopback.paths() == [f"/redirect?to={loopback2.url('/ok')}"]
    assert loopback2.paths() == []
    # The same chain with 127.0.0.2 allowed arrives: the refusal above was the policy's doing.
    result = await fetch(start, BOTH)
    assert result.text == "ok from 127.0.0.2"
    assert result.redirects == (start,)


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:6379/_INFO"]
)
async def test_redirect_to_another_scheme_is_refused(loopback: LoopbackServer, target: str) -> None:
    with pytest.raises(EgressDenied, match="URLs are not allowed"):
        await fetch(loopback.url(f"/redirect?to={target}"), ONLY_FIRST)


@pytest.mark.parametrize("hops", [4, 5])
async def test_up_to_five_redirects_are_followed(loopback: LoopbackServer, hops: int) -> None:
    result = await fetch(loopback.url(f"/chain/{hops}"), ONLY_FIRST)
    assert result.text == "ok from 127.0.0.1"
    assert len(result.redirects) == hops
    assert len(loopback.paths()) == hops + 1


async def test_sixth_redirect_is_refused(loopback: LoopbackServer) -> None:
    with pytest.raises(FetchError, match="redirected more than 5 times"):
        await fetch(loopback.url("/chain/6"), ONLY_FIRST)
    assert len(loopback.paths()) == 6  # the sixth redirect's target was never asked for


async def test_redirect_limit_is_the_callers(loopback: LoopbackServer) -> None:
    with pytest.raises(FetchError, match="redirected more than 1 times"):
        await fetch(loopback.url("/chain/2"), ONLY_FIRST, max_redirects=1)
    result = await fetch(loopback.url("/chain/2"), ONLY_FIRST, follow_redirects=False)
    assert result.status_code == 302 and result.headers["location"].startswith("/chain/1")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_past_the_cap_is_refused(loopback: LoopbackServer, tmp_path: Path, chunked: bool) -> None:
    dest = tmp_path / "body.bin"
    query = "?chunked=1" if chunked else ""
    with pytest.raises(ResponseTooLarge, match="is larger than 100000 bytes"):
        await fetch(loopback.url(f"/bytes/300000{query}"), ONLY_FIRST, max_bytes=100_000, dest=dest)
    assert not dest.exists()  # no half file left behind


async def test_body_at_the_cap_is_kept(loopback: LoopbackServer, tmp_path: Path) -> None:
    result = await fetch(
        loopback.url("/bytes/100000?chunked=1"), ONLY_FIRST, max_bytes=100_000, dest=tmp_path / "b"
    )
    assert result.path == tmp_path / "b" and result.size == 100_000 and result.content == b""
    assert (tmp_path / "b").read_bytes() == b"x" * 100_000


async def test_truncate_keeps_the_start(loopback: LoopbackServer) -> None:
    result = await fetch(loopback.url("/bytes/300000"), ONLY_FIRST, max_bytes=1000, truncate=True)
    assert (result.content, result.truncated) == (b"x" * 1000, True)


async def test_destination_can_be_chosen_from_the_answer(loopback: LoopbackServer, tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    def choose(url: str, headers: httpx.Headers) -> Path:
        seen.append((url, headers["content-type"]))
        return tmp_path / "chosen.txt"

    result = await fetch(loopback.url("/redirect?to=/ok"), ONLY_FIRST, dest=choose)
    assert seen == [(loopback.url("/ok"), "text/plain; charset=utf-8")]
    assert result.path is not None and result.path.read_text() == "ok from 127.0.0.1"


async def test_connection_goes_to_the_checked_address(loopback2: LoopbackServer) -> None:
    """The name is resolved once, by the guard, and the socket opens to that address: here `localhost`
    "resolves" to 127.0.0.2 (the system would say 127.0.0.1, where nothing listens on this port)."""
    lookups: list[str] = []

    def lookup(host: str) -> list[str]:
        lookups.append(host)
        return ["127.0.0.2"]

    resolver = Resolver(ttl=0, lookup=lookup)
    result = await fetch(
        f"http://localhost:{loopback2.port}/ok", EgressPolicy.from_setting("127.0.0.2/32"), resolver=resolver
    )
    assert result.text == "ok from 127.0.0.2"
    assert lookups == ["localhost"]
    assert loopback2.hits[0].host_header == f"localhost:{loopback2.port}"  # the URL's name, not the address


async def test_name_resolving_to_a_refused_address_is_not_connected(loopback2: LoopbackServer) -> None:
    resolver = Resolver(ttl=0, lookup=lambda host: ["127.0.0.2"])
    with pytest.raises(EgressDenied, match="localhost resolves to 127.0.0.2, a loopback address"):
        await fetch(f"http://localhost:{loopback2.port}/ok", ONLY_FIRST, resolver=resolver)
    assert loopback2.paths() == []


async def test_credentials_stay_with_the_first_origin(
    loopback: LoopbackServer, loopback2: LoopbackServer
) -> None:
    headers = {"Authorization": "Bearer secret", "Cookie": "s=1", "X-Trace": "t"}
    await fetch(loopback.url(f"/redirect?to={loopback2.url('/ok')}"), BOTH, headers=headers)
    assert loopback.hits[0].headers["authorization"] == "Bearer secret"
    second = loopback2.hits[0].headers
    assert "authorization" not in second and "cookie" not in second and second["x-trace"] == "t"


@pytest.mark.parametrize(("status", "method"), [(303, "GET"), (302, "GET"), (307, "POST"), (308, "POST")])
async def test_post_redirects_follow_browser_rules(
    loopback: LoopbackServer, status: int, method: str
) -> None:
    await fetch(loopback.url(f"/redirect?status={status}&to=/ok"), ONLY_FIRST, method="POST", content=b"{}")
    assert [hit.method for hit in loopback.hits] == ["POST", method]


async def test_connection_refused_is_a_fetch_error(loopback: LoopbackServer) -> None:
    with pytest.raises(FetchError, match="could not fetch"):
        await fetch("http://127.0.0.1:9/", ONLY_FIRST, timeout=5)


# ---- the blocking entry point (webhooks) ---------------------------------------------------------------------------
def test_sync_fetch_posts_and_reads_the_answer(loopback: LoopbackServer) -> None:
    result = fetch_sync(loopback.url("/ok"), ONLY_FIRST, method="POST", content=b'{"a": 1}', max_redirects=0)
    assert (result.status_code, result.text) == (200, "ok from 127.0.0.1")
    assert loopback.hits[0].method == "POST"


def test_sync_fetch_refuses_the_same_things(loopback: LoopbackServer, loopback2: LoopbackServer) -> None:
    with pytest.raises(EgressDenied, match="127.0.0.2 is a loopback address"):
        fetch_sync(loopback.url(f"/redirect?to={loopback2.url('/ok')}"), ONLY_FIRST)
    with pytest.raises(FetchError, match="redirected more than 5 times"):
        fetch_sync(loopback.url("/chain/6"), ONLY_FIRST)
    with pytest.raises(ResponseTooLarge):
        fetch_sync(loopback.url("/bytes/5000"), ONLY_FIRST, max_bytes=4000)
    assert loopback2.paths() == []


def test_sync_fetch_pins_too(loopback2: LoopbackServer) -> None:
    resolver = Resolver(ttl=0, lookup=lambda host: ["127.0.0.2"])
    result = fetch_sync(
        f"http://localhost:{loopback2.port}/ok", EgressPolicy.from_setting("127.0.0.2/32"), resolver=resolver
    )
    assert result.text == "ok from 127.0.0.2"


async def test_sync_fetch_works_from_a_thread_that_runs_an_event_loop(loopback: LoopbackServer) -> None:
    """Sync code called straight from async code (the loop is running in this thread) still gets its answer."""
    result = fetch_sync(loopback.url("/ok"), ONLY_FIRST)
    assert result.text == "ok from 127.0.0.1"


async def test_through_a_proxy_every_hop_is_checked_before_it_is_sent(
    loopback: LoopbackServer, loopback2: LoopbackServer
) -> None:
    """With an operator's proxy the proxy connects, so hops are checked with a lookup of our own first;
    an EgressProxy that allows everything loopback stands in for that proxy here."""
    async with EgressProxy(
        EgressPolicy.from_setting("127.0.0.0/8"), resolver=Resolver(ttl=0, lookup=lambda h: [])
    ) as proxy:
        result = await fetch(loopback.url("/redirect?to=/ok"), ONLY_FIRST, proxy=proxy.url)
        assert result.text == "ok from 127.0.0.1"
        with pytest.raises(EgressDenied, match="127.0.0.2 is a loopback address"):
            await fetch(loopback.url(f"/redirect?to={loopback2.url('/ok')}"), ONLY_FIRST, proxy=proxy.url)
    assert loopback2.paths() == []
