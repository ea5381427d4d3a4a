"""A task runs for real through the bridge: rows, artifacts and numbered events match what the agent did;
pause / resume / terminate go through the services and reach the running agent."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from tasks_app import services
from tasks_app.models import Action, Artifact, Step, Task, TaskEvent
from tasks_app.runs.execute import execute_task
from tests.fakes.openai_server import computer_call, message, reply_json
from tests.scripting import act, element_id, page_url, step
from tests.tasks_app.running import assert_events_typed, make_task, run_until_model_asked

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


async def wait_for(predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await sync_to_async(predicate)():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_run_is_recorded(site, model, browser, org, operator):
    def script(req):
        if "documents" in page_url(req):
            return step(act("complete"), goal_achieved=True)
        return step(
            act("input_text", element_id(req, r"name=full_name"), text="Ada Lovelace"),
            act("input_text", element_id(req, r"name=email"), text="ada@example.test"),
            act("select_option", element_id(req, r"<select"), option="France"),
            act("checkbox", element_id(req, r"type=radio", r'value="?mid'), checked=True),
            act("input_text", element_id(req, r"name=start_date"), text="2027-01-04"),
            act("checkbox", element_id(req, r"name=terms"), checked=True),
            act("click", element_id(req, r"<button")),
        )

    model.script = script
    task = await sync_to_async(make_task)(org, operator, url=site.url("/job/"), navigation_goal="Apply")
    finished = await execute_task(task.pk, browser=browser)
    assert finished.status == "completed", finished.failure_reason
    assert site.last("/job/apply")["fields"]["full_name"] == "Ada Lovelace"

    steps = await sync_to_async(list)(Step.objects.filter(task=task).order_by("order"))
    assert [(s.order, s.status) for s in steps] == [(1, "completed"), (2, "completed")]
    actions = await sync_to_async(list)(Action.objects.filter(task=task).order_by("step__order", "index"))
    assert [a.action_type for a in actions] == ["input_text", "input_text", "select_option", "checkbox", "input_text", "checkbox", "click"]
    assert all(a.success for a in actions) and actions[0].parameters == {"text": "Ada Lovelace"}
    # each action's stored result carries what it changed on the page, the last one a new page
    assert actions[0].data["changes"]["value"] == "Ada Lovelace"
    assert actions[-1].data["changes"]["new_page"] and "/job/documents" in actions[-1].data["changes"]["summary"]
    shots = await sync_to_async(list)(Artifact.objects.filter(task=task, kind="screenshot_action"))
    assert len(shots) == 7 and all(s.action_id and s.thumbnail for s in shots)
    assert await sync_to_async(Artifact.objects.filter(task=task, kind="screenshot_final").exists)()
    data = await sync_to_async(lambda: shots[0].file.read())()
    assert data[:3] == b"\xff\xd8\xff" and shots[0].content_type == "image/jpeg"

    events = await sync_to_async(list)(TaskEvent.objects.filter(task=task).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types[0] == "task.status" and events[-1].data["status"] == "completed"
    assert types.count("step.started") == 2 and types.count("action.finished") == 7
    finished_events = [e for e in events if e.type == "action.finished"]
    assert finished_events[-1].data["data"]["changes"] == actions[-1].data["changes"]  # the timeline's copy
    assert_events_typed(events)
    refreshed = await Task.objects.aget(pk=task.pk)
    assert refreshed.input_tokens > 0 and refreshed.cost > 0  # gpt-4o has a price
    assert refreshed.heartbeat_at is None and refreshed.finished_at is not None


async def test_second_execution_of_same_task_does_nothing(site, model, browser, org, operator):
    model.script = [step(act("complete"), goal_achieved=True)]
    task = await sync_to_async(make_task)(org, operator, url=site.url("/table/"), navigation_goal="look")
    first, second = await asyncio.gather(execute_task(task.pk, browser=browser), execute_task(task.pk, browser=browser))
    assert [r is None for r in (first, second)].count(True) == 1
    assert len(model.requests) == 1
    assert await sync_to_async(Step.objects.filter(task=task).count)() == 1


async def test_pause_then_resume_continues_on_the_same_page(site, model, browser, org, operator):
    urls = []

    def script(req):
        urls.append(page_url(req))
        if req.index == 0:  # slow enough for the operator to pause while the model thinks
            return step(act("click", element_id(req, r"<button", r"(?i)archive")), delay=1.0)
        return step(act("complete"), goal_achieved=True)

    model.script = script
    task = await sync_to_async(make_task)(org, operator, url=site.url("/shifting/"), navigation_goal="archive")
    run = await run_until_model_asked(task.pk, browser=browser, model=model)
    paused = await sync_to_async(services.pause_task)(task=await Task.objects.select_related("organization").aget(pk=task.pk), by=operator)
    assert paused.status == "paused"
    await asyncio.sleep(1.5)
    assert len(model.requests) == 1, "the model was asked while the run was paused"
    assert not await sync_to_async(Action.objects.filter(task=task).exists)(), "an action ran while paused"
    await sync_to_async(services.resume_task)(task=paused, by=operator)
    finished = await asyncio.wait_for(run, 20)
    assert finished.status == "completed"
    assert urls[0] == urls[1]  # resumed from the page as it was
    statuses = [e.data["status"] for e in await sync_to_async(list)(TaskEvent.objects.filter(task=task, type="task.status").order_by("seq"))]
    assert statuses == ["created", "queued", "running", "paused", "running", "completed"]


async def test_terminate_during_slow_model_call(site, model, browser, org, operator):
    model.script = lambda req: reply_json({}, delay=30)
    task = await sync_to_async(make_task)(org, operator, url=site.url("/table/"), navigation_goal="look")
    run = await run_until_model_asked(task.pk, browser=browser, model=model)
    loop = asyncio.get_running_loop()
    started = loop.time()
    current = await Task.objects.select_related("organization").aget(pk=task.pk)
    await sync_to_async(services.terminate_task)(task=current, by=operator, reason="operator says stop")
    # What must be prompt is abandoning the model call: the fake sees the client hang up. The run's wind-down
    # after that (final screenshot, closing a context that records video, trace and HAR, storing them) only
    # has to end well before the reply would have come: on a loaded 2-core machine it alone took 2 to 4 s,
    # which a 2 s bound on the whole run mistook for a slow termination.
    while not model.requests[0].disconnected:
        assert loop.time() - started < 2.0, "the model call was not abandoned at once"
        await asyncio.sleep(0.02)
    finished = await asyncio.wait_for(run, 20)  # the reply was due after 30 s
    assert finished.status == "terminated" and finished.failure_reason == "operator says stop"
    assert not await sync_to_async(Step.objects.filter(task=task, status="running").exists)()
    assert await sync_to_async(Artifact.objects.filter(task=task, kind="screenshot_final").exists)()


async def test_invalid_start_url_fails_cleanly(model, browser, org, operator):
    task = await sync_to_async(make_task)(org, operator, url="https://127.0.0.1:1/", navigation_goal="x")
    finished = await execute_task(task.pk, browser=browser)
    assert finished.status == "failed" and "could not open" in finished.failure_reason
    assert not model.requests


async def test_denied_safety_check_ends_the_run_whatever_the_reason_says(site, model, browser, org, operator, monkeypatch):
    """The run learns of a denial from the task's stop cause, not from the wording of its failure reason."""
    check = {"id": "sc_1", "code": "malicious_instructions", "message": "The page asks to ignore the user"}
    model.script = [
        computer_call({"type": "click", "x": 60, "y": 60, "button": "left"}, safety_checks=[check], reasoning="Click it"),
        message("Done."),
    ]
    task = await sync_to_async(make_task)(org, operator, url=site.url("/table/"), navigation_goal="click", engine="cua")
    run = asyncio.create_task(execute_task(task.pk, browser=browser))
    await wait_for(lambda: Task.objects.get(pk=task.pk).status == "awaiting_approval")
    monkeypatch.setattr("tasks_app.services.tasks.actor_label", lambda actor: "a reviewer")  # other words, same data
    current = await Task.objects.select_related("organization").aget(pk=task.pk)
    await sync_to_async(services.deny_safety_checks)(task=current, by=operator)
    finished = await asyncio.wait_for(run, 20)
    assert finished.status == "terminated" and finished.stop_cause == Task.StopCause.SAFETY_CHECK_DENIED
    assert "malicious_instructions" in finished.failure_reason
    assert len(model.requests) == 1, "the run went on after the denial"
    assert not await sync_to_async(Action.objects.filter(task=task, success=True).exists)(), "the held action ran"
