"""Take control in a real browser: an operator drives the agent's page through the live view (a click into
a field, typing, a click on a button), the local site receives exactly that, a second operator is refused,
release resumes the run and the model's next request says what the person did; and an operator answers
the agent's question on the task page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tasks_app.models import Task
from tests.factories import MembershipFactory
from tests.scripting import act, page_url, step
from tests.tasks_app.dashboard.test_end_to_end import create_through_form
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
AGENT_VIEWPORT = {"width": 1280, "height": 800}  # BrowserConfig's default: the agent's page size


def fractions_of(playwright_browser, url, selectors):
    """Where the elements are on the agent's page, as fractions of its viewport: the same Chromium lays the
    same page out the same way at the same size."""
    context = playwright_browser.new_context(viewport=AGENT_VIEWPORT)
    try:
        page = context.new_page()
        page.goto(url)
        out = {}
        for selector in selectors:
            box = page.locator(selector).bounding_box()
            out[selector] = ((box["x"] + box["width"] / 2) / AGENT_VIEWPORT["width"],
                             (box["y"] + box["height"] / 2) / AGENT_VIEWPORT["height"])
        return out
    finally:
        context.close()


def click_live_view(page, fraction):
    box = page.locator("#live-view").bounding_box()
    page.mouse.click(box["x"] + fraction[0] * box["width"], box["y"] + fraction[1] * box["height"])


def test_operator_takes_control_types_clicks_and_hands_back(
    asgi_server, logged_in_page, playwright_browser, operator, org, model, site
):
    def script(req):
        if "plans.html" in page_url(req):
            return step(act("complete", reasoning="signed in"), goal_achieved=True)
        return step(act("wait", seconds=0.2, reasoning="waiting for a person"), thinking="I need the user's password.", delay=0.5)

    model.script = script
    spots = fractions_of(playwright_browser, site.url("/login/"), ["#username", "#password", "button[type=submit]"])
    page = logged_in_page(operator)
    task = create_through_form(page, site.url("/login/"), "Sign in to Cloudy")
    expect(page.locator("#live-view")).to_have_attribute("src", re.compile("^blob:"), timeout=20000)
    page.get_by_role("button", name="Take control").click()
    expect(page.locator("#control-state")).to_contain_text("the agent is paused", timeout=15000)
    expect(page.locator("#task-status")).to_have_text("paused")
    expect(page.get_by_role("button", name="Release control")).to_be_visible()

    # a second operator sees who has control, and can neither send input nor take it
    second = MembershipFactory(organization=org, role="operator").user
    other = logged_in_page(second)
    other.goto(f"/tasks/{task.pk}/")
    expect(other.locator("#control-state")).to_have_text(f"{operator.username} has control of the browser.")
    other.wait_for_function("() => window.lookout.frames.ws && window.lookout.frames.ws.readyState === 1")
    other.evaluate("() => window.lookout.frames.send({t: 'keydown', key: 'x'})")
    expect(other.locator("#control-feedback")).to_have_text("Someone else has control of this browser.")
    other.get_by_role("button", name="Take control").click()
    expect(other.locator("#control-feedback")).to_have_text(
        re.compile(f"{operator.username} has control of this run; an organization admin can take it over", re.I)
    )

    # the operator drives the agent's page through the live view
    click_live_view(page, spots["#username"])
    page.keyboard.type("ada")
    click_live_view(page, spots["#password"])
    page.keyboard.type("lovelace")
    click_live_view(page, spots["button[type=submit]"])
    wait_until(lambda: site.posts("/login/session"), 15.0, "the site never got the sign-in form")
    assert site.last("/login/session")["fields"] == {"username": "ada", "password": "lovelace"}
    asked_before = len(model.requests)
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text('clicked the button "Sign in"', timeout=15000)

    page.get_by_role("button", name="Release control").click()
    expect(page.locator("#task-status")).to_have_text("completed", timeout=30000)
    told = [r for r in model.requests if "had control of the browser" in r.user_text()]
    assert len(told) == 1 and told[0].index == asked_before, "the next model request says what the person did"
    note = told[0].user_text()
    assert f"A person ({operator.username}) had control of the browser" in note
    assert 'typed "ada" into the text field "Username"' in note
    assert 'typed •••••• into the password field "Password"' in note and "lovelace" not in note
    assert 'clicked the button "Sign in"' in note and "plans.html" in note
    assert "plans.html" in page_url(told[0])  # the agent carried on from the page the person left it on

    expect(timeline).to_contain_text(f"Control taken by {operator.username}")
    expect(timeline).to_contain_text('typed "ada" into the text field "Username"')
    expect(timeline).to_contain_text('typed •••••• into the password field "Password"')
    expect(timeline).to_contain_text(f"Control released by {operator.username}")
    assert "lovelace" not in timeline.inner_text()
    assert Task.objects.get(pk=task.pk).control_holder_label == ""


def test_operator_answers_the_agents_question_on_the_task_page(asgi_server, logged_in_page, operator, model, site):
    question = "What is the one-time code sent to the user's phone?"
    model.script = lambda req: (
        step(act("ask_human", question=question)) if req.index == 0 else step(act("complete"), goal_achieved=True)
    )
    page = logged_in_page(operator)
    task = create_through_form(page, site.url("/login/"), "Sign in with the code")
    panel = page.locator("#question-panel")
    expect(panel).to_be_visible(timeout=20000)
    expect(page.locator("#task-status")).to_have_text("awaiting input")
    expect(panel).to_contain_text(question)
    expect(page.get_by_role("button", name="Take control")).to_be_visible()
    api = page.request.get(f"/api/v1/tasks/{task.pk}/").json()
    assert api["status"] == "awaiting_input" and api["pending_question"] == question
    panel.get_by_label("Your answer").fill("424242")
    panel.get_by_role("button", name="Send answer").click()
    expect(page.locator("#task-status")).to_have_text("completed", timeout=20000)
    expect(panel).to_be_hidden()
    assert '"424242"' in model.requests[1].user_text()
    expect(page.locator("#timeline")).to_contain_text(f"Answered by {operator.username}: “424242”")
