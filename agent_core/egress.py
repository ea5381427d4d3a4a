"""The egress policy: which URLs Lookout may fetch, judged on the addresses their hosts resolve to.

Safe by default. Link-local and cloud metadata addresses (and metadata host names) are always refused;
loopback, private, shared, unspecified, multicast and reserved addresses are refused unless an allow-list
names them:

    policy = EgressPolicy.from_setting("127.0.0.0/8, intranet.example")
    await check_url("http://0x7f.1:8000/", policy)        # allowed: 127.0.0.1 is in 127.0.0.0/8
    await check_url("http://10.0.0.5/", policy)           # EgressDenied: "... 10.0.0.5 is a private address"

Hosts are parsed the way browsers parse them (WHATWG URL host parsing: `2130706433`, `0177.0.0.1`,
`127.1` and `0x7f.1` all mean 127.0.0.1; percent-escapes and IDNA are decoded), and names are judged on
every address they resolve to. A check is only as good as the connection that follows it: the safe
fetch (`agent_core.fetch`) connects to exactly the addresses checked here; the browser guard
(`agent_core.browser_egress`) documents what it can and cannot pin.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple
from urllib.parse import unquote_to_bytes

from agent_core.errors import EgressDenied

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Purpose = Literal["fetch", "browser"]

# Kinds that no allow-list can open: the cloud metadata services hand out credentials.
ALWAYS_DENIED = frozenset({"metadata", "link-local"})

# How a reason reads: "10.0.0.5 is a private address".
KIND_PHRASES: dict[str, str] = {
    "metadata": "a cloud metadata address",
    "link-local": "a link-local address",
    "loopback": "a loopback address",
    "private": "a private address",
    "shared": "a shared (carrier-grade NAT) address",
    "unspecified": "an unspecified address",
    "multicast": "a multicast address",
    "broadcast": "a broadcast address",
    "reserved": "a reserved address",
    "documentation": "a documentation address",
    "benchmarking": "a benchmarking address",
}

# Names of metadata services, refused before any lookup (they resolve only inside the cloud).
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)

_nets = ipaddress.ip_network

_METADATA_NETWORKS: tuple[IPNetwork, ...] = tuple(
    _nets(n)
    for n in (
        "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
        "169.254.170.2/32",  # AWS ECS task metadata
        "169.254.170.23/32",  # AWS EKS pod identity
        "100.100.100.200/32",  # Alibaba Cloud
        "168.63.129.16/32",  # Azure WireServer
        "192.0.0.192/32",  # Oracle Cloud Classic
        "fd00:ec2::254/128",  # AWS IMDS over IPv6
        "fd00:ec2::23/128",  # AWS EKS pod identity over IPv6
        "fd20:ce::254/128",  # GCP metadata over IPv6
    )
)

# First match wins, so narrower ranges come before the ones containing them.
_V4_RANGES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (_nets(n), kind)
    for n, kind in (
        ("0.0.0.0/8", "unspecified"),  # "this network": 0.0.0.0 reaches loopback on Linux
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_V4_MAPPED = _nets("::ffff:0:0/96")
_NAT64 = _nets("64:ff9b::/96")
_SIX_TO_FOUR = _nets("2002::/16")
_GLOBAL_UNICAST_V6 = _nets("2000::/3")
_V6_RANGES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (_nets(n), kind)
    for n, kind in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "private"),  # local-use NAT64
        ("100::/64", "reserved"),  # discard-only
        ("2001:2::/48", "benchmarking"),
        ("2001:db8::/32", "documentation"),
        ("2001::/23", "reserved"),  # IETF protocol assignments (Teredo, ORCHID, ...)
        ("3fff::/20", "documentation"),
        ("fc00::/7", "private"),  # unique local
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private"),  # deprecated site-local
        ("ff00::/8", "multicast"),
    )
)

_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})
_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# What a name in the allow-list may look like (LDH labels, underscores tolerated as in real DNS).
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)
# Characters WHATWG forbids in a domain; a host containing one is not a valid URL host.
_FORBIDDEN_HOST_CHARS = frozenset("\x00\t\n\r #/:<>?@[\\]^|%")


# ---- parsing -------------------------------------------------------------------------------------------
class UrlTarget(NamedTuple):
    """Where a URL points: lower-case scheme, normalised host ("" when the URL has none: about:, data:),
    explicit port or None, and the host as an address when it is one."""

    scheme: str
    host: str
    port: int | None
    ip: IPAddress | None


def parse_url(url: str) -> UrlTarget:
    """Split `url` the way a browser does (WHATWG): backslashes count as slashes in http(s), the host
    is percent-decoded, IDNA-encoded and lower-cased, a trailing dot dropped, odd IPv4 spellings
    normalised (`0x7f.1` -> 127.0.0.1) and IPv6 brackets removed.

    Raises ValueError when `url` is not an absolute URL or its host is not a valid host.
    """
    text = re.sub(r"[\t\n\r]", "", url).strip(_C0_AND_SPACE)
    match = _SCHEME.match(text)
    if match is None:
        raise ValueError(f"not an absolute URL: {url[:200]!r}")
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    if scheme in _SPECIAL_SCHEMES:
        authority = re.split(r"[/\\?#]", rest.lstrip("/\\"), maxsplit=1)[0]
    elif rest.startswith("//"):
        authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    else:
        return UrlTarget(scheme, "", None, None)  # about:blank, data:..., blob:..., mailto:...
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        raw_host, bracket, after = host_port.partition("]")
        raw_host += bracket
        port_text = after[1:] if after.startswith(":") else after
        if after and not after.startswith(":"):
            raise ValueError(f"not a valid host: {host_port!r}")
    else:
        raw_host, _, port_text = host_port.partition(":")
    port: int | None = None
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
            raise ValueError(f"not a valid port: {port_text!r}")
        port = int(port_text)
    host, ip = parse_host_text(raw_host) if raw_host else ("", None)
    if not host and scheme in _SPECIAL_SCHEMES and scheme != "file":
        raise ValueError(f"URL has no host: {url[:200]!r}")
    return UrlTarget(scheme, host, port, ip)


def parse_host(url: str) -> str:
    """The normalised host of `url` ("127.0.0.1" for `http://0x7f.1/`, "::1" for `http://[::1]/`,
    "example.com" for `http://EXAMPLE.com./`; "" for about:blank). Raises ValueError on a bad URL."""
    return parse_url(url).host


def parse_host_text(raw: str) -> tuple[str, IPAddress | None]:
    """Normalise a URL's host as written (`[::1]`, `0x7f.1`, `%31%32%37.0.0.1`, `ＥＸＡＭＰＬＥ.com.`) into
    (host, address or None). Raises ValueError when it is not a valid host."""
    if raw.startswith("["):
        if not raw.endswith("]") or "%" in raw:  # browsers take no zone ids
            raise ValueError(f"not a valid IPv6 host: {raw!r}")
        ip6 = ipaddress.IPv6Address(raw[1:-1])
        return str(ip6), ip6
    try:
        host = unquote_to_bytes(raw).decode("utf-8")
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"not a valid host: {raw!r}") from exc
    host = host.lower()
    ip4 = _parse_ipv4(host)
    if ip4 is not None:
        return str(ip4), ip4
    if host.endswith("."):
        host = host[:-1]
    if not host or any(c in _FORBIDDEN_HOST_CHARS or ord(c) < 0x20 or c == "\x7f" for c in host):
        raise ValueError(f"not a valid host: {raw!r}")
    return host, None


def parse_ip(host: str) -> IPAddress | None:
    """`host` as an address when it spells one (any WHATWG IPv4 form, or IPv6 with or without brackets),
    else None."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    try:
        return _parse_ipv4(text)
    except ValueError:
        return None


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """WHATWG's IPv4 parser: None when the host does not end in a number (a domain), the address when it
    parses, ValueError when it ends in a number but is no valid address (`1.2.3.999`, `09`)."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if not last or not (last.isascii() and last.isdigit()) and _ipv4_number(last) is None:
        return None
    if len(parts) > 4:
        raise ValueError(f"not a valid IPv4 host: {host!r}")
    numbers: list[int] = []
    for part in parts:
        number = _ipv4_number(part)
        if number is None:
            raise ValueError(f"not a valid IPv4 host: {host!r}")
        numbers.append(number)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise ValueError(f"not a valid IPv4 host: {host!r}")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number * 256 ** (3 - index)
    return ipaddress.IPv4Address(value)


def _ipv4_number(part: str) -> int | None:
    if not part:
        return None
    radix, digits = 10, "0123456789"
    if part[:2] in ("0x", "0X"):
        part, radix, digits = part[2:], 16, "0123456789abcdefABCDEF"
    elif len(part) > 1 and part[0] == "0":
        part, radix, digits = part[1:], 8, "01234567"
    if not part:
        return 0
    if any(c not in digits for c in part):
        return None
    return int(part, radix)


# ---- classification ------------------------------------------------------------------------------------
def classify(ip: str | IPAddress) -> str | None:
    """Why `ip` is not an ordinary public address ("loopback", "private", "metadata", ... see
    KIND_PHRASES), or None when it is one. IPv4-mapped (`::ffff:127.0.0.1`), NAT64 (`64:ff9b::/96`) and
    6to4 (`2002::/16`) addresses are judged by the IPv4 address they carry. Accepts any spelling
    parse_ip accepts; raises ValueError for a string that is no address."""
    address = parse_ip(ip) if isinstance(ip, str) else ip
    if address is None:
        raise ValueError(f"not an IP address: {ip!r}")
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(str(address).partition("%")[0])
    if any(address in net for net in _METADATA_NETWORKS):
        return "metadata"
    if isinstance(address, ipaddress.IPv4Address):
        return next((kind for net, kind in _V4_RANGES if address in net), None)
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return classify(embedded)
    kind = next((kind for net, kind in _V6_RANGES if address in net), None)
    if kind is None and address not in _GLOBAL_UNICAST_V6:
        return "reserved"
    return kind


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _V4_MAPPED or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return None


# ---- the policy ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EgressPolicy:
    """What may be fetched. `allowed_networks` open non-public ranges (never link-local or metadata);
    `allowed_hosts` open names, and whatever those names resolve to (again never link-local or metadata).

    Schemes per use: a server-side fetch may use `fetch_schemes`; the browser may reach the network with
    `browser_schemes` and load `browser_local_schemes` (which never leave the machine) unchecked.
    """

    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()
    fetch_schemes: frozenset[str] = frozenset({"http", "https"})
    browser_schemes: frozenset[str] = frozenset({"http", "https", "ws", "wss"})
    browser_local_schemes: frozenset[str] = frozenset({"about", "data", "blob"})

    @classmethod
    def from_setting(cls, value: str | Iterable[str] | None) -> EgressPolicy:
        """Build from `LOOKOUT_ALLOWED_NETWORKS`: comma-separated (or an iterable of) CIDRs, addresses
        and host names, e.g. "127.0.0.0/8, 10.0.0.0/8, intranet.example". Empty entries are skipped.
        Raises ValueError naming the first bad entry."""
        entries = value.split(",") if isinstance(value, str) else list(value or ())
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            text = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
            try:
                networks.append(ipaddress.ip_network(text, strict=True))
                continue
            except ValueError as exc:
                if "/" in text or ":" in text or re.fullmatch(r"[0-9.]+", text):
                    raise ValueError(f"bad entry {entry!r} in allowed networks: {exc}") from None
            name = text.lower().removesuffix(".")
            if not _HOST_NAME.match(name) or re.search(r"(^|\.)(\d+|0x[0-9a-f]*)$", name):
                raise ValueError(
                    f"bad entry {entry!r} in allowed networks: give a CIDR (10.0.0.0/8), an address or a host name"
                )
            hosts.add(name)
        return cls(allowed_networks=tuple(networks), allowed_hosts=frozenset(hosts))

    def allows_host_name(self, host: str) -> bool:
        return host in self.allowed_hosts

    def refusal(self, ip: IPAddress, *, host_allowed: bool = False) -> str | None:
        """The kind of refusal for connecting to `ip`, or None when it may be reached. `host_allowed`:
        the address came from resolving a name in `allowed_hosts`."""
        kind = classify(ip)
        if kind is None or kind in ALWAYS_DENIED:
            return kind
        if host_allowed:
            return None
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)  # ::ffff:127.0.0.1 is 127.0.0.1
        for candidate in candidates:
            if any(candidate.version == net.version and candidate in net for net in self.allowed_networks):
                return None
        return kind

    def check_scheme(self, target: UrlTarget, *, purpose: Purpose, url: str = "") -> bool:
        """Raise EgressDenied for a scheme `purpose` may not use; return True when the URL goes to the
        network (and its host must be checked), False for a browser-local URL (about:, data:, blob:)."""
        if purpose == "browser" and target.scheme in self.browser_local_schemes:
            return False
        allowed = self.fetch_schemes if purpose == "fetch" else self.browser_schemes
        if target.scheme not in allowed:
            raise EgressDenied(f"{target.scheme}: URLs are not allowed", kind="scheme", url=url)
        return True

    def check_addresses(self, host: str, addresses: Sequence[IPAddress], *, url: str = "") -> None:
        """Raise EgressDenied unless every one of `addresses` (what `host` resolved to, or the host's own
        address) may be reached."""
        if not addresses:
            raise EgressDenied(f"{host} does not resolve to any address", kind="unresolvable", url=url)
        host_allowed = host in self.allowed_hosts
        for address in addresses:
            kind = self.refusal(address, host_allowed=host_allowed)
            if kind is None:
                continue
            phrase = KIND_PHRASES.get(kind, f"a {kind} address")
            shown = _display(address)
            if str(address) == host:
                raise EgressDenied(f"{shown} is {phrase}", kind=kind, url=url)
            raise EgressDenied(f"{host} resolves to {shown}, {phrase}", kind=kind, url=url)


def _display(address: IPAddress) -> str:
    """`::ffff:127.0.0.1` rather than Python 3.11's `::ffff:7f00:1`."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


