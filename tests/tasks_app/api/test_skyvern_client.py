"""Skyvern's published Python client (PyPI `skyvern`, module `skyvern.client`), unchanged but for base_url and
api_key, against a live Lookout: start a run, poll it to a final status, list its artifacts, cancel others.

No browser runs here: dispatch is a no-op (the in-process runner without a server loop leaves tasks queued),
and the test plays the worker through the services (claim_task, finish_task)."""

from __future__ import annotations

import time

import httpx
import pytest

from tasks_app import services
from tasks_app.models import Artifact, Membership, Task
from tests.conftest import REQUIRE_SERVICES
from tests.factories import OrganizationFactory
from tests.tasks_app.api.conftest import PNG, add_artifact

try:
    from skyvern.client import Skyvern
    from skyvern.client.errors import NotFoundError
    from skyvern.client.types.get_run_response import GetRunResponse_OpenaiCua, GetRunResponse_TaskV1
except ImportError:  # `make install` puts it in .venv: pip install --no-deps skyvern
    if REQUIRE_SERVICES:
        raise
    pytest.skip("Skyvern's client is not installed (make install adds it)", allow_module_level=True)

FINAL = {"completed", "failed", "terminated", "canceled", "timed_out"}


def poll(client: Skyvern, run_id: str, timeout: float = 20.0):  # noqa: ANN201 - the client's own type
    deadline = time.monotonic() + timeout
    while True:
        run = client.get_run(run_id)
        if run.status in FINAL:
            return run
        assert time.monotonic() < deadline, f"run {run_id} is still {run.status}"
        time.sleep(0.2)


@pytest.fixture
def skyvern_client(fast_live_server, org_key):
    client = Skyvern(base_url=fast_live_server.url, api_key=org_key)
    yield client
    # Close its keep-alive connection before the live server stops sharing the test database.
    client._client_wrapper.httpx_client.httpx_client.close()


@pytest.fixture
def org_key(db):
    org = OrganizationFactory(slug="skyvern-users")
    return services.create_api_key(organization=org, name="skyvern client", role=Membership.Role.OPERATOR)[1]


def test_skyverns_client_drives_lookout(skyvern_client, org_key, settings):
    settings.LOOKOUT_RUNNER = "inprocess"  # dispatch only logs: the tasks wait for our fake worker
    client, api_key = skyvern_client, org_key

    run = client.run_task(
        prompt="What is the price of the blue mug?",
        url="https://shop.example.test/",
        data_extraction_schema={"type": "object", "properties": {"price": {"type": "string"}}},
        max_steps=5,
        proxy_location="RESIDENTIAL",  # a Skyvern-only option: accepted and ignored
    )
    assert run.status == "queued" and run.run_request.prompt == "What is the price of the blue mug?"

    # the worker's side, as the execution engine would do it
    task = services.claim_task(task_id=run.run_id, worker="test-worker")
    assert task is not None
    assert client.get_run(run.run_id).status == "running"
    add_artifact(task, Artifact.Kind.SCREENSHOT_ACTION, "step.png", PNG, "image/png")
    add_artifact(task, Artifact.Kind.SCREENSHOT_FINAL, "final.png", PNG, "image/png")
    add_artifact(task, Artifact.Kind.RECORDING, "run.webm", b"webm-bytes", "video/webm")
    services.finish_task(task=task, status=Task.Status.COMPLETED, extracted_information={"price": "$12.50"})

    finished = poll(client, run.run_id)
    assert isinstance(finished, GetRunResponse_TaskV1) and finished.run_type == "task_v1"
    assert finished.status == "completed" and finished.output == {"price": "$12.50"}
    assert finished.finished_at is not None and finished.recording_url and len(finished.screenshot_urls) == 2

    artifacts = client.get_run_artifacts(run.run_id)
    assert sorted(a.artifact_type for a in artifacts) == ["recording", "screenshot_action", "screenshot_final"]
    final = next(a for a in artifacts if a.artifact_type == "screenshot_final")
    assert final.run_id == run.run_id and final.organization_id == "skyvern-users"
    only = client.get_run_artifacts(run.run_id, artifact_type="recording")
    assert [a.artifact_id for a in only] == [next(a.artifact_id for a in artifacts if a.artifact_type == "recording")]
    download = httpx.get(final.signed_url, headers={"x-api-key": api_key})
    assert download.status_code == 200 and download.content == PNG

    # cancel: a queued run and a running one both end `canceled` for Skyvern's users
    waiting = client.run_task(prompt="Sign up", url="https://example.test/", engine="openai-cua")
    client.cancel_run(waiting.run_id)
    canceled = poll(client, waiting.run_id)
    assert isinstance(canceled, GetRunResponse_OpenaiCua) and canceled.status == "canceled"

    busy = client.run_task(prompt="Browse", url="https://example.test/")
    services.claim_task(task_id=busy.run_id, worker="test-worker")
    client.cancel_run(busy.run_id)
    assert poll(client, busy.run_id).status == "canceled"
    assert {r.run_id for r in client.get_runs_v2(status="canceled")} == {busy.run_id, waiting.run_id}

    listed = client.get_runs_v2(page_size=10)
    assert [r.run_id for r in listed] == [busy.run_id, waiting.run_id, run.run_id]
    assert {r.status for r in client.get_runs_v2(status="completed")} == {"completed"}

    with pytest.raises(NotFoundError):
        client.get_run("6d7f0a7c-0000-4000-8000-000000000000")


def test_skyverns_client_runs_again_with_code(skyvern_client, org_key, settings):
    """`run_task(run_with="code")`: the first run of a request goes to the model (and records a script when
    it completes); the next one replays that script, and the client reads which script it ran."""
    from tasks_app.models import Organization
    from tasks_app.services.scripts import save_script
    from tests.tasks_app.recorded import DOCUMENT

    settings.LOOKOUT_RUNNER = "inprocess"
    client = skyvern_client
    first = client.run_task(prompt="Sign up with the payload's email", url="https://example.test/signup", run_with="code")
    assert first.run_request.run_with == "agent" and first.script_run is None
    task = services.claim_task(task_id=first.run_id, worker="test-worker")
    services.finish_task(task=task, status=Task.Status.COMPLETED)
    typed = {**DOCUMENT["steps"][0], "params": {"text": "ada@example.test"}}  # no payload here: text as typed
    document = {**DOCUMENT, "steps": [typed, *DOCUMENT["steps"][1:]]}
    version = save_script(task_id=task.pk, document=document, healed_steps=[], reason="recorded")  # as the run would

    again = client.run_task(prompt="Sign up with the payload's email", url="https://example.test/signup", run_with="code")
    assert again.run_request.run_with == "code"
    assert again.script_run.script_id == first.run_id and again.script_run.script_revision_id == str(version.pk)
    assert not again.script_run.ai_fallback_triggered
    replay = Task.objects.get(pk=again.run_id)
    assert replay.run_with == "script" and replay.organization == Organization.objects.get(slug="skyvern-users")
    assert client.get_run(again.run_id).script_run.script_revision_id == str(version.pk)
