"""Appending numbered TaskEvents and publishing them after commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F

from tasks_app.events import EventData, TimelineEvent, publish, task_group
from tasks_app.models import Task, TaskEvent


def event_payload(event: TaskEvent) -> TimelineEvent:
    return {"seq": event.seq, "type": event.type, "ts": event.created_at.isoformat(), "data": event.data}


def record_event(*, task_id: Any, type: str, data: EventData) -> TaskEvent:
    """Append an event with the task's next seq and publish it once the transaction commits.

    The seq comes from an UPDATE on the task row, which holds that row's lock until commit, so
    concurrent writers get consecutive numbers and publish in seq order. `type` is one of
    `events.EVENT_DATA`, whose TypedDict `data` follows (the tests check every stored event against it).
    """
    with transaction.atomic():
        Task.objects.filter(pk=task_id).update(last_event_seq=F("last_event_seq") + 1)
        seq = Task.objects.filter(pk=task_id).values_list("last_event_seq", flat=True).get()
        event = TaskEvent.objects.create(task_id=task_id, seq=seq, type=type, data=data)
        payload = event_payload(event)
        transaction.on_commit(lambda: publish(task_group(task_id), "timeline.event", dict(payload)))
    return event
