"""Run limits: the in-process runner executes at most LOOKOUT_MAX_CONCURRENT_RUNS at once and keeps the rest
queued in order; an organization never runs more than its own limit, on either runner."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from asgiref.sync import sync_to_async

from tasks_app import services
from tasks_app.models import Task
from tasks_app.runs import browser as worker_browser
from tasks_app.runs import inprocess
from tests.factories import TaskFactory
from tests.scripting import act, step


def max_overlap(tasks: list[Task]) -> int:
    """The most runs that were running at the same moment, from their start and finish times."""
    moments = sorted([(t.started_at, 1) for t in tasks] + [(t.finished_at, -1) for t in tasks])
    running = peak = 0
    for _, change in moments:
        running += change
        peak = max(peak, running)
    return peak


async def run_many(settings, monkeypatch, org, operator, site, model, *, count, runner_limit, org_limit) -> list[Task]:
    """Dispatch `count` one-step tasks to the in-process runner under the two limits; wait until all end."""
    settings.LOOKOUT_RUNNER = "inprocess"
    settings.LOOKOUT_MAX_CONCURRENT_RUNS = runner_limit
    org.record_runs, org.max_concurrent_runs = False, org_limit
    await org.asave()
    model.script = lambda req: step(act("complete"), goal_achieved=True, delay=0.25)
    monkeypatch.setattr(inprocess, "_loop", asyncio.get_running_loop())
    monkeypatch.setattr(inprocess, "_waiting", inprocess._waiting.__class__())
    ids = []
    for n in range(count):
        task = await sync_to_async(services.create_task)(
            organization=org, created_by=operator, url=site.url("/table/"), navigation_goal=f"look {n}"
        )
        ids.append(task.pk)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    try:
        while await Task.objects.filter(pk__in=ids).exclude(status="completed").acount():
            assert loop.time() < deadline, "not every run finished"
            await asyncio.sleep(0.1)
    finally:
        await worker_browser.close_browser()
    return [t async for t in Task.objects.filter(pk__in=ids).order_by("queued_at")]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
async def test_fifteen_runs_with_a_limit_of_two(settings, model, site, org, operator, monkeypatch):
    tasks = await run_many(settings, monkeypatch, org, operator, site, model, count=15, runner_limit=2, org_limit=50)
    assert len(tasks) == 15 and max_overlap(tasks) == 2
    # in queue order: a run never starts after one queued two places behind it (two start side by side)
    starts = [t.started_at for t in tasks]
    assert all(starts[i] <= starts[i + 2] for i in range(len(starts) - 2)), "runs did not start in queue order"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
async def test_an_organization_runs_no_more_than_its_limit(settings, model, site, org, operator, monkeypatch):
    tasks = await run_many(settings, monkeypatch, org, operator, site, model, count=6, runner_limit=5, org_limit=2)
    assert max_overlap(tasks) == 2 and all(t.deferred_at is None for t in tasks)


@pytest.mark.django_db
def test_claim_defers_at_the_limit_and_an_ending_run_dispatches_the_oldest(org, django_capture_on_commit_callbacks):
    org.max_concurrent_runs = 1
    org.save()
    running = TaskFactory(organization=org, status="running")
    first = TaskFactory(organization=org, status="queued")
    second = TaskFactory(organization=org, status="queued")
    assert services.claim_task(task_id=first.pk, worker="w") is None
    assert services.claim_task(task_id=second.pk, worker="w") is None
    first.refresh_from_db()
    assert first.status == "queued" and first.deferred_at is not None
    with mock.patch("tasks_app.runs.dispatch.RunDispatcher.run") as dispatch, django_capture_on_commit_callbacks(execute=True):
        services.finish_task(task=running, status="completed")
    dispatch.assert_called_once_with(first.pk)  # one free slot: the oldest deferred task
    claimed = services.claim_task(task_id=first.pk, worker="w")
    assert claimed is not None and claimed.deferred_at is None
