"""The pages an operator opens all day make a fixed number of queries, however many tasks, steps and
events there are (months of history must not turn into N+1 queries)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tasks_app import services
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def history(org, tasks: int, steps: int = 3, events: int = 5) -> list:
    made = []
    for n in range(tasks):
        task = TaskFactory(organization=org, status="completed")
        for order in range(1, steps + 1):
            task.steps.create(order=order, status="completed")
        for _ in range(events):
            services.record_event(task_id=task.pk, type="step.started", data={"n": n})
        made.append(task)
    return made


@pytest.mark.parametrize("tasks", [3, 30])
def test_task_list_page(client, operator, org, tasks, django_assert_num_queries):
    history(org, tasks)
    client.force_login(operator)
    client.get(reverse("task-list"))  # session and caches warm, like any page after the first
    with django_assert_num_queries(8):
        assert client.get(reverse("task-list"), {"status": "completed", "page": 1}).status_code == 200


@pytest.mark.parametrize("steps", [2, 20])
def test_task_page(client, operator, org, steps, django_assert_num_queries):
    task = history(org, 1, steps=steps, events=steps * 5)[0]
    client.force_login(operator)
    client.get(reverse("task-detail", args=[task.pk]))
    # 13: the newest script of the task's lineage (for "Run again without the model") is one more query.
    with django_assert_num_queries(13):
        assert client.get(reverse("task-detail", args=[task.pk])).status_code == 200


@pytest.mark.parametrize("tasks", [3, 30])
def test_api_task_list(api, org, tasks, django_assert_num_queries):
    history(org, tasks)
    with django_assert_num_queries(3):  # the key (and its last use), the page
        assert api.get("/api/v1/tasks/").status_code == 200
