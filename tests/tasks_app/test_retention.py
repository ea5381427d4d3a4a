"""Retention per organization: old events of finished tasks, old artifacts and old recordings go (rows and
files); recent ones, live timelines and organizations that keep everything are left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from tasks_app import services
from tasks_app.models import Artifact, TaskEvent
from tasks_app.services.retention import apply_retention
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def artifact(task, kind, age_days):
    made = Artifact(task=task, kind=kind, name=f"{kind}.bin", content_type="application/octet-stream", size=3)
    made.file.save(f"{kind}.bin", ContentFile(b"abc"), save=False)
    made.save()
    Artifact.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return made


def event(task, age_days):
    made = services.record_event(task_id=task.pk, type="step.started", data={"order": 1})
    TaskEvent.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return made


def test_each_organization_keeps_what_it_set(org, other_org):
    org.keep_events_days, org.keep_artifacts_days, org.keep_recordings_days = 30, 60, 7
    org.save()
    done, live, theirs = (TaskFactory(organization=o, status=s) for o, s in
                          ((org, "completed"), (org, "running"), (other_org, "completed")))
    old_event, new_event, live_event, their_event = event(done, 40), event(done, 1), event(live, 40), event(theirs, 400)
    old_shot, new_shot = artifact(done, "screenshot_action", 90), artifact(done, "screenshot_action", 10)
    artifact(done, "recording", 8)  # older than the 7 days kept
    new_video = artifact(done, "recording", 2)
    their_video = artifact(theirs, "recording", 400)
    old_file = old_shot.file.name

    [result] = apply_retention()
    assert (result.organization, result.events, result.artifacts, result.recordings) == (org.slug, 1, 1, 1)
    kept_events = set(TaskEvent.objects.values_list("pk", flat=True))
    assert old_event.pk not in kept_events and {new_event.pk, live_event.pk, their_event.pk} <= kept_events
    kept = set(Artifact.objects.values_list("pk", flat=True))
    assert kept == {new_shot.pk, new_video.pk, their_video.pk}
    assert not old_shot.file.storage.exists(old_file)
    assert apply_retention()[0].events == 0  # idempotent
