"""The task list: columns, live-status polling endpoint, filters, search, pagination, empty states, roles."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tasks_app.models import Step, Task
from tests.factories import MembershipFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_list_needs_login(client):
    response = client.get(reverse("task-list"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_home_and_tasks_show_the_list_with_columns(client, operator, org, other_org):
    started = timezone.now() - timedelta(seconds=75)
    task = TaskFactory(
        organization=org, created_by=operator, title="Buy socks", status="completed",
        started_at=started, finished_at=started + timedelta(seconds=65),
    )
    Step.objects.create(task=task, order=1)
    Step.objects.create(task=task, order=2)
    TaskFactory(organization=other_org, title="Someone else's run")
    client.force_login(operator)
    for url in ("/", reverse("task-list")):
        page = client.get(url).content.decode()
        assert "Buy socks" in page and "Someone else" not in page
        assert 'class="badge status-completed"' in page
        assert operator.username in page  # created by
        assert "1 min 05 s" in page  # duration
        assert f'href="{reverse("task-detail", args=[task.pk])}"' in page
        assert 'data-role="steps">2<' in page
        assert "New task" in page


def test_empty_state_for_operator_and_viewer(client, operator, viewer):
    client.force_login(operator)
    page = client.get("/").content.decode()
    assert "No tasks yet" in page and "Create your first task" in page
    client.force_login(viewer)
    page = client.get("/").content.decode()
    assert "No tasks yet" in page and "Create your first task" not in page
    assert reverse("task-new") not in page.split("</nav>", 1)[1]  # no New task button outside the nav


def test_user_without_organization_sees_why(client, db):
    client.force_login(UserFactory())
    page = client.get("/").content.decode()
    assert "not a member of any organization" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "failed"}, {"failed dom"}),
        ({"engine": "cua"}, {"running cua"}),
        ({"status": "running", "engine": "cua"}, {"running cua"}),
        ({"q": "INVOICE"}, {"failed dom"}),  # title, case-insensitive
        ({"q": "shop.example"}, {"running cua"}),  # url
        ({"q": "newsletter"}, {"completed dom"}),  # navigation goal
        ({"q": "prices"}, {"completed dom"}),  # extraction goal
        ({"status": "nonsense"}, {"failed dom", "running cua", "completed dom"}),  # ignored
    ],
)
def test_filters_and_search(client, operator, org, query, expected):
    TaskFactory(organization=org, title="failed dom", navigation_goal="Download the invoice", status="failed")
    TaskFactory(organization=org, title="running cua", url="https://shop.example.test/", engine="cua", status="running")
    TaskFactory(
        organization=org, title="completed dom", navigation_goal="Join the newsletter",
        data_extraction_goal="List the prices", status="completed",
    )
    client.force_login(operator)
    response = client.get(reverse("task-list"), query)
    shown = {t.title for t in response.context["page"].object_list}
    assert shown == expected


def test_filtered_empty_state_offers_to_clear(client, operator, org):
    TaskFactory(organization=org, status="completed")
    client.force_login(operator)
    page = client.get(reverse("task-list"), {"status": "failed"}).content.decode()
    assert "No tasks match these filters" in page and "Show all tasks" in page


def test_pagination_keeps_filters(client, operator, org):
    for i in range(30):
        TaskFactory(organization=org, title=f"task {i:02d}", status="failed")
    TaskFactory(organization=org, title="not failed", status="completed")
    client.force_login(operator)
    first = client.get(reverse("task-list"), {"status": "failed"})
    assert len(first.context["page"].object_list) == 25
    page = first.content.decode()
    assert "Page 1 of 2" in page and 'href="?status=failed&amp;page=2"' in page
    second = client.get(reverse("task-list"), {"status": "failed", "page": 2})
    titles = [t.title for t in second.context["page"].object_list]
    assert len(titles) == 5 and "not failed" not in titles
    assert "task 00" in titles  # oldest last


def test_list_query_count_does_not_grow_with_tasks(client, operator, org, django_assert_max_num_queries):
    for _ in range(20):
        TaskFactory(organization=org, created_by=operator)
    client.force_login(operator)
    with django_assert_max_num_queries(10):
        client.get(reverse("task-list"))


def test_status_endpoint_reports_own_tasks_only(client, operator, org, other_org):
    mine = TaskFactory(organization=org, status="running", started_at=timezone.now() - timedelta(seconds=5))
    done = TaskFactory(organization=org, status="completed")
    theirs = TaskFactory(organization=other_org, status="running")
    Step.objects.create(task=mine, order=1)
    client.force_login(operator)
    response = client.get(
        reverse("task-statuses"), [("id", str(mine.pk)), ("id", str(done.pk)), ("id", str(theirs.pk)), ("id", "nope")]
    )
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()["tasks"]}
    assert set(rows) == {str(mine.pk), str(done.pk)}
    assert rows[str(mine.pk)] | {"duration": None} == {
        "id": str(mine.pk), "status": "running", "label": "running", "final": False, "duration": None, "steps": 1,
    }
    assert rows[str(mine.pk)]["duration"].endswith(" s")
    assert rows[str(done.pk)]["final"] is True


def test_list_rows_carry_what_the_status_script_needs(client, operator, org):
    running = TaskFactory(organization=org, status="running")
    done = TaskFactory(organization=org, status="completed")
    client.force_login(operator)
    page = client.get("/").content.decode()
    assert f'data-task-id="{running.pk}" data-final="0"' in page
    assert f'data-task-id="{done.pk}" data-final="1"' in page
    assert f'data-status-url="{reverse("task-statuses")}"' in page
    assert "js/task-list.js" in page


def test_list_follows_the_org_switcher(client, operator, org, other_org):
    MembershipFactory(user=operator, organization=other_org, role="viewer")
    TaskFactory(organization=org, title="in org")
    TaskFactory(organization=other_org, title="in other org")
    client.force_login(operator)
    assert "in org" in client.get("/").content.decode()
    client.post(reverse("switch-org"), {"organization": other_org.pk, "next": "/tasks/"})
    page = client.get("/tasks/").content.decode()
    assert "in other org" in page and ">in org<" not in page
    assert Task.objects.count() == 2
