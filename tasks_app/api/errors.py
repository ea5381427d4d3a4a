"""The API's one error format, `{"code", "message", "extra"}`: the DRF exception handler, and the middleware
that keeps Django's HTML error pages (unknown URLs, crashes) off the API paths."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import is_valid_path
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings

from tasks_app.errors import LookoutError

API_PREFIXES = ("/api/", "/v1/")

# DRF's exceptions -> Lookout's stable codes (anything unlisted falls back to its HTTP status below).
DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}
STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "bad request"),
    401: ("not_authenticated", "authentication required"),
    403: ("permission_denied", "permission denied"),
    404: ("not_found", "not found"),
    405: ("method_not_allowed", "method not allowed"),
    406: ("not_acceptable", "not acceptable"),
    409: ("illegal_state", "conflict"),
    413: ("too_large", "request body too large"),
    415: ("unsupported_media_type", "unsupported media type"),
    429: ("throttled", "too many requests"),
}


def error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra or {}}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail -> {"field.sub.0": ["message", ...]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    messages = [str(item) for item in detail] if isinstance(detail, list) else [str(detail)]
    return {prefix: messages} if messages else {}


def validation_body(detail: Any) -> dict[str, Any]:
    """Every failing field in extra.fields; the first one in extra.field (None for whole-body errors)."""
    non_field = api_settings.NON_FIELD_ERRORS_KEY
    fields = _flatten(detail if isinstance(detail, dict) else {non_field: detail})
    named = [name for name in fields if name and name != non_field]
    field = named[0] if named else None
    first = fields.get(field or non_field) or next(iter(fields.values()), ["invalid request"])
    message = f"{field}: {first[0]}" if field else first[0]
    return error_body("invalid", message, {"field": field, "fields": fields})


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER. Returns None for unexpected exceptions: Django then logs them and answers
    500, which ApiErrorMiddleware turns into {"code": "server_error"}."""
    if isinstance(exc, LookoutError):
        extra = dict(exc.extra)
        if exc.code == "invalid":  # same keys as a serializer's validation errors
            extra.setdefault("field", None)
            extra.setdefault("fields", {extra["field"] or api_settings.NON_FIELD_ERRORS_KEY: [exc.message]})
        return Response(error_body(exc.code, exc.message, extra), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    headers: dict[str, str] = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if isinstance(exc, exceptions.ValidationError):
        body = validation_body(exc.detail)
    elif isinstance(exc, exceptions.Throttled):
        wait = max(1, math.ceil(getattr(exc, "wait", None) or 1))
        headers["Retry-After"] = str(wait)
        body = error_body("throttled", f"too many requests; retry in {wait} s", {"retry_after": wait})
    else:
        code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), None)
        if code is None:
            code = "server_error" if exc.status_code >= 500 else STATUS_CODES.get(exc.status_code, ("error", ""))[0]
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else json.dumps(detail)
        body = error_body(code, message)
    return Response(body, status=exc.status_code, headers=headers)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class ApiErrorMiddleware:
    """For paths under /api/ and /v1/:

    - an error response that is not JSON (Django's 404 page for an unknown URL, its 500 page, a 400 for a
      bad Host header, in DEBUG or not) is replaced with the API's JSON error format;
    - a path that only resolves with (or without) its trailing slash is served as such, so
      `POST /api/v1/tasks` works instead of tripping APPEND_SLASH (which cannot redirect a POST).

    It sits first in MIDDLEWARE so it also sees errors raised by the other middleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path_info):
            return self.get_response(request)
        self._tolerate_trailing_slash(request)
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            return self._json_error(response)
        return response

    @staticmethod
    def _tolerate_trailing_slash(request: HttpRequest) -> None:
        path = request.path_info
        urlconf = getattr(request, "urlconf", None)
        if is_valid_path(path, urlconf):
            return
        other = path[:-1] if path.endswith("/") else path + "/"
        if other != "/" and is_valid_path(other, urlconf):
            request.path = request.path[: len(request.path) - len(path)] + other
            request.path_info = other

    @staticmethod
    def _json_error(response: HttpResponse) -> HttpResponse:
        status = response.status_code
        code, message = STATUS_CODES.get(status, ("server_error", "internal server error") if status >= 500 else ("error", "error"))
        if status == 404:
            message = "no such API endpoint or object"
        replacement = JsonResponse(error_body(code, message), status=status)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement
