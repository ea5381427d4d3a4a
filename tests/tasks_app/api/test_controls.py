"""Operator controls through the API: each one calls its service; illegal transitions are 409, viewers 403."""

from __future__ import annotations

import pytest

from tasks_app.models import Task
from tests.factories import TaskFactory
from tests.tasks_app.api.conftest import post

pytestmark = pytest.mark.django_db
S = Task.Status


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [
        ("pause", S.RUNNING, S.PAUSED),
        ("resume", S.PAUSED, S.RUNNING),
        ("terminate", S.RUNNING, S.TERMINATED),
        ("terminate", S.AWAITING_APPROVAL, S.TERMINATED),
        ("cancel", S.QUEUED, S.CANCELED),
        ("cancel", S.CREATED, S.CANCELED),
        ("retry-step", S.PAUSED, S.RUNNING),
        ("approve", S.AWAITING_APPROVAL, S.RUNNING),
        ("deny", S.AWAITING_APPROVAL, S.TERMINATED),
    ],
)
def test_control_moves_the_task(api, org, action, before, after):
    task = TaskFactory(organization=org, status=before,
                       pending_safety_checks=[{"id": "c1", "code": "malicious_instructions", "message": "hm"}])
    response = post(api, f"/api/v1/tasks/{task.pk}/{action}/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == after
    task.refresh_from_db()
    assert task.status == after
    if action == "retry-step":
        assert task.retry_step_requested
    if action == "deny":
        assert "malicious_instructions" in task.failure_reason


def test_terminate_records_the_reason(api, org):
    task = TaskFactory(organization=org, status=S.RUNNING)
    body = post(api, f"/api/v1/tasks/{task.pk}/terminate/", {"reason": "wrong shop"}).json()
    assert body["status"] == "terminated" and body["failure_reason"] == "wrong shop"
    other = TaskFactory(organization=org, status=S.RUNNING)
    bad = post(api, f"/api/v1/tasks/{other.pk}/terminate/", {"reason": ["x"]})
    assert bad.status_code == 400 and bad.json()["extra"]["field"] == "reason"
    assert post(api, f"/api/v1/tasks/{other.pk}/terminate/").json()["failure_reason"] == "terminated by api key operator key"


def test_retry_creates_a_linked_task(api, org):
    task = TaskFactory(organization=org, status=S.FAILED, max_steps=4, title="first try")
    response = post(api, f"/api/v1/tasks/{task.pk}/retry/")
    assert response.status_code == 201
    body = response.json()
    assert body["retry_of"] == str(task.pk) and body["status"] == "queued" and body["id"] != str(task.pk)
    assert body["title"] == "first try" and body["max_steps"] == 4


@pytest.mark.parametrize(
    ("action", "status"),
    [("pause", S.QUEUED), ("resume", S.RUNNING), ("terminate", S.COMPLETED), ("cancel", S.RUNNING),
     ("retry", S.RUNNING), ("retry-step", S.RUNNING), ("approve", S.RUNNING), ("deny", S.COMPLETED)],
)
def test_illegal_transitions_are_409(api, org, action, status):
    task = TaskFactory(organization=org, status=status)
    response = post(api, f"/api/v1/tasks/{task.pk}/{action}/")
    assert response.status_code == 409
    error = response.json()
    assert error["code"] == "illegal_state" and status.replace("_", " ") in error["message"]
    task.refresh_from_db()
    assert task.status == status


@pytest.mark.parametrize("action", ["pause", "resume", "terminate", "cancel", "retry", "retry-step", "approve", "deny"])
def test_viewers_cannot_control(viewer_api, org, action):
    task = TaskFactory(organization=org, status=S.RUNNING)
    response = post(viewer_api, f"/api/v1/tasks/{task.pk}/{action}/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    task.refresh_from_db()
    assert task.status == S.RUNNING


def test_viewers_cannot_create_but_can_read(viewer_api, org):
    response = post(viewer_api, "/api/v1/tasks/", {"url": "https://example.test/", "navigation_goal": "x"})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    task = TaskFactory(organization=org)
    assert viewer_api.get(f"/api/v1/tasks/{task.pk}/").status_code == 200


def test_controls_only_accept_post(api, org):
    task = TaskFactory(organization=org, status=S.RUNNING)
    response = api.get(f"/api/v1/tasks/{task.pk}/pause/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed" and response["Allow"] == "POST, OPTIONS"
