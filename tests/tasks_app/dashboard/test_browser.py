"""The dashboard in a real headless Chromium against the live ASGI server: the timeline fills in live from
events the real bridge records, survives a reload and a dropped socket, controls change the status badge,
the approval panel approves, the gallery lightbox steps with the keyboard, the list's badges follow runs.

Run with: flock /tmp/lookout-browser.lock .venv/bin/pytest tests/tasks_app/dashboard -m browser
(UPDATE_SCREENSHOTS=1 also refreshes docs/screenshot-task-detail.png.)
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tasks_app import services
from tasks_app.models import Step, Task, TaskEvent
from tests.factories import TaskFactory
from tests.tasks_app.dashboard.conftest import make_artifact, png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "screenshot-task-detail.png"

TYPE_EMAIL = {"action_type": "input_text", "element_id": "e12", "text": "ada@example.com", "reasoning": "The payload gives the email to use."}
CLICK_SUBSCRIBE = {"action_type": "click", "element_id": "e14", "reasoning": "Submit the form."}


def page_image(
    title: str, *, lines: tuple[str, ...] = (), filled: str = "", cookie_banner: bool = False, banner: str = "", fmt: str = "PNG"
) -> bytes:
    """A screenshot-like picture of a small shop page, so the gallery and the README show something real."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=26)
    big = ImageFont.load_default(size=44)
    image = Image.new("RGB", (1280, 800), "#ffffff")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1280, 84), fill="#1f3b63")
    draw.text((48, 26), "shop.example", fill="#ffffff", font=font)
    draw.text((980, 26), "Cart (0)", fill="#c9d6ea", font=font)
    draw.text((48, 130), title, fill="#111111", font=big)
    y = 200
    for line in lines:
        draw.text((48, y), line, fill="#444444", font=font)
        y += 40
    draw.text((48, 300), "Email", fill="#222222", font=font)
    draw.rounded_rectangle((48, 340, 640, 400), radius=6, outline="#8a94a6", width=2)
    if filled:
        draw.text((66, 355), filled, fill="#111111", font=font)
    draw.rounded_rectangle((48, 430, 300, 490), radius=6, fill="#e4572e")
    draw.text((86, 445), "Subscribe", fill="#ffffff", font=font)
    if banner:
        draw.rectangle((0, 540, 1280, 620), fill="#e5f6ee")
        draw.text((48, 565), banner, fill="#18794e", font=font)
    if cookie_banner:
        draw.rectangle((0, 420, 1280, 560), fill="#222a3a")
        draw.text((48, 450), "We use cookies to improve your visit.", fill="#ffffff", font=font)
        draw.rounded_rectangle((900, 440, 1180, 500), radius=6, fill="#ffffff")
        draw.text((930, 455), "Accept cookies", fill="#222a3a", font=font)
    out = io.BytesIO()
    image.save(out, fmt, quality=85)
    return out.getvalue()


def save_docs_screenshot(page, tmp_path: Path) -> None:
    """The README's picture of the task page. Written when missing or with UPDATE_SCREENSHOTS=1 (each shot
    differs in its times, so every test run would otherwise touch the committed file)."""
    shot = page.screenshot(path=str(tmp_path / DOCS_SCREENSHOT.name), full_page=True)
    if not DOCS_SCREENSHOT.exists() or os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(shot)


def test_timeline_fills_in_live_and_a_reload_shows_everything(
    asgi_server, logged_in_page, org, operator, scripted_run, live_task, settings, tmp_path
):
    settings.OPENAI_API_KEY = "sk-test"  # no "model not configured" banner on the README screenshot
    type(org).objects.filter(pk=org.pk).update(name="Acme Research")  # and nicer names than "Org 115"
    type(operator).objects.filter(pk=operator.pk).update(username="ada")
    operator.refresh_from_db()
    run = scripted_run
    page = logged_in_page(operator)
    page.goto(f"/tasks/{live_task.pk}/")
    expect(page.locator("#task-status")).to_have_text("running")
    expect(page.locator("#conn-state")).to_have_text("live")
    expect(page.locator("#timeline .tl-status")).to_have_count(1)
    expect(page.locator("#timeline .tl-status")).to_contain_text("created → queued → running")

    # step 1 arrives event by event
    step = run.step(1, "https://shop.example.test/")
    step_el = page.locator("#timeline .tl-step").first
    expect(step_el).to_contain_text("Step 1")
    expect(step_el.locator(".step-state")).to_have_text("running…")
    run.screenshot(step, "screenshot_llm", page_image("Newsletter", lines=("Get 10% off your first order.",)))
    expect(step_el.locator(".model-shot img")).to_be_visible()
    expect(page.locator("#live-view")).to_have_attribute("src", re.compile(r"/artifacts/\d+/file$"))

    run.delta(step, '{"thinking": "The page shows a sign')
    expect(step_el.locator(".thinking-text")).to_have_text("The page shows a sign")
    expect(step_el.locator(".thinking")).to_have_class(re.compile("streaming"))
    run.delta(step, '-up form with an \\"Email\\" fi')
    expect(step_el.locator(".thinking-text")).to_have_text('The page shows a sign-up form with an "Email" fi')
    thinking = "The page shows a sign-up form with an \"Email\" field. I will type the payload's email, then subscribe."
    run.reply(step, {"thinking": thinking, "goal_achieved": False, "actions": [TYPE_EMAIL, CLICK_SUBSCRIBE]})
    expect(step_el.locator(".thinking-text")).to_have_text(thinking)
    expect(step_el.locator(".thinking")).not_to_have_class(re.compile("streaming"))

    run.action(step, 0, TYPE_EMAIL)
    first_action = step_el.locator(".tl-action").nth(0)
    expect(first_action).to_contain_text("input_text e12")
    expect(first_action).to_contain_text("“ada@example.com”")
    expect(first_action).to_contain_text("The payload gives the email to use.")
    expect(first_action.locator(".action-state")).to_have_text("running…")
    run.action_done(step, 0, TYPE_EMAIL, data={"changes": {"summary": '[e12] value now "ada@example.com"'}})
    expect(first_action.locator(".action-state")).to_have_text("done in 0.2 s")
    # what the action changed on the page, in the words the model reads; no raw data left to show
    expect(first_action.locator(".action-changes")).to_have_text('[e12] value now "ada@example.com"')
    expect(first_action.locator(".action-data")).to_have_count(0)
    run.screenshot(step, "screenshot_action", page_image("Newsletter", filled="ada@example.com", cookie_banner=True), action_index=0)
    expect(first_action.locator(".action-shot img")).to_have_attribute("src", re.compile(r"/thumb$"))

    run.action(step, 1, CLICK_SUBSCRIBE)
    run.action_done(step, 1, CLICK_SUBSCRIBE, success=False, error="element e14 is covered by the cookie banner")
    second_action = step_el.locator(".tl-action").nth(1)
    expect(second_action.locator(".action-error")).to_have_text("Failed: element e14 is covered by the cookie banner")
    run.step_done(step, success=False, error="action 2 (click e14) failed: element e14 is covered by the cookie banner")
    expect(step_el.locator(".step-state")).to_have_text("failed")
    expect(step_el.locator(".step-error")).to_contain_text("This step failed: action 2 (click e14) failed")
    expect(step_el.locator(".step-meta")).to_contain_text("1,946 tokens")
    expect(page.locator('#task-facts [data-fact="tokens"]')).to_contain_text("1946")  # the header followed

    # the retry of step 1 is under way, with live frames and the thinking still streaming
    retry = run.step(1, "https://shop.example.test/", retry_index=1)
    run.screenshot(retry, "screenshot_llm", page_image("Newsletter", filled="ada@example.com", cookie_banner=True))
    run.delta(retry, '{"thinking": "A cookie banner covers the Subscribe button. I will accept the cookies first')
    run.frame(page_image("Newsletter", filled="ada@example.com", cookie_banner=True, fmt="JPEG"))
    expect(page.locator("#live-view")).to_have_attribute("src", re.compile("^blob:"))
    expect(page.locator("#live-caption")).to_have_text("Live")
    page.wait_for_function("() => { const img = document.getElementById('live-view'); return img.complete && img.naturalWidth === 1280; }")
    expect(page.locator("#live-caption")).to_have_attribute("title", re.compile("^Frame captured at "))
    retry_el = page.locator("#timeline .tl-step").nth(1)
    expect(retry_el).to_contain_text("Step 1 (retry 1)")
    expect(retry_el.locator(".thinking-text")).to_have_text("A cookie banner covers the Subscribe button. I will accept the cookies first")
    save_docs_screenshot(page, tmp_path)

    # a reload replays everything stored (deltas are not stored: the finished reply is)
    page.reload()
    expect(page.locator("#timeline .tl-step")).to_have_count(2)
    step_el = page.locator("#timeline .tl-step").first
    expect(step_el.locator(".thinking-text")).to_have_text(thinking)
    expect(step_el.locator(".tl-action")).to_have_count(2)
    expect(step_el.locator(".action-shot img")).to_have_count(1)
    expect(step_el.locator(".step-error")).to_contain_text("This step failed")
    expect(page.locator("#timeline-count")).to_have_text(f"{TaskEvent.objects.filter(task=live_task).count()} events")

    # the run ends: badge, controls and result follow without a reload
    run.reply(retry, {"thinking": "Accepted the cookies; the form is submitted.", "goal_achieved": True, "actions": []})
    run.step_done(retry)
    run.screenshot(None, "screenshot_final", page_image("Thanks!", banner="You are subscribed. Confirmation number: NL-4821"))
    task = Task.objects.get(pk=live_task.pk)
    asgi_server.call(services.finish_task, task=task, status="completed", extracted_information={"confirmation_number": "NL-4821"})
    expect(page.locator("#task-status")).to_have_text("completed")
    expect(page.locator("#extracted-json")).to_contain_text('"confirmation_number": "NL-4821"')
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.get_by_role("button", name="Pause")).to_be_hidden()
    expect(page.get_by_role("link", name="Run again…")).to_be_visible()
    expect(page.locator("#live-caption")).to_have_text("Final screenshot")


