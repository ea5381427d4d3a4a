"""Control POSTs: each goes through its service, answers with a message (or JSON to the page's fetch), and
refuses viewers (403), wrong states (the service's message) and other organizations (404)."""

import re

import pytest
from django.urls import reverse

from tasks_app.models import Task, TaskEvent
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}
CHECKS = [{"id": "c1", "code": "malicious_instructions", "message": "Odd instructions on the page"}]


def control_url(task, action):
    return reverse("task-control", args=[task.pk, action])


@pytest.mark.parametrize(
    ("start", "action", "end", "message"),
    [
        ("running", "pause", "paused", "Paused"),
        ("paused", "resume", "running", "Resumed."),
        ("paused", "retry-step", "running", "asked again"),
        ("running", "terminate", "terminated", "Terminated"),
        ("paused", "terminate", "terminated", "Terminated"),
        ("queued", "cancel", "canceled", "Canceled."),
        ("awaiting_approval", "approve", "running", "Approved"),
        ("awaiting_approval", "deny", "terminated", "Denied"),
    ],
)
def test_controls_change_state_through_services(client, operator, org, start, action, end, message):
    task = TaskFactory(organization=org, status=start, pending_safety_checks=CHECKS if start == "awaiting_approval" else [])
    client.force_login(operator)
    response = client.post(control_url(task, action))
    assert response.status_code == 302 and response["Location"] == reverse("task-detail", args=[task.pk])
    task.refresh_from_db()
    assert task.status == end
    assert TaskEvent.objects.filter(task=task, type="task.status", data__status=end).exists()
    assert message in client.get(response["Location"]).content.decode()
    if action in ("approve", "deny"):
        resolved = TaskEvent.objects.get(task=task, type="approval.resolved")
        assert resolved.data["approved"] is (action == "approve") and resolved.data["checks"] == CHECKS


def test_retry_step_flags_the_run(client, operator, org):
    task = TaskFactory(organization=org, status="paused")
    client.force_login(operator)
    client.post(control_url(task, "retry-step"))
    task.refresh_from_db()
    assert task.retry_step_requested is True


def test_retry_creates_a_new_task_and_goes_there(client, operator, org):
    task = TaskFactory(organization=org, status="failed", navigation_payload={"a": 1})
    client.force_login(operator)
    response = client.post(control_url(task, "retry"))
    new = Task.objects.get(retry_of=task)
    assert response["Location"] == reverse("task-detail", args=[new.pk])
    assert new.navigation_payload == {"a": 1} and new.status == "queued"
    page = client.get(response["Location"]).content.decode()
    assert "Started a new run" in page and reverse("task-detail", args=[task.pk]) in page  # "Retry of" link


def test_fetch_gets_json(client, operator, org):
    task = TaskFactory(organization=org, status="running")
    client.force_login(operator)
    response = client.post(control_url(task, "pause"), **FETCH)
    assert response.status_code == 200
    assert response.json() == {
        "ok": True, "message": "Paused: the run stops at its next checkpoint.", "status": "paused", "redirect": None,
    }
    finished = TaskFactory(organization=org, status="completed")
    response = client.post(control_url(finished, "retry"), **FETCH)
    new = Task.objects.get(retry_of=finished)
    assert response.json()["redirect"] == reverse("task-detail", args=[new.pk])


@pytest.mark.parametrize(
    ("status", "action", "fragment"),
    [
        ("completed", "pause", "pause a task that is completed"),
        ("running", "resume", "resume a task that is running"),
        ("running", "retry-step", "paused run; this one is running"),
        ("running", "cancel", "cancel a task that is running"),
        ("running", "retry", "Only a finished task can be retried; this one is running"),
        ("running", "approve", "a task that is running"),
        ("canceled", "terminate", "terminate a task that is canceled"),
    ],
)
def test_state_errors_are_shown(client, operator, org, status, action, fragment):
    """The service's own message is shown (as a sentence), on the page and to the page's fetch."""
    task = TaskFactory(organization=org, status=status)
    client.force_login(operator)
    response = client.post(control_url(task, action), follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    message = re.search(r'<li class="msg error">([^<]+)</li>', html).group(1)
    assert fragment in message and message[0].isupper() and message.endswith(".")
    fetched = client.post(control_url(task, action), **FETCH)
    assert fetched.status_code == 409 and fetched.json() == {"ok": False, "message": message}
    task.refresh_from_db()
    assert task.status == status


@pytest.mark.parametrize("action", ["pause", "terminate", "approve", "deny", "retry", "cancel", "resume", "retry-step"])
def test_viewer_gets_403(client, viewer, org, action):
    task = TaskFactory(organization=org, status="running")
    client.force_login(viewer)
    response = client.post(control_url(task, action))
    assert response.status_code == 403
    assert "viewers cannot control runs" in response.content.decode()
    fetched = client.post(control_url(task, action), **FETCH)
    assert fetched.status_code == 403 and fetched.json()["ok"] is False
    task.refresh_from_db()
    assert task.status == "running" and not Task.objects.filter(retry_of=task).exists()


def test_unknown_control_and_get_are_refused(client, operator, org):
    task = TaskFactory(organization=org, status="running")
    client.force_login(operator)
    assert client.post(control_url(task, "explode")).status_code == 404
    assert client.get(control_url(task, "pause")).status_code == 405


def test_controls_need_csrf(operator, org):
    from django.test import Client

    task = TaskFactory(organization=org, status="running")
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(control_url(task, "pause")).status_code == 403
    task.refresh_from_db()
    assert task.status == "running"
