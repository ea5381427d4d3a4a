"""Hands queued tasks to whatever executes them: Celery workers or the in-process runner."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


def dispatch(task_id: Any) -> None:
    """Called after the transaction that queued the task commits."""
    if settings.LOOKOUT_RUNNER == "celery":
        from tasks_app.jobs import run_task_job

        run_task_job.delay(task_id=str(task_id))
    else:
        from tasks_app import inprocess

        inprocess.schedule(task_id)
