"""OpenAPI schema touches drf-spectacular cannot infer: the API's description and its tag order."""

from __future__ import annotations

from typing import Any

DESCRIPTION = """\
Create, watch and control LLM browser-agent runs.

**Authentication.** Send an organization API key in the `x-api-key` header (admins create keys under
`/api/v1/keys/`); the key acts in its organization with its role. From the dashboard, the session cookie works
too (unsafe methods need the `X-CSRFToken` header); a session user acts in the organization named by `?org=<slug>`
or the `x-lookout-org` header, else the one chosen in the dashboard. Objects of other organizations are 404.

**Errors.** Every failure has the same body: `{"code": "...", "message": "...", "extra": {...}}`. Codes:
`invalid` (400, `extra.field` names the first failing field, `extra.fields` lists all), `parse_error` (400),
`not_authenticated` (401), `permission_denied` (403), `not_found` (404), `method_not_allowed` (405),
`unsupported_media_type` (415), `illegal_state` (409: the task's status does not allow the operation),
`throttled` (429, with `Retry-After`), `server_error` (500).

**Rate limits.** Requests are counted per API key (or per user), `LOOKOUT_API_RATE` (default 120/min).

**Skyvern compatibility.** `/v1/run/tasks`, `/v1/runs`, `/v1/runs/{run_id}`, `/v1/runs/{run_id}/cancel` and
`/v1/runs/{run_id}/artifacts` answer Skyvern's Python client (`skyvern.client.Skyvern(base_url=..., api_key=...)`).
"""

TAGS = [
    {"name": "tasks", "description": "Create tasks and read what their runs did."},
    {"name": "controls", "description": "Operator controls; viewers get 403, illegal transitions 409."},
    {"name": "api keys", "description": "Organization admins only."},
    {"name": "skyvern-compatible runs", "description": "The endpoints Skyvern's Python client calls."},
]


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("info", {})["description"] = DESCRIPTION
    result["tags"] = TAGS
    return result