# ---- resolution ----------------------------------------------------------------------------------------
GetAddrInfo = Callable[[str], Sequence[str]]
AsyncGetAddrInfo = Callable[[str], Awaitable[Sequence[str]]]


@dataclass
class Resolver:
    """getaddrinfo with a short cache, sync and async. Swap `lookup` / `alookup` in tests (a name to a
    list of address strings). Failed lookups are not cached. Thread-safe enough: a lost race costs one
    lookup more."""

    ttl: float = 30.0
    lookup: GetAddrInfo | None = None
    alookup: AsyncGetAddrInfo | None = None
    _cache: dict[str, tuple[float, tuple[IPAddress, ...]]] = field(default_factory=dict, repr=False)

    def _cached(self, host: str) -> tuple[IPAddress, ...] | None:
        hit = self._cache.get(host)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def _store(self, host: str, found: Sequence[str]) -> tuple[IPAddress, ...]:
        addresses: list[IPAddress] = []
        for text in found:
            address = ipaddress.ip_address(text.partition("%")[0])
            if address not in addresses:
                addresses.append(address)
        result = tuple(addresses)
        if self.ttl > 0 and result:
            if len(self._cache) > 1024:
                self._cache.clear()
            self._cache[host] = (time.monotonic() + self.ttl, result)
        return result

    def resolve_sync(self, host: str) -> tuple[IPAddress, ...]:
        """Every address `host` resolves to (empty when it does not resolve)."""
        cached = self._cached(host)
        if cached is not None:
            return cached
        try:
            found = self.lookup(host) if self.lookup else _system_lookup(host)
        except (OSError, UnicodeError):
            return ()
        return self._store(host, found)

    async def resolve(self, host: str) -> tuple[IPAddress, ...]:
        """Every address `host` resolves to (empty when it does not resolve), without blocking the loop."""
        cached = self._cached(host)
        if cached is not None:
            return cached
        try:
            if self.alookup is not None:
                found = await self.alookup(host)
            elif self.lookup is not None:
                found = self.lookup(host)
            else:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
                found = [str(info[4][0]) for info in infos]
        except (OSError, UnicodeError):
            return ()
        return self._store(host, found)


