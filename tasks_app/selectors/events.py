"""Read-only queries for a task's numbered timeline events."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from tasks_app.models import TaskEvent


def events_after(*, task_id: Any, after: int = 0, until: int | None = None) -> QuerySet[TaskEvent]:
    qs = TaskEvent.objects.filter(task_id=task_id, seq__gt=after)
    if until is not None:
        qs = qs.filter(seq__lt=until)
    return qs.order_by("seq")


def event_data_of_type(*, task_id: Any, type: str) -> list[dict[str, Any]]:
    """The data of the task's stored events of one type, in order (e.g. why a recording is missing)."""
    return list(TaskEvent.objects.filter(task_id=task_id, type=type).order_by("seq").values_list("data", flat=True))
