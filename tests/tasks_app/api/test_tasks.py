"""Task endpoints: create (validated by the service), list (filters, cursor pages, pinned queries), read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks_app.models import Artifact, Task
from tests.factories import TaskFactory
from tests.tasks_app.api.conftest import PNG, post

pytestmark = pytest.mark.django_db

FULL_REQUEST = {
    "url": "https://shop.example.test/checkout",
    "title": "Buy the blue mug",
    "navigation_goal": "Put the blue mug in the cart and check out",
    "data_extraction_goal": "The order number",
    "navigation_payload": {"name": "Ada", "email": "ada@example.test"},
    "extracted_information_schema": {"type": "object", "properties": {"order": {"type": "string"}}},
    "error_code_mapping": {"out_of_stock": "the mug is sold out"},
    "webhook_callback_url": "https://hooks.example.test/lookout",
    "engine": "cua",
    "model": "computer-use-preview",
    "max_steps": 7,
}


def test_create_takes_every_request_field_and_queues(api, org):
    response = post(api, "/api/v1/tasks/", FULL_REQUEST)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued"
    assert {k: body[k] for k in FULL_REQUEST} == FULL_REQUEST
    task = Task.objects.get(pk=body["id"])
    assert task.organization == org and task.status == Task.Status.QUEUED and task.max_steps == 7


def test_create_with_defaults(api):
    body = post(api, "/api/v1/tasks/", {"url": "https://example.test/", "navigation_goal": "Look"}).json()
    assert body["engine"] == "dom" and body["max_steps"] == 10 and body["title"] == ""


def test_create_without_trailing_slash_works_too(api):
    response = post(api, "/api/v1/tasks", {"url": "https://example.test/", "navigation_goal": "Look"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.test/", "navigation_goal": "x"}, "url"),  # the service's check
        ({"navigation_goal": "x"}, "url"),  # required
        ({"url": "https://example.test/"}, "navigation_goal"),  # neither goal
        ({"url": "https://example.test/", "navigation_goal": "x", "max_steps": 0}, "max_steps"),
        ({"url": "https://example.test/", "navigation_goal": "x", "max_steps": 999}, "max_steps"),  # org limit
        ({"url": "https://example.test/", "navigation_goal": "x", "engine": "magic"}, "engine"),
        ({"url": "https://example.test/", "navigation_goal": "x", "extracted_information_schema": {"type": 5}},
         "extracted_information_schema"),
        ({"url": "https://example.test/", "navigation_goal": "x", "extracted_information_schema": [1]},
         "extracted_information_schema"),
        ({"url": "https://example.test/", "navigation_goal": "x", "error_code_mapping": {"a": {"b": 1}}},
         "error_code_mapping.a"),
        ({"url": "https://example.test/", "navigation_goal": "x", "webhook_callback_url": "mailto:a@b"},
         "webhook_callback_url"),
        ({"url": "https://example.test/", "navigation_goal": "x", "navigation_payload": {"k": "a\u0000b"}},
         "navigation_payload"),
        ({"url": "https://example.test/", "navigation_goal": "x", "navigaton_goal": "typo"}, "navigaton_goal"),
    ],
)
def test_bad_bodies_name_the_failing_field(api, body, field):
    response = post(api, "/api/v1/tasks/", body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid" and error["message"]
    assert error["extra"]["field"] == field
    assert field in error["extra"]["fields"]
    assert Task.objects.count() == 0


def test_all_field_errors_are_listed(api):
    error = post(api, "/api/v1/tasks/", {"url": 5, "engine": "x", "max_steps": "many"}).json()
    assert set(error["extra"]["fields"]) == {"engine", "max_steps"}


@pytest.mark.parametrize(("raw", "kind"), [("[1, 2]", "an array"), ('"go"', "a string"), ("null", "null"),
                                           ("3", "a number")])
def test_a_body_that_is_not_an_object_is_refused_clearly(api, raw, kind):
    response = api.post("/api/v1/tasks/", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": f"the request body must be a JSON object, not {kind}",
        "extra": {"field": None, "fields": {"non_field_errors": [f"the request body must be a JSON object, not {kind}"]}},
    }


def test_unparsable_and_non_json_bodies(api):
    response = api.post("/api/v1/tasks/", "{nope", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    response = api.post("/api/v1/tasks/", '{"url": "\\ud800"}', content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    response = api.post("/api/v1/tasks/", {"url": "https://example.test/"})  # multipart form
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"


def test_list_is_newest_first_with_cursor_pages(api, org, other_org):
    now = timezone.now()
    tasks = [TaskFactory(organization=org) for _ in range(5)]
    for age, task in enumerate(tasks):
        Task.objects.filter(pk=task.pk).update(created_at=now - timedelta(minutes=age))
    TaskFactory(organization=other_org)
    first = api.get("/api/v1/tasks/?page_size=2").json()
    assert [t["id"] for t in first["results"]] == [str(t.pk) for t in tasks[:2]]
    assert first["previous"] is None and first["next"].startswith("http://testserver/api/v1/tasks/")
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    assert [t["id"] for t in second["results"] + third["results"]] == [str(t.pk) for t in tasks[2:]]
    assert third["next"] is None


def test_list_filters(api, org):
    now = timezone.now()
    old = TaskFactory(organization=org, status=Task.Status.COMPLETED, engine="dom")
    Task.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2))
    running = TaskFactory(organization=org, status=Task.Status.RUNNING, engine="cua")
    failed = TaskFactory(organization=org, status=Task.Status.FAILED, engine="dom")

    def ids(query: str) -> set[str]:
        response = api.get("/api/v1/tasks/" + query)
        assert response.status_code == 200, response.json()
        return {t["id"] for t in response.json()["results"]}

    assert ids("?status=running") == {str(running.pk)}
    assert ids("?status=running&status=failed") == {str(running.pk), str(failed.pk)}
    assert ids("?engine=dom") == {str(old.pk), str(failed.pk)}
    day_ago = (now - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"?created_before={day_ago}") == {str(old.pk)}
    assert ids(f"?created_after={day_ago}&engine=dom") == {str(failed.pk)}


@pytest.mark.parametrize(("query", "field"), [("?status=sleeping", "status.0"), ("?engine=x", "engine"),
                                              ("?created_after=yesterday", "created_after"),
                                              ("?cursor=garbage", "cursor")])
def test_bad_filters_are_400(api, query, field):
    response = api.get("/api/v1/tasks/" + query)
    assert response.status_code == 400 and response.json()["extra"]["field"] == field


def test_list_runs_a_fixed_number_of_queries(api, org, django_assert_num_queries):
    TaskFactory.create_batch(3, organization=org)
    api.get("/api/v1/tasks/")  # the key's last_used_at is now fresh: no more writes for a minute
    with django_assert_num_queries(2):  # the key (with its organization), one page of tasks
        assert len(api.get("/api/v1/tasks/").json()["results"]) == 3
    TaskFactory.create_batch(10, organization=org)
    with django_assert_num_queries(2):
        assert len(api.get("/api/v1/tasks/").json()["results"]) == 13


def test_detail(api, finished_run):
    body = api.get(f"/api/v1/tasks/{finished_run.pk}/").json()
    assert body["id"] == str(finished_run.pk) and body["status"] == "completed" and body["last_event_seq"] == 3


def test_steps_with_their_actions(api, finished_run):
    steps = api.get(f"/api/v1/tasks/{finished_run.pk}/steps/").json()
    assert [(s["order"], s["retry_index"], s["status"]) for s in steps] == [
        (0, 0, "failed"), (0, 1, "completed"), (1, 0, "completed"),
    ]
    assert steps[0]["actions"] == [] and steps[0]["error"] == "bad JSON"
    assert [a["action_type"] for a in steps[1]["actions"]] == ["input_text", "click"]
    assert steps[1]["actions"][0]["parameters"] == {"text": "ada@example.test"}


def test_actions_in_order(api, finished_run):
    actions = api.get(f"/api/v1/tasks/{finished_run.pk}/actions/").json()
    assert [(a["action_type"], a["element_id"]) for a in actions] == [
        ("input_text", "e3"), ("click", "e7"), ("complete", ""),
    ]
    assert actions[0]["step_id"] == finished_run.steps.get(order=0, retry_index=1).pk


def test_artifacts_and_their_content_with_the_api_key(api, finished_run):
    artifacts = api.get(f"/api/v1/tasks/{finished_run.pk}/artifacts/").json()
    assert [a["kind"] for a in artifacts] == ["screenshot_action", "html_scrape", "screenshot_final"]
    shot = artifacts[0]
    assert shot["content_type"] == "image/png" and shot["size"] == len(PNG) and shot["thumbnail_url"] is None
    assert shot["url"] == f"http://testserver/api/v1/tasks/{finished_run.pk}/artifacts/{shot['id']}/content"
    response = api.get(shot["url"])
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == PNG
    assert "sandbox" in response["Content-Security-Policy"]
    download = api.get(shot["url"] + "?download=1")
    assert download["Content-Disposition"].startswith("attachment")
    html = api.get(f"/api/v1/tasks/{finished_run.pk}/artifacts/?kind=html_scrape").json()
    assert [a["name"] for a in html] == ["page.html"]


def test_artifact_content_errors_are_json_whatever_the_accept_header(api, finished_run, other_org):
    foreign = TaskFactory(organization=other_org)
    from tests.tasks_app.api.conftest import add_artifact

    theirs = add_artifact(foreign, Artifact.Kind.SCREENSHOT_FINAL, "x.png", PNG, "image/png")
    response = api.get(f"/api/v1/tasks/{foreign.pk}/artifacts/{theirs.pk}/content", HTTP_ACCEPT="image/png")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = api.get(f"/api/v1/tasks/{finished_run.pk}/artifacts/{theirs.pk}/content")
    assert response.status_code == 404 and response.json() == {
        "code": "not_found", "message": "artifact not found", "extra": {},
    }
    no_thumb = finished_run.artifacts.first()
    response = api.get(f"/api/v1/tasks/{finished_run.pk}/artifacts/{no_thumb.pk}/content?thumbnail=1")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_events_after_a_seq(api, finished_run):
    body = api.get(f"/api/v1/tasks/{finished_run.pk}/events/").json()
    assert [e["seq"] for e in body["events"]] == [1, 2, 3] and body["last_seq"] == 3
    event = body["events"][1]
    assert set(event) == {"seq", "type", "ts", "data"} and event["data"]["status"] == "running"
    later = api.get(f"/api/v1/tasks/{finished_run.pk}/events/?after=2").json()
    assert [e["seq"] for e in later["events"]] == [3]
    assert api.get(f"/api/v1/tasks/{finished_run.pk}/events/?after=1&limit=1").json()["events"][0]["seq"] == 2
    bad = api.get(f"/api/v1/tasks/{finished_run.pk}/events/?after=-1")
    assert bad.status_code == 400 and bad.json()["extra"]["field"] == "after"
