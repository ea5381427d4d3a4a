"""The Skyvern-compatible run endpoints: request mapping, status and run_type values, cancel, artifacts."""

from __future__ import annotations

import pytest

from tasks_app import services
from tasks_app.models import Artifact, Task
from tests.factories import TaskFactory
from tests.tasks_app.api.conftest import PNG, add_artifact, post, task_with_run

pytestmark = pytest.mark.django_db
S = Task.Status


def test_run_task_maps_the_request(api, org):
    response = post(api, "/v1/run/tasks", {
        "prompt": "What is the price of the blue mug?",
        "url": "https://shop.example.test/",
        "engine": "openai-cua",
        "title": "Mug price",
        "data_extraction_schema": {"type": "object", "properties": {"price": {"type": "string"}}},
        "error_code_mapping": {"no_mug": "the mug is not listed", "other": None},
        "max_steps": 500,  # capped at the organization's limit, as Skyvern caps
        "webhook_url": "https://hooks.example.test/",
        "model": {"model_name": "computer-use-preview"},
        "proxy_location": "RESIDENTIAL",  # Skyvern-only: accepted, ignored
        "totp_identifier": "me@example.test",
    })
    assert response.status_code == 200, response.json()
    run = response.json()
    task = Task.objects.get(pk=run["run_id"])
    assert (task.organization, task.status, task.engine, task.max_steps) == (org, S.QUEUED, "cua", 25)
    assert task.navigation_goal == task.data_extraction_goal == "What is the price of the blue mug?"
    assert task.extracted_information_schema["properties"]["price"] == {"type": "string"}
    assert task.error_code_mapping == {"no_mug": "the mug is not listed", "other": ""}
    assert (task.webhook_callback_url, task.model, task.title) == (
        "https://hooks.example.test/", "computer-use-preview", "Mug price")
    assert run["status"] == "queued" and run["run_type"] == "openai_cua"
    assert run["run_request"]["engine"] == "openai-cua" and run["run_request"]["prompt"] == task.navigation_goal
    assert run["app_url"].endswith(f"/tasks/{task.pk}/")


