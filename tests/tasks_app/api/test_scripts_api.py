"""Replays through the API: run_with "script" on POST /api/v1/tasks/, the task's script and its versions, the
run_with filter, Skyvern's run_with "code", and each organization seeing only its own scripts."""

from __future__ import annotations

import pytest

from tasks_app import services
from tasks_app.models import Script, Step, Task
from tasks_app.selectors.scripts import latest_script
from tasks_app.services.scripts import save_script
from tests.tasks_app.api.conftest import post
from tests.tasks_app.recorded import DOCUMENT, recorded_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(org, operator):
    return recorded_run(org, operator)


def test_run_with_script_makes_a_queued_replay_with_a_new_payload(api, source):
    response = post(api, "/api/v1/tasks/", {"run_with": "script", "replay_of": str(source.pk),
                                            "navigation_payload": {"email": "grace@example.test", "plan": "free"}})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["run_with"] == "script"
    assert body["script"] == latest_script(task=source).pk and body["replay"] is None
    assert body["navigation_payload"] == {"email": "grace@example.test", "plan": "free"}
    assert (body["url"], body["navigation_goal"], body["engine"]) == (source.url, source.navigation_goal, "dom")
    assert Task.objects.get(pk=body["id"]).organization_id == source.organization_id


def test_a_script_version_can_be_named_exactly(api, source, operator, org):
    v1 = latest_script(task=source)
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    v2 = save_script(task_id=replay.pk, document=DOCUMENT, healed_steps=[1], reason="repaired")
    newest = post(api, "/api/v1/tasks/", {"run_with": "script", "replay_of": str(source.pk)}).json()
    pinned = post(api, "/api/v1/tasks/", {"run_with": "script", "script_id": v1.pk}).json()
    assert (newest["script"], pinned["script"]) == (v2.pk, v1.pk)
    assert pinned["navigation_payload"] == source.navigation_payload  # the request of the lineage's recorded run


@pytest.mark.parametrize(
    ("body", "status", "field", "fragment"),
    [
        ({"run_with": "script"}, 400, "replay_of", "give the task to replay"),
        ({"run_with": "script", "replay_of": "SOURCE", "engine": "cua"}, 400, "engine", "dom engine only"),
        ({"run_with": "script", "replay_of": "SOURCE", "url": "https://example.test/"}, 400, "url",
         "comes from the recorded run"),
        ({"run_with": "script", "replay_of": "SOURCE", "navigation_payload": {"email": "y" * 70000}}, 400,
         "navigation_payload", "KiB"),
        ({"run_with": "script", "replay_of": "not-a-uuid"}, 400, "replay_of", ""),
        ({"run_with": "script", "script_id": 0}, 400, "script_id", ""),
        ({"run_with": "robot", "replay_of": "SOURCE"}, 400, "run_with", ""),
        ({"replay_of": "SOURCE", "url": "https://example.test/", "navigation_goal": "x"}, 400, "replay_of",
         'goes with run_with "script"'),
        ({"run_with": "agent", "navigation_goal": "x"}, 400, "url", "url is required"),
    ],
)
def test_bad_replay_requests_are_clear_400s(api, source, body, status, field, fragment):
    body = {k: str(source.pk) if v == "SOURCE" else v for k, v in body.items()}
    response = post(api, "/api/v1/tasks/", body)
    assert response.status_code == status, response.json()
    error = response.json()
    assert error["extra"]["field"] == field and fragment in error["message"]
    assert not Task.objects.filter(run_with="script").exists()


def test_a_task_without_a_script_says_so(api, org, operator):
    plain = services.create_task(organization=org, created_by=operator, start=False, url="https://example.test/",
                                 navigation_goal="look")
    response = post(api, "/api/v1/tasks/", {"run_with": "script", "replay_of": str(plain.pk)})
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"task {plain.pk} has no script to replay: a script is recorded by a completed run of the dom engine")


def test_other_organizations_tasks_and_scripts_are_404(api, outsider_api, other_org, outsider, source):
    theirs = recorded_run(other_org, outsider)
    assert post(api, "/api/v1/tasks/", {"run_with": "script", "replay_of": str(theirs.pk)}).status_code == 404
    their_script = latest_script(task=theirs).pk
    assert post(api, "/api/v1/tasks/", {"run_with": "script", "script_id": their_script}).status_code == 404
    assert api.get(f"/api/v1/tasks/{theirs.pk}/script/").status_code == 404
    # and the other way round
    assert post(outsider_api, "/api/v1/tasks/", {"run_with": "script", "replay_of": str(source.pk)}).status_code == 404
    assert outsider_api.get(f"/api/v1/tasks/{source.pk}/script/").status_code == 404
    assert Task.objects.filter(run_with="script").count() == 0


