"""Retention: each organization's old timeline events, artifacts and recordings are deleted after the
number of days it set (empty keeps forever). Run by the beat schedule (Celery) or the in-process sweeper."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from tasks_app.models import Organization, Task, TaskEvent
from tasks_app.services.recordings import prune_recordings


@dataclass(frozen=True)
class Retained:
    organization: str
    events: int
    artifacts: int
    recordings: int


def apply_retention(*, now: datetime | None = None) -> list[Retained]:
    """Apply every organization's retention settings. Events are only deleted for finished tasks (a live
    timeline keeps its history); artifact files go from storage before their rows. Idempotent."""
    now = now or timezone.now()
    done = []
    orgs = Organization.objects.exclude(keep_events_days=None, keep_artifacts_days=None, keep_recordings_days=None)
    for org in orgs.order_by("slug"):
        events = artifacts = recordings = 0
        if org.keep_events_days is not None:
            cutoff = now - timedelta(days=org.keep_events_days)
            events, _ = TaskEvent.objects.filter(
                task__organization=org, task__status__in=Task.FINAL_STATUSES, created_at__lt=cutoff
            ).delete()
        if org.keep_artifacts_days is not None:
            cutoff = now - timedelta(days=org.keep_artifacts_days)
            artifacts = sum(r.count for r in prune_recordings(older_than=cutoff, organization=org, recordings=False))
        if org.keep_recordings_days is not None:
            cutoff = now - timedelta(days=org.keep_recordings_days)
            recordings = sum(r.count for r in prune_recordings(older_than=cutoff, organization=org))
        done.append(Retained(org.slug, events, artifacts, recordings))
    return done
