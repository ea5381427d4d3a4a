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
