"""Fixtures of the API tests: keys, clients that authenticate with them, and tasks with a run's records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from tasks_app import services
from tasks_app.models import Action, ApiKey, Artifact, Membership, Organization, Step, Task
from tasks_app.runs import inprocess
from tests.factories import TaskFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def _no_runs_and_fresh_limits(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Queued tasks stay queued (no Celery, no server loop), and rate limits start from zero."""
    settings.LOOKOUT_RUNNER = "inprocess"
    monkeypatch.setattr(inprocess, "_loop", None)
    settings.LOOKOUT_API_RATE = "100000/min"


@pytest.fixture
def make_key(org: Organization) -> Callable[..., tuple[ApiKey, str]]:
    def make(role: str = Membership.Role.OPERATOR, organization: Organization | None = None) -> tuple[ApiKey, str]:
        key, raw = services.create_api_key(organization=organization or org, name=f"{role} key", role=role)
        cache.delete(f"lookout:throttle:api:key-{key.pk}")  # ids repeat across test databases; Redis remembers
        return key, raw

    return make


def key_client(raw: str, **kwargs: Any) -> Client:
    return Client(HTTP_X_API_KEY=raw, **kwargs)


@pytest.fixture
def api(make_key: Callable[..., tuple[ApiKey, str]]) -> Client:
    """An operator key's client for `org`."""
    return key_client(make_key()[1])


@pytest.fixture
def viewer_api(make_key: Callable[..., tuple[ApiKey, str]]) -> Client:
    return key_client(make_key(Membership.Role.VIEWER)[1])


@pytest.fixture
def admin_api(make_key: Callable[..., tuple[ApiKey, str]]) -> Client:
    return key_client(make_key(Membership.Role.ADMIN)[1])


@pytest.fixture
def outsider_api(other_org: Organization) -> Client:
    """An admin key of another organization."""
    _, raw = services.create_api_key(organization=other_org, name="outsider", role=Membership.Role.ADMIN)
    return key_client(raw)


def post(client: Client, path: str, data: Any = None, **extra: Any) -> Any:
    return client.post(path, data if data is not None else {}, content_type="application/json", **extra)


def add_artifact(task: Task, kind: str, name: str, content: bytes, content_type: str, **fields: Any) -> Artifact:
    return Artifact.objects.create(
        task=task, kind=kind, name=name, file=ContentFile(content, name=name), content_type=content_type,
        size=len(content), **fields,
    )


def task_with_run(organization: Organization, **fields: Any) -> Task:
    """A finished task with two steps (the first retried once), actions, artifacts and events."""
    task = TaskFactory(organization=organization, **{"status": Task.Status.COMPLETED, **fields})
    now = timezone.now()
    Task.objects.filter(pk=task.pk).update(queued_at=now, started_at=now, finished_at=now)
    failed = Step.objects.create(task=task, order=0, retry_index=0, status=Step.Status.FAILED, error="bad JSON")
    first = Step.objects.create(task=task, order=0, retry_index=1, status=Step.Status.COMPLETED)
    second = Step.objects.create(task=task, order=1, status=Step.Status.COMPLETED)
    Action.objects.create(task=task, step=first, index=0, action_type="input_text", element_id="e3",
                          parameters={"text": "ada@example.test"}, success=True)
    Action.objects.create(task=task, step=first, index=1, action_type="click", element_id="e7", success=True)
    Action.objects.create(task=task, step=second, index=0, action_type="complete", success=True)
    add_artifact(task, Artifact.Kind.SCREENSHOT_ACTION, "action.png", PNG, "image/png", step=first)
    add_artifact(task, Artifact.Kind.HTML_SCRAPE, "page.html", b"<html><p>hi</p></html>", "text/html", step=failed)
    add_artifact(task, Artifact.Kind.SCREENSHOT_FINAL, "final.png", PNG, "image/png")
    for status in ("queued", "running", "completed"):
        services.record_event(task_id=task.pk, type="task.status", data={"status": status, "failure_reason": ""})
    task.refresh_from_db()
    return task


@pytest.fixture
def finished_run(org: Organization) -> Task:
    return task_with_run(org)


@pytest.fixture
def fast_live_server(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """pytest-django's live server with Nagle's algorithm off: its handler writes headers and body
    separately, and each keep-alive response otherwise waits ~40 ms for the client's delayed ACK."""
    from django.test.testcases import QuietWSGIRequestHandler

    monkeypatch.setattr(QuietWSGIRequestHandler, "disable_nagle_algorithm", True)
    return live_server