def _system_lookup(host: str) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]


DEFAULT_RESOLVER = Resolver()


# ---- checks --------------------------------------------------------------------------------------------
def _metadata_name(host: str, url: str) -> None:
    if host in METADATA_HOSTS or host.endswith(".metadata.google.internal"):
        raise EgressDenied(f"{host} is a cloud metadata host name", kind="metadata", url=url)


async def vet_host(
    host: str, policy: EgressPolicy, *, resolver: Resolver | None = None, url: str = ""
) -> tuple[IPAddress, ...]:
    """Resolve `host` (a normalised host, or any spelling of an address) and return its addresses when
    every one may be reached; raise EgressDenied otherwise. Connect only to what this returns."""
    ip = parse_ip(host)
    if ip is not None:
        policy.check_addresses(str(ip), (ip,), url=url)
        return (ip,)
    name, _ = parse_host_text(host)
    _metadata_name(name, url)
    addresses = await (resolver or DEFAULT_RESOLVER).resolve(name)
    policy.check_addresses(name, addresses, url=url)
    return addresses


def vet_host_sync(
    host: str, policy: EgressPolicy, *, resolver: Resolver | None = None, url: str = ""
) -> tuple[IPAddress, ...]:
    """Blocking twin of vet_host, for sync callers (Django webhooks)."""
    ip = parse_ip(host)
    if ip is not None:
        policy.check_addresses(str(ip), (ip,), url=url)
        return (ip,)
    name, _ = parse_host_text(host)
    _metadata_name(name, url)
    addresses = (resolver or DEFAULT_RESOLVER).resolve_sync(name)
    policy.check_addresses(name, addresses, url=url)
    return addresses