def test_a_dropped_connection_reconnects_without_gaps_or_duplicates(asgi_server, logged_in_page, operator, scripted_run, live_task):
    run = scripted_run
    page = logged_in_page(operator)
    page.goto(f"/tasks/{live_task.pk}/")
    step = run.step(1, "https://shop.example.test/")
    expect(page.locator("#timeline .tl-step")).to_have_count(1)

    page.evaluate("window.lookout.timeline.ws.close()")  # as if the network dropped it
    run.action(step, 0, TYPE_EMAIL)  # recorded while the page is not connected
    run.action_done(step, 0, TYPE_EMAIL)
    run.step_done(step)
    run.step(2, "https://shop.example.test/thanks")
    expect(page.locator("#conn-state")).to_have_text("live")
    expect(page.locator("#timeline .tl-step")).to_have_count(2)
    expect(page.locator("#timeline .tl-action")).to_have_count(1)
    expect(page.locator("#timeline .tl-step").first.locator(".step-state")).to_have_text("done")
    stored = TaskEvent.objects.filter(task=live_task).count()
    expect(page.locator("#timeline-count")).to_have_text(f"{stored} events")
    assert page.evaluate("window.lookout.timeline.lastSeq") == stored


def test_controls_change_the_status_badge(asgi_server, logged_in_page, operator, live_task):
    page = logged_in_page(operator)
    page.goto(f"/tasks/{live_task.pk}/")
    expect(page.locator("#conn-state")).to_have_text("live")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#control-feedback")).to_have_text("Paused: the run stops at its next checkpoint.")
    expect(page.locator("#task-status")).to_have_text("paused")
    expect(page.locator("#task-status")).to_have_class(re.compile("status-paused"))
    expect(page.get_by_role("button", name="Pause")).to_be_hidden()
    expect(page.get_by_role("button", name="Retry step")).to_be_visible()
    expect(page.locator("#timeline .tl-status").last).to_contain_text(f"paused by {operator.username}")

    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#task-status")).to_have_text("running")
    expect(page.get_by_role("button", name="Resume")).to_be_hidden()

    # a second operator's click that lost the race: the service's message, nothing else changes
    asgi_server.call(services.pause_task, task=live_task, by=operator)
    expect(page.locator("#task-status")).to_have_text("paused")

    page.get_by_role("button", name="Terminate").click()  # confirmed (the fixture accepts dialogs)
    expect(page.locator("#task-status")).to_have_text("terminated")
    expect(page.locator('[data-role="failure-reason"]')).to_have_text(f"terminated by {operator.username}")
    assert Task.objects.get(pk=live_task.pk).status == "terminated"


