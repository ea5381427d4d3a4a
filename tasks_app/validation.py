"""Request-field rules shared by task creation and webhook delivery: URLs and the configured model list.

Pure checks that raise InvalidRequestError naming the field; nothing here touches the database.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings

from tasks_app.errors import InvalidRequestError

# Control characters (CR and LF included: they would split an HTTP request line) and any whitespace.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\s]")


def url_problem(url: str) -> str | None:
    """Why `url` is not a usable http(s) URL with a host, or None when it is. Never raises."""
    if bad := _FORBIDDEN.search(url):
        char = bad.group()
        if char == " ":
            return "it contains a space; percent-encode it as %20"
        return f"it contains a control or whitespace character {char!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (parsing the port raises for "Port out of range" and the like)
    except ValueError as exc:  # "Invalid IPv6 URL" for http://[bad, a bad port, ...
        return f"it cannot be parsed: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return "the scheme is not http or https"
    if not parts.hostname:
        return "it has no host"
    return None


def check_http_url(url: str, *, field: str) -> str:
    """`url` stripped, if it is an http(s) URL with a host; InvalidRequestError naming `field` otherwise."""
    url = url.strip()
    problem = url_problem(url)
    if problem:
        shown = url if len(url) <= 200 else url[:200] + "…"
        raise InvalidRequestError(f"{field} must be an http(s) URL with a host ({problem}; got {shown!r})", field=field)
    return url


def allowed_models() -> list[str]:
    """The models a task may name (LOOKOUT_MODELS), in the configured order."""
    return list(settings.LOOKOUT_MODELS)


def check_model(model: str | None) -> str:
    """`model` if it is one of LOOKOUT_MODELS; "" (the server's default for the engine) when empty."""
    model = (model or "").strip()
    if model and model not in settings.LOOKOUT_MODELS:
        raise InvalidRequestError(
            f"model {model!r} is not available on this server; choose one of: {', '.join(allowed_models())}",
            field="model",
            extra={"choices": allowed_models()},
        )
    return model
