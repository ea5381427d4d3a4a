"""The egress policy on its own: host parsing, address classes, allow-lists, resolution, reasons.

No traffic leaves the machine: addresses are only classified, and the only name looked up for real is
`localhost` (from /etc/hosts); other names go through a fake resolver.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from agent_core.egress import (
    EgressPolicy,
    Resolver,
    check_url,
    check_url_sync,
    classify,
    parse_host,
    parse_ip,
    parse_url,
)
from agent_core.errors import AgentError, EgressDenied

OPEN_LOOPBACK = EgressPolicy.from_setting("127.0.0.0/8")
DEFAULT = EgressPolicy()


def fake_resolver(table: dict[str, Sequence[str]]) -> Resolver:
    """A resolver that answers from `table` and fails for anything else (never asks real DNS)."""

    def lookup(host: str) -> Sequence[str]:
        if host not in table:
            raise OSError(f"{host} is not in the test's table")
        return table[host]

    return Resolver(ttl=0, lookup=lookup)


def refused(url: str, policy: EgressPolicy = DEFAULT, resolver: Resolver | None = None) -> EgressDenied:
    with pytest.raises(EgressDenied) as caught:
        check_url_sync(url, policy, resolver=resolver)
    return caught.value


# ---- parsing -------------------------------------------------------------------------------------------
LOOPBACK_SPELLINGS = [
    "http://127.0.0.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0x7f.1/",
    "http://0x7F.0.0.1/",
    "http://127.0.0.1./",
    "http://%31%32%37.0.0.1/",
    "http://１２７.０.０.１/",  # full-width digits and dots, mapped by IDNA
    "http://user:pw@127.0.0.1:8080/x",
    "http://evil.example@127.0.0.1/",
    "http:\\\\127.0.0.1\\@evil.example/",  # backslashes are slashes in http URLs
    "http:/127.0.0.1/",
    "  http://127.0.0.1/\n",
    "HTTP://127.0.0.1/",
]


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS)
def test_every_ipv4_spelling_means_127_0_0_1(url: str) -> None:
    target = parse_url(url)
    assert target.host == "127.0.0.1"
    assert target.ip == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://[::1]:8000/", "::1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),
        ("http://[0:0:0:0:0:0:0:1]/", "::1"),
        ("https://Example.COM./path", "example.com"),
        ("https://bücher.example/", "xn--bcher-kva.example"),
        ("http://localhost./", "localhost"),
        ("wss://chat.example/socket", "chat.example"),
        ("about:blank", ""),
        ("data:text/html,<h1>hi</h1>", ""),
        ("blob:https://example.com/0b1c", ""),
    ],
)
def test_parse_host_normalises(url: str, host: str) -> None:
    assert parse_host(url) == host


def test_port_is_kept() -> None:
    assert parse_url("http://[::1]:8080/").port == 8080
    assert parse_url("http://example.com/").port is None


@pytest.mark.parametrize(
    "url",
    [
        "http://1.2.3.999/",
        "http://09/",
        "http://1.2.3.4.5/",
        "http://[::1/",
        "http://[fe80::1%25eth0]/",
        "nope",
        "http://h:99999/",
    ],
)
def test_invalid_hosts_are_errors(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)


def test_parse_ip() -> None:
    assert parse_ip("0x7f.1") == ipaddress.IPv4Address("127.0.0.1")
    assert parse_ip("[::1]") == ipaddress.IPv6Address("::1")
    assert parse_ip("example.com") is None
    assert parse_ip("1.2.3.999") is None


# ---- classification ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.7", "documentation"),
        ("2001:db8::1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("::7f00:1", "reserved"),  # deprecated IPv4-compatible
        ("0x7f.1", "loopback"),
    ],
)
def test_classify(ip: str, kind: str) -> None:
    assert classify(ip) == kind


@pytest.mark.parametrize(
    "ip", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "172.32.0.1", "64:ff9b::808:808"]
)
def test_public_addresses_are_not_classified(ip: str) -> None:
    assert classify(ip) is None


def test_classify_rejects_non_addresses() -> None:
    with pytest.raises(ValueError):
        classify("example.com")


# ---- the policy ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [*LOOPBACK_SPELLINGS, "http://[::ffff:127.0.0.1]/", "http://[::1]/"])
def test_loopback_is_refused_by_default(url: str) -> None:
    assert refused(url).kind == "loopback"


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS)
def test_loopback_is_allowed_when_listed(url: str) -> None:
    assert check_url_sync(url, OPEN_LOOPBACK) == (ipaddress.IPv4Address("127.0.0.1"),)


def test_mapped_address_follows_its_ipv4_network() -> None:
    assert check_url_sync("http://[::ffff:127.0.0.1]/", OPEN_LOOPBACK)
    assert refused("http://[::1]/", OPEN_LOOPBACK).kind == "loopback"  # ::1 is not in 127.0.0.0/8


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.5/", "blocked by the egress policy: 10.0.0.5 is a private address"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "blocked by the egress policy: 169.254.169.254 is a cloud metadata address",
        ),
        (
            "http://[fd00:ec2::254]/",
            "blocked by the egress policy: fd00:ec2::254 is a cloud metadata address",
        ),
        (
            "http://100.100.100.200/",
            "blocked by the egress policy: 100.100.100.200 is a cloud metadata address",
        ),
        (
            "http://[::ffff:169.254.169.254]/",
            "blocked by the egress policy: ::ffff:169.254.169.254 is a cloud metadata address",
        ),
        ("http://169.254.10.1/", "blocked by the egress policy: 169.254.10.1 is a link-local address"),
        ("http://[fe80::1]/", "blocked by the egress policy: fe80::1 is a link-local address"),
        ("http://0.0.0.0:8000/", "blocked by the egress policy: 0.0.0.0 is an unspecified address"),
        (
            "http://100.64.1.2/",
            "blocked by the egress policy: 100.64.1.2 is a shared (carrier-grade NAT) address",
        ),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            "blocked by the egress policy: metadata.google.internal is a cloud metadata host name",
        ),
        ("file:///etc/passwd", "blocked by the egress policy: file: URLs are not allowed"),
        ("ftp://example.com/", "blocked by the egress policy: ftp: URLs are not allowed"),
        ("javascript:alert(1)", "blocked by the egress policy: javascript: URLs are not allowed"),
    ],
)
def test_refusals_read_well(url: str, message: str) -> None:
    assert str(refused(url)) == message


def test_link_local_and_metadata_stay_refused_whatever_is_allowed() -> None:
    everything = EgressPolicy.from_setting(
        "0.0.0.0/0, ::/0, 169.254.0.0/16, fe80::/10, metadata.google.internal"
    )
    assert refused("http://169.254.169.254/", everything).kind == "metadata"
    assert refused("http://169.254.7.7/", everything).kind == "link-local"
    assert refused("http://[fe80::1]/", everything).kind == "link-local"
    assert refused("http://[fd00:ec2::254]/", everything).kind == "metadata"
    assert refused("http://metadata.google.internal/", everything).kind == "metadata"
    assert check_url_sync("http://10.1.2.3/", everything)  # while the rest opens


def test_denial_is_an_agent_error_carrying_url_and_kind() -> None:
    denial = refused("http://10.0.0.5/x")
    assert isinstance(denial, AgentError)
    assert (denial.url, denial.kind, denial.reason) == (
        "http://10.0.0.5/x",
        "private",
        "10.0.0.5 is a private address",
    )


# ---- names and resolution ------------------------------------------------------------------------------
def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    assert str(refused("http://localhost:8000/")) == (
        "blocked by the egress policy: localhost resolves to 127.0.0.1, a loopback address"
    )
    assert check_url_sync("http://localhost:8000/", OPEN_LOOPBACK)


async def test_async_check_resolves_through_the_loop() -> None:
    with pytest.raises(EgressDenied, match="localhost resolves to 127.0.0.1"):
        await check_url("http://localhost/", DEFAULT)
    assert await check_url("http://LOCALHOST./", OPEN_LOOPBACK) == (ipaddress.IPv4Address("127.0.0.1"),)


def test_every_resolved_address_must_pass() -> None:
    resolver = fake_resolver({"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    assert str(refused("https://mixed.example/", resolver=resolver)) == (
        "blocked by the egress policy: mixed.example resolves to 10.0.0.7, a private address"
    )


def test_public_name_passes() -> None:
    resolver = fake_resolver({"example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    assert len(check_url_sync("https://example.com/", DEFAULT, resolver=resolver)) == 2


def test_allowed_host_name_opens_what_it_resolves_to_but_not_metadata() -> None:
    policy = EgressPolicy.from_setting("intranet.example")
    resolver = fake_resolver(
        {
            "intranet.example": ["10.1.2.3"],
            "other.example": ["10.1.2.3"],
            "sneaky.example": ["169.254.169.254"],
        }
    )
    assert check_url_sync("http://intranet.example/", policy, resolver=resolver)
    assert check_url_sync("http://INTRANET.example./", policy, resolver=resolver)
    assert refused("http://other.example/", policy, resolver).kind == "private"  # same address, other name
    assert refused("http://10.1.2.3/", policy, resolver).kind == "private"  # the address itself is not opened
    allowed_sneaky = EgressPolicy.from_setting("sneaky.example")
    assert refused("http://sneaky.example/", allowed_sneaky, resolver).kind == "metadata"


def test_unresolvable_name_is_refused() -> None:
    denial = refused("http://nowhere.example/", resolver=fake_resolver({}))
    assert denial.kind == "unresolvable"
    assert "nowhere.example does not resolve" in str(denial)


def test_resolver_caches_for_its_ttl() -> None:
    calls: list[str] = []

    def lookup(host: str) -> list[str]:
        calls.append(host)
        return ["93.184.216.34"]

    resolver = Resolver(ttl=60, lookup=lookup)
    for _ in range(3):
        check_url_sync("https://example.com/", DEFAULT, resolver=resolver)
    assert calls == ["example.com"]


# ---- schemes per use -----------------------------------------------------------------------------------
async def test_browser_local_schemes_pass_only_for_the_browser() -> None:
    for url in ("about:blank", "data:text/html,hi", "blob:https://example.com/1"):
        assert await check_url(url, DEFAULT, purpose="browser") == ()
        with pytest.raises(EgressDenied, match="URLs are not allowed"):
            await check_url(url, DEFAULT, purpose="fetch")


async def test_websocket_urls_are_checked_by_address_in_the_browser() -> None:
    with pytest.raises(EgressDenied, match="127.0.0.1 is a loopback address"):
        await check_url("ws://127.0.0.1:9/", DEFAULT, purpose="browser")
    with pytest.raises(EgressDenied, match="ws: URLs are not allowed"):
        await check_url("ws://127.0.0.1:9/", OPEN_LOOPBACK, purpose="fetch")


# ---- the setting ---------------------------------------------------------------------------------------
def test_from_setting_parses_networks_addresses_and_names() -> None:
    policy = EgressPolicy.from_setting(" 127.0.0.0/8, 10.0.0.5 ,[::1], fd00::/8, Intranet.Example., ,")
    assert policy.allowed_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("10.0.0.5/32"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert policy.allowed_hosts == frozenset({"intranet.example"})
    assert EgressPolicy.from_setting(["10.0.0.0/8"]).allowed_networks == (ipaddress.ip_network("10.0.0.0/8"),)
    assert EgressPolicy.from_setting("") == EgressPolicy() == EgressPolicy.from_setting(None)


@pytest.mark.parametrize(
    "entry", ["10.0.0.5/8", "10.0.0", "0x7f.1", "127.1", "not a host", "foo:80", "::1/200", "http://x/"]
)
def test_from_setting_names_the_bad_entry(entry: str) -> None:
    with pytest.raises(ValueError, match=f"bad entry '{entry}'"):
        EgressPolicy.from_setting(f"127.0.0.0/8, {entry}")


def test_policy_is_frozen() -> None:
    with pytest.raises(AttributeError):
        DEFAULT.allowed_hosts = frozenset({"x"})  # type: ignore[misc]
