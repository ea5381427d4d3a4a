"""Ask a person, in real runs: the dom agent's ask_human and the cua model's question put the task in
awaiting_input; the answer reaches the model's next request; an unanswered question fails the run; run_task
asks on a terminal."""

from __future__ import annotations

import asyncio
import sys
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from tasks_app import services
from tasks_app.models import Task, TaskEvent, WebhookDelivery
from tasks_app.runs.execute import execute_task
from tests.fakes.openai_server import message
from tests.scripting import act, step
from tests.tasks_app.running import assert_events_typed, make_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
QUESTION = "What is the one-time code sent to the user's phone?"


async def wait_for_status(task_id, status, timeout=15.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await Task.objects.aget(pk=task_id)).status != status:
        assert loop.time() < deadline, f"the task never became {status}"
        await asyncio.sleep(0.05)


def asks_then_completes(model):
    def script(req):
        if req.index == 0:
            return step(act("ask_human", question=QUESTION, reasoning="only the user has the code"))
        return step(act("complete"), goal_achieved=True)

    return script


async def test_dom_agent_asks_and_the_answer_reaches_the_model(site, model, browser, org, operator, settings):
    settings.LOOKOUT_RUNNER = "inprocess"
    model.script = asks_then_completes(model)
    task = await sync_to_async(make_task)(
        org, operator, url=site.url("/login/"), navigation_goal="Sign in", webhook_callback_url="https://hooks.example.test/x"
    )
    with mock.patch("tasks_app.services.webhooks.send_webhook") as send:
        send.return_value = mock.Mock(status_code=200, text="ok", ok=True)
        run = asyncio.create_task(execute_task(task.pk, browser=browser))
        await wait_for_status(task.pk, "awaiting_input")
        waiting = await Task.objects.select_related("organization").aget(pk=task.pk)
        assert waiting.pending_question == QUESTION
        await sync_to_async(services.answer_question)(task=waiting, by=operator, answer="424242")
        finished = await asyncio.wait_for(run, 30)
    assert finished.status == "completed", finished.failure_reason
    second = model.requests[1].user_text()
    assert QUESTION in second and '"424242"' in second
    assert 'answer="424242"' in second  # and in the history line of the action
    events = await sync_to_async(list)(TaskEvent.objects.filter(task=task).order_by("seq"))
    types = [e.type for e in events]
    assert types.index("input.requested") < types.index("input.answered")
    assert_events_typed(events)
    # the webhook told the receiver the run waits for a person, then that it finished
    deliveries = await sync_to_async(list)(WebhookDelivery.objects.filter(task=task).order_by("id"))
    assert [(d.event, d.payload["status"]) for d in deliveries] == [
        ("task.awaiting_input", "awaiting_input"), ("task.finished", "completed")
    ]
    assert deliveries[0].payload["question"] == QUESTION


async def test_unanswered_question_fails_the_run_with_a_clear_reason(site, model, browser, org, operator, settings):
    settings.LOOKOUT_INPUT_TIMEOUT = 0.5
    model.script = asks_then_completes(model)
    task = await sync_to_async(make_task)(org, operator, url=site.url("/login/"), navigation_goal="Sign in")
    finished = await asyncio.wait_for(execute_task(task.pk, browser=browser), 30)
    assert finished.status == "failed"
    assert finished.failure_reason == f'nobody answered the agent\'s question within 0.5 s: "{QUESTION}"'
    assert len(model.requests) == 1


async def test_cua_question_is_asked_and_answered(site, model, browser, org, operator):
    model.script = [message("Which plan should I choose, basic or pro?"), message("I chose pro. Done.")]
    task = await sync_to_async(make_task)(org, operator, url=site.url("/login/"), navigation_goal="Pick a plan", engine="cua")
    run = asyncio.create_task(execute_task(task.pk, browser=browser))
    await wait_for_status(task.pk, "awaiting_input")
    waiting = await Task.objects.select_related("organization").aget(pk=task.pk)
    assert waiting.pending_question == "Which plan should I choose, basic or pro?"
    await sync_to_async(services.answer_question)(task=waiting, by=operator, answer="pro")
    finished = await asyncio.wait_for(run, 30)
    assert finished.status == "completed", finished.failure_reason
    assert model.requests[1].body.get("previous_response_id")  # the conversation goes on from the question
    texts = model.requests[1].user_text()
    assert '"pro"' in texts and model.requests[1].image_urls()  # the answer, with the page as it is


def test_run_task_asks_on_a_terminal(model, site, org, capsys, monkeypatch, settings):
    settings.LOOKOUT_RUNNER = "inprocess"
    model.script = asks_then_completes(model)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt="": "424242")
    call_command("run_task", "--url", site.url("/login/"), "--goal", "Sign in", "--org", org.slug)
    out = capsys.readouterr().out
    assert f"the agent asks: {QUESTION}" in out and "answered by system: 424242" in out
    assert "result: completed" in out
    assert '"424242"' in model.requests[1].user_text()
