"""The sweeper ends runs whose worker went silent; start-up recovery ends a dead process's runs."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from tasks_app.models import Step, Task
from tasks_app.services.sweeper import recover_runs_of, sweep_stale_runs
from tests.factories import TaskFactory


@pytest.mark.django_db
def test_stale_runs_fail_with_worker_lost_and_no_step_left_running(org):
    old = timezone.now() - timedelta(seconds=120)
    stale = TaskFactory(organization=org, status="running", heartbeat_at=old, started_at=old)
    paused = TaskFactory(organization=org, status="paused", heartbeat_at=old, started_at=old)
    fresh = TaskFactory(organization=org, status="running", heartbeat_at=timezone.now(), started_at=old)
    Step.objects.create(task=stale, order=1)
    result = sweep_stale_runs(stale_after_s=30)
    assert set(result["failed"]) == {stale.pk, paused.pk}
    stale.refresh_from_db()
    assert stale.status == "failed" and stale.failure_reason == "worker lost"
    assert not Step.objects.filter(task=stale, status="running").exists()
    assert Task.objects.get(pk=fresh.pk).status == "running"
    assert sweep_stale_runs(stale_after_s=30) == {"failed": [], "requeued": []}  # idempotent


@pytest.mark.django_db
def test_requeue_once_by_setting(org, settings, django_capture_on_commit_callbacks):
    settings.LOOKOUT_REQUEUE_LOST_RUNS = True
    old = timezone.now() - timedelta(seconds=120)
    task = TaskFactory(organization=org, status="running", heartbeat_at=old, started_at=old)
    with mock.patch("tasks_app.runs.dispatch.RunDispatcher.run") as dispatch, django_capture_on_commit_callbacks(execute=True):
        assert sweep_stale_runs(stale_after_s=30)["requeued"] == [task.pk]
    dispatch.assert_called_once_with(task.pk)
    Task.objects.filter(pk=task.pk).update(status="running", heartbeat_at=old)
    assert sweep_stale_runs(stale_after_s=30)["failed"] == [task.pk]  # only once


@pytest.mark.django_db
def test_startup_recovery_only_touches_own_runs(org):
    mine = TaskFactory(organization=org, status="running", worker="inprocess:host:1", heartbeat_at=timezone.now())
    other = TaskFactory(organization=org, status="running", worker="celery:other:2", heartbeat_at=timezone.now())
    assert recover_runs_of(worker_prefix="inprocess:") == [mine.pk]
    assert Task.objects.get(pk=mine.pk).status == "failed"
    assert "worker lost" in Task.objects.get(pk=mine.pk).failure_reason
    assert Task.objects.get(pk=other.pk).status == "running"
