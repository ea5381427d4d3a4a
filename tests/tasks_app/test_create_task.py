"""Task creation: validation with clear, field-named errors."""

import pytest

from tasks_app import services
from tasks_app.errors import InvalidRequestError, PermissionDeniedError
from tasks_app.models import Task


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"url": "ftp://example.test/"}, "url", "http(s)"),
        ({"url": "javascript:alert(1)"}, "url", "http(s)"),
        ({"url": "https://"}, "url", "host"),
        ({"navigation_goal": ""}, "navigation_goal", "navigation_goal"),
        ({"extracted_information_schema": {"type": "nonsense"}}, "extracted_information_schema", "not a valid JSON Schema"),
        ({"extracted_information_schema": [1]}, "extracted_information_schema", "JSON object"),
        ({"error_code_mapping": {"E1": 3}}, "error_code_mapping", "strings"),
        ({"engine": "magic"}, "engine", "engine must be"),
        ({"max_steps": 0}, "max_steps", "positive"),
        ({"max_steps": 1000}, "max_steps", "limited to 25"),
        ({"webhook_callback_url": "file:///etc/passwd"}, "webhook_callback_url", "http(s)"),
        ({"navigation_payload": {"x": "y" * 70000}}, "navigation_payload", "KiB"),
        ({"colour": "red"}, "colour", "unknown task fields"),
        ({"url": "http://[bad"}, "url", "cannot be parsed"),
        ({"url": "https://example.test:99999/"}, "url", "cannot be parsed"),
        ({"url": "https://exa mple.test/"}, "url", "space"),
        ({"webhook_callback_url": "http://hooks.test/\r\nX-Injected: 1"}, "webhook_callback_url", "control or whitespace"),
        ({"webhook_callback_url": "http://[bad"}, "webhook_callback_url", "cannot be parsed"),
        ({"model": "gpt-9-turbo-max"}, "model", "choose one of: gpt-4o, computer-use-preview"),
        ({"extracted_information_schema": {"type": "string", "pattern": "^(a+)+$"}}, "extracted_information_schema", "nests a repeat"),
    ],
)
def test_invalid_requests_name_the_field(org, operator, fields, field, fragment):
    request = {"url": "https://example.test/", "navigation_goal": "do it", **fields}
    with pytest.raises(InvalidRequestError) as err:
        services.create_task(organization=org, created_by=operator, start=False, **request)
    assert err.value.field == field
    assert fragment in err.value.message
    assert not Task.objects.exists()


@pytest.mark.django_db
def test_valid_request_is_stored_and_queued(org, operator, django_capture_on_commit_callbacks):
    from unittest import mock

    with mock.patch("tasks_app.runs.dispatch.RunDispatcher.run") as dispatch, django_capture_on_commit_callbacks(execute=True):
        task = services.create_task(
            organization=org,
            created_by=operator,
            url="https://example.test/jobs",
            navigation_goal="Apply",
            extracted_information_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}},
            navigation_payload={"name": "Ada"},
        )
    assert task.status == Task.Status.QUEUED and task.max_steps == 10 and task.created_by == operator
    dispatch.assert_called_once_with(task.pk)


@pytest.mark.django_db
def test_viewer_cannot_create(org, viewer):
    with pytest.raises(PermissionDeniedError):
        services.create_task(organization=org, created_by=viewer, url="https://e.test/", navigation_goal="x")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^(a+)+$"},
        {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(\\w+\\s?)+$"}}},
        {"type": "object", "patternProperties": {"^(a|aa)+$": {"type": "string"}}},
        {"type": "array", "items": {"type": "string", "format": "regex", "enum": ["(x+x+)+y"]}},
    ],
)
def test_catastrophic_patterns_are_refused_quickly(org, operator, schema):
    import time

    started = time.monotonic()
    with pytest.raises(InvalidRequestError) as err:
        services.create_task(
            organization=org, created_by=operator, start=False, url="https://example.test/",
            data_extraction_goal="the name", extracted_information_schema=schema,
        )
    assert time.monotonic() - started < 1.0
    assert err.value.field == "extracted_information_schema" and "rewrite the pattern" in err.value.message


@pytest.mark.django_db
def test_safe_patterns_and_configured_models_are_accepted(org, operator, settings):
    settings.LOOKOUT_MODELS = ["gpt-4o", "gpt-4.1-mini"]
    schema = {
        "type": "object",
        "properties": {
            "email": {"type": "string", "pattern": "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$"},
            "domain": {"type": "string", "pattern": "^([a-z0-9-]+\\.)+[a-z]{2,}$"},
            "ip": {"type": "string", "pattern": "^(\\d{1,3}\\.){3}\\d{1,3}$"},
        },
        "patternProperties": {"^x-[a-z]+$": {"type": "string"}},
    }
    task = services.create_task(
        organization=org, created_by=operator, start=False, url="https://example.test/",
        data_extraction_goal="contacts", extracted_information_schema=schema, model="gpt-4.1-mini",
        webhook_callback_url="https://hooks.example.test/lookout?x=1",
    )
    assert (task.model, task.extracted_information_schema) == ("gpt-4.1-mini", schema)
    with pytest.raises(InvalidRequestError) as err:
        services.create_task(
            organization=org, created_by=operator, start=False, url="https://example.test/", navigation_goal="x",
            model="computer-use-preview",
        )
    assert err.value.field == "model" and "gpt-4o, gpt-4.1-mini" in err.value.message
