"""The websocket origin check: a browser's socket is accepted only from a page of this same origin.

Channels' AllowedHostsOriginValidator compares host names only, so a page on another port of the same
host (any local dev server on :3000, say) could open a socket with the user's cookies. Here the Origin
header must match scheme, host and port of the address the socket was opened on (its Host header; https
when the connection is TLS, or when SECURE_PROXY_SSL_HEADER says a proxy terminated TLS), or be listed in
CSRF_TRUSTED_ORIGINS; and its host must be in ALLOWED_HOSTS, as for any request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def parse_origin(value: str) -> Origin | None:
    """(scheme, host, port) of an origin such as "https://lookout.example.com:8443"; None if unusable."""
    try:
        parts = urlsplit(value.strip().lower())
        port = parts.port
    except ValueError:
        return None
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname, port if port is not None else DEFAULT_PORTS[scheme]


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {name.decode("latin1").lower(): value.decode("latin1") for name, value in scope.get("headers", [])}


def _is_tls(scope: dict[str, Any], headers: dict[str, str]) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, expected = proxy
        header = name.removeprefix("HTTP_").replace("_", "-").lower()
        return headers.get(header, "").split(",")[0].strip() == expected
    return False


def _trusted(origin: Origin) -> bool:
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in entry:  # "https://*.example.com": any subdomain, same scheme and port
            trusted = parse_origin(entry.replace("*.", "wildcard.", 1))
            if trusted and trusted[0::2] == origin[0::2] and is_same_domain(origin[1], "." + trusted[1].split(".", 1)[1]):
                return True
        elif parse_origin(entry) == origin:
            return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    headers = _headers(scope)
    origin = parse_origin(headers.get("origin", ""))
    if origin is None:
        return False
    allowed_hosts = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    host_for_check = f"[{origin[1]}]" if ":" in origin[1] else origin[1]
    if not validate_host(host_for_check, allowed_hosts):
        return False
    if _trusted(origin):
        return True
    host = headers.get("host")
    if not host and scope.get("server"):
        server_host, server_port = scope["server"][0], scope["server"][1]
        host = f"{server_host}:{server_port}"
    if not host:
        return False
    own = parse_origin(("https://" if _is_tls(scope, headers) else "http://") + host)
    return own == origin


class SameOriginValidator:
    """ASGI middleware for websockets: refuse the handshake unless origin_allowed(scope)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)  # type: ignore[arg-type]
        return await self.application(scope, receive, send)
