"""The OpenAPI schema is generated without warnings and served with a docs page that loads vendored assets."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("get", "/api/v1/tasks/"), ("post", "/api/v1/tasks/"), ("get", "/api/v1/tasks/{task_id}/"),
    ("get", "/api/v1/tasks/{task_id}/steps/"), ("get", "/api/v1/tasks/{task_id}/actions/"),
    ("get", "/api/v1/tasks/{task_id}/artifacts/"), ("get", "/api/v1/tasks/{task_id}/artifacts/{artifact_id}/content"),
    ("get", "/api/v1/tasks/{task_id}/events/"), ("get", "/api/v1/tasks/{task_id}/script/"),
    *{("post", f"/api/v1/tasks/{{task_id}}/{action}/") for action in
      ("pause", "resume", "terminate", "cancel", "retry", "retry-step", "approve", "deny",
       "take-control", "release-control", "answer")},
    ("get", "/api/v1/keys/"), ("post", "/api/v1/keys/"), ("post", "/api/v1/keys/{key_id}/revoke/"),
    ("get", "/api/v1/credentials/"), ("post", "/api/v1/credentials/"), ("get", "/api/v1/credentials/{credential_id}/"),
    ("patch", "/api/v1/credentials/{credential_id}/"), ("delete", "/api/v1/credentials/{credential_id}/"),
    ("get", "/api/v1/profiles/"), ("get", "/api/v1/profiles/{profile_id}/"), ("delete", "/api/v1/profiles/{profile_id}/"),
    ("post", "/v1/run/tasks"), ("get", "/v1/runs"), ("get", "/v1/runs/{run_id}"),
    ("post", "/v1/runs/{run_id}/cancel"), ("get", "/v1/runs/{run_id}/artifacts"),
}


def test_schema_generates_cleanly(tmp_path):
    # --fail-on-warn: every view is annotated well enough for drf-spectacular to need no guesses
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_schema_is_served_and_complete(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    operations = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert operations == OPERATIONS
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey", "in": "header", "name": "x-api-key",
        "description": "An organization API key (`lk_…`), created by an organization admin.",
    }
    create = schema["paths"]["/api/v1/tasks/"]["post"]
    assert {"201", "400", "401", "403", "429"} <= set(create["responses"])
    assert create["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    request = schema["components"]["schemas"]["TaskCreateRequest"]
    assert set(request["properties"]) == {
        "url", "title", "navigation_goal", "data_extraction_goal", "navigation_payload",
        "extracted_information_schema", "error_code_mapping", "webhook_callback_url", "engine", "model", "max_steps",
        "credentials", "secret_payload_keys", "profile", "save_profile", "run_with", "replay_of", "script_id",
    }
    assert schema["paths"]["/api/v1/tasks/{task_id}/pause/"]["post"]["responses"].keys() >= {"200", "404", "409"}


def test_docs_page_uses_vendored_swagger_ui(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:href|src)="([^"]+)"', html)
    # Swagger UI's files, and its init script from this same view (?script=), so the page has no inline script
    init = "/api/v1/docs/?script="
    assert init in assets and "<script>" not in html
    assets.remove(init)
    assert assets and all(url.startswith("/static/vendor/swagger-ui/") for url in assets), assets
    assert "cdn" not in html.lower()
    for url in assets:
        assert finders.find(url.removeprefix("/static/")), url
    script = client.get(init)
    assert script.status_code == 200 and "/api/v1/schema/" in script.content.decode()
    assert "'unsafe-inline'" not in response["Content-Security-Policy"].split("script-src")[1].split(";")[0]