def test_a_control_refused_by_state_says_why(asgi_server, logged_in_page, operator, live_task):
    page = logged_in_page(operator)
    page.goto(f"/tasks/{live_task.pk}/")
    expect(page.locator("#conn-state")).to_have_text("live")
    # another operator pauses meanwhile; a page whose Pause button was still showing would post it. Wait
    # until the pause has landed here (it hides the button), then show the button again and click it, the
    # way a stale click would: unhiding it before the event lands races the page hiding it again.
    asgi_server.call(services.pause_task, task=live_task, by=operator)
    expect(page.locator("#task-status")).to_have_text("paused")
    page.evaluate("document.querySelector('form[data-control=\"pause\"]').hidden = false")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#control-feedback")).to_have_text("Cannot pause a task that is paused.")
    expect(page.locator("#control-feedback")).to_have_class(re.compile("error"))


def test_approval_panel_approves(asgi_server, logged_in_page, operator, live_task):
    page = logged_in_page(operator)
    page.goto(f"/tasks/{live_task.pk}/")
    expect(page.locator("#approval-panel")).to_be_hidden()
    checks = [
        {"id": "sc_1", "code": "malicious_instructions", "message": "The page asks the agent to ignore its task."},
        {"id": "sc_2", "code": "irrelevant_domain", "message": "bank.example.test is not the task's site."},
    ]
    asgi_server.call(services.request_approval, task=live_task, checks=checks)
    panel = page.locator("#approval-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#task-status")).to_have_text("awaiting approval")
    expect(panel.locator("#approval-checks li")).to_have_count(2)
    expect(panel).to_contain_text("malicious_instructions The page asks the agent to ignore its task.")
    expect(panel).to_contain_text("irrelevant_domain")
    panel.get_by_role("button", name="Approve").click()
    expect(panel).to_be_hidden()
    expect(page.locator("#task-status")).to_have_text("running")
    expect(page.locator("#timeline")).to_contain_text(f"Safety checks approved by {operator.username}")
    task = Task.objects.get(pk=live_task.pk)
    assert task.status == "running" and task.pending_safety_checks == []


