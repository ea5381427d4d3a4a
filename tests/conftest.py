"""Shared fixtures: services checks, users and organizations, the fake model server and local sites."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from typing import Any

import pytest

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("LOOKOUT_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"


# ---- no DNS beyond this machine ---------------------------------------------------------------------
# The egress policy resolves every name it judges (task URLs at creation, the browser's requests through
# the egress proxy, uploads, webhooks). Tests name made-up hosts (example.test, shop.example, ...) and
# Chromium may ask for Google's; none of that may reach a real name server. Names other than localhost
# and address literals fail here as if they did not exist, and are listed at the end of the run.
_LOCAL_NAMES = frozenset({"localhost", "localhost.", "testserver"})
FOREIGN_LOOKUPS: list[str] = []
_real_getaddrinfo = socket.getaddrinfo


def _local_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or name.lower() in _LOCAL_NAMES or _is_address(name):
        return _real_getaddrinfo(host, *args, **kwargs)
    FOREIGN_LOOKUPS.append(name)
    raise socket.gaierror(socket.EAI_NONAME, f"the tests resolve no name but localhost (asked: {name})")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.partition("%")[0])
        return True
    except ValueError:
        return False


socket.getaddrinfo = _local_getaddrinfo

# Nor may this process open a connection beyond loopback (an egress check that failed open would): such a
# connect fails here as unreachable, and is listed.
FOREIGN_CONNECTS: list[str] = []
_real_connect, _real_connect_ex = socket.socket.connect, socket.socket.connect_ex


def _foreign(sock: socket.socket, address: Any) -> str | None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return None
    host = str(address[0])
    try:
        return None if ipaddress.ip_address(host.partition("%")[0]).is_loopback else host
    except ValueError:
        return None if host.lower() in _LOCAL_NAMES else host


def _local_connect(self: socket.socket, address: Any) -> None:
    host = _foreign(self, address)
    if host is not None:
        FOREIGN_CONNECTS.append(host)
        raise OSError(errno.ENETUNREACH, f"the tests connect to loopback only (asked: {host})")
    _real_connect(self, address)


def _local_connect_ex(self: socket.socket, address: Any) -> int:
    host = _foreign(self, address)
    if host is not None:
        FOREIGN_CONNECTS.append(host)
        return errno.ENETUNREACH
    return _real_connect_ex(self, address)


socket.socket.connect = _local_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _local_connect_ex  # type: ignore[method-assign]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FOREIGN_LOOKUPS:
        names = ", ".join(sorted(set(FOREIGN_LOOKUPS)))
        terminalreporter.write_line(f"names the tests tried to resolve (refused, no DNS query sent): {names}")
    if FOREIGN_CONNECTS:
        hosts = ", ".join(sorted(set(FOREIGN_CONNECTS)))
        terminalreporter.write_line(f"addresses the tests tried to connect to (refused): {hosts}")


def need_service(name: str, available: bool) -> None:
    """Skip locally when a service is absent; fail in CI (or with LOOKOUT_REQUIRE_SERVICES=1)."""
    if available:
        return
    message = f"{name} is required for this test but is not configured/reachable"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres() -> None:
    from django.db import connection

    need_service("PostgreSQL (DATABASE_URL=postgres://...)", connection.vendor == "postgresql")


@pytest.fixture
def redis_url() -> str:
    from django.conf import settings

    url = settings.REDIS_URL
    ok = False
    if url:
        import redis

        try:
            ok = bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
        except redis.RedisError:
            ok = False
    need_service("Redis (REDIS_URL=redis://...)", ok)
    return url


@pytest.fixture
def org(db):
    return OrganizationFactory()


@pytest.fixture
def other_org(db):
    return OrganizationFactory()


def _member(org, role):
    return MembershipFactory(organization=org, role=role).user


@pytest.fixture
def operator(org):
    return _member(org, "operator")


@pytest.fixture
def viewer(org):
    return _member(org, "viewer")


@pytest.fixture
def org_admin(org):
    user = _member(org, "admin")
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def outsider(other_org):
    return _member(other_org, "admin")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


# Fixtures of the fakes and local sites (real HTTP servers on 127.0.0.1), for every test package.
from tests.fakes.hosts import loopback, loopback2  # noqa: E402, F401
from tests.fakes.openai_server import fake_openai  # noqa: E402, F401
from tests.sites.server import site, site_server  # noqa: E402, F401
