""""Run again without the model" in a real browser: a run of the fake model on the local job site records a
script; on its page an operator opens the replay box, types another payload and replays; the new task's page
shows every step replayed, no model call, and the site received the new values."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from agent_core.types import ActionFinished, ActionResult, ActionStarted, ScriptOut, StepRef, StepStarted
from tasks_app import services
from tasks_app.models import Script, Step, Task
from tests.tasks_app.recorded import ADA, DOCUMENT, GRACE, apply_with_payload
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_run_again_without_the_model(asgi_server, logged_in_page, operator, org, model, site):
    model.script = apply_with_payload
    page = logged_in_page(operator)  # its requests attach the in-process runner to the server's loop
    source = asgi_server.call(
        services.create_task, organization=org, created_by=operator, url=site.url("/job/"),
        navigation_goal="Apply for the job", navigation_payload=ADA,
    )
    wait_until(lambda: Task.objects.get(pk=source.pk).is_final, 30.0, "the recorded run's end not reached in time")
    assert Task.objects.get(pk=source.pk).status == "completed"
    assert Script.objects.filter(lineage=source).exists()
    calls = len(model.requests)

    page.goto(f"/tasks/{source.pk}/")
    page.get_by_text("Run again without the model").click()
    page.get_by_label("New payload").fill(json.dumps(GRACE))
    page.get_by_role("button", name="Replay now").click()
    page.wait_for_url(lambda url: str(source.pk) not in url and re.search(r"/tasks/[0-9a-f-]{36}/$", url) is not None)
    expect(page.locator("#task-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator('[data-fact="run-with"]')).to_contain_text("script version 1")
    expect(page.locator(".tl-step .mode-tag.replayed").first).to_be_visible()
    assert page.locator(".tl-step .mode-tag.model").count() == 0
    expect(page.locator('[data-figure="model-calls"]')).to_contain_text("Model calls: 0")
    expect(page.locator("#timeline .tl-replay")).to_contain_text("0 model calls")

    replay = Task.objects.get(pk=page.url.rstrip("/").rsplit("/", 1)[1])
    assert replay.run_with == "script" and replay.navigation_payload == GRACE
    assert len(model.requests) == calls, "the replay asked the model"
    assert site.last("/job/apply")["fields"]["full_name"] == GRACE["full_name"]
    steps = page.locator(".tl-step").count()
    assert page.locator(".tl-step .mode-tag.replayed").count() == steps >= 7


def test_the_timeline_says_how_each_step_of_a_replay_ran(asgi_server, logged_in_page, operator, scripted_run, live_task):
    """Events played through the real RecordingHooks: a replayed step, a step the model redid (and why) and
    the repaired script, each on the timeline as it arrives and again after a reload."""
    run, hooks = scripted_run, scripted_run.hooks
    page = logged_in_page(operator)
    page.goto(f"/tasks/{live_task.pk}/")
    expect(page.locator("#conn-state")).to_have_text("live")

    click = {"action_type": "click", "element_id": "e4", "reasoning": "replayed step 2 of the script"}
    first = StepRef(order=1)
    asgi_server.run(hooks.step_started(StepStarted(step=first, url="https://shop.example.test/", mode="replayed")))
    asgi_server.run(hooks.action_started(ActionStarted(step=first, index=0, action=click, mode="replayed")))
    asgi_server.run(hooks.action_finished(ActionFinished(step=first, index=0, action=click,
                                                          result=ActionResult(success=True), mode="replayed")))
    run.step_done(first, tokens=(0, 0))
    why = 'step 2 (click "Sign up"): no element matches its recorded locators'
    second = StepRef(order=2)
    asgi_server.run(hooks.step_started(StepStarted(step=second, url="https://shop.example.test/", mode="model", why=why)))
    run.reply(second, {"thinking": "The button is now called Join.", "goal_achieved": False, "actions": []})
    run.step_done(second)
    asgi_server.run(hooks.script(ScriptOut(document=DOCUMENT, healed_steps=[2], reason="repaired")))

    steps = page.locator("#timeline .tl-step")
    expect(steps.nth(0).locator(".mode-tag")).to_have_text("replayed")
    expect(steps.nth(1).locator(".mode-tag")).to_have_text("asked the model")
    expect(steps.nth(1).locator(".step-why")).to_have_text(f"Why the model was asked: {why}")
    expect(page.locator("#timeline .tl-script")).to_contain_text("Script repaired: version 1 (2 actions; the model redid step 2)")
    page.reload()  # the same from the stored events
    expect(page.locator("#timeline .tl-step").nth(1).locator(".step-why")).to_contain_text("no element matches")
    assert Step.objects.get(task=live_task, order=2).why == why
