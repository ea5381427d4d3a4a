"""How a queued task reaches an executor: Celery workers (`LOOKOUT_RUNNER=celery`) or the in-process
runner of the embedded mode. `TasksAppConfig.ready` registers `RunDispatcher` as the services' dispatcher,
so services hand work over without importing this package."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings

from tasks_app.runs import inprocess
from tasks_app.runs.jobs import deliver_webhook_job, execute_task_job
from tasks_app.selectors.tasks import run_time_limit

logger = logging.getLogger(__name__)


class RunDispatcher:
    """Implements `services.dispatch.Dispatcher` for the configured runner."""

    def run(self, task_id: Any) -> None:
        if settings.LOOKOUT_RUNNER == "celery":
            # Plus one question's wait for a person (ask_human), which the steps' budget does not cover.
            limit = run_time_limit(task_id=task_id, seconds_per_step=settings.LOOKOUT_STEP_TIME_BUDGET)
            limit += int(settings.LOOKOUT_INPUT_TIMEOUT)
            execute_task_job.apply_async(
                kwargs={"task_id": str(task_id)},
                soft_time_limit=limit,
                time_limit=limit + 60,
                queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            )
        else:
            inprocess.schedule(task_id)

    def webhook(self, task_id: Any, *, attempt: int, countdown: float, event: str = "task.finished") -> None:
        if settings.LOOKOUT_RUNNER == "celery":
            deliver_webhook_job.apply_async(
                kwargs={"task_id": str(task_id), "attempt": attempt, "event": event},
                countdown=countdown,
                queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            )
            return
        if not inprocess.schedule_later(
            countdown, lambda: deliver_webhook_job(task_id=str(task_id), attempt=attempt, event=event)
        ):
            # no server loop (e.g. the run_task command): deliver in line, retries included
            time.sleep(countdown)
            deliver_webhook_job(task_id=str(task_id), attempt=attempt, event=event)
