"""The Content-Security-Policy in a real browser: the dashboard's pages, the organization switcher and the
API docs work without one violation; a socket whose user lost access ends with a message on the page.

Run with: flock /tmp/lookout-browser.lock .venv/bin/pytest tests/tasks_app/dashboard/test_security_browser.py
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tasks_app.models import Membership, Organization, Step
from tests.factories import TaskFactory
from tests.tasks_app.dashboard.conftest import make_artifact, png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch_violations(page) -> list[str]:
    """Console messages about the Content-Security-Policy (Chromium reports every refusal there)."""
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text) if "Content Security Policy" in message.text else None)
    return found


def test_pages_run_without_csp_violations(asgi_server, logged_in_page, operator, org, live_task):
    other = Organization.objects.create(name="Second org", slug="second-org")
    Membership.objects.create(user=operator, organization=other, role="operator")
    finished = TaskFactory(organization=org, status="completed", title="Finished run")
    step = Step.objects.create(task=finished, order=1, status="completed")
    make_artifact(finished, "screenshot_llm", png(text="step 1"), step=step, name="step-1.png")
    make_artifact(finished, "html_scrape", b"<h1>Captured</h1>", content_type="text/html", name="scrape.html")

    page = logged_in_page(operator)
    violations = watch_violations(page)
    page.goto(f"/tasks/{live_task.pk}/")
    expect(page.locator("#conn-state")).to_have_text("live")  # the page's module scripts ran, the socket opened
    page.goto(f"/tasks/{finished.pk}/artifacts/")
    page.locator(".gallery .shot").first.click()
    expect(page.locator("#lightbox")).to_be_visible()
    page.goto("/tasks/new/")
    expect(page.locator("select#id_model")).to_be_visible()
    page.goto("/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Lookout API")  # init script from ?script=
    page.goto("/")
    expect(page.get_by_text("Finished run")).to_be_visible()
    with page.expect_navigation():
        page.select_option("#org-select", str(other.pk))  # the switcher's script submits the form
    expect(page.get_by_text("Finished run")).to_have_count(0)  # now listing the other organization's tasks
    assert violations == []


def test_socket_of_a_removed_member_ends_with_a_message(asgi_server, logged_in_page, operator, live_task, settings):
    settings.LOOKOUT_WS_RECHECK_SECONDS = 0.3
    page = logged_in_page(operator)
    page.goto(f"/tasks/{live_task.pk}/")
    expect(page.locator("#conn-state")).to_have_text("live")
    Membership.objects.filter(user=operator).delete()
    expect(page.locator("#control-feedback")).to_have_text("You no longer have access to this task.")
    expect(page.locator("#conn-state")).to_have_text("no access")
    page.wait_for_timeout(1500)  # and it does not keep knocking
    expect(page.locator("#conn-state")).to_have_text("no access")
