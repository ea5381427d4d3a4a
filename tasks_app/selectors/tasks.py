"""Read-only queries for tasks, their steps and actions, always scoped to an organization or a task."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from tasks_app.errors import NotFoundError
from tasks_app.models import Action, Organization, Step, Task


def list_tasks(*, organization: Organization) -> QuerySet[Task]:
    return organization.tasks.select_related("created_by")


def get_task(*, organization: Organization, task_id: Any) -> Task:
    """The task if it belongs to the organization; NotFoundError otherwise (never reveals other orgs' ids)."""
    try:
        return Task.objects.select_related("organization", "created_by", "retry_of", "script__lineage").get(
            pk=task_id, organization=organization
        )
    except (Task.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise NotFoundError("task not found") from exc


def filter_tasks(
    *,
    organization: Organization,
    statuses: Iterable[str] | None = None,
    engine: str | None = None,
    run_with: str | None = None,
    q: str = "",
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Task]:
    """The organization's tasks narrowed by the list filters (pages and API alike); unknown status or
    engine values match nothing rather than everything. The caller orders and paginates."""
    tasks = list_tasks(organization=organization)
    if statuses:
        tasks = tasks.filter(status__in=list(statuses))
    if engine:
        tasks = tasks.filter(engine=engine)
    if run_with:
        tasks = tasks.filter(run_with=run_with)
    if q:
        tasks = tasks.filter(
            Q(url__icontains=q)
            | Q(title__icontains=q)
            | Q(navigation_goal__icontains=q)
            | Q(data_extraction_goal__icontains=q)
        )
    if created_after is not None:
        tasks = tasks.filter(created_at__gt=created_after)
    if created_before is not None:
        tasks = tasks.filter(created_at__lt=created_before)
    return tasks


def task_page_list(
    *, organization: Organization, status: str = "", engine: str = "", run_with: str = "", q: str = ""
) -> QuerySet[Task]:
    """The dashboard's task list: newest first, with `step_count`; unknown filter values are ignored."""
    tasks = filter_tasks(
        organization=organization,
        statuses=[status] if status in Task.Status.values else None,
        engine=engine if engine in Task.Engine.values else None,
        run_with=run_with if run_with in Task.RunWith.values else None,
        q=q,
    )
    # The step count is a correlated subquery, not a join + GROUP BY: PostgreSQL then walks the
    # (organization, created_at) index and counts steps for the 25 rows of the page only, and the
    # paginator's COUNT(*) (which drops unused annotations) never touches the steps table.
    return tasks.annotate(step_count=_step_count()).order_by("-created_at", "-pk")


def _step_count() -> Any:
    steps = Step.objects.filter(task=OuterRef("pk")).order_by().values("task").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(steps), 0)


def task_statuses(*, organization: Organization, ids: list[str]) -> QuerySet[Task]:
    """The listed tasks of the organization (unknown or malformed ids are skipped), for status polling."""
    valid = []
    for raw in ids[:200]:
        try:
            valid.append(uuid.UUID(raw))
        except ValueError:
            continue
    return (
        Task.objects.filter(organization=organization, pk__in=valid)
        .annotate(step_count=_step_count())
        .only("id", "status", "started_at", "finished_at")
    )


def queued_task_ids() -> list[Any]:
    """Every queued task, oldest first (the in-process runner's backlog after a restart)."""
    return list(Task.objects.filter(status=Task.Status.QUEUED).order_by("queued_at", "created_at").values_list("pk", flat=True))


def task_status(*, task_id: Any) -> str | None:
    return Task.objects.filter(pk=task_id).values_list("status", flat=True).first()


def run_time_limit(*, task_id: Any, seconds_per_step: float) -> int:
    """Hard limit for one run, from the task's own step limit: generous per step, never unbounded."""
    max_steps = Task.objects.filter(pk=task_id).values_list("max_steps", flat=True).first() or 10
    return int(max_steps * seconds_per_step + 60)


@dataclass(frozen=True)
class StepCounts:
    steps: int
    attempts: int

    @property
    def retries(self) -> int:
        return self.attempts - self.steps


def step_counts(*, task: Task) -> StepCounts:
    """Distinct step orders, and step rows including retried attempts."""
    row = task.steps.aggregate(attempts=Count("id"), steps=Count("order", distinct=True))
    return StepCounts(steps=row["steps"] or 0, attempts=row["attempts"] or 0)


def step_count(*, task: Task) -> int:
    return task.steps.count()


def list_steps(*, task: Task) -> QuerySet[Step]:
    return task.steps.prefetch_related("actions")


def list_actions(*, task: Task) -> QuerySet[Action]:
    return task.actions.select_related("step")


@dataclass(frozen=True)
class ControlState:
    """What a running agent needs to know of its task row: the status an operator set, why, and how a
    stop came about (so a denied safety check is told apart from a terminate without reading text)."""

    status: str
    failure_reason: str
    stop_cause: str
    holder_id: int | None = None  # the user holding control of the browser (None for an API key, or nobody)
    holder: str = ""  # who holds control ("" when nobody does)
    input_requested_at: datetime | None = None
    has_reply: bool = False  # an answer to the agent's question waits to be read (services.control)


def control_state(*, task_id: Any) -> ControlState | None:
    row = (
        Task.objects.filter(pk=task_id)
        .values_list(
            "status", "failure_reason", "stop_cause", "control_holder_id", "control_holder_label",
            "input_requested_at", "input_reply",
        )
        .first()
    )
    if not row:
        return None
    return ControlState(*row[:6], has_reply=row[6] is not None)


def control_holder(*, task_id: Any) -> tuple[int | None, str]:
    """(user id, label) of whoever holds control of the task's browser; (None, "") when nobody does."""
    row = (
        Task.objects.filter(pk=task_id, status__in=Task.ACTIVE_STATUSES)
        .values_list("control_holder_id", "control_holder_label")
        .first()
    )
    return (row[0], row[1]) if row and row[1] else (None, "")


def count_active_runs(*, organization_id: Any) -> int:
    return Task.objects.filter(organization_id=organization_id, status__in=Task.ACTIVE_STATUSES).count()


def deferred_task_ids(*, organization_id: Any) -> list[Any]:
    """The organization's deferred queued tasks that fit in its free run slots, oldest first."""
    limit = Organization.objects.filter(pk=organization_id).values_list("max_concurrent_runs", flat=True).first() or 0
    free = limit - count_active_runs(organization_id=organization_id)
    if free <= 0:
        return []
    waiting = Task.objects.filter(organization_id=organization_id, status=Task.Status.QUEUED, deferred_at__isnull=False)
    return list(waiting.order_by("queued_at", "created_at").values_list("pk", flat=True)[:free])


def deferred_organizations() -> list[Any]:
    """Organizations with deferred queued tasks (the sweeper re-dispatches them if a slot is free)."""
    return list(
        Task.objects.filter(status=Task.Status.QUEUED, deferred_at__isnull=False)
        .values_list("organization_id", flat=True)
        .distinct()
    )
