"""The production stack for real: PostgreSQL, Redis, Celery worker processes, daphne, headless Chromium and
the fake model. A websocket client watches a run end to end; a SIGKILLed worker's run is swept as lost; a
redelivered job message runs nothing twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid

import pytest
import websockets
from django.db import connection
from django.test import Client

from tasks_app import services
from tasks_app.models import Action, Artifact, Step, Task, TaskEvent
from tests.fakes.openai_server import reply_json
from tests.integration.processes import celery_worker, daphne, free_port, running, service_env
from tests.scripting import act, element_id, step
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack_env(postgres, redis_url, settings, fake_openai, tmp_path):
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    database_url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    queue = f"lookout-it-{uuid.uuid4().hex[:8]}"
    settings.LOOKOUT_RUNNER = "celery"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    from project.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    env = service_env(
        database_url=database_url,
        redis_url=redis_url,
        queue=queue,
        extra={
            "OPENAI_API_KEY": "test",
            "OPENAI_BASE_URL": fake_openai.base_url,
            "LOOKOUT_HEARTBEAT_SECONDS": "0.5",
            "LOOKOUT_STALE_AFTER_SECONDS": "3",
            "LOOKOUT_SWEEP_SECONDS": "1",
            "LOOKOUT_SWEEP_QUEUE": queue + "-sweep",
            "LOOKOUT_ARTIFACTS_DIR": str(settings.MEDIA_ROOT),
            "LOOKOUT_VAR_DIR": str(tmp_path),
            "SECRET_KEY": settings.SECRET_KEY,  # sessions made here must be valid there
            "LOOKOUT_ENCRYPTION_KEY": settings.LOOKOUT_ENCRYPTION_KEY,  # and secrets stored here must open there
        },
    )
    yield {"env": env, "queue": queue, "logs": tmp_path}
    app.conf.task_always_eager = eager


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def watch(port, task, cookie, until_status, timeout=60):
    events = []
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/tasks/{task.pk}/?after=0",
        additional_headers={"Cookie": cookie},
        origin=f"http://127.0.0.1:{port}",
    ) as ws:
        async with asyncio.timeout(timeout):
            while True:
                event = json.loads(await ws.recv())
                events.append(event)
                if event["type"] == "task.status" and event["data"]["status"] in until_status:
                    return events


def test_run_on_a_celery_worker_streams_to_a_websocket_client(stack_env, site, fake_openai, org, operator):
    def script(req):
        if req.index == 0:
            return step(act("input_text", element_id(req, r"name=full_name"), text="Grace Hopper"),
                        act("click", element_id(req, r"<button")))
        return step(act("complete"), goal_achieved=True)

    fake_openai.script = script
    port = free_port()
    worker = celery_worker("runner", stack_env["env"], stack_env["logs"], queues=stack_env["queue"])
    web = daphne(stack_env["env"], stack_env["logs"], port)
    with running(worker, web):
        task = services.create_task(organization=org, created_by=operator, start=False, url=site.url("/job/"), navigation_goal="Apply")
        cookie = session_cookie(operator)

        async def go():
            watcher = asyncio.create_task(watch(port, task, cookie, {"completed", "failed"}))
            await asyncio.sleep(0.3)  # the client is connected (and replays from 0 anyway)
            return await watcher

        loop_result = {}

        def enqueue_soon():
            time.sleep(0.5)
            services.enqueue_task(task=task)

        import threading

        enqueuer = threading.Thread(target=lambda: (enqueue_soon(), connection.close()))
        enqueuer.start()
        loop_result["events"] = asyncio.run(go())
        enqueuer.join()
        events = loop_result["events"]
        stored = [e for e in events if e["seq"] is not None]
        assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1)), "gap or duplicate in the stream"
        assert stored[-1]["data"]["status"] == "completed", worker.output()[-3000:]
        assert any(e["type"] == "llm.delta" for e in events), "no live reasoning reached the client"
        db_events = list(TaskEvent.objects.filter(task=task).order_by("seq").values_list("seq", "type"))
        assert [(e["seq"], e["type"]) for e in stored] == db_events
        assert Step.objects.filter(task=task, status="completed").count() == 2
        assert Action.objects.filter(task=task, success=True).count() == 2
        assert Artifact.objects.filter(task=task, kind="screenshot_action").count() == 2
        assert Task.objects.get(pk=task.pk).worker.startswith("celery:")
        assert site.posts("/job/apply")  # the worker's browser really submitted the form


def test_sigkilled_worker_run_is_swept_as_lost(stack_env, site, fake_openai, org, operator):
    fake_openai.script = lambda req: reply_json({}, delay=60)  # the run sits in a model call
    runner = celery_worker("victim", stack_env["env"], stack_env["logs"], queues=stack_env["queue"])
    sweeper = celery_worker("sweeper", stack_env["env"], stack_env["logs"], queues=stack_env["queue"] + "-sweep", beat=True)
    with running(runner, sweeper):
        task = services.create_task(organization=org, created_by=operator, url=site.url("/table/"), navigation_goal="look")
        wait_until(lambda: Step.objects.filter(task=task).exists() and fake_openai.requests, 60, "run did not start")
        assert Task.objects.get(pk=task.pk).status == "running"
        killed_at = time.monotonic()
        runner.kill()  # SIGKILL the whole worker process group (Celery and its Chromium)
        wait_until(lambda: Task.objects.get(pk=task.pk).status == "failed", 20, "lost run was not swept")
        elapsed = time.monotonic() - killed_at
        lost = Task.objects.get(pk=task.pk)
        assert lost.failure_reason == "worker lost"
        assert elapsed < 3 + 1 + 5  # stale-after + sweep interval + slack
        assert not Step.objects.filter(task=task, status="running").exists()


def test_redelivered_message_runs_once(stack_env, site, fake_openai, org, operator):
    from tasks_app.runs.jobs import execute_task_job

    fake_openai.script = lambda req: step(act("complete"), goal_achieved=True)
    worker = celery_worker("runner", stack_env["env"], stack_env["logs"], queues=stack_env["queue"])
    with running(worker):
        task = services.create_task(organization=org, created_by=operator, url=site.url("/table/"), navigation_goal="look")
        # the same message delivered again (as after a broker redelivery)
        execute_task_job.apply_async(kwargs={"task_id": str(task.pk)}, queue=stack_env["queue"])
        wait_until(lambda: Task.objects.get(pk=task.pk).status == "completed", 60, "run did not complete")
        time.sleep(1.5)  # give the duplicate time to be consumed
        assert "not claimable" in worker.output()
        assert len(fake_openai.requests) == 1
        assert Step.objects.filter(task=task).count() == 1
        statuses = list(TaskEvent.objects.filter(task=task, type="task.status").values_list("data__status", flat=True))
        assert statuses.count("running") == 1
        # a worker told to stop closes its browser (the worker_process_shutdown hook), not the OS after it
        os.kill(worker.popen.pid, signal.SIGTERM)  # the main process only, as a supervisor would
        worker.popen.wait(timeout=30)
        assert "closed the worker's browser" in worker.output()


def test_sigterm_lets_the_run_finish_then_closes_the_browser(stack_env, site, fake_openai, org, operator):
    """A worker told to stop (SIGTERM to its main process, as a supervisor does) finishes the run it holds,
    stores every event, closes its browser and exits: nothing is left running."""
    fake_openai.script = lambda req: step(act("complete"), goal_achieved=True, delay=2.0)
    worker = celery_worker("stopping", stack_env["env"], stack_env["logs"], queues=stack_env["queue"])
    with running(worker):
        task = services.create_task(organization=org, created_by=operator, url=site.url("/table/"), navigation_goal="look")
        wait_until(lambda: bool(fake_openai.requests), 60, "run did not reach the model")
        os.kill(worker.popen.pid, signal.SIGTERM)
        worker.popen.wait(timeout=60)
        finished = Task.objects.get(pk=task.pk)
        assert finished.status == "completed", (finished.status, worker.output()[-3000:])
        seqs = list(TaskEvent.objects.filter(task=task).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))
        assert TaskEvent.objects.filter(task=task, type="task.status", data__status="completed").exists()
        assert "closed the worker's browser" in worker.output()