def test_viewers_cannot_replay(viewer_api, source):
    assert post(viewer_api, "/api/v1/tasks/", {"run_with": "script", "replay_of": str(source.pk)}).status_code == 403


def test_the_script_of_a_task_and_its_versions(api, source, org, operator):
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    save_script(task_id=replay.pk, document={**DOCUMENT, "steps": DOCUMENT["steps"][:1]}, healed_steps=[2],
                reason="repaired")
    body = api.get(f"/api/v1/tasks/{source.pk}/script/").json()
    assert body["lineage"] == str(source.pk)
    assert [(v["version"], v["reason"], v["steps"]) for v in body["versions"]] == [(2, "repaired", 1), (1, "recorded", 2)]
    assert body["script"]["version"] == 2 and body["script"]["made_by_task"] == str(replay.pk)
    first = api.get(f"/api/v1/tasks/{replay.pk}/script/", {"version": 1}).json()  # the same lineage from the replay
    assert first["script"]["document"] == DOCUMENT and first["script"]["healed_steps"] == []
    missing = api.get(f"/api/v1/tasks/{source.pk}/script/", {"version": 9})
    assert missing.status_code == 404 and "version 9" in missing.json()["message"]
    plain = services.create_task(organization=org, created_by=operator, start=False, url="https://example.test/",
                                 navigation_goal="look")
    assert api.get(f"/api/v1/tasks/{plain.pk}/script/").status_code == 404


def test_list_filters_replays(api, source, org, operator):
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    replays = api.get("/api/v1/tasks/", {"run_with": "script"}).json()["results"]
    models = api.get("/api/v1/tasks/", {"run_with": "agent"}).json()["results"]
    assert [t["id"] for t in replays] == [str(replay.pk)]
    assert [t["id"] for t in models] == [str(source.pk)]
    assert api.get("/api/v1/tasks/", {"run_with": "both"}).status_code == 400


def test_steps_say_how_a_replay_ran_them(api, source, org, operator):
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    Step.objects.create(task=replay, order=1, mode="replayed", status="completed")
    Step.objects.create(task=replay, order=2, mode="model", why='no element matches "Sign up"', status="completed")
    steps = api.get(f"/api/v1/tasks/{replay.pk}/steps/").json()
    assert [(s["mode"], s["why"]) for s in steps] == [("replayed", ""), ("model", 'no element matches "Sign up"')]


# ---- Skyvern's run_with -------------------------------------------------------------------------


def test_skyvern_code_replays_the_script_of_the_same_url_and_prompt(api, source):
    run = post(api, "/v1/run/tasks", {"prompt": source.navigation_goal, "url": source.url, "run_with": "code",
                                     "title": "Again"})
    assert run.status_code == 200, run.json()
    body = run.json()
    task = Task.objects.get(pk=body["run_id"])
    script = latest_script(task=source)
    assert (task.run_with, task.script_id, task.title) == ("script", script.pk, "Again")
    assert task.navigation_payload == source.navigation_payload
    assert body["run_request"]["run_with"] == "code"
    assert body["script_run"] == {"ai_fallback_triggered": False, "script_id": str(source.pk),
                                  "script_revision_id": str(script.pk)}
    shown = api.get(f"/v1/runs/{task.pk}").json()
    assert shown["script_run"]["script_revision_id"] == str(script.pk)


def test_skyvern_code_without_a_script_runs_the_model_and_records_one(api, source):
    run = post(api, "/v1/run/tasks", {"prompt": "Something never recorded", "url": source.url, "run_with": "code"}).json()
    task = Task.objects.get(pk=run["run_id"])
    assert task.run_with == "agent" and run["script_run"] is None and run["run_request"]["run_with"] == "agent"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"run_with": "code", "engine": "openai-cua"}, "skyvern-1.0 runs only"),
        ({"run_with": "robot"}, "run_with robot is not available on Lookout"),
    ],
)
def test_skyvern_bad_run_with_is_a_clear_400(api, source, body, fragment):
    response = post(api, "/v1/run/tasks", {"prompt": source.navigation_goal, "url": source.url, **body})
    assert response.status_code == 400 and fragment in response.json()["message"], response.json()
    assert response.json()["extra"]["field"] == "run_with"


def test_skyvern_code_never_finds_another_organizations_script(api, other_org, outsider):
    theirs = recorded_run(other_org, outsider)
    run = post(api, "/v1/run/tasks", {"prompt": theirs.navigation_goal, "url": theirs.url, "run_with": "code"}).json()
    assert Task.objects.get(pk=run["run_id"]).run_with == "agent"
    assert Script.objects.filter(organization=other_org).count() == 1
