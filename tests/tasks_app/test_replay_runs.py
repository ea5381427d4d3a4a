"""Record, then replay, for real: a run of the fake model on the local job site records a script; a replay of
it, created through the API with another payload, submits the new values with no model call at all, every
step marked "replayed", its figures stored; `run_task --replay` does the same from the shell."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.core.management import CommandError, call_command
from django.test import Client

from tasks_app import services
from tasks_app.models import Script, Step, Task, TaskEvent
from tasks_app.runs.execute import execute_task
from tests.tasks_app.recorded import ADA, GRACE, apply_with_payload
from tests.tasks_app.running import assert_events_typed, make_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

async def record(site, model, browser, org, operator) -> Task:
    model.script = apply_with_payload
    task = await sync_to_async(make_task)(org, operator, url=site.url("/job/"), navigation_goal="Apply for the job",
                                          navigation_payload=ADA)
    finished = await execute_task(task.pk, browser=browser)
    assert finished.status == "completed", finished.failure_reason
    return finished


async def test_a_recorded_run_replays_with_a_new_payload_and_no_model_call(site, model, browser, org, operator, settings):
    settings.LOOKOUT_RUNNER = "inprocess"  # without a server loop, a created task stays queued for the test to run
    source = await record(site, model, browser, org, operator)
    script = await Script.objects.aget(lineage=source)
    assert (script.version, script.reason, script.made_by_task_id) == (1, "recorded", source.pk)
    assert script.step_count >= 7
    typed = [s["params"].get("text") for s in script.document["steps"] if s["action"] == "input_text"]
    assert {"payload": "full_name"} in typed and {"payload": "email"} in typed  # references, not the values

    # POST /api/v1/tasks/ with run_with "script", as a client would; the test executes the queued task.
    key, raw = await sync_to_async(services.create_api_key)(organization=org, name="replayer")
    api = Client(HTTP_X_API_KEY=raw)
    response = await database_sync_to_async(api.post)(
        "/api/v1/tasks/", {"run_with": "script", "replay_of": str(source.pk), "navigation_payload": GRACE},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    calls_before = len(model.requests)
    replay = await execute_task(response.json()["id"], browser=browser)
    assert replay.status == "completed", replay.failure_reason
    assert len(model.requests) == calls_before, "the replay asked the model"
    fields = site.last("/job/apply")["fields"]
    assert (fields["full_name"], fields["email"], fields["start_date"]) == (GRACE["full_name"], GRACE["email"], GRACE["start"])

    assert replay.run_with == "script" and replay.script_id == script.pk
    assert replay.replay["model_calls"] == 0 and replay.replay["steps_healed"] == 0
    assert replay.replay["steps_replayed"] >= 7 and replay.replay["model_calls_recorded"] >= 2
    assert replay.replay["tokens_saved"] > 0 and replay.input_tokens == 0
    modes = {mode async for mode in Step.objects.filter(task=replay).values_list("mode", flat=True)}
    assert modes == {"replayed"}
    assert not await Script.objects.filter(made_by_task=replay).aexists()  # nothing to repair: no new version
    events = await sync_to_async(list)(TaskEvent.objects.filter(task=replay).order_by("seq"))
    assert "replay.finished" in [e.type for e in events]
    assert all(e.data.get("mode") == "replayed" for e in events if e.type == "step.started")
    assert_events_typed(events)
    shown = (await database_sync_to_async(api.get)(f"/api/v1/tasks/{replay.pk}/")).json()
    assert shown["replay"] == replay.replay and shown["run_with"] == "script"


@pytest.fixture
def cli_model(settings, model):
    settings.LOOKOUT_RUNNER = "inprocess"
    return model


def test_run_task_replay_from_the_shell(cli_model, site, org, capsys):
    cli_model.script = apply_with_payload
    call_command("run_task", "--url", site.url("/job/"), "--goal", "Apply for the job", "--payload", json.dumps(ADA),
                 "--org", org.slug, "--json")
    recorded = json.loads(capsys.readouterr().out)
    assert recorded["status"] == "completed" and recorded["run_with"] == "agent"
    assert Script.objects.filter(lineage_id=recorded["id"]).exists()

    calls = len(cli_model.requests)
    call_command("run_task", "--replay", recorded["id"], "--payload", json.dumps(GRACE), "--json")
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["status"] == "completed" and result["run_with"] == "script" and result["script"]["version"] == 1
    assert result["replay"]["model_calls"] == 0 and len(cli_model.requests) == calls
    assert "[replayed]" in err and "replay: " in err  # progress lines name how each step ran
    assert site.last("/job/apply")["fields"]["full_name"] == GRACE["full_name"]
    assert Task.objects.get(pk=result["id"]).organization == org


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replay", "RECORDED", "--url", "https://example.test/"], "leave out --url"),
        (["--replay", "RECORDED", "--goal", "other"], "leave out --goal"),
        (["--replay", "RECORDED", "--engine", "cua"], "dom engine only"),
        (["--replay", "RECORDED", "--payload", "{nope"], "--payload is not valid JSON"),
        (["--replay", "RECORDED", "--org", "someone-else"], "no task"),
        (["--replay", "00000000-0000-0000-0000-000000000000"], "no task 00000000"),
        (["--replay", "nonsense"], "no task nonsense"),
        (["--replay", "PLAIN"], "has no script to replay"),
        (["--goal", "look"], "give --url"),
    ],
)
def test_run_task_replay_bad_input_is_a_clear_error(cli_model, org, operator, args, message):
    from tests.tasks_app.recorded import recorded_run

    recorded = recorded_run(org, operator)
    plain = services.create_task(organization=org, created_by=operator, start=False, url="https://example.test/",
                                 navigation_goal="look")
    args = [str(recorded.pk) if a == "RECORDED" else str(plain.pk) if a == "PLAIN" else a for a in args]
    with pytest.raises(CommandError) as err:
        call_command("run_task", *args)
    assert message in str(err.value)
    assert not Task.objects.filter(run_with="script").exists()


@pytest.mark.timeout(360)  # five real runs of a two-page flow, on a shared machine
async def test_record_replay_repair_and_fail_through_tasks_app(site, model, browser, org, operator, settings):
    """The issue's whole story through tasks_app, on the replay/ sign-up site (tests/replay_flow.py): a run of
    the model records version 1; a replay with another payload makes no model call and extracts the right
    values; on the redesigned site a replay asks the model for the broken steps only and stores version 2,
    which then replays the redesigned site with no model call; on a site changed beyond repair the replay
    fails naming the step."""
    from tests.replay_flow import ADA as ORBIT_ADA
    from tests.replay_flow import GRACE as ORBIT_GRACE
    from tests.replay_flow import SCHEMA, expected_extraction, signup_model, signup_spec

    settings.LOOKOUT_RUNNER = "inprocess"
    spec = signup_spec(site, ORBIT_ADA)
    model.script = signup_model(ORBIT_ADA)
    source = await sync_to_async(make_task)(
        org, operator, url=spec.url, navigation_goal=spec.navigation_goal, data_extraction_goal=spec.data_extraction_goal,
        extracted_information_schema=SCHEMA, navigation_payload=ORBIT_ADA, secret_payload_keys=["password"],
    )
    recorded = await execute_task(source.pk, browser=browser)
    assert recorded.status == "completed" and recorded.extracted_information == expected_extraction(ORBIT_ADA)
    assert await Script.objects.filter(lineage=source, version=1).aexists()

    async def replay(payload, *, expect_calls):
        model.script = signup_model(payload)
        task = await sync_to_async(services.replay_task)(
            organization=org, by=operator, replay_of=source, navigation_payload=payload, dispatch=False)
        before = len(model.requests)
        finished = await execute_task(task.pk, browser=browser)
        calls = len(model.requests) - before
        assert (calls == 0) if expect_calls == 0 else (calls >= expect_calls), calls
        return finished

    same = await replay(ORBIT_GRACE, expect_calls=0)
    assert same.status == "completed" and same.extracted_information == expected_extraction(ORBIT_GRACE)
    assert site.last("/replay/signup")["fields"]["password"] == ORBIT_GRACE["password"]  # the secret, from the vault

    site.replay_variant = "v2"
    healed = await replay({**ORBIT_GRACE, "username": "grace_v2"}, expect_calls=1)
    assert healed.status == "completed", healed.failure_reason
    assert healed.replay["steps_healed"] >= 1 and healed.replay["model_calls"] >= 1
    v2 = await Script.objects.aget(made_by_task=healed)
    assert (v2.version, v2.reason, v2.lineage_id) == (2, "repaired", source.pk) and v2.healed_steps
    asked = [s async for s in Step.objects.filter(task=healed, mode="model")]
    assert asked and all(s.why for s in asked)
    assert await Step.objects.filter(task=healed, mode="replayed").aexists()

    again = await replay({**ORBIT_GRACE, "username": "grace_v2b"}, expect_calls=0)
    assert again.status == "completed" and again.script_id == v2.pk
    assert again.extracted_information == expected_extraction({**ORBIT_GRACE, "username": "grace_v2b"})

    site.replay_variant = "closed"
    broken = await replay(ORBIT_ADA, expect_calls=1)
    assert broken.status == "failed" and broken.failure_reason.startswith("replay step "), broken.failure_reason
    assert not await Script.objects.filter(made_by_task=broken).aexists()
