"""The task page: header, controls by role and state, approval panel, result, summary fragment, org isolation."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from tasks_app.models import Step, Task
from tests.factories import MembershipFactory, TaskFactory
from tests.tasks_app.dashboard.conftest import make_artifact, png

pytestmark = pytest.mark.django_db


def visible_controls(html: str) -> set[str]:
    """Names of the control forms not marked hidden (approve and deny show with the approval panel, the
    answer with the question panel)."""
    panel_hidden = re.search(r'id="approval-panel"[^>]* hidden', html) is not None
    question_hidden = re.search(r'id="question-panel"[^>]* hidden', html) is not None
    return {
        m.group(1)
        for m in re.finditer(r'<form [^>]*data-control="([\w-]+)"[^>]*>', html)
        if " hidden" not in m.group(0)
        and not (panel_hidden and m.group(1) in ("approve", "deny"))
        and not (question_hidden and m.group(1) == "answer")
    }


def all_controls(html: str) -> set[str]:
    return set(re.findall(r'data-control="([\w-]+)"', html))


def test_detail_shows_the_header(client, operator, org):
    task = TaskFactory(
        organization=org, created_by=operator, title="Buy socks", navigation_goal="Buy two pairs",
        status="running", input_tokens=1200, output_tokens=80, cost=Decimal("0.0123"), last_event_seq=7,
    )
    Step.objects.create(task=task, order=1)
    Step.objects.create(task=task, order=1, retry_index=1)
    Step.objects.create(task=task, order=2)
    client.force_login(operator)
    html = client.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert "<h1>Buy socks</h1>" in html and "Buy two pairs" in html
    assert 'id="task-status" class="badge big status-running"' in html
    assert "2 of 10 (1 retried)" in html
    assert "1280" in html and "1200 in" in html and "$0.0123" in html
    assert f'data-ws-path="/ws/tasks/{task.pk}/"' in html and 'data-last-seq="7"' in html
    assert f'data-frames-path="/ws/tasks/{task.pk}/frames/"' in html
    assert "js/task-detail.js" in html


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("created", {"cancel"}),
        ("queued", {"cancel"}),
        ("running", {"pause", "terminate", "take-control"}),
        ("paused", {"resume", "retry-step", "terminate", "take-control"}),
        ("awaiting_approval", {"terminate", "approve", "deny"}),
        ("awaiting_input", {"terminate", "take-control", "answer"}),
        ("completed", {"retry"}),
        ("failed", {"retry"}),
        ("canceled", {"retry"}),
    ],
)
def test_operator_sees_the_controls_the_state_allows(client, operator, org, status, expected):
    task = TaskFactory(organization=org, status=status)
    client.force_login(operator)
    html = client.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert visible_controls(html) == expected
    # the rest are rendered hidden, for the page to reveal when the status changes
    assert {"pause", "resume", "retry-step", "terminate", "cancel", "retry"} <= all_controls(html)
    run_again = f'{reverse("task-new")}?from={task.pk}'
    assert run_again in html
    assert (f'href="{run_again}" data-when="completed failed terminated canceled timed_out" hidden' in html) != task.is_final


def test_viewer_sees_no_controls(client, viewer, org):
    task = TaskFactory(organization=org, status="awaiting_approval", pending_safety_checks=[{"id": "c1", "code": "malicious_instructions", "message": "Odd text"}])
    client.force_login(viewer)
    html = client.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert all_controls(html) == set()
    assert "Your role is viewer" in html
    assert "malicious_instructions" in html and "An operator of this organization must approve" in html


def test_approval_panel_lists_pending_checks(client, operator, org):
    checks = [
        {"id": "c1", "code": "malicious_instructions", "message": "The page asks to ignore the task"},
        {"id": "c2", "code": "irrelevant_domain", "message": "bank.example is not the task's site"},
    ]
    waiting = TaskFactory(organization=org, status="awaiting_approval", pending_safety_checks=checks)
    client.force_login(operator)
    html = client.get(reverse("task-detail", args=[waiting.pk])).content.decode()
    panel = html.split('id="approval-panel"', 1)[1].split("</section>", 1)[0]
    assert " hidden" not in panel.split(">", 1)[0]
    assert "<code>malicious_instructions</code> The page asks to ignore the task" in panel
    assert "<code>irrelevant_domain</code>" in panel
    assert "Approve" in panel and "Deny" in panel
    running = TaskFactory(organization=org, status="running")
    html = client.get(reverse("task-detail", args=[running.pk])).content.decode()
    assert re.search(r'id="approval-panel"[^>]* hidden', html)


def test_result_shows_extracted_information_and_failure(client, operator, org):
    done = TaskFactory(organization=org, status="completed", extracted_information={"price": "9.99", "name": "Widget <b>"})
    client.force_login(operator)
    html = client.get(reverse("task-detail", args=[done.pk])).content.decode()
    assert 'data-copy="#extracted-json"' in html
    assert "&quot;price&quot;: &quot;9.99&quot;" in html and "Widget &lt;b&gt;" in html
    assert '{\n  &quot;' in html  # pretty-printed (PostgreSQL's jsonb orders keys its own way)
    failed = TaskFactory(
        organization=org, status="failed", failure_reason="element e9 was not found",
        errors=[{"error_code": "SOLD_OUT", "reasoning": "No stock left"}],
    )
    html = client.get(reverse("task-detail", args=[failed.pk])).content.decode()
    assert "Failed:</strong>" in html and "element e9 was not found" in html
    assert "<code>SOLD_OUT</code> No stock left" in html


def test_live_view_starts_from_the_latest_screenshot(client, operator, org):
    task = TaskFactory(organization=org, status="completed")
    client.force_login(operator)
    html = client.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert re.search(r'<img id="live-view"[^>]* hidden', html) and "No screenshot yet" in html
    make_artifact(task, "screenshot_llm", png())
    last = make_artifact(task, "screenshot_final", png("#222"))
    html = client.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert f'src="{reverse("artifact-file", args=[task.pk, last.pk])}"' in html


def test_summary_fragment_has_facts_and_result(client, operator, org):
    task = TaskFactory(organization=org, status="completed", extracted_information=[1, 2], cost=Decimal("1.5"))
    client.force_login(operator)
    html = client.get(reverse("task-summary", args=[task.pk])).content.decode()
    assert 'id="task-facts"' in html and 'id="task-result"' in html
    assert "$1.50" in html and "<html" not in html


def test_other_orgs_task_pages_are_404(client, operator, other_org):
    theirs = TaskFactory(organization=other_org, status="running")
    shot = make_artifact(theirs, "screenshot_final", png())
    client.force_login(operator)
    for url in (
        reverse("task-detail", args=[theirs.pk]),
        reverse("task-summary", args=[theirs.pk]),
        reverse("task-artifacts", args=[theirs.pk]),
        reverse("artifact-view", args=[theirs.pk, shot.pk]),
        reverse("artifact-file", args=[theirs.pk, shot.pk]),
        reverse("artifact-thumbnail", args=[theirs.pk, shot.pk]),
        reverse("task-detail", args=["00000000-0000-0000-0000-000000000000"]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("task-control", args=[theirs.pk, "pause"])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "running"


def test_pages_need_login(client, org):
    task = TaskFactory(organization=org)
    for url in (reverse("task-detail", args=[task.pk]), reverse("task-artifacts", args=[task.pk]), reverse("task-new")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_opening_a_task_of_another_of_my_orgs_switches_to_it(client, operator, org, other_org):
    MembershipFactory(user=operator, organization=other_org, role="operator")
    theirs = TaskFactory(organization=other_org, title="over there")
    client.force_login(operator)
    html = client.get(reverse("task-detail", args=[theirs.pk])).content.decode()
    assert "over there" in html
    assert re.search(rf'<option value="{other_org.pk}" selected>', html)
    # and the switcher on a task page goes back to the list rather than to this task
    assert f'name="next" value="{reverse("task-list")}"' in html
    assert "over there" in client.get("/").content.decode()


def test_superuser_can_open_any_task(client, superuser, org):
    task = TaskFactory(organization=org, status="running")
    client.force_login(superuser)
    html = client.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert "pause" in visible_controls(html)
    assert Task.objects.filter(pk=task.pk).exists()
