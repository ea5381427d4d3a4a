"""Replays in the dashboard and admin, rendered by the Django test client: the task page's "Run again
without the model", the script page with its versions, a replay's figures, the list's filter, and each
organization seeing only its own scripts."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tasks_app import services
from tasks_app.models import Script, Task
from tasks_app.selectors.scripts import latest_script
from tasks_app.services.runs import end_run
from tasks_app.services.scripts import save_script
from tests.tasks_app.recorded import DOCUMENT, recorded_run

pytestmark = pytest.mark.django_db
FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


@pytest.fixture
def source(org, operator):
    return recorded_run(org, operator, title="Newsletter sign-up")


def test_task_page_offers_the_replay_to_operators_only(client, operator, viewer, source, org):
    client.force_login(operator)
    page = client.get(reverse("task-detail", args=[source.pk])).content.decode()
    assert "Run again without the model" in page and reverse("task-replay", args=[source.pk]) in page
    assert "Replays version 1 of the script (2 recorded actions)" in page
    client.force_login(viewer)
    page = client.get(reverse("task-detail", args=[source.pk])).content.decode()
    assert "Run again without the model" not in page and reverse("task-script", args=[source.pk]) in page
    plain = services.create_task(organization=org, created_by=operator, start=False, url="https://example.test/",
                                 navigation_goal="look")
    client.force_login(operator)
    assert "Run again without the model" not in client.get(reverse("task-detail", args=[plain.pk])).content.decode()


def test_replaying_from_the_page_with_a_new_payload(client, operator, source):
    client.force_login(operator)
    response = client.post(reverse("task-replay", args=[source.pk]),
                           {"navigation_payload": '{"email": "grace@example.test"}'}, **FETCH)
    assert response.status_code == 200, response.content
    answer = response.json()
    replay = Task.objects.get(run_with="script")
    assert answer == {"ok": True, "message": "Replaying version 1 of the script without the model.",
                      "status": "queued", "redirect": reverse("task-detail", args=[replay.pk])}
    assert replay.navigation_payload == {"email": "grace@example.test"} and replay.script == latest_script(task=source)
    # without JavaScript: a redirect to the new task; an empty payload replays the recorded one
    plain = client.post(reverse("task-replay", args=[source.pk]), {"navigation_payload": "  "})
    newest = Task.objects.filter(run_with="script").order_by("-created_at").first()
    assert plain.status_code == 302 and plain["Location"] == reverse("task-detail", args=[newest.pk])
    assert newest.navigation_payload == source.navigation_payload


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("{not json", "The new payload is not valid JSON"),
        (json.dumps({"email": "y" * 70000}), "larger than 64 KiB"),
        ('{"plan": "free"}', "The payload lacks 'email', which the script types"),
    ],
)
def test_a_bad_payload_is_a_clear_error(client, operator, source, payload, fragment):
    client.force_login(operator)
    response = client.post(reverse("task-replay", args=[source.pk]), {"navigation_payload": payload}, **FETCH)
    assert response.status_code == 400 and fragment in response.json()["message"]
    assert not Task.objects.filter(run_with="script").exists()


def test_replay_refusals(client, operator, viewer, outsider, source, org):
    plain = services.create_task(organization=org, created_by=operator, start=False, url="https://example.test/",
                                 navigation_goal="look")
    client.force_login(operator)
    response = client.post(reverse("task-replay", args=[plain.pk]), {}, **FETCH)
    assert response.status_code == 400 and "has no script to replay" in response.json()["message"]
    client.force_login(viewer)
    assert client.post(reverse("task-replay", args=[source.pk]), {}, **FETCH).status_code == 403
    client.force_login(outsider)
    assert client.post(reverse("task-replay", args=[source.pk]), {}, **FETCH).status_code == 404
    assert client.get(reverse("task-replay", args=[source.pk])).status_code == 405
    assert not Task.objects.filter(run_with="script").exists()


def test_the_script_page_shows_the_document_and_its_versions(client, operator, outsider, source, org):
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    save_script(task_id=replay.pk, document={**DOCUMENT, "steps": DOCUMENT["steps"][:1]}, healed_steps=[2],
                reason="repaired")
    client.force_login(operator)
    page = client.get(reverse("task-script", args=[source.pk])).content.decode()
    assert "Script version 2" in page and "Repaired by a replay" in page and "repaired step 2" in page
    assert "?version=1" in page and "payload “email”" in page
    first = client.get(reverse("task-script", args=[replay.pk]), {"version": 1}).content.decode()
    assert "Script version 1" in first and "[e4] &lt;button&gt;Sign up&lt;/button&gt;" in first
    assert "&quot;listing_line&quot;" in first  # the whole document, as readable JSON
    assert client.get(reverse("task-script", args=[source.pk]), {"version": 7}).status_code == 404
    plain = services.create_task(organization=org, created_by=operator, start=False, url="https://example.test/",
                                 navigation_goal="look")
    assert client.get(reverse("task-script", args=[plain.pk])).status_code == 404
    client.force_login(outsider)
    assert client.get(reverse("task-script", args=[source.pk])).status_code == 404


def test_a_replay_page_shows_how_it_ran_and_what_it_saved(client, operator, source, org):
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False)
    Task.objects.filter(pk=replay.pk).update(status=Task.Status.RUNNING)
    end_run(task_id=replay.pk, status="completed", replay={
        "steps_replayed": 9, "steps_healed": 1, "model_calls": 1, "model_calls_recorded": 4, "tokens_saved": 5120})
    client.force_login(operator)
    page = client.get(reverse("task-detail", args=[replay.pk])).content.decode()
    assert "script version 1</a> recorded by" in page
    assert "9 steps replayed, 1 redone by the model" in page
    assert "Model calls: 1" in page and "(the recorded run: 4)" in page and "Tokens saved: 5120" in page


def test_the_list_filters_replays_and_marks_them(client, operator, source, org):
    replay = services.replay_task(organization=org, by=operator, replay_of=source, start=False, title="The replay")
    client.force_login(operator)
    replays = client.get(reverse("task-list"), {"run_with": "script"}).content.decode()
    assert "The replay" in replays and "Newsletter sign-up" not in replays and 'class="tag replay"' in replays
    models = client.get(reverse("task-list"), {"run_with": "agent"}).content.decode()
    assert "Newsletter sign-up" in models and "The replay" not in models
    everything = client.get(reverse("task-list"), {"run_with": "nonsense"}).content.decode()
    assert "Newsletter sign-up" in everything and "The replay" in everything
    assert replay.run_with == "script"


def test_admin_shows_each_organization_its_own_scripts(client, org_admin, source, other_org, outsider):
    theirs = latest_script(task=recorded_run(other_org, outsider, title="Their sign-up"))
    mine = latest_script(task=source)
    client.force_login(org_admin)
    listing = client.get(reverse("admin:tasks_app_script_changelist")).content.decode()
    assert f"script v1 of {source.pk}" in listing and str(theirs.lineage_id) not in listing
    assert client.get(reverse("admin:tasks_app_script_change", args=[mine.pk])).status_code == 200
    assert client.get(reverse("admin:tasks_app_script_change", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("admin:tasks_app_script_add")).status_code == 403
    response = client.post(reverse("admin:tasks_app_script_delete", args=[mine.pk]), {"post": "yes"})
    assert response.status_code == 403 and Script.objects.filter(pk=mine.pk).exists()
