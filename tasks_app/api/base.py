"""The one base class of every API view: it authenticates, throttles and resolves the organization."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework.request import Request
from rest_framework.views import APIView

from tasks_app.access import Actor, ensure_admin
from tasks_app.api.auth import caller_of
from tasks_app.api.serializers import ErrorSerializer
from tasks_app.errors import InvalidRequestError
from tasks_app.models import Organization, Task
from tasks_app.selectors.tasks import get_task


class OrgApi(APIView):
    """Sets `self.organization` (every query is scoped to it; other organizations' ids are 404) and
    `self.actor` (the User or ApiKey the services get as `by=`, and which enforce roles)."""

    organization: Organization
    actor: Actor

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permission, throttling
        self.actor, self.organization = caller_of(request)

    def get_task(self, task_id: Any) -> Task:
        return get_task(organization=self.organization, task_id=task_id)

    def body(self) -> dict[str, Any]:
        """The parsed JSON body, which must be an object (an empty body counts as {})."""
        data = self.request.data
        if not isinstance(data, dict):
            kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
            raise InvalidRequestError(f"the request body must be a JSON object, not {kind}")
        return dict(data)

    def ensure_admin(self) -> None:
        """Organization admins only (an admin's session or an admin-role key)."""
        ensure_admin(organization=self.organization, actor=self.actor)


ERROR_DESCRIPTIONS = {
    400: "Invalid request (`invalid`, with `extra.field` and `extra.fields`) or unparsable JSON (`parse_error`).",
    401: "Missing, unknown or revoked API key, and no session (`not_authenticated`).",
    403: "The caller's role does not allow this (`permission_denied`), or a session request without its CSRF token.",
    404: "No such object in the caller's organization (`not_found`).",
    409: "The task's status does not allow this (`illegal_state`).",
    415: "The body is not JSON (`unsupported_media_type`).",
    429: "Rate limit reached (`throttled`); see the Retry-After header.",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Documented error responses; 401, 403 and 429 apply to every endpoint and are always included."""
    wanted = sorted({401, 403, 429, *statuses})
    return {status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status]) for status in wanted}
