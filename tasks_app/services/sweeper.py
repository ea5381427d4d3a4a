"""Runs whose worker went silent: failed with "worker lost" (or requeued once, by setting)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tasks_app.errors import TaskStateError
from tasks_app.models import Step, Task
from tasks_app.selectors.tasks import deferred_organizations, deferred_task_ids
from tasks_app.services.dispatch import dispatch_run
from tasks_app.services.tasks import fail_task, requeue_task

WORKER_LOST = "worker lost"


def _end_lost_run(task: Task, *, reason: str) -> str:
    """Fail (or requeue once) one lost run; its running step is closed either way."""
    with transaction.atomic():
        Step.objects.filter(task=task, status=Step.Status.RUNNING).update(
            status=Step.Status.FAILED, error=reason, finished_at=timezone.now()
        )
        if settings.LOOKOUT_REQUEUE_LOST_RUNS and task.requeue_count == 0:
            requeue_task(task=task, reason=reason)
            return "requeued"
        fail_task(task=task, reason=reason)
        return "failed"


def sweep_stale_runs(*, stale_after_s: float | None = None) -> dict[str, list[Any]]:
    """Find active runs whose heartbeat is older than the limit (or missing) and end them. Idempotent."""
    limit = timezone.now() - timedelta(seconds=stale_after_s or settings.LOOKOUT_STALE_AFTER_SECONDS)
    stale = Task.objects.filter(status__in=Task.ACTIVE_STATUSES).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True, started_at__lt=limit)
    )
    done: dict[str, list[Any]] = {"failed": [], "requeued": []}
    for task in stale:
        try:
            done[_end_lost_run(task, reason=WORKER_LOST)].append(task.pk)
        except TaskStateError:
            continue  # it finished or was ended meanwhile
    return done


def redispatch_deferred() -> list[Any]:
    """Safety net under `dispatch_deferred`: deferred tasks of organizations that have a free slot are
    dispatched again (claiming is idempotent, so a duplicate does nothing)."""
    dispatched: list[Any] = []
    for org_id in deferred_organizations():
        for task_id in deferred_task_ids(organization_id=org_id):
            dispatch_run(task_id)
            dispatched.append(task_id)
    return dispatched


def recover_runs_of(*, worker_prefix: str) -> list[Any]:
    """At start-up: runs a previous incarnation of this process left active can never finish. End them now."""
    ended = []
    for task in Task.objects.filter(status__in=Task.ACTIVE_STATUSES, worker__startswith=worker_prefix):
        try:
            _end_lost_run(task, reason=f"{WORKER_LOST} (the process running it restarted)")
            ended.append(task.pk)
        except TaskStateError:
            continue
    return ended
