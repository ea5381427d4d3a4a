"""Reads only the API needs (filters, actions, keys, run summaries), built on tasks_app.selectors and
scoped to an organization like them. Candidates to move into tasks_app/selectors.py."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from tasks_app import selectors
from tasks_app.errors import NotFoundError
from tasks_app.models import Action, ApiKey, Artifact, Organization, Task


def filter_tasks(
    *,
    organization: Organization,
    statuses: Iterable[str] | None = None,
    engine: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Task]:
    """The organization's tasks, narrowed by the list filters; the caller orders and paginates."""
    tasks = selectors.list_tasks(organization=organization)
    if statuses:
        tasks = tasks.filter(status__in=list(statuses))
    if engine:
        tasks = tasks.filter(engine=engine)
    if created_after is not None:
        tasks = tasks.filter(created_at__gt=created_after)
    if created_before is not None:
        tasks = tasks.filter(created_at__lt=created_before)
    return tasks


def list_actions(*, task: Task) -> QuerySet[Action]:
    return task.actions.select_related("step")


def get_artifact(*, task: Task, artifact_id: int) -> Artifact:
    """An artifact of this (already org-checked) task, or NotFoundError."""
    artifact = task.artifacts.filter(pk=artifact_id).first()
    if artifact is None:
        raise NotFoundError("artifact not found")
    return artifact


def artifacts_of_kinds(*, task: Task, kinds: Iterable[str] | None = None) -> QuerySet[Artifact]:
    artifacts = selectors.list_artifacts(task=task)
    return artifacts.filter(kind__in=list(kinds)) if kinds is not None else artifacts


def list_api_keys(*, organization: Organization) -> QuerySet[ApiKey]:
    return organization.api_keys.select_related("created_by").order_by("-created_at", "-id")


def get_api_key(*, organization: Organization, key_id: Any) -> ApiKey:
    key = organization.api_keys.select_related("created_by").filter(pk=key_id).first()
    if key is None:
        raise NotFoundError("API key not found")
    return key


def step_count(*, task: Task) -> int:
    return task.steps.count()
