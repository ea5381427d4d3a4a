"""Domain failures. One DRF handler renders them as {"code", "message", "extra"}; pages show the message."""

from __future__ import annotations

from typing import Any


class LookoutError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class TaskStateError(LookoutError):
    """The task is not in a state that allows this operation (e.g. pausing a finished task)."""

    code = "illegal_state"
    http_status = 409


class PermissionDeniedError(LookoutError):
    code = "permission_denied"
    http_status = 403


class NotFoundError(LookoutError):
    code = "not_found"
    http_status = 404


class InvalidRequestError(LookoutError):
    """A request field is invalid; `extra["field"]` names it."""

    code = "invalid"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra={**(extra or {}), **({"field": field} if field else {})})
        self.field = field