def test_run_task_defaults_and_schema_as_text(api):
    run = post(api, "/v1/run/tasks", {"prompt": "Log in", "url": "https://example.test/",
                                     "data_extraction_schema": '{"type": "object"}'}).json()
    task = Task.objects.get(pk=run["run_id"])
    assert task.engine == "dom" and run["run_type"] == "task_v1" and task.extracted_information_schema == {"type": "object"}
    plain = Task.objects.get(pk=post(api, "/v1/run/tasks", {"prompt": "Look", "url": "https://example.test/"}).json()["run_id"])
    assert plain.data_extraction_goal == "" and plain.extracted_information_schema is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://example.test/"}, "prompt"),
        ({"prompt": "x"}, "url"),  # Lookout does not guess a start URL
        ({"prompt": "x", "url": "https://example.test/", "engine": "skyvern-2.0"}, "engine"),
        ({"prompt": "x", "url": "https://example.test/", "data_extraction_schema": {"type": 3}}, "data_extraction_schema"),
        ({"prompt": "x", "url": "https://example.test/", "data_extraction_schema": [1]}, "data_extraction_schema"),
        ({"prompt": "x", "url": "https://example.test/", "webhook_url": "nope"}, "webhook_url"),
        ({"prompt": "x", "url": "https://example.test/", "model": {"model_name": 5}}, "model"),
    ],
)
def test_run_task_errors_name_skyvern_fields(api, body, field):
    response = post(api, "/v1/run/tasks", body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and response.json()["extra"]["field"] == field


@pytest.mark.parametrize(
    ("status", "run_status"),
    [(S.CREATED, "created"), (S.QUEUED, "queued"), (S.RUNNING, "running"), (S.PAUSED, "running"),
     (S.AWAITING_APPROVAL, "running"), (S.COMPLETED, "completed"), (S.FAILED, "failed"),
     (S.TERMINATED, "terminated"), (S.CANCELED, "canceled"), (S.TIMED_OUT, "timed_out")],
)
def test_statuses_map_onto_skyverns(api, org, status, run_status):
    task = TaskFactory(organization=org, status=status)
    assert api.get(f"/v1/runs/{task.pk}").json()["status"] == run_status


def test_get_run_of_a_finished_task(api, org):
    task = task_with_run(org, extracted_information={"price": "9.99"}, errors=[{"error_code": "x"}])
    add_artifact(task, Artifact.Kind.RECORDING, "run.webm", b"webm", "video/webm")
    add_artifact(task, Artifact.Kind.DOWNLOAD, "invoice.pdf", b"%PDF-1.4", "application/pdf")
    run = api.get(f"/v1/runs/{task.pk}").json()
    assert run["status"] == "completed" and run["output"] == {"price": "9.99"}
    assert run["step_count"] == 3 and run["errors"] == [{"error_code": "x"}] and run["failure_reason"] is None
    final, action = task.artifacts.get(kind="screenshot_final"), task.artifacts.get(kind="screenshot_action")
    base = f"http://testserver/api/v1/tasks/{task.pk}/artifacts"
    assert run["screenshot_urls"] == [f"{base}/{final.pk}/content", f"{base}/{action.pk}/content"]
    assert run["recording_url"].endswith("/content")
    assert [(f["filename"], f["file_size"]) for f in run["downloaded_files"]] == [("invoice.pdf", 8)]
    assert run["finished_at"] and run["modified_at"] >= run["created_at"]


def test_output_that_is_not_an_object_array_or_string_travels_as_json_text(api, org):
    task = TaskFactory(organization=org, status=S.COMPLETED, extracted_information=42)
    assert api.get(f"/v1/runs/{task.pk}").json()["output"] == "42"


def test_cancel_reports_canceled_whether_or_not_the_run_started(api, org):
    queued = TaskFactory(organization=org, status=S.QUEUED)
    running = TaskFactory(organization=org, status=S.RUNNING)
    paused = TaskFactory(organization=org, status=S.PAUSED)
    done = TaskFactory(organization=org, status=S.COMPLETED)
    assert post(api, f"/v1/runs/{queued.pk}/cancel").json()["status"] == "canceled"
    assert post(api, f"/v1/runs/{running.pk}/cancel").json()["status"] == "canceled"
    assert post(api, f"/v1/runs/{paused.pk}/cancel").json()["status"] == "canceled"
    # Lookout's own status of a started run stays `terminated` (by an operator), for the dashboard and /api/v1/
    running.refresh_from_db()
    assert running.status == S.TERMINATED and running.stop_cause == Task.StopCause.OPERATOR
    assert api.get(f"/api/v1/tasks/{running.pk}/").json()["status"] == "terminated"
    response = post(api, f"/v1/runs/{done.pk}/cancel")
    assert response.status_code == 409 and response.json()["code"] == "illegal_state"


def test_agent_giving_up_stays_terminated_and_filters_tell_them_apart(api, org):
    gave_up = TaskFactory(organization=org, status=S.TERMINATED)
    stopped = TaskFactory(organization=org, status=S.TERMINATED, stop_cause=Task.StopCause.OPERATOR)
    denied = TaskFactory(organization=org, status=S.TERMINATED, stop_cause=Task.StopCause.SAFETY_CHECK_DENIED)
    canceled = TaskFactory(organization=org, status=S.CANCELED)
    assert api.get(f"/v1/runs/{gave_up.pk}").json()["status"] == "terminated"
    assert api.get(f"/v1/runs/{stopped.pk}").json()["status"] == "canceled"
    assert api.get(f"/v1/runs/{denied.pk}").json()["status"] == "canceled"
    ids = {r["run_id"] for r in api.get("/v1/runs", {"status": "canceled"}).json()}
    assert ids == {str(stopped.pk), str(denied.pk), str(canceled.pk)}
    assert {r["run_id"] for r in api.get("/v1/runs", {"status": "terminated"}).json()} == {str(gave_up.pk)}


def test_cancel_needs_an_operator(viewer_api, org):
    task = TaskFactory(organization=org, status=S.QUEUED)
    assert post(viewer_api, f"/v1/runs/{task.pk}/cancel").status_code == 403


def test_run_artifacts(api, org):
    task = task_with_run(org)
    artifacts = api.get(f"/v1/runs/{task.pk}/artifacts").json()
    assert [a["artifact_type"] for a in artifacts] == ["screenshot_action", "html_scrape", "screenshot_final"]
    first = artifacts[0]
    assert first["run_id"] == first["task_id"] == str(task.pk) and first["organization_id"] == org.slug
    assert first["step_id"] == str(task.steps.get(order=0, retry_index=1).pk) and first["file_size"] == len(PNG)
    assert first["uri"] == first["signed_url"] and api.get(first["signed_url"]).status_code == 200
    only = api.get(f"/v1/runs/{task.pk}/artifacts?artifact_type=screenshot_final&artifact_type=har").json()
    assert [a["artifact_type"] for a in only] == ["screenshot_final"]
    add_artifact(task, Artifact.Kind.ELEMENT_TREE_PROMPT, "tree.txt", b"[e1] <a>", "text/plain")
    tree = api.get(f"/v1/runs/{task.pk}/artifacts?artifact_type=visible_elements_tree_in_prompt").json()
    assert [a["artifact_id"] for a in tree] == [str(task.artifacts.get(kind="element_tree_prompt").pk)]


def test_list_runs(api, org):
    dom = TaskFactory(organization=org, status=S.PAUSED, title="a")
    cua = TaskFactory(organization=org, status=S.COMPLETED, engine="cua")
    runs = api.get("/v1/runs").json()
    assert [r["run_id"] for r in runs] == [str(cua.pk), str(dom.pk)]
    assert runs[1] == runs[1] | {"task_run_type": "task_v1", "status": "running", "title": "a"}
    assert [r["run_id"] for r in api.get("/v1/runs?status=running").json()] == [str(dom.pk)]
    assert [r["run_id"] for r in api.get("/v1/runs?run_type=openai_cua").json()] == [str(cua.pk)]
    assert [r["run_id"] for r in api.get("/v1/runs?page=2&page_size=1").json()] == [str(dom.pk)]
    assert api.get("/v1/runs?page=0").status_code == 400


def test_unknown_run_is_404_and_trailing_slash_is_fine(api, org):
    task = TaskFactory(organization=org)
    assert api.get(f"/v1/runs/{task.pk}/").status_code == 200
    services.cancel_task(task=task, by=None)
    response = api.get("/v1/runs/tsk_123")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
