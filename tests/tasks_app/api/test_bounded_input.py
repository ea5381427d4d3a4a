"""Hostile input is a 400 in the API's error format: deeply nested JSON, unparsable URLs, catastrophic
regular expressions in extraction schemas, models the server does not offer."""

from __future__ import annotations

import json
import time

import pytest

from tasks_app.models import Task
from tests.tasks_app.api.test_errors import assert_error

pytestmark = pytest.mark.django_db

VALID = {"url": "https://example.test/", "navigation_goal": "look around"}


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize("depth", [100_000, 2_000, 65])
@pytest.mark.parametrize("path", ["/api/v1/tasks/", "/v1/run/tasks"])
def test_deeply_nested_bodies_are_a_400(api, path, depth):
    body = '{"url": "https://example.test/", "prompt": "x", "navigation_payload": ' + nested(depth) + "}"
    response = api.post(path, body, content_type="application/json")
    error = assert_error(response, 400, "parse_error")
    assert "nested deeper than 64 levels" in error["message"]
    assert not Task.objects.exists()


def test_nesting_up_to_the_limit_is_fine(api):
    payload = json.loads(nested(62))  # + the body and navigation_payload objects: 64 levels
    response = api.post("/api/v1/tasks/", {**VALID, "navigation_payload": {"deep": payload}}, content_type="application/json")
    assert response.status_code == 201, response.content


def test_brackets_inside_strings_do_not_count(api):
    payload = {"text": "[" * 5000 + "{" * 5000}
    response = api.post("/api/v1/tasks/", {**VALID, "navigation_payload": payload}, content_type="application/json")
    assert response.status_code == 201, response.content


def test_deeply_nested_schema_text_on_the_skyvern_endpoint(api):
    body = {"url": "https://example.test/", "prompt": "x", "data_extraction_schema": nested(5000)}
    error = assert_error(api.post("/v1/run/tasks", body, content_type="application/json"), 400, "invalid")
    assert error["extra"]["field"] == "data_extraction_schema"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "http://[bad"}, "url"),
        ({"url": "https://example.test:70000/"}, "url"),
        ({"webhook_callback_url": "https://hooks.test/\r\nX-Evil: 1"}, "webhook_callback_url"),
        ({"webhook_callback_url": "http://[::1"}, "webhook_callback_url"),
    ],
)
def test_unusable_urls_are_a_400_naming_the_field(api, fields, field):
    error = assert_error(api.post("/api/v1/tasks/", {**VALID, **fields}, content_type="application/json"), 400, "invalid")
    assert error["extra"]["field"] == field and "http(s) URL" in error["message"]


def test_unparsable_url_on_the_skyvern_endpoint(api):
    body = {"url": "http://[bad", "prompt": "x"}
    error = assert_error(api.post("/v1/run/tasks", body, content_type="application/json"), 400, "invalid")
    assert error["extra"]["field"] == "url"


def test_redos_schema_is_refused_in_under_a_second(api):
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    started = time.monotonic()
    response = api.post(
        "/api/v1/tasks/", {**VALID, "data_extraction_goal": "the code", "extracted_information_schema": schema},
        content_type="application/json",
    )
    assert time.monotonic() - started < 1.0
    error = assert_error(response, 400, "invalid")
    assert error["extra"]["field"] == "extracted_information_schema"
    assert "'^(a+)+$'" in error["message"] and "properties/code/pattern" in error["message"]


def test_model_outside_the_configured_list_is_a_400_naming_the_choices(api, settings):
    settings.LOOKOUT_MODELS = ["gpt-4o", "computer-use-preview"]
    error = assert_error(
        api.post("/api/v1/tasks/", {**VALID, "model": "o1-pro"}, content_type="application/json"), 400, "invalid"
    )
    assert error["extra"]["field"] == "model"
    assert "gpt-4o, computer-use-preview" in error["message"]
    ok = api.post("/api/v1/tasks/", {**VALID, "model": "gpt-4o"}, content_type="application/json")
    assert ok.status_code == 201 and ok.json()["model"] == "gpt-4o"
    skyvern = api.post(
        "/v1/run/tasks", {"url": "https://example.test/", "prompt": "x", "model": {"model_name": "o1-pro"}},
        content_type="application/json",
    )
    assert assert_error(skyvern, 400, "invalid")["extra"]["field"] == "model"
