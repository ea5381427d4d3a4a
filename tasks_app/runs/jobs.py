"""Celery jobs: executing a task, delivering a webhook, sweeping lost runs. Thin: ids in, services do the work.

Per-run time limits come from the task's own step limit at dispatch (see runs.dispatch)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_shutdown, worker_shutdown

from tasks_app.runs import browser as worker_browser
from tasks_app.runs.execute import execute_task, worker_name
from tasks_app.services.dispatch import dispatch_webhook
from tasks_app.services.retention import apply_retention
from tasks_app.services.sweeper import redispatch_deferred, sweep_stale_runs
from tasks_app.services.tasks import time_out_task
from tasks_app.services.webhooks import attempt_webhook

logger = logging.getLogger(__name__)


@shared_task(name="tasks_app.execute_task", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def execute_task_job(*, task_id: str) -> None:
    """Claims the task first: a redelivered message or a double dispatch finds it taken and leaves."""

    async def go() -> Any:
        browser = await worker_browser.get_browser()
        return await execute_task(task_id, browser=browser, worker=f"celery:{worker_name()}")

    future = worker_browser.submit(go())
    try:
        future.result()
    except SoftTimeLimitExceeded:
        time_out_task(task_id=task_id)
        future.result(timeout=30)  # let the run close the browser context and store its final artifacts


@shared_task(name="tasks_app.deliver_webhook", ignore_result=True)
def deliver_webhook_job(*, task_id: str, attempt: int = 1, event: str = "task.finished") -> None:
    delay = attempt_webhook(task_id=task_id, attempt=attempt, event=event)
    if delay is not None:
        dispatch_webhook(task_id, attempt=attempt + 1, countdown=delay, event=event)


@shared_task(name="tasks_app.sweep_stale_runs", ignore_result=True)
def sweep_stale_runs_job() -> None:
    result = sweep_stale_runs()
    if result["failed"] or result["requeued"]:
        logger.warning("sweeper: %s", result)
    redispatch_deferred()


@shared_task(name="tasks_app.apply_retention", ignore_result=True)
def apply_retention_job() -> None:
    for retained in apply_retention():
        logger.info("retention: %s", retained)


@worker_process_shutdown.connect  # a prefork pool's child
@worker_shutdown.connect  # the worker's main process (where the threads and solo pools run jobs)
def _close_worker_browser(**_: Any) -> None:
    """A worker process that is stopping closes its Chromium instead of leaving it to the OS."""
    worker_browser.shutdown()
