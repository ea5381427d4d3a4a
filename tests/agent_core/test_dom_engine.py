"""The dom engine end to end: real Chromium, local sites, the fake model; outcomes checked on the server side."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent_core.browser import BrowserManager
from agent_core.control import LocalControl
from agent_core.types import (
    AgentConfig,
    ArtifactKind,
    BrowserConfig,
    RunStatus,
    TaskSpec,
)
from tests.agent_core.conftest import LOCAL_POLICY
from tests.agent_core.running import Recorder, run_agent
from tests.fakes.openai_server import reply_json, reply_text
from tests.scripting import act, element_id, is_extraction, page_url, step

pytestmark = pytest.mark.browser




@pytest.fixture
async def browser(tmp_path):
    manager = BrowserManager(
        BrowserConfig(downloads_dir=str(tmp_path / "downloads"), upload_dirs=(str(tmp_path),), egress=LOCAL_POLICY)
    )
    await manager.start()
    yield manager
    await manager.close()



async def test_job_application_two_pages(site, fake_openai, browser, tmp_path):
    cv = tmp_path / "cv.txt"
    cv.write_text("Ada Lovelace - analyst")

    def script(req):
        url = page_url(req)
        if "documents" in url:
            return step(
                act("upload_file", element_id(req, r"type=file"), file_url=str(cv)),
                act("input_text", element_id(req, r"<textarea"), text="I like engines."),
                act("click", element_id(req, r"<button", r"(?i)submit|send")),
            )
        if "thanks" in url:
            return step(act("complete", reasoning="thank-you page shown"), goal_achieved=True)
        return step(
            act("input_text", element_id(req, r"name=full_name"), text="Ada Lovelace"),
            act("input_text", element_id(req, r"name=email"), text="ada@example.test"),
            act("select_option", element_id(req, r"<select"), option="France"),
            act("checkbox", element_id(req, r"type=radio", r"value=\"?senior"), checked=True),
            act("input_text", element_id(req, r"name=start_date"), text="2027-01-04"),
            act("checkbox", element_id(req, r"type=checkbox", r"name=terms"), checked=True),
            act("click", element_id(req, r"<button", r"(?i)next|continue|apply|submit")),
        )

    fake_openai.script = script
    spec = TaskSpec(url=site.url("/job/"), navigation_goal="Apply for the job", navigation_payload={"name": "Ada Lovelace"})
    outcome, hooks = await run_agent(spec, fake_openai, browser)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    first = site.last("/job/apply")["fields"]
    assert first["full_name"] == "Ada Lovelace" and first["email"] == "ada@example.test"
    assert first["experience"] == "senior" and first["terms"] == "yes" and first["start_date"] == "2027-01-04"
    assert first["country"].lower() in ("fr", "france")
    second = site.last("/job/documents")
    assert second["fields"]["cover_letter"] == "I like engines."
    assert second["files"]["cv"]["size"] == cv.stat().st_size
    # what the agent sent: json_schema agent_step with the screenshot, the payload in the prompt
    request = fake_openai.requests[0]
    assert request.body["response_format"]["json_schema"]["name"] == "agent_step"
    assert request.image_urls() and "Ada Lovelace" in request.user_text()
    assert hooks.deltas, "model output was not streamed to the hooks"
    kinds = {a.kind for a in hooks.artifacts}
    assert {ArtifactKind.SCREENSHOT_LLM, ArtifactKind.SCREENSHOT_ACTION, ArtifactKind.HTML_SCRAPE,
            ArtifactKind.ELEMENT_TREE_PROMPT, ArtifactKind.LLM_PROMPT, ArtifactKind.LLM_RESPONSE,
            ArtifactKind.SCREENSHOT_FINAL} <= kinds
    assert outcome.usage.input_tokens > 0 and outcome.steps == 3


async def test_local_upload_outside_allowed_folders_is_refused(site, fake_openai, browser):
    def script(req):
        if "documents" in page_url(req):
            return step(act("upload_file", element_id(req, r"type=file"), file_url="/etc/passwd"))
        return step(act("goto_url", url=site.url("/job/documents.html")))

    fake_openai.script = script
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/job/"), navigation_goal="x", max_steps=2), fake_openai, browser,
                               config=AgentConfig(max_steps=2, max_retries_per_step=0))
    errors = [e.result.error for e in hooks.of("action_finished") if not e.result.success]
    assert errors and "outside the allowed upload folders" in errors[0]
    assert not site.posts("/job/documents")


async def test_table_extraction_validated_against_schema(site, fake_openai, browser):
    schema = {
        "type": "object",
        "properties": {"products": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "price": {"type": "number"}}, "required": ["name", "price"]}}},
        "required": ["products"],
    }
    replies = []

    def script(req):
        if is_extraction(req):
            replies.append(req)
            text = req.user_text()
            if len(replies) == 1:
                return reply_json({"products": "not a list"})  # violates the schema: the step is retried
            names = [n for n in ("Widget", "Gadget", "Gizmo") if n in text]
            return reply_json({"products": [{"name": n, "price": 1.5} for n in names]})
        return step(act("complete"), goal_achieved=True)

    fake_openai.script = script
    spec = TaskSpec(url=site.url("/table/"), data_extraction_goal="List the products", extracted_information_schema=schema)
    outcome, _ = await run_agent(spec, fake_openai, browser)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert len(outcome.extracted_information["products"]) >= 2
    assert replies[-1].body["response_format"]["json_schema"]["name"] == "extracted_information"
    assert replies[-1].body["response_format"]["json_schema"]["schema"] == schema


async def test_invalid_json_then_recovery(site, fake_openai, browser):
    fake_openai.script = [reply_text("this is not json {"), step(act("complete"), goal_achieved=True)]
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/job/"), navigation_goal="x"), fake_openai, browser)
    assert outcome.status == RunStatus.COMPLETED
    failed = [e for e in hooks.of("step_finished") if not e.success]
    assert len(failed) == 1 and "not valid JSON" in failed[0].error
    assert failed[0].step.order == 1 and hooks.of("step_finished")[-1].step.retry_index == 1


async def test_unknown_element_id_fails_step_until_limit(site, fake_openai, browser):
    fake_openai.script = lambda req: step(act("click", "e9999"))
    outcome, hooks = await run_agent(
        TaskSpec(url=site.url("/job/"), navigation_goal="x"), fake_openai, browser,
        config=AgentConfig(max_steps=5, max_retries_per_step=2),
    )
    assert outcome.status == RunStatus.FAILED
    assert "step 1 failed 3 times" in outcome.failure_reason and "e9999" in outcome.failure_reason
    assert len(fake_openai.requests) == 3


async def test_unknown_action_type_is_a_clear_step_failure(site, fake_openai, browser):
    fake_openai.script = [step(act("teleport", "e1")), step(act("complete"), goal_achieved=True)]
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/job/"), navigation_goal="x"), fake_openai, browser)
    assert outcome.status == RunStatus.COMPLETED
    assert "teleport" in [e for e in hooks.of("step_finished") if not e.success][0].error


async def test_non_finite_number_in_the_reply_fails_one_step_and_the_run_goes_on(site, fake_openai, browser):
    nan_reply = '{"thinking": "wait", "goal_achieved": false, "actions": [{"action_type": "wait", "seconds": NaN}]}'
    fake_openai.script = [reply_text(nan_reply), step(act("complete"), goal_achieved=True)]
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/job/"), navigation_goal="x"), fake_openai, browser)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    failed = [e for e in hooks.of("step_finished") if not e.success]
    assert len(failed) == 1 and "NaN is not a JSON number" in failed[0].error


async def test_action_on_vanished_element(site, fake_openai, browser):
    def script(req):
        if len(fake_openai.requests) == 1:
            archive = element_id(req, r"<button", r"(?i)archive")
            rows = [element_id(req, r"(?i)delete", r"(?i)beta")] if "Beta" in req.user_text() else []
            return step(act("click", archive), *(act("click", r) for r in rows))
        return step(act("complete"), goal_achieved=True)

    fake_openai.script = script
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/shifting/"), navigation_goal="x"), fake_openai, browser)
    finished = hooks.of("action_finished")
    assert finished[0].result.success
    if len(finished) > 1:  # the second click aimed at an element the first click removed
        assert not finished[1].result.success and finished[1].result.error


async def test_max_steps_reached(site, fake_openai, browser):
    fake_openai.script = lambda req: step(act("scroll", None, direction="down"))
    outcome, _ = await run_agent(TaskSpec(url=site.url("/table/"), navigation_goal="x", max_steps=3), fake_openai, browser)
    assert outcome.status == RunStatus.FAILED and "step limit (3)" in outcome.failure_reason
    assert len(fake_openai.requests) == 3


async def test_terminate_with_error_code(site, fake_openai, browser):
    mapping = {"NO_JOBS": "the site lists no open positions"}
    fake_openai.script = [step(act("terminate", errors=[{"error_code": "NO_JOBS", "reasoning": "nothing open"}], reasoning="no jobs"))]
    outcome, _ = await run_agent(TaskSpec(url=site.url("/job/"), navigation_goal="x", error_code_mapping=mapping), fake_openai, browser)
    assert outcome.status == RunStatus.TERMINATED
    assert outcome.errors == [{"error_code": "NO_JOBS", "reasoning": "nothing open"}]
    assert "NO_JOBS" in outcome.failure_reason
    assert "NO_JOBS" in fake_openai.requests[0].user_text() or "NO_JOBS" in fake_openai.requests[0].system_text()


async def test_model_timeout_is_a_step_failure(site, fake_openai, browser):
    fake_openai.script = lambda req: step(act("complete"), goal_achieved=True) if req.index >= 1 else reply_json({}, delay=5)
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/job/"), navigation_goal="x"), fake_openai, browser, llm_timeout=0.5)
    assert outcome.status == RunStatus.COMPLETED
    assert "timed out" in [e for e in hooks.of("step_finished") if not e.success][0].error


async def test_download_is_kept(site, fake_openai, browser):
    fake_openai.script = lambda req: (
        step(act("click", element_id(req, r"(?i)report"))) if req.index == 0 else step(act("complete"), goal_achieved=True)
    )
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/download/"), navigation_goal="download the report"), fake_openai, browser)
    assert outcome.status == RunStatus.COMPLETED
    downloads = [a for a in hooks.artifacts if a.kind == ArtifactKind.DOWNLOAD]
    assert downloads and downloads[0].data.startswith(b"product,price,stock")


async def test_pause_resume_and_terminate_cancels_model_call(site, fake_openai, browser):
    control = LocalControl()
    fake_openai.script = lambda req: step(act("scroll", None, direction="down")) if req.index == 0 else reply_json({}, delay=20)
    hooks = Recorder()
    control.pause()
    task = asyncio.create_task(run_agent(TaskSpec(url=site.url("/table/"), navigation_goal="x"), fake_openai, browser, hooks=hooks, control=control))
    await asyncio.sleep(0.5)
    assert not fake_openai.requests, "a paused run asked the model"
    control.resume()
    for _ in range(100):
        if len(fake_openai.requests) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(fake_openai.requests) == 2  # second model call in flight (slow)
    loop = asyncio.get_running_loop()
    started = loop.time()
    control.terminate("stop now")
    outcome, _ = await task
    assert loop.time() - started < 2
    assert outcome.status == RunStatus.TERMINATED and outcome.failure_reason == "stop now"
    assert any(a.kind == ArtifactKind.SCREENSHOT_FINAL for a in hooks.artifacts)


async def test_non_http_url_is_refused(fake_openai, browser):
    outcome, _ = await run_agent(TaskSpec(url="file:///etc/passwd", navigation_goal="x"), fake_openai, browser)
    assert outcome.status == RunStatus.FAILED and "http(s)" in outcome.failure_reason
    assert not fake_openai.requests


def test_agent_step_reply_round_trips():
    payload = {"thinking": "t", "goal_achieved": False, "actions": [act("click", "e1")]}
    assert json.loads(json.dumps(payload)) == payload
    assert Path(__file__).exists()
