"""The whole product in a real browser: an operator creates a task through the form, watches the agent run
it in-process against a local site with the fake model (timeline and live view filling in), pauses,
resumes, terminates, steps through the gallery, and approves a cua safety check."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tasks_app.models import Task
from tests.fakes.openai_server import computer_call, message, reply_json
from tests.scripting import act, element_id, page_url, step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def create_through_form(page, url, goal, engine="dom"):
    page.goto("/tasks/new/")
    page.get_by_label("Start URL").fill(url)
    page.get_by_label("Navigation goal").fill(goal)
    page.get_by_label("Engine").select_option(engine)
    page.get_by_role("button", name="Create and run").click()
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"))
    return Task.objects.get(pk=page.url.rstrip("/").rsplit("/", 1)[1])


def wait_for_requests(model, count, timeout=15.0):
    deadline = time.monotonic() + timeout
    while len(model.requests) < count:
        assert time.monotonic() < deadline, f"the model got {len(model.requests)} request(s), not {count}"
        time.sleep(0.02)


def test_operator_runs_watches_pauses_resumes_and_reviews(asgi_server, logged_in_page, operator, model, site):
    def script(req):
        url = page_url(req)
        if "documents" in url:
            return step(act("complete", reasoning="on the documents page"), goal_achieved=True)
        n = len([r for r in model.requests if "documents" not in page_url(r)])
        if n == 1:  # slow enough to watch the reasoning stream and to pause during it
            return step(act("input_text", element_id(req, r"name=full_name"), text="Ada Lovelace"),
                        thinking="I will type the applicant's name first.", delay=1.5)
        return step(
            act("input_text", element_id(req, r"name=email"), text="ada@example.test"),
            act("select_option", element_id(req, r"<select"), option="France"),
            act("checkbox", element_id(req, r"type=radio", r'value="?mid'), checked=True),
            act("input_text", element_id(req, r"name=start_date"), text="2027-01-04"),
            act("checkbox", element_id(req, r"name=terms"), checked=True),
            act("click", element_id(req, r"<button")),
            thinking="Now the rest of the form.",
        )

    model.script = script
    page = logged_in_page(operator)
    task = create_through_form(page, site.url("/job/"), "Apply for the job as Ada")
    expect(page.locator("#task-status")).to_have_text("running", timeout=15000)
    # the live view shows frames from the agent's browser while it runs
    expect(page.locator("#live-view")).to_have_attribute("src", re.compile("^blob:"), timeout=15000)
    step_el = page.locator("#timeline .tl-step").first
    expect(step_el).to_contain_text("Step 1", timeout=15000)
    # Pause while the model is still answering step 1: the run stops at its next checkpoint. "Step 1" on
    # the timeline is not enough to know that: the step starts (screenshot, scrape) before the checkpoint
    # that precedes the model call, and a pause that lands there holds the run before the model is ever
    # asked, so no reasoning could stream (the flake seen once in eight runs). Wait for the request itself.
    wait_for_requests(model, 1)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#task-status")).to_have_text("paused")
    expect(step_el.locator(".thinking-text")).to_have_text("I will type the applicant's name first.", timeout=15000)
    time.sleep(1.0)
    assert len(model.requests) == 1, "the model was asked again while paused"
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#task-status")).to_have_text("completed", timeout=30000)
    expect(page.locator("#timeline .tl-step")).to_have_count(3)
    expect(page.locator("#timeline .tl-action")).to_have_count(7)
    expect(page.locator("#timeline .action-changes").last).to_contain_text("new page")  # the submit's report
    assert site.last("/job/apply")["fields"]["full_name"] == "Ada Lovelace"
    expect(page.locator("#live-caption")).to_have_text("Final screenshot")

    # review: the gallery's lightbox steps through the run's screenshots with the keyboard
    page.goto(f"/tasks/{task.pk}/artifacts/")
    shots = page.locator(".gallery .shot")
    expect(shots.first).to_be_visible()
    total = shots.count()
    assert total >= 8  # one per action plus one per model call
    shots.first.click()
    expect(page.locator("#lightbox-position")).to_have_text(f"1 of {total}")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#lightbox-position")).to_have_text(f"2 of {total}")
    page.keyboard.press("Escape")
    expect(page.locator("#lightbox")).to_be_hidden()


def test_operator_terminates_a_run_waiting_on_the_model(asgi_server, logged_in_page, operator, model, site):
    model.script = lambda req: reply_json({}, delay=30)
    page = logged_in_page(operator)
    task = create_through_form(page, site.url("/table/"), "Read the table")
    expect(page.locator("#task-status")).to_have_text("running", timeout=15000)
    wait_for_requests(model, 1)
    page.get_by_role("button", name="Terminate").click()
    expect(page.locator("#task-status")).to_have_text("terminated", timeout=5000)
    expect(page.locator('[data-role="failure-reason"]')).to_have_text(f"terminated by {operator.username}")
    expect(page.locator("#live-caption")).to_have_text("Final screenshot", timeout=10000)
    assert Task.objects.get(pk=task.pk).status == "terminated"


def test_operator_approves_a_cua_safety_check(asgi_server, logged_in_page, operator, model, site):
    check = {"id": "sc_1", "code": "malicious_instructions", "message": "The page asks to ignore the user"}
    model.script = [
        computer_call({"type": "click", "x": 60, "y": 60, "button": "left"}, safety_checks=[check], reasoning="Click it"),
        message("Done."),
    ]
    page = logged_in_page(operator)
    task = create_through_form(page, site.url("/table/"), "Click the first thing", engine="cua")
    panel = page.locator("#approval-panel")
    expect(panel).to_be_visible(timeout=20000)
    expect(page.locator("#task-status")).to_have_text("awaiting approval")
    expect(panel).to_contain_text("malicious_instructions")
    expect(panel).to_contain_text("The page asks to ignore the user")
    panel.get_by_role("button", name="Approve").click()
    expect(page.locator("#task-status")).to_have_text("completed", timeout=20000)
    # the approval really went back to the model with the next request
    followup = model.requests[1].body
    outputs = [i for i in followup.get("input", []) if isinstance(i, dict) and i.get("type") == "computer_call_output"]
    assert outputs and outputs[0]["acknowledged_safety_checks"][0]["id"] == "sc_1"
    assert Task.objects.get(pk=task.pk).status == "completed"
