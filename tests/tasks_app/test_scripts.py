"""Scripts in the database: versions per lineage, replays built from the recorded run's request, a replay's
figures, the spec a replay runs with, and the hook that stores what the engine recorded."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from agent_core.types import ScriptOut
from tasks_app import services
from tasks_app.crypto import decrypt_json
from tasks_app.errors import InvalidRequestError, NotFoundError, TaskStateError
from tasks_app.models import Script, Task, TaskEvent
from tasks_app.runs.config import spec_from_task
from tasks_app.runs.hooks import RecordingHooks
from tasks_app.selectors.scripts import find_script_for, latest_script
from tasks_app.services.runs import end_run
from tasks_app.services.scripts import save_script
from tasks_app.services.webhooks import webhook_payload
from tests.tasks_app.recorded import DOCUMENT, recorded_run
from tests.tasks_app.running import assert_events_typed

pytestmark = pytest.mark.django_db

def test_a_run_records_version_one_and_a_repairing_replay_the_next(org, operator):
    source = recorded_run(org, operator)
    v1 = latest_script(task=source)
    assert (v1.version, v1.lineage_id, v1.made_by_task_id, v1.organization_id) == (1, source.pk, source.pk, org.pk)
    assert v1.step_count == 2 and v1.document == DOCUMENT

    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    assert (replay.run_with, replay.script_id) == ("script", v1.pk)
    repaired = {**DOCUMENT, "steps": [*DOCUMENT["steps"][:1], {**DOCUMENT["steps"][1], "listing_line": "[e9] <button>Join</button>"}]}
    v2 = save_script(task_id=replay.pk, document=repaired, healed_steps=[2], reason="repaired")
    assert (v2.version, v2.lineage_id, v2.made_by_task_id, v2.healed_steps) == (2, source.pk, replay.pk, [2])
    # Saving twice for one run changes nothing; the lineage's newest version is what replays next.
    assert save_script(task_id=replay.pk, document=repaired, healed_steps=[2], reason="repaired") == v2
    assert Script.objects.filter(lineage=source).count() == 2
    assert latest_script(task=source) == v2 and latest_script(task=replay) == v2
    assert services.replay_task(organization=org, by=operator, replay_of=replay, start=False).script == v2

    events = list(TaskEvent.objects.filter(type="script.recorded").order_by("task_id", "seq"))
    assert sorted((e.data["version"], e.data["reason"]) for e in events) == [(1, "recorded"), (2, "repaired")]
    assert all(e.data["lineage_id"] == str(source.pk) for e in events)
    assert_events_typed(events)


def test_a_model_run_that_is_no_replay_starts_its_own_lineage(org, operator):
    first = recorded_run(org, operator)
    second = recorded_run(org, operator)
    assert latest_script(task=second).lineage_id == second.pk != first.pk
    assert latest_script(task=second).version == 1


def test_a_replay_takes_the_recorded_request_with_a_new_payload(org, operator):
    source = recorded_run(org, operator, title="Sign-up", data_extraction_goal="The confirmation number",
                          error_code_mapping={"FULL": "the list is full"}, max_steps=7)
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False,
                                  navigation_payload={"email": "grace@example.test", "plan": "free"})
    for field in ("url", "navigation_goal", "data_extraction_goal", "error_code_mapping", "max_steps", "engine", "title"):
        assert getattr(replay, field) == getattr(source, field), field
    assert replay.navigation_payload == {"email": "grace@example.test", "plan": "free"}
    assert replay.created_by == operator and replay.retry_of is None
    same = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    assert same.navigation_payload == source.navigation_payload  # no new payload: the recorded one


def test_secret_payload_keys_stay_secret_in_a_replay(org, operator):
    source = recorded_run(org, operator, navigation_payload={"email": "ada@example.test", "card": "4929-1"},
                          secret_payload_keys=["card"])
    same = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    assert same.navigation_payload == {"email": "ada@example.test", "card": Task.SECRET_SHOWN}
    assert decrypt_json(same.secret_payload) == {"card": "4929-1"}
    new = services.replay_task(organization=org, by=operator, replay_of=source, start=False,
                               navigation_payload={"email": "grace@example.test", "card": "5100-2"})
    assert new.navigation_payload["card"] == Task.SECRET_SHOWN and decrypt_json(new.secret_payload) == {"card": "5100-2"}
    without = services.replay_task(organization=org, by=operator, replay_of=source, start=False,
                                   navigation_payload={"email": "grace@example.test"})
    assert without.secret_payload_keys == [] and without.navigation_payload == {"email": "grace@example.test"}


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"url": "https://example.test/other"}, "url", "comes from the recorded run"),
        ({"navigation_goal": "something else"}, "navigation_goal", "comes from the recorded run"),
        ({"engine": "cua"}, "engine", "dom engine only"),
        ({"navigation_payload": {"email": "y" * 70000}}, "navigation_payload", "KiB"),
        ({"max_steps": 1000}, "max_steps", "limited to"),
        ({"navigation_payload": {"plan": "free"}}, "navigation_payload", "lacks 'email', which the script types"),
        ({"navigation_payload": ["ada@example.test"]}, "navigation_payload", "lacks 'email'"),
    ],
)
def test_bad_replay_requests_name_the_field(org, operator, changes, field, fragment):
    source = recorded_run(org, operator)
    with pytest.raises(InvalidRequestError) as err:
        services.replay_task(organization=org, by=operator, replay_of=source, start=False, **changes)
    assert err.value.field == field and fragment in err.value.message
    assert not Task.objects.filter(run_with="script").exists()


def test_a_task_without_a_script_cannot_be_replayed(org, operator):
    plain = services.create_task(organization=org, created_by=operator, start=False, url="https://example.test/",
                                 navigation_goal="look")
    with pytest.raises(InvalidRequestError) as err:
        services.replay_task(organization=org, by=operator, replay_of=plain)
    assert err.value.field == "replay_of" and "has no script to replay" in err.value.message
    with pytest.raises(InvalidRequestError):
        services.replay_task(organization=org, by=operator)  # neither a task nor a script


def test_another_organizations_script_is_not_found(org, other_org, operator, outsider):
    theirs = latest_script(task=recorded_run(other_org, outsider))
    with pytest.raises(NotFoundError):
        services.replay_task(organization=org, by=operator, script=theirs)
    with pytest.raises(NotFoundError):  # nor can an outsider replay ours
        services.replay_task(organization=org, by=outsider, replay_of=recorded_run(org, operator))


def test_viewers_cannot_replay(org, operator, viewer):
    from tasks_app.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        services.replay_task(organization=org, by=viewer, replay_of=recorded_run(org, operator))


def test_retrying_a_replay_replays_the_same_version(org, operator):
    source = recorded_run(org, operator)
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    Task.objects.filter(pk=replay.pk).update(status=Task.Status.FAILED)
    retry = services.retry_task(task=Task.objects.get(pk=replay.pk), by=operator)
    assert (retry.run_with, retry.script_id, retry.retry_of_id) == ("script", replay.script_id, replay.pk)
    Script.objects.filter(pk=replay.script_id).delete()
    with pytest.raises(TaskStateError, match="no longer exists"):
        services.retry_task(task=Task.objects.get(pk=replay.pk), by=operator)


def test_the_spec_of_a_replay_carries_the_script(org, operator):
    source = recorded_run(org, operator)
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False,
                                  navigation_payload={"email": "grace@example.test"})
    spec = spec_from_task(Task.objects.select_related("organization").get(pk=replay.pk))
    assert spec.run_with == "script" and spec.script == DOCUMENT
    assert spec.navigation_payload == {"email": "grace@example.test"}
    plain = spec_from_task(Task.objects.select_related("organization").get(pk=source.pk))
    assert plain.run_with == "agent" and plain.script is None
    Script.objects.filter(pk=replay.script_id).delete()
    replay.refresh_from_db()
    replay.run_with = "script"
    with pytest.raises(NotFoundError, match="no longer exists"):
        spec_from_task(Task.objects.select_related("organization").get(pk=replay.pk))


def test_a_replays_figures_are_stored_with_its_end(org, operator):
    source = recorded_run(org, operator)
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    Task.objects.filter(pk=replay.pk).update(status=Task.Status.RUNNING)
    figures = {"steps_replayed": 9, "steps_healed": 1, "model_calls": 1, "model_calls_recorded": 4, "tokens_saved": 5120}
    ended = end_run(task_id=replay.pk, status="completed", replay=figures)
    assert ended.status == "completed" and ended.replay == figures
    events = list(TaskEvent.objects.filter(task=replay).order_by("seq"))
    assert [e.type for e in events][-2:] == ["replay.finished", "task.status"]  # the figures, then the end
    assert events[-2].data == {**figures, "script_id": replay.script_id, "version": 1}
    assert_events_typed(events)
    end_run(task_id=replay.pk, status="completed", replay=figures)  # twice: one event
    assert TaskEvent.objects.filter(task=replay, type="replay.finished").count() == 1
    body = webhook_payload(Task.objects.get(pk=replay.pk))
    assert (body["run_with"], body["replay"]) == ("script", figures)


@pytest.mark.django_db(transaction=True)  # the hook writes from a worker thread (database_sync_to_async)
def test_the_hook_stores_what_the_engine_recorded(org, operator):
    task = services.create_task(organization=org, created_by=operator, start=False, url="https://example.test/signup",
                                navigation_goal="Sign up")
    hooks = RecordingHooks(task.pk)
    async_to_sync(hooks.script)(ScriptOut(document=DOCUMENT, healed_steps=[], reason="recorded"))
    script = Script.objects.get(made_by_task=task)
    assert (script.version, script.reason, script.document) == (1, "recorded", DOCUMENT)


def test_a_script_is_found_by_its_url_and_goal(org, other_org, operator, outsider):
    older = recorded_run(org, operator)
    newer = recorded_run(org, operator)
    recorded_run(other_org, outsider)  # the same request in another organization: never found from ours
    found = find_script_for(organization=org, url="https://example.test/signup",
                            navigation_goal="Sign up with the payload's email")
    assert found.lineage_id == newer.pk != older.pk
    assert find_script_for(organization=org, url="https://example.test/signup", navigation_goal="other") is None


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({**DOCUMENT, "steps": []}, "non-empty list of steps"),
        ({**DOCUMENT, "format": 9}, "unknown script format 9"),
        ({**DOCUMENT, "steps": [{"action": "click", "params": {}, "target": None}]}, "script step 1: click needs a target"),
        ("not an object", "must be a JSON object"),
    ],
)
@pytest.mark.django_db(transaction=True)  # the hook writes from a worker thread (database_sync_to_async)
def test_a_document_that_cannot_be_replayed_is_not_stored(org, operator, document, fragment):
    task = services.create_task(organization=org, created_by=operator, start=False, url="https://example.test/",
                                navigation_goal="look")
    with pytest.raises(InvalidRequestError) as err:
        save_script(task_id=task.pk, document=document, healed_steps=[], reason="recorded")
    assert fragment in err.value.message and not Script.objects.exists()
    async_to_sync(RecordingHooks(task.pk).script)(ScriptOut(document={"format": 9}))  # logged, not raised
    assert not Script.objects.exists()
