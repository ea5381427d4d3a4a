"""Races between real concurrent database connections: exactly one side wins every time (PostgreSQL)."""

import threading

import pytest
from django.db import connection, connections

from tasks_app import services
from tasks_app.errors import TaskStateError
from tasks_app.models import Task, TaskEvent
from tests.factories import TaskFactory

S = Task.Status


def race(*calls):
    """Run each call in its own thread (own DB connection), released together; return results/exceptions."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, fn):
        try:
            barrier.wait(timeout=10)
            results[i] = fn()
        except Exception as exc:  # noqa: BLE001 - the race's loser is part of the result
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_operators_pausing_at_once_one_wins(postgres, org, operator, org_admin):
    assert connection.vendor == "postgresql"
    for _ in range(15):
        task = TaskFactory(organization=org, status=S.RUNNING)
        results = race(
            lambda pk=task.pk: services.pause_task(task=Task.objects.get(pk=pk), by=operator),
            lambda pk=task.pk: services.pause_task(task=Task.objects.get(pk=pk), by=org_admin),
        )
        wins = [r for r in results if isinstance(r, Task)]
        losses = [r for r in results if isinstance(r, TaskStateError)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert TaskEvent.objects.filter(task=task, data__status="paused").count() == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_operator_terminate_against_worker_completion(postgres, org, operator):
    for _ in range(15):
        task = TaskFactory(organization=org, status=S.RUNNING)
        results = race(
            lambda pk=task.pk: services.terminate_task(task=Task.objects.get(pk=pk), by=operator),
            lambda pk=task.pk: services.finish_task(task=Task.objects.get(pk=pk), status=S.COMPLETED),
        )
        final = Task.objects.get(pk=task.pk)
        assert final.status in (S.TERMINATED, S.COMPLETED)
        status_events = list(TaskEvent.objects.filter(task=task, type="task.status").values_list("data__status", flat=True))
        assert status_events == [final.status], status_events  # one final transition, never two
        if final.status == S.COMPLETED:
            assert isinstance(results[0], TaskStateError)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_one_task(postgres, org):
    org.max_concurrent_runs = 100  # the 15 claimed runs stay running; this is about one task, not the limit
    org.save()
    for _ in range(15):
        task = TaskFactory(organization=org, status=S.QUEUED)
        results = race(*(lambda w=w, pk=task.pk: services.claim_task(task_id=pk, worker=w) for w in ("a", "b", "c")))
        assert sum(isinstance(r, Task) for r in results) == 1
        assert results.count(None) == 2


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_the_last_run_slot(postgres, org):
    org.max_concurrent_runs = 1
    org.save()
    for _ in range(10):
        Task.objects.filter(organization=org, status=S.RUNNING).update(status=S.COMPLETED)
        tasks = [TaskFactory(organization=org, status=S.QUEUED) for _ in range(3)]
        results = race(*(lambda pk=t.pk: services.claim_task(task_id=pk, worker="w") for t in tasks))
        assert sum(isinstance(r, Task) for r in results) == 1, "two workers took the last slot"
        assert Task.objects.filter(organization=org, status=S.RUNNING).count() == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_event_appends_get_consecutive_seqs(postgres, org):
    task = TaskFactory(organization=org, status=S.RUNNING)
    race(*(lambda i=i: [services.record_event(task_id=task.pk, type="x", data={"i": i, "j": j}) for j in range(10)] for i in range(4)))
    seqs = sorted(TaskEvent.objects.filter(task=task).values_list("seq", flat=True))
    assert seqs == list(range(1, 41))