def test_gallery_lightbox_steps_through_screenshots_with_the_keyboard(asgi_server, logged_in_page, operator, org):
    task = TaskFactory(organization=org, status="completed", title="Gallery run")
    for order in (1, 2, 3):
        step = Step.objects.create(task=task, order=order, status="completed")
        make_artifact(task, "screenshot_llm", png(text=f"step {order}"), step=step, name=f"step-{order}.png")
    captured = make_artifact(
        task, "html_scrape", b"<h1>Captured page</h1><script>document.body.textContent = 'SCRIPT RAN'</script>",
        content_type="text/html", name="scrape.html",
    )
    page = logged_in_page(operator)
    page.goto(f"/tasks/{task.pk}/artifacts/")
    expect(page.locator(".gallery .shot")).to_have_count(3)
    dialog = page.locator("#lightbox")
    caption = page.locator("#lightbox-caption")

    page.locator(".gallery .shot").first.click()
    expect(dialog).to_be_visible()
    expect(caption).to_have_text("Step 1 · sent to the model")
    expect(page.locator("#lightbox-position")).to_have_text("1 of 3")
    expect(page.locator("#lightbox-img")).to_have_attribute("src", re.compile(r"/file$"))
    page.keyboard.press("ArrowRight")
    expect(caption).to_have_text("Step 2 · sent to the model")
    page.keyboard.press("ArrowRight")
    expect(caption).to_have_text("Step 3 · sent to the model")
    page.keyboard.press("ArrowRight")  # stays on the last
    expect(page.locator("#lightbox-position")).to_have_text("3 of 3")
    page.keyboard.press("ArrowLeft")
    expect(caption).to_have_text("Step 2 · sent to the model")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator(".gallery .shot").nth(1)).to_be_focused()  # focus goes back to where it was

    # keyboard only: Enter on a thumbnail opens it
    page.locator(".gallery .shot").nth(2).focus()
    page.keyboard.press("Enter")
    expect(caption).to_have_text("Step 3 · sent to the model")
    page.keyboard.press("Escape")

    # the filter narrows the grid
    page.get_by_label("Step", exact=True).select_option("2")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".gallery .shot")).to_have_count(1)

    # a captured page is shown in a sandbox: its scripts do not run
    page.goto(f"/tasks/{task.pk}/artifacts/{captured.pk}/")
    frame = page.frame_locator("iframe.artifact-html")
    expect(frame.locator("h1")).to_have_text("Captured page")
    expect(frame.locator("body")).not_to_contain_text("SCRIPT RAN")


def test_task_list_badges_follow_the_runs(asgi_server, logged_in_page, operator, live_task, org):
    TaskFactory(organization=org, status="completed", title="Old run")
    page = logged_in_page(operator)
    page.goto("/tasks/")
    row = page.locator(f'tr[data-task-id="{live_task.pk}"]')
    expect(row.locator('[data-role="status"]')).to_have_text("running")
    asgi_server.call(services.pause_task, task=live_task, by=operator)
    expect(row.locator('[data-role="status"]')).to_have_text("paused", timeout=8000)
    expect(row.locator('[data-role="status"]')).to_have_class(re.compile("status-paused"))


def test_new_task_form_checks_json_before_sending(asgi_server, logged_in_page, operator, monkeypatch):
    monkeypatch.setattr("tasks_app.runs.dispatch.RunDispatcher.run", lambda self, task_id: None)  # nothing runs it here
    page = logged_in_page(operator)
    page.goto("/tasks/new/")
    page.get_by_label("Start URL").fill("https://shop.example.test/")
    page.get_by_label("Navigation goal").fill("Sign up for the newsletter")
    payload = page.get_by_label("Navigation payload (JSON)")
    payload.fill('{"email": ada@example.com}')
    expect(page.locator("#id_navigation_payload_error")).to_contain_text("This is not valid JSON")
    expect(payload).to_have_attribute("aria-invalid", "true")
    schema = page.get_by_label("JSON schema of the extracted information")
    schema.fill('{"type": "nonsense"}')
    expect(page.locator("#id_extracted_information_schema_error")).to_contain_text('"type" cannot be "nonsense"')
    page.get_by_role("button", name="Create and run").click()
    expect(schema).to_be_focused()  # not sent: the first broken field (in page order) has the focus
    assert page.url.endswith("/tasks/new/") and not Task.objects.exists()

    payload.fill('{"email": "ada@example.com"}')
    expect(page.locator("#id_navigation_payload_error")).to_be_empty()
    schema.fill('{"type": "object", "required": "number"}')  # only the server's check_schema sees this one
    page.get_by_role("button", name="Create and run").click()
    expect(page.locator("#id_extracted_information_schema_error")).to_contain_text("not a valid JSON Schema")
    expect(page.get_by_label("Navigation goal")).to_have_value("Sign up for the newsletter")  # kept
    expect(schema).to_be_focused()

    schema.fill('{"type": "object", "properties": {"number": {"type": "string"}}}')
    page.get_by_role("button", name="Create and run").click()
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"))
    expect(page.locator(".messages")).to_contain_text("Task created and queued.")
    task = Task.objects.get()
    assert task.navigation_payload == {"email": "ada@example.com"} and task.status == "queued"