def _target(url: str, policy: EgressPolicy, purpose: Purpose) -> UrlTarget | None:
    """Parse and check the scheme; None when nothing needs resolving (a browser-local URL)."""
    try:
        target = parse_url(url)
    except ValueError as exc:
        raise EgressDenied(str(exc), kind="invalid", url=url) from None
    if not policy.check_scheme(target, purpose=purpose, url=url):
        return None
    if not target.host:
        raise EgressDenied("the URL has no host", kind="invalid", url=url)
    return target


async def check_url(
    url: str, policy: EgressPolicy, *, purpose: Purpose = "fetch", resolver: Resolver | None = None
) -> tuple[IPAddress, ...]:
    """Raise EgressDenied unless `url` may be fetched for `purpose`: an allowed scheme, and a host whose
    every resolved address passes the policy. Returns the checked addresses (empty for about:, data:,
    blob: in the browser)."""
    target = _target(url, policy, purpose)
    if target is None:
        return ()
    if target.ip is not None:
        policy.check_addresses(target.host, (target.ip,), url=url)
        return (target.ip,)
    return await vet_host(target.host, policy, resolver=resolver, url=url)


def check_url_sync(
    url: str, policy: EgressPolicy, *, purpose: Purpose = "fetch", resolver: Resolver | None = None
) -> tuple[IPAddress, ...]:
    """Blocking twin of check_url (it resolves with socket.getaddrinfo), for sync callers."""
    target = _target(url, policy, purpose)
    if target is None:
        return ()
    if target.ip is not None:
        policy.check_addresses(target.host, (target.ip,), url=url)
        return (target.ip,)
    return vet_host_sync(target.host, policy, resolver=resolver, url=url)
