"""Hands work to whatever executes it: Celery workers, or the in-process runner of the embedded mode."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


def run_time_limit(task_id: Any) -> int:
    """Hard limit for one run, from the task's own step limit: generous per step, never unbounded."""
    from tasks_app.models import Task

    max_steps = Task.objects.filter(pk=task_id).values_list("max_steps", flat=True).first() or 10
    return int(max_steps * settings.LOOKOUT_STEP_TIME_BUDGET + 60)


def dispatch(task_id: Any) -> None:
    """Called after the transaction that queued the task commits."""
    if settings.LOOKOUT_RUNNER == "celery":
        from tasks_app.jobs import run_task_job

        limit = run_time_limit(task_id)
        run_task_job.apply_async(
            kwargs={"task_id": str(task_id)},
            soft_time_limit=limit,
            time_limit=limit + 60,
            queue=settings.CELERY_TASK_DEFAULT_QUEUE,
        )
    else:
        from tasks_app import inprocess

        inprocess.schedule(task_id)


def dispatch_webhook(task_id: Any, *, attempt: int, countdown: float) -> None:
    if settings.LOOKOUT_RUNNER == "celery":
        from tasks_app.jobs import deliver_webhook_job

        deliver_webhook_job.apply_async(
            kwargs={"task_id": str(task_id), "attempt": attempt},
            countdown=countdown,
            queue=settings.CELERY_TASK_DEFAULT_QUEUE,
        )
        return
    from tasks_app import inprocess
    from tasks_app.jobs import deliver_webhook_job

    if not inprocess.schedule_later(countdown, lambda: deliver_webhook_job(task_id=str(task_id), attempt=attempt)):
        # no server loop (e.g. the run_task command): deliver in line, retries included
        import time

        time.sleep(countdown)
        deliver_webhook_job(task_id=str(task_id), attempt=attempt)
