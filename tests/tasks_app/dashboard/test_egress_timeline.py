"""Refusals of the egress policy on the task page's timeline, live and after a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from agent_core.types import EgressBlocked
from tasks_app.runs.hooks import MAX_EGRESS_EVENTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_refusals_show_on_the_timeline(asgi_server, logged_in_page, operator, scripted_run, live_task):
    run = scripted_run
    page = logged_in_page(operator)
    page.goto(f"/tasks/{live_task.pk}/")
    expect(page.locator("#conn-state")).to_have_text("live")
    reason = "blocked by the egress policy: 10.0.0.5 is a private address"
    run.server.run(run.hooks.egress_blocked(EgressBlocked(url="http://10.0.0.5/admin/", reason=reason)))
    line = page.locator("#timeline .tl-egress").first
    expect(line).to_contain_text("Blocked by the egress policy: 10.0.0.5 is a private address")
    expect(line.locator("code")).to_have_text("http://10.0.0.5/admin/")
    run.hooks.egress_refusals = MAX_EGRESS_EVENTS + 6  # as if the page had asked for many more
    run.server.run(run.hooks.finish())
    summary = page.locator("#timeline .tl-egress").nth(1)
    expect(summary).to_contain_text("…and 6 more requests were blocked by the egress policy")
    page.reload()
    expect(page.locator("#timeline .tl-egress")).to_have_count(2)
