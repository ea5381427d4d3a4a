"""Take control, release it and answer the agent's question through the API."""

from __future__ import annotations

import pytest

from tasks_app import services
from tasks_app.models import Task
from tests.factories import TaskFactory
from tests.tasks_app.api.conftest import post

pytestmark = pytest.mark.django_db
S = Task.Status


def test_api_take_release_and_answer(api, outsider_api, org):
    task = TaskFactory(organization=org, status=S.RUNNING)
    body = post(api, f"/api/v1/tasks/{task.pk}/take-control/").json()
    assert body["status"] == "paused" and body["control_holder"] == "api key operator key"
    assert post(outsider_api, f"/api/v1/tasks/{task.pk}/take-control/").status_code == 404
    assert post(api, f"/api/v1/tasks/{task.pk}/resume/").status_code == 409
    assert post(api, f"/api/v1/tasks/{task.pk}/release-control/").json()["status"] == "running"
    services.request_input(task=task, question="Which plan?")
    detail = api.get(f"/api/v1/tasks/{task.pk}/").json()
    assert detail["status"] == "awaiting_input" and detail["pending_question"] == "Which plan?"
    assert post(api, f"/api/v1/tasks/{task.pk}/answer/", {}).status_code == 400
    answered = post(api, f"/api/v1/tasks/{task.pk}/answer/", {"answer": "pro"})
    assert answered.status_code == 200 and answered.json()["status"] == "running"
    assert post(api, f"/api/v1/tasks/{task.pk}/answer/", {"answer": "pro"}).status_code == 409
