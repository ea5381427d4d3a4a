"""Run it again without the model: a dom run records a Script; a replay carries it out with no model call, asks
the model only for the steps a redesigned site broke, and fails naming the step on a site beyond repair.
Real Chromium against tests/sites/replay/ (three versions), the fake model scripted from what the prompt shows."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from agent_core.browser import BrowserManager
from agent_core.control import LocalControl
from agent_core.replay.script import Script
from agent_core.types import AgentConfig, ArtifactKind, RunStatus
from tests.agent_core.running import Recorder, run_agent
from tests.fakes.openai_server import FakeOpenAIServer
from tests.replay_flow import ADA, GRACE
from tests.replay_flow import expected_extraction as extraction
from tests.replay_flow import signup_model as model
from tests.replay_flow import signup_spec as spec_for
from tests.scripting import is_extraction
from tests.sites.server import TestSite

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CONFIG = AgentConfig(max_steps=10, max_retries_per_step=1)


async def record(site: TestSite, fake: FakeOpenAIServer, browser: BrowserManager) -> tuple[dict[str, Any], Recorder]:
    fake.script = model(ADA)
    outcome, hooks = await run_agent(spec_for(site, ADA), fake, browser, config=CONFIG)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert [s.reason for s in hooks.scripts] == ["recorded"]
    return hooks.scripts[0].document, hooks


async def replay(
    site: TestSite, fake: FakeOpenAIServer, browser: BrowserManager, document: dict[str, Any], payload: dict[str, str]
):  # type: ignore[no-untyped-def]
    fake.script = model(payload)
    before = len(fake.requests)
    spec = spec_for(site, payload, run_with="script", script=document)
    outcome, hooks = await run_agent(spec, fake, browser, config=CONFIG)
    return outcome, hooks, fake.requests[before:]


def asked(hooks: Recorder) -> list[str]:
    """Why the model was asked, step by step (for assertion messages)."""
    return [e.why for e in hooks.of("step_started") if e.mode == "model"]


def confirmed(site: TestSite, payload: dict[str, str]) -> None:
    signup, confirm = site.last("/replay/signup")["fields"], site.last("/replay/confirm")["fields"]
    for key in ("full_name", "email", "username", "phone"):
        assert signup[key] == payload[key] and confirm[key] == payload[key]
    assert signup["password"] == payload["password"]
    assert signup["plan"] == payload["plan"].lower() and signup["newsletter"] == "yes" and signup["terms"] == "yes"


async def test_a_recorded_run_replays_with_another_payload_and_no_model_call(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    document, recorded = await record(site, fake_openai, browser_manager)
    script = Script.from_dict(document)
    assert [s.action for s in script.steps] == [
        *["input_text"] * 5, "select_option", "checkbox", "checkbox", "click", "click"]  # fmt: skip
    assert script.steps[0].params == {"text": {"payload": "full_name"}}
    assert script.steps[3].params == {"text": {"payload": "password"}}  # the secret key, by reference
    assert script.steps[5].params == {"option": {"payload": "plan"}}
    assert script.steps[6].params == {"checked": True}
    first = script.steps[0].target or {}
    assert first["label"] == "Full name" and first["attrs"] == {"id": "fn", "name": "full_name"} and first["css"]
    assert script.steps[2].target and script.steps[2].target["attrs"]["data-testid"] == "username"
    assert script.steps[8].expect["url"].endswith("/replay/signup") and script.steps[8].expect["navigates"]
    assert script.extraction and {tuple(f["path"]) for f in script.extraction["fields"]} == {
        ("username",), ("plan",), ("account_number",)}  # fmt: skip
    assert script.recorded["model_calls"] == len(fake_openai.requests) == 4
    assert "engine-1843" not in json.dumps(document)  # secrets never in the script
    assert all(e.mode == "" for e in recorded.of("step_started"))  # not a replay

    outcome, hooks, requests = await replay(site, fake_openai, browser_manager, document, GRACE)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert requests == [], asked(hooks)  # zero model calls
    confirmed(site, GRACE)
    assert outcome.extracted_information == extraction(GRACE)
    assert outcome.replay == {"steps_replayed": 10, "steps_healed": 0, "model_calls": 0, "model_calls_recorded": 4,
                              "tokens_saved": recorded_tokens(document), "script_steps": 10}  # fmt: skip
    assert {e.mode for e in hooks.of("step_started")} == {"replayed"}
    # A screenshot of each page a replayed action loaded (the final one shows the end).
    shots = [a for a in hooks.artifacts if a.kind == ArtifactKind.SCREENSHOT_ACTION]
    assert [a.step.order for a in shots if a.step] == [9, 10]
    assert {e.mode for e in hooks.of("action_finished")} == {"replayed"}
    assert all(e.action["replay"]["locators"]["disagreed"] == {} for e in hooks.of("action_started"))
    assert hooks.scripts == []  # nothing repaired, no new version
    assert "cobol-1959" not in json.dumps([e.action for e in hooks.of("action_started")])


def recorded_tokens(document: dict[str, Any]) -> int:
    return int(document["recorded"]["input_tokens"]) + int(document["recorded"]["output_tokens"])


async def test_a_redesigned_site_asks_the_model_only_for_the_broken_step_and_the_repaired_script_needs_none(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    document, _ = await record(site, fake_openai, browser_manager)
    site.replay_variant = "v2"  # ids changed, the email field in a fieldset, "Continue" is now "Next step"

    outcome, hooks, requests = await replay(site, fake_openai, browser_manager, document, GRACE)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert len(requests) == 1 and not is_extraction(requests[0]), asked(hooks)  # only the renamed button
    assert 'step 9 (click "Continue")' in requests[0].user_text()
    confirmed(site, GRACE)
    assert outcome.extracted_information == extraction(GRACE)
    assert outcome.replay and outcome.replay["steps_healed"] == 1 and outcome.replay["model_calls"] == 1
    assert len(asked(hooks)) == 1 and asked(hooks)[0].startswith('step 9 (click "Continue"): ')
    # The moved, renamed-id email field was still found, by the locators that agree; the others are named.
    email = next(e for e in hooks.of("action_started") if e.action.get("replay", {}).get("step") == 2)
    locators = email.action["replay"]["locators"]
    assert {"label", "placeholder", "name_attr"} <= set(locators["agreed"])
    assert locators["disagreed"]["id"] == "no match" and "css" in locators["disagreed"]
    [repaired] = hooks.scripts
    assert repaired.reason == "repaired" and repaired.healed_steps == [9]
    new = Script.from_dict(repaired.document)
    assert new.steps[8].target and new.steps[8].target["name"] == "Next step"
    assert new.steps[1].target and new.steps[1].target["attrs"]["id"] == "f-mail"  # locators refreshed

    site.clear()
    site.replay_variant = "v2"
    outcome, hooks, requests = await replay(site, fake_openai, browser_manager, repaired.document, ADA)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert requests == [] and hooks.scripts == [], asked(hooks)
    confirmed(site, ADA)
    assert outcome.extracted_information == extraction(ADA)


async def test_a_step_whose_expected_change_does_not_happen_is_handed_to_the_model(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    document, _ = await record(site, fake_openai, browser_manager)
    site.clear()
    site.replay_variant = "v3"  # "Continue" is still there, and does nothing; "Save and continue" submits

    outcome, hooks, requests = await replay(site, fake_openai, browser_manager, document, GRACE)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert len(requests) == 1, asked(hooks)
    assert asked(hooks) == ['step 9 (click "Continue"): it was expected to lead to /replay/signup, but the page is at /replay/']
    confirmed(site, GRACE)
    [repaired] = hooks.scripts
    assert repaired.healed_steps == [9] and Script.from_dict(repaired.document).steps[8].describe() == (
        'click "Save and continue"'
    )


async def test_when_no_later_recorded_step_fits_the_model_carries_on_to_the_goal(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    document, _ = await record(site, fake_openai, browser_manager)
    site.clear()
    site.replay_variant = "v4"  # v2's form, and the review page's button renamed too

    outcome, hooks, requests = await replay(site, fake_openai, browser_manager, document, GRACE)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    confirmed(site, GRACE)
    assert outcome.extracted_information == extraction(GRACE)
    # The broken Continue; then, the review page's button gone from the script's view: the review step, the
    # welcome page's "complete" and the extraction, all by the model.
    assert len(requests) == 4 and outcome.replay and outcome.replay["model_calls"] == 4, asked(hooks)
    whys = [e.why for e in hooks.of("step_started") if e.mode == "model"]
    assert whys[0].startswith('step 9 (click "Continue"): ') and len(whys) == 3
    assert all("no later recorded step fits the page" in why for why in whys[1:])
    [repaired] = hooks.scripts
    assert repaired.healed_steps == [9, 10]
    assert Script.from_dict(repaired.document).steps[9].describe() == 'click "Open my account"'


async def test_a_site_changed_beyond_repair_fails_naming_the_step(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    document, _ = await record(site, fake_openai, browser_manager)
    site.clear()
    site.replay_variant = "closed"

    outcome, hooks, requests = await replay(site, fake_openai, browser_manager, document, GRACE)

    assert outcome.status == RunStatus.FAILED
    assert outcome.failure_reason and outcome.failure_reason.startswith(
        'replay step 1 (input_text "Full name"): no element matches its recorded locators; the model could not '
        "get past it either: the agent stopped the task"
    ), outcome.failure_reason
    assert len(requests) == 1 and not site.posts("/replay/signup") and hooks.scripts == []


async def test_a_replay_needs_the_payload_keys_its_script_types(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    document, _ = await record(site, fake_openai, browser_manager)
    payload = {k: v for k, v in GRACE.items() if k != "phone"}
    outcome, _, requests = await replay(site, fake_openai, browser_manager, document, payload)
    assert outcome.status == RunStatus.FAILED and requests == []
    assert "payload value 'phone'" in (outcome.failure_reason or "")
    cua = replace(spec_for(site, GRACE, run_with="script", script=document), engine="cua")  # type: ignore[arg-type]
    outcome, _ = await run_agent(cua, fake_openai, browser_manager, config=CONFIG)
    assert outcome.status == RunStatus.FAILED and "only the dom engine replays" in (outcome.failure_reason or "")


async def test_a_step_recorded_with_safety_checks_asks_again_and_extraction_falls_back_to_the_model(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    document, _ = await record(site, fake_openai, browser_manager)
    checks = [{"id": "sc_1", "code": "irreversible", "message": "This creates an account."}]
    document = {**document, "steps": [*document["steps"][:9], {**document["steps"][9], "checks": checks}],
                "extraction": None}  # fmt: skip
    site.clear()

    async def replay_deciding(approved: bool):  # type: ignore[no-untyped-def]
        control = LocalControl()
        fake_openai.script = model(GRACE)
        before = len(fake_openai.requests)
        spec = spec_for(site, GRACE, run_with="script", script=document)
        run = asyncio.ensure_future(run_agent(spec, fake_openai, browser_manager, control=control, config=CONFIG))
        async with asyncio.timeout(30):
            while not control.awaiting_approval and not run.done():
                await asyncio.sleep(0.02)  # polls the condition (LocalControl has no approval event)
        assert [c.code for c in control.pending_checks] == ["irreversible"]
        assert site.posts("/replay/signup") and not site.posts("/replay/confirm")  # held before it acts
        control.decide(approved)
        outcome, hooks = await run
        return outcome, hooks, fake_openai.requests[before:]

    outcome, _, requests = await replay_deciding(False)
    assert outcome.status == RunStatus.TERMINATED and requests == []
    assert outcome.failure_reason == 'an operator denied the safety checks of replay step 10 (click "Create account")'
    assert not site.posts("/replay/confirm")

    site.clear()
    outcome, hooks, requests = await replay_deciding(True)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    confirmed(site, GRACE)
    # No recorded selectors: the extraction, and only it, asks the model.
    assert len(requests) == 1 and is_extraction(requests[0])
    assert outcome.extracted_information == extraction(GRACE) and outcome.replay and outcome.replay["model_calls"] == 1
    [why] = asked(hooks)
    assert why.startswith("extraction: ")
