"""Credentials end to end: a task logs in to the vault site (password, then a TOTP code the site checks
with pyotp) typing only placeholders, and nothing stored for the task holds a secret; a second task starts
from the login the first saved; a placeholder typed on a site not listed is refused and the timeline says why."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from urllib.parse import quote, quote_plus

import pytest
from asgiref.sync import sync_to_async

from tasks_app import services
from tasks_app.models import (
    Action,
    Artifact,
    BrowserProfile,
    Credential,
    Script,
    Step,
    Task,
    TaskEvent,
    WebhookDelivery,
)
from tasks_app.runs.execute import execute_task
from tests.receivers import receiver  # noqa: F401
from tests.scripting import act, element_id, page_url, step
from tests.sites.server import VAULT_PASSWORD, VAULT_TOTP_SECRET, VAULT_USER
from tests.tasks_app.running import assert_events_typed, make_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CARD = "4929-1111-2222-3333"  # a secret payload value


def spellings(secret: str) -> set[str]:
    """How a secret could be written in stored bytes: as is, URL-encoded, JSON-escaped, HTML-escaped."""
    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
            json.dumps(json.dumps(secret)[1:-1])[1:-1], html.escape(secret), html.escape(secret, quote=False)}


def stored_bytes(task_id) -> list[tuple[str, bytes]]:
    """Every stored byte of a task: its rows (task, steps, actions, events, webhook deliveries, artifacts,
    the script it recorded)
    as JSON, and every artifact file and thumbnail, zip entries (the trace) unpacked too."""
    found: list[tuple[str, bytes]] = []
    for model, lookup in ((Task, "pk"), (Step, "task_id"), (Action, "task_id"), (TaskEvent, "task_id"),
                          (WebhookDelivery, "task_id"), (Artifact, "task_id"), (Script, "made_by_task_id")):
        rows = list(model.objects.filter(**{lookup: task_id}).values())
        found.append((model.__name__, json.dumps(rows, default=str, ensure_ascii=False).encode()))
    for artifact in Artifact.objects.filter(task_id=task_id):
        for stored in (artifact.file, artifact.thumbnail):
            if not stored:
                continue
            with stored.open("rb") as handle:
                data = handle.read()
            found.append((f"{artifact.kind}:{artifact.name}", data))
            if data[:2] == b"PK":
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    found.extend((f"{artifact.name}!{n}", archive.read(n)) for n in archive.namelist())
    return found


def secret_hits(task_id, secrets: list[str]) -> list[str]:
    hits = []
    for where, data in stored_bytes(task_id):
        for secret in secrets:
            for form in spellings(secret):
                if form.encode() in data:
                    hits.append(f"{secret[:4]}… as {form!r} in {where}")
    return hits


def test_the_secret_search_finds_what_it_looks_for(db, org, operator):
    task = make_task(org, operator, url="https://example.test/", navigation_goal="x",
                     navigation_payload={"note": "pw=" + quote_plus(VAULT_PASSWORD)})
    assert secret_hits(task.pk, [VAULT_PASSWORD])  # a positive control for the searches below


def placeholders_in_prompt(req) -> dict[str, str]:
    """The credential placeholders the prompt lists, by field (the fake model knows nothing else)."""
    line = next(line for line in req.user_text().splitlines() if line.startswith("- vault:"))
    return {m.group(1): m.group(0) for m in re.finditer(r"\{\{vault\.(\w+)\}\}", line)}


def login_script(req):
    if "members" in page_url(req):
        return step(act("complete"), goal_achieved=True)
    names = placeholders_in_prompt(req)
    if re.search(r"name=code", req.user_text()):
        return step(
            act("input_text", element_id(req, r"name=code"), text=names["totp"]),
            act("click", element_id(req, r"<button")),
        )
    return step(
        act("input_text", element_id(req, r"name=username"), text=names["username"]),
        act("input_text", element_id(req, r"name=password"), text=names["password"]),
        act("click", element_id(req, r"<button")),
    )


@pytest.fixture
def vault(org, org_admin, site):
    return services.create_credential(
        organization=org, by=org_admin, name="vault", username=VAULT_USER, password=VAULT_PASSWORD,
        totp_secret=VAULT_TOTP_SECRET, sites=[f"127.0.0.1:{site.port}"], notes="the test vault",
    )


async def test_login_with_a_credential_leaves_no_secret_behind_and_saves_the_login(
    site, model, browser, org, operator, vault, receiver, settings  # noqa: F811
):
    settings.LOOKOUT_WEBHOOK_MAX_ATTEMPTS = 1
    model.script = login_script
    task = await sync_to_async(make_task)(
        org, operator, url=site.url("/vault/"), navigation_goal="Sign in and open the members area",
        credentials=["vault"], profile="vault-login", save_profile=True, webhook_callback_url=receiver.url,
        navigation_payload={"card": CARD, "name": "Grace"}, secret_payload_keys=["card"],
    )
    finished = await execute_task(task.pk, browser=browser)
    assert finished.status == "completed", finished.failure_reason
    assert site.last("/vault/login")["fields"]["password"] == VAULT_PASSWORD  # the real value reached the site
    assert site.last("/vault/totp")["fields"]["code"].isdigit()
    assert [a.action_type for a in await sync_to_async(list)(Action.objects.filter(task=task))] == [
        "input_text", "input_text", "click", "input_text", "click"]
    first_params = (await Action.objects.filter(task=task).afirst()).parameters
    assert first_params == {"text": "{{vault.username}}"}

    # The model saw placeholders only, and the page it sent never held a secret either.
    sent = json.dumps([r.body for r in model.requests])
    for secret in (VAULT_PASSWORD, VAULT_TOTP_SECRET, VAULT_USER, CARD):
        assert secret not in sent
    assert "{{payload.card}}" in model.requests[0].user_text()

    # Every stored byte of the task (the script it recorded included): no password, TOTP secret, username or
    # secret payload value.
    assert await Script.objects.filter(made_by_task=task).aexists(), "the completed dom run recorded no script"
    await sync_to_async(_wait_for_webhook)(task.pk)
    assert await sync_to_async(secret_hits)(task.pk, [VAULT_PASSWORD, VAULT_TOTP_SECRET, VAULT_USER, CARD]) == []
    kinds = set(await sync_to_async(list)(Artifact.objects.filter(task=task).values_list("kind", flat=True)))
    assert {"llm_prompt", "llm_request", "llm_response", "html_scrape", "har", "trace"} <= kinds

    events = await sync_to_async(list)(TaskEvent.objects.filter(task=task).order_by("seq"))
    assert_events_typed(events)
    saved = [e.data for e in events if e.type == "profile.saved"]
    assert saved == [{"profile": "vault-login", "sites": ["127.0.0.1"], "created": True}]
    profile = await BrowserProfile.objects.aget(organization=org, name="vault-login")
    assert profile.cookie_count >= 1 and profile.saved_by_task_id == task.pk
    assert b"vault_session" not in profile.state_encrypted.encode()  # encrypted at rest
    assert (await Credential.objects.aget(pk=vault.pk)).last_used_at is not None
    stored = await Task.objects.aget(pk=task.pk)
    assert stored.navigation_payload == {"card": Task.SECRET_SHOWN, "name": "Grace"} and CARD not in stored.secret_payload

    # A second task starts from the saved login: straight to the members page, no login form, no code.
    logins_before = len(site.posts("/vault/login"))
    model.requests.clear()
    model.script = lambda req: step(act("complete"), goal_achieved=True) if "members" in page_url(req) else step(
        act("terminate", errors=[], reasoning="not signed in"))
    second = await sync_to_async(make_task)(
        org, operator, url=site.url("/vault/"), navigation_goal="Open the members area", profile="vault-login")
    done = await execute_task(second.pk, browser=browser)
    assert done.status == "completed", done.failure_reason
    assert page_url(model.requests[0]) == site.url("/vault/members.html")
    assert "Known device" in model.requests[0].user_text()  # local storage came back too
    assert len(site.posts("/vault/login")) == logins_before
    assert (await BrowserProfile.objects.aget(pk=profile.pk)).last_used_at is not None


def _wait_for_webhook(task_id) -> None:
    import time

    deadline = time.monotonic() + 10
    while not WebhookDelivery.objects.filter(task_id=task_id).exists():
        assert time.monotonic() < deadline, "no webhook delivery"
        time.sleep(0.05)


async def test_a_placeholder_on_a_site_not_listed_is_refused_and_the_timeline_says_why(
    site, model, browser, org, operator, vault
):
    def script(req):
        if req.index == 0:
            return step(act("input_text", element_id(req, r"name=username"), text="{{vault.username}}"))
        return step(act("terminate", errors=[], reasoning="the credential may not be used here"))

    model.script = script
    # Same server, other origin: localhost is not the credential's 127.0.0.1.
    task = await sync_to_async(make_task)(
        org, operator, url=site.cross_origin_url("/vault/"), navigation_goal="Sign in", credentials=["vault"])
    finished = await execute_task(task.pk, browser=browser)
    assert finished.status in ("terminated", "failed")
    action = await Action.objects.aget(task=task, index=0, step__order=1, step__retry_index=0)
    assert not action.success and "phishing guard" in action.error and "localhost" in action.error
    finished_events = [e.data async for e in TaskEvent.objects.filter(task=task, type="action.finished")]
    assert "phishing guard" in finished_events[0]["error"]
    assert "phishing guard" in model.requests[1].user_text()  # the model is told why, too
    assert not site.posts("/vault/login")
