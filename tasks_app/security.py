"""The Content-Security-Policy of every response (Django 5.2 has none built in), and the decorator for the
few pages that need a looser one.

Dashboard pages load scripts, styles and fonts only from this origin, open websockets only to this host,
run no inline script and no inline style, and may not be framed (frame-ancestors follows X-Frame-Options:
'self' for the views marked xframe_options_sameorigin, such as the artifact files the gallery shows in
sandboxed iframes, 'none' otherwise). A response that already carries a policy (sandboxed artifact files,
Playwright's trace viewer) keeps it. The other security headers (X-Frame-Options, X-Content-Type-Options,
Referrer-Policy, Cross-Origin-Opener-Policy, HSTS) come from Django's own middleware and settings.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port

HEADER = "Content-Security-Policy"


def policy(request: HttpRequest, **changes: list[str]) -> dict[str, list[str]]:
    """The dashboard's policy for this request, with `changes` (e.g. style_src=[...]) replacing directives."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'", *_websocket_sources(request)],
        "frame-src": ["'self'"],
        "worker-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    directives.update({name.replace("_", "-"): sources for name, sources in changes.items()})
    return directives


def _websocket_sources(request: HttpRequest) -> list[str]:
    # 'self' covers ws:/wss: of the same host only in CSP level 3 browsers; name the host explicitly.
    try:
        host = request.get_host()  # already checked against ALLOWED_HOSTS
    except Exception:  # DisallowedHost: the response is an error page anyway
        return []
    domain, _ = split_domain_port(host)
    if not domain:
        return []
    return [f"ws://{host}", f"wss://{host}"]


def header_value(directives: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def csp_changes(**changes: list[str]) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """View decorator: this view's responses get the dashboard policy with these directives replaced.
    `@csp_changes(style_src=["'self'", "'unsafe-inline'"])`"""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = view(request, *args, **kwargs)
            response.csp_changes = changes  # type: ignore[attr-defined]
            return response

        return wrapped

    return decorator


class ContentSecurityPolicyMiddleware:
    """Adds the policy to responses that have none. Sits before XFrameOptionsMiddleware in MIDDLEWARE, so
    it sees the X-Frame-Options header that middleware settles on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER in response:
            return response
        changes = dict(getattr(response, "csp_changes", {}))
        if response.get("X-Frame-Options", "").upper() == "SAMEORIGIN":
            changes.setdefault("frame_ancestors", ["'self'"])
        response[HEADER] = header_value(policy(request, **changes))
        return response


def client_ip(request: HttpRequest) -> str | None:
    """The address login throttling counts: REMOTE_ADDR, or with LOOKOUT_PROXY_COUNT=N behind N trusted
    proxies, the address the outermost of them saw (the Nth entry from the right of X-Forwarded-For)."""
    from django.conf import settings

    hops = settings.LOOKOUT_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops > 0 and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR")
