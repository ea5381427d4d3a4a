"""Celery jobs: running a task, delivering a webhook, sweeping lost runs. Thin: ids in, services do the work."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

logger = logging.getLogger(__name__)

# Per-task time limits come from the task's own limits at dispatch (see runners.run_time_limit).


@shared_task(name="tasks_app.run_task", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def run_task_job(*, task_id: str) -> None:
    """Claims the task first: a redelivered message or a double dispatch finds it taken and leaves."""
    from tasks_app.agent_bridge import execute_task, worker_name
    from tasks_app.worker_loop import get_browser, submit

    async def go() -> Any:
        return await execute_task(task_id, browser=await get_browser(), worker=f"celery:{worker_name()}")

    future = submit(go())
    try:
        future.result()
    except SoftTimeLimitExceeded:
        from tasks_app.services.tasks import time_out_task

        time_out_task(task_id=task_id)
        future.result(timeout=30)  # let the run close the browser context and store its final artifacts


@shared_task(name="tasks_app.deliver_webhook", ignore_result=True)
def deliver_webhook_job(*, task_id: str, attempt: int = 1) -> None:
    from tasks_app import runners
    from tasks_app.services.webhooks import attempt_webhook

    delay = attempt_webhook(task_id=task_id, attempt=attempt)
    if delay is not None:
        runners.dispatch_webhook(task_id, attempt=attempt + 1, countdown=delay)


@shared_task(name="tasks_app.sweep_stale_runs", ignore_result=True)
def sweep_stale_runs_job() -> None:
    from tasks_app.services.sweeper import sweep_stale_runs

    result = sweep_stale_runs()
    if result["failed"] or result["requeued"]:
        logger.warning("sweeper: %s", result)
