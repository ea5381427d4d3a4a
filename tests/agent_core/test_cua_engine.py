"""The cua engine end to end: real Chromium on tests/sites/cua/, the fake Responses API; outcomes checked server-side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_core.browser import BrowserManager
from agent_core.computer import UnknownKeyError, key_combo, parse_action
from agent_core.control import LocalControl
from agent_core.engines.cua import parse_turn
from agent_core.errors import InvalidModelOutputError, LLMError
from agent_core.types import (
    ActionStarted,
    AgentConfig,
    ArtifactKind,
    BrowserConfig,
    Engine,
    RunStatus,
    TaskSpec,
)
from tests.agent_core.conftest import LOCAL_POLICY
from tests.agent_core.running import Recorder, run_agent
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    FakeRequest,
    Reply,
    computer_call,
    computer_call_item,
    decode_data_url,
    message,
    reply_error,
    reply_json,
    reply_output,
)
from tests.sites.server import TestSite

browser_test = pytest.mark.browser
# The SDK warns while dumping a response whose action does not fit its types; that is the point of these tests.
sdk_warns = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG or JPEG, whichever the session takes
TARGETS = ("greet", "twice", "menu", "other", "name", "scroller", "card", "zone", "send")
Point = tuple[int, int]




@pytest.fixture
async def browser(tmp_path: Any) -> AsyncIterator[BrowserManager]:
    manager = BrowserManager(BrowserConfig(downloads_dir=str(tmp_path / "downloads"), egress=LOCAL_POLICY))
    await manager.start()
    yield manager
    await manager.close()


@pytest.fixture
async def at(browser: BrowserManager, site: TestSite) -> dict[str, Point]:
    """The centre of each target on the playground, read from the real layout in the same viewport."""
    session = await browser.new_session()
    try:
        await session.goto(site.url("cua/"))
        centres: dict[str, Point] = {}
        for target in TARGETS:
            box = await session.page.locator(f"#{target}").bounding_box()
            assert box is not None, target
            centres[target] = (round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2))
        return centres
    finally:
        await session.close()


def spec_for(site: TestSite, **overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = {
        "url": site.url("cua/"),
        "navigation_goal": "Fill in the playground and send it",
        "engine": Engine.CUA,
        "max_steps": 20,
    }
    return TaskSpec(**{**fields, **overrides})



def click(point: Point, button: str = "left", **kwargs: Any) -> Reply:
    return computer_call({"type": "click", "button": button, "x": point[0], "y": point[1]}, **kwargs)


def call_output(request: FakeRequest) -> dict[str, Any]:
    """The first computer_call_output a request carries."""
    items = [i for i in request.body["input"] if i.get("type") == "computer_call_output"]
    assert items, f"request #{request.index} answers no computer_call"
    return items[0]


def issued(fake: FakeOpenAIServer) -> list[dict[str, Any]]:
    """The Responses-API objects the fake returned, in order."""
    return list(fake.responses.values())


def first_call(response: dict[str, Any]) -> dict[str, Any]:
    return next(item for item in response["output"] if item["type"] == "computer_call")


async def until_awaiting(control: LocalControl) -> None:
    for _ in range(1000):
        if control.awaiting_approval:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the run never asked for approval")


# ---- driving the page ------------------------------------------------------------------------------------


@browser_test
async def test_drives_the_playground_with_every_action(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager, at: dict[str, Point]
) -> None:
    card, zone = at["card"], at["zone"]
    fake_openai.script = [
        click(at["greet"], reasoning="Say hello first.", input_tokens=1000, output_tokens=10),
        computer_call({"type": "double_click", "x": at["twice"][0], "y": at["twice"][1]}),
        click(at["menu"], button="right"),
        click(at["name"]),
        computer_call({"type": "type", "text": "Ada"}),
        computer_call({"type": "keypress", "keys": ["CTRL", "A"]}),
        computer_call({"type": "type", "text": "Grace Hopper"}),
        computer_call({"type": "scroll", "x": at["scroller"][0], "y": at["scroller"][1], "scroll_x": 0, "scroll_y": 600}),
        computer_call({"type": "drag", "path": [
            {"x": card[0], "y": card[1]},
            {"x": (card[0] + zone[0]) // 2, "y": (card[1] + zone[1]) // 2},
            {"x": zone[0], "y": zone[1]},
        ]}),
        computer_call({"type": "move", "x": 900, "y": 700}),
        computer_call({"type": "wait"}),
        computer_call({"type": "screenshot"}),
        click(at["name"]),
        computer_call({"type": "keypress", "keys": ["RETURN"]}, reasoning="Submit with Enter."),
        message("I sent the form.", reasoning="The form is sent."),
    ]
    spec = spec_for(site, navigation_payload={"name": "Grace Hopper"}, data_extraction_goal="")
    outcome, hooks = await run_agent(spec, fake_openai, browser)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert not fake_openai.errors
    # what the page really did, as the server received it
    fields = site.last("/cua/submit")["fields"]
    assert fields["name"] == "Grace Hopper"
    assert fields["greeted"] == "yes" and fields["double_clicked"] == "yes" and fields["context_menu"] == "yes"
    assert int(fields["scroll_top"]) >= 300
    assert fields["dropped"] == "card"

    # the first turn: tool, truncation, reasoning, goal with payload, a real screenshot
    requests = fake_openai.requests
    first = requests[0].body
    assert first["model"] == "computer-use-preview"
    assert first["tools"] == [
        {"type": "computer_use_preview", "display_width": 1280, "display_height": 800, "environment": "browser"}
    ]
    assert first["truncation"] == "auto" and first["reasoning"] == {"summary": "concise"}
    assert "previous_response_id" not in first
    assert "Fill in the playground" in requests[0].user_text() and "Grace Hopper" in requests[0].user_text()
    assert len(requests[0].image_urls()) == 1
    assert decode_data_url(requests[0].image_urls()[0]).startswith(IMAGE_MAGIC)
    # later turns: one computer_call_output each, chained to the previous response
    responses = issued(fake_openai)
    assert len(requests) == len(responses) == 15
    for request, previous in zip(requests[1:], responses, strict=False):
        assert request.body["previous_response_id"] == previous["id"]
        output = call_output(request)
        assert output["call_id"] == first_call(previous)["call_id"]
        assert output["output"]["type"] == "input_image"
        assert decode_data_url(output["output"]["image_url"]).startswith(IMAGE_MAGIC)
        assert "acknowledged_safety_checks" not in output
        assert len(request.image_urls()) == 1
    assert call_output(requests[1])["output"]["current_url"] == site.url("cua/")
    assert call_output(requests[-1])["output"]["current_url"] == site.url("cua/submit")

    # what the dashboard saw
    started = hooks.of("action_started")
    assert [a.action["action_type"] for a in started] == [
        "click", "double_click", "click", "click", "type", "keypress", "type", "scroll", "drag", "move", "wait",
        "screenshot", "click", "keypress",
    ]
    assert started[0].action["reasoning"] == "Say hello first." and started[0].action["x"] == at["greet"][0]
    assert started[2].action["button"] == "right"
    assert all(a.result.success for a in hooks.of("action_finished"))
    assert len(hooks.of("step_started")) == 15 and all(s[2] for s in hooks.steps())
    assert "Say hello first." in hooks.deltas and "The form is sent." in hooks.deltas
    kinds = [a.kind for a in hooks.artifacts]
    assert kinds.count(ArtifactKind.SCREENSHOT_LLM) == 15 and kinds.count(ArtifactKind.SCREENSHOT_ACTION) == 14
    assert kinds.count(ArtifactKind.LLM_REQUEST) == 15 and kinds.count(ArtifactKind.LLM_RESPONSE) == 15
    assert b"<image" in next(a.data for a in hooks.artifacts if a.kind == ArtifactKind.LLM_REQUEST)
    # token usage is the sum over turns
    assert outcome.usage.input_tokens == sum(r["usage"]["input_tokens"] for r in responses)
    assert outcome.usage.output_tokens == sum(r["usage"]["output_tokens"] for r in responses)
    assert outcome.usage.input_tokens > 1000 and outcome.steps == 15


@browser_test
async def test_back_and_forward_buttons_navigate_history(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager, at: dict[str, Point]
) -> None:
    fake_openai.script = [
        click(at["other"]),
        computer_call({"type": "click", "button": "back"}),
        computer_call({"type": "click", "button": "forward"}),
        message("Done."),
    ]
    outcome, hooks = await run_agent(spec_for(site), fake_openai, browser)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    urls = [call_output(r)["output"]["current_url"] for r in fake_openai.requests[1:]]
    assert urls == [site.url("cua/other.html"), site.url("cua/"), site.url("cua/other.html")]
    assert [a.result.navigated for a in hooks.of("action_finished")] == [True, True, True]


@browser_test
async def test_batched_actions_and_held_modifier_keys(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager, at: dict[str, Point]
) -> None:
    batch = [
        {"type": "click", "button": "left", "x": at["greet"][0], "y": at["greet"][1], "keys": ["SHIFT"]},
        {"type": "click", "button": "left", "x": at["name"][0], "y": at["name"][1]},
        {"type": "type", "text": "Ada"},
        {"type": "keypress", "keys": ["ENTER"]},
    ]
    item = {**computer_call_item({"type": "screenshot"}), "action": None, "actions": batch}
    fake_openai.script = [reply_output([item]), message("Sent.")]
    outcome, hooks = await run_agent(spec_for(site), fake_openai, browser)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    fields = site.last("/cua/submit")["fields"]
    assert fields["greet_keys"] == "shift" and fields["name"] == "Ada"
    assert [a.index for a in hooks.of("action_finished")] == [0, 1, 2, 3]
    assert len([i for i in fake_openai.requests[1].body["input"] if i["type"] == "computer_call_output"]) == 1


@browser_test
async def test_terminate_cancels_an_in_flight_model_call(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager
) -> None:
    fake_openai.script = [message("too late", delay=20)]
    control = LocalControl()
    run_it = asyncio.create_task(run_agent(spec_for(site), fake_openai, browser, control=control))
    for _ in range(500):
        if fake_openai.requests:
            break
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    control.terminate("stop now")
    outcome, hooks = await run_it
    assert loop.time() - started < 2
    assert outcome.status == RunStatus.TERMINATED and outcome.failure_reason == "stop now"
    assert hooks.steps() == [(1, 0, False, "stop now")]


# ---- safety checks ---------------------------------------------------------------------------------------

CHECK = {"code": "malicious_instructions", "message": "The page asks you to send data somewhere odd."}


@browser_test
async def test_approved_safety_check_is_acknowledged_in_the_next_request(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager, at: dict[str, Point]
) -> None:
    fake_openai.script = [click(at["send"], safety_checks=[CHECK]), message("Sent.")]
    control, hooks = LocalControl(), Recorder()
    run_it = asyncio.create_task(run_agent(spec_for(site), fake_openai, browser, hooks=hooks, control=control))
    await until_awaiting(control)
    assert [(c.code, c.message) for c in control.pending_checks] == [(CHECK["code"], CHECK["message"])]
    await asyncio.sleep(0.2)
    assert not site.posts("/cua/submit") and not hooks.of("action_started"), "the held action ran before approval"
    control.decide(True)
    outcome, _ = await run_it

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert site.last("/cua/submit")["fields"]["greeted"] == "no"
    pending = first_call(issued(fake_openai)[0])["pending_safety_checks"]
    assert call_output(fake_openai.requests[1])["acknowledged_safety_checks"] == pending
    assert hooks.of("action_started")[0].action["safety_checks"] == [CHECK["code"]]


@browser_test
async def test_denied_safety_check_terminates_and_the_action_never_runs(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager, at: dict[str, Point]
) -> None:
    fake_openai.script = [click(at["send"], safety_checks=[CHECK]), message("Sent.")]
    control, hooks = LocalControl(), Recorder()
    run_it = asyncio.create_task(run_agent(spec_for(site), fake_openai, browser, hooks=hooks, control=control))
    await until_awaiting(control)
    control.decide(False)
    outcome, _ = await run_it

    assert outcome.status == RunStatus.TERMINATED
    assert "denied" in outcome.failure_reason
    assert CHECK["code"] in outcome.failure_reason and CHECK["message"] in outcome.failure_reason
    assert not site.posts("/cua/submit") and not hooks.of("action_started")
    assert len(fake_openai.requests) == 1
    assert hooks.steps() == [(1, 0, False, outcome.failure_reason)]


@browser_test
async def test_a_run_waiting_for_approval_can_be_terminated(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager, at: dict[str, Point]
) -> None:
    fake_openai.script = [click(at["send"], safety_checks=[CHECK]), message("Sent.")]
    control, hooks = LocalControl(), Recorder()
    run_it = asyncio.create_task(run_agent(spec_for(site), fake_openai, browser, hooks=hooks, control=control))
    await until_awaiting(control)
    control.terminate("operator pulled the plug")
    outcome, _ = await asyncio.wait_for(run_it, timeout=10)

    assert outcome.status == RunStatus.TERMINATED and outcome.failure_reason == "operator pulled the plug"
    assert not site.posts("/cua/submit") and not hooks.of("action_started")
    assert any(a.kind == ArtifactKind.SCREENSHOT_FINAL for a in hooks.artifacts)


# ---- failures and retries --------------------------------------------------------------------------------


@browser_test
@sdk_warns
async def test_malformed_output_and_model_errors_fail_the_step_and_retry_from_the_last_good_response(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager, at: dict[str, Point]
) -> None:
    fake_openai.script = [
        click(at["greet"]),
        computer_call({"type": "teleport", "x": 1, "y": 2}),
        computer_call({"type": "click", "button": "left"}),
        reply_output([computer_call_item({})]),
        reply_error(500, "the model fell over"),
        computer_call({"type": "double_click", "x": at["twice"][0], "y": at["twice"][1]}),
        click(at["send"]),
        message("Sent."),
    ]
    outcome, hooks = await run_agent(
        spec_for(site), fake_openai, browser, config=AgentConfig(max_steps=10, max_retries_per_step=4)
    )
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    fields = site.last("/cua/submit")["fields"]
    assert fields["greeted"] == "yes" and fields["double_clicked"] == "yes"

    steps = hooks.steps()
    assert [s[:3] for s in steps] == [
        (1, 0, True), (2, 0, False), (2, 1, False), (2, 2, False), (2, 3, False), (2, 4, True), (3, 0, True),
        (4, 0, True),
    ]
    errors = [s[3] for s in steps if not s[2]]
    assert "unknown computer action type 'teleport'" in errors[0]
    assert "click needs numeric x and y coordinates" in errors[1]
    assert "computer_call has no action" in errors[2]
    assert "500" in errors[3] and "the model fell over" in errors[3]
    # every retry re-sent the last good input: the first response's call, answered with a fresh screenshot
    first_id = issued(fake_openai)[0]["id"]
    first_call_id = first_call(issued(fake_openai)[0])["call_id"]
    retries = fake_openai.requests[1:6]
    assert {r.body["previous_response_id"] for r in retries} == {first_id}
    assert {call_output(r)["call_id"] for r in retries} == {first_call_id}
    assert len({call_output(r)["output"]["image_url"] for r in retries}) >= 1
    assert outcome.steps == 8


@browser_test
@sdk_warns
async def test_malformed_output_until_the_retry_limit_fails_the_run(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager
) -> None:
    fake_openai.script = lambda request: computer_call({"type": "teleport"})
    outcome, hooks = await run_agent(spec_for(site), fake_openai, browser)
    assert outcome.status == RunStatus.FAILED
    assert "step 1 failed 3 times" in outcome.failure_reason and "teleport" in outcome.failure_reason
    assert len(fake_openai.requests) == 3
    assert all("previous_response_id" not in r.body for r in fake_openai.requests)  # the goal, re-sent


@browser_test
async def test_coordinates_outside_the_viewport_are_an_action_error(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager, at: dict[str, Point]
) -> None:
    fake_openai.script = [
        computer_call({"type": "click", "button": "left", "x": 5000, "y": 10}),
        click(at["greet"]),
        click(at["send"]),
        message("Sent."),
    ]
    outcome, hooks = await run_agent(spec_for(site), fake_openai, browser)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    finished = hooks.of("action_finished")
    assert not finished[0].result.success
    assert finished[0].result.error == "click at (5000, 10) is outside the 1280x800 viewport"
    assert [s[:3] for s in hooks.steps()] == [(1, 0, False), (1, 1, True), (2, 0, True), (3, 0, True)]
    # the retry answers the failed call and tells the model why
    retry = fake_openai.requests[1]
    assert call_output(retry)["call_id"] == first_call(issued(fake_openai)[0])["call_id"]
    assert "outside the 1280x800 viewport" in retry.user_text()
    assert site.last("/cua/submit")["fields"]["greeted"] == "yes"


@browser_test
async def test_unknown_key_is_an_action_error(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager
) -> None:
    fake_openai.script = [computer_call({"type": "keypress", "keys": ["HYPERDRIVE"]}), message("Gave up.")]
    outcome, hooks = await run_agent(spec_for(site), fake_openai, browser)
    assert outcome.status == RunStatus.COMPLETED
    result = hooks.of("action_finished")[0].result
    assert not result.success and "unknown key 'HYPERDRIVE'" in result.error


@browser_test
async def test_step_limit(site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager) -> None:
    fake_openai.script = lambda request: computer_call({"type": "move", "x": 10, "y": 10})
    outcome, hooks = await run_agent(spec_for(site, max_steps=3), fake_openai, browser)
    assert outcome.status == RunStatus.FAILED and "step limit (3)" in outcome.failure_reason
    assert len(fake_openai.requests) == 3 and outcome.steps == 3


# ---- replaying the conversation --------------------------------------------------------------------------


class ForgetfulEndpoint(Recorder):
    """Makes the fake forget every response once the second action starts, like an endpoint without `store`."""

    def __init__(self, fake: FakeOpenAIServer) -> None:
        super().__init__()
        self.fake = fake

    async def action_started(self, event: ActionStarted) -> None:
        await super().action_started(event)
        if len(self.of("action_started")) == 2:
            self.fake.responses.clear()


@browser_test
async def test_unknown_previous_response_switches_to_replay_with_image_retention(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager, at: dict[str, Point]
) -> None:
    fake_openai.script = [
        click(at["greet"], reasoning="Greet."),
        click(at["name"]),
        computer_call({"type": "type", "text": "Ada"}),
        computer_call({"type": "move", "x": 5, "y": 5}),
        click(at["send"]),
        message("Sent."),
    ]
    hooks = ForgetfulEndpoint(fake_openai)
    outcome, _ = await run_agent(
        spec_for(site), fake_openai, browser, hooks=hooks, config=AgentConfig(max_steps=10, image_retention=2)
    )
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert site.last("/cua/submit")["fields"]["name"] == "Ada"

    requests = fake_openai.requests
    assert "previous_response_id" in requests[1].body and "previous_response_id" in requests[2].body
    replayed = requests[3:]  # request 2 was refused (unknown id) and re-sent as a replay
    assert len(replayed) == 4
    for request in replayed:
        items = request.body["input"]
        assert "previous_response_id" not in request.body
        assert items[0]["role"] == "user" and "Fill in the playground" in items[0]["content"][0]["text"]
        assert len(request.image_urls()) <= 2
        calls = {i["call_id"] for i in items if i.get("type") == "computer_call"}
        outputs = {i["call_id"] for i in items if i.get("type") == "computer_call_output"}
        assert calls == outputs and calls, "a replayed call lost its output (or the reverse)"
        assert all(value is not None for item in items for value in item.values())
    # the newest screenshot is always there; older turns went
    last = replayed[-1].body["input"]
    assert len([i for i in last if i.get("type") == "computer_call_output"]) == 2
    greet_call = hooks.of("action_started")[0].action["call_id"]
    assert greet_call not in {i.get("call_id") for i in last}  # the oldest turns were dropped


# ---- extraction ------------------------------------------------------------------------------------------


@browser_test
async def test_final_answer_goes_through_the_extraction_path_and_schema(
    site: TestSite, fake_openai: FakeOpenAIServer, browser: BrowserManager, at: dict[str, Point]
) -> None:
    schema = {"type": "object", "properties": {"greeting": {"type": "string"}}, "required": ["greeting"]}
    def script(request: FakeRequest) -> Reply:
        asked = [r for r in fake_openai.requests if r.path == request.path]
        if request.path == "/v1/chat/completions":  # the first extraction breaks the schema
            return reply_json({"greeting": 5} if len(asked) == 1 else {"greeting": "Hello!"})
        return click(at["greet"]) if len(asked) == 1 else message(f"The button says Hello! (turn {len(asked)})")

    fake_openai.script = script
    spec = spec_for(site, navigation_goal="Press the hello button", data_extraction_goal="What does the button say?",
                    extracted_information_schema=schema)
    outcome, hooks = await run_agent(spec, fake_openai, browser)

    assert outcome.status == RunStatus.COMPLETED, (outcome.failure_reason, hooks.steps())
    assert outcome.extracted_information == {"greeting": "Hello!"}
    chats = [r for r in fake_openai.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 2
    assert chats[-1].body["response_format"]["json_schema"]["name"] == "extracted_information"
    assert chats[-1].body["response_format"]["json_schema"]["schema"] == schema
    assert "The button says Hello! (turn 3)" in chats[-1].user_text() and "Double-click me" in chats[-1].user_text()
    assert chats[-1].image_urls()
    # the schema mismatch failed the step; the retry asked the model again from the last good response
    assert [s[:3] for s in hooks.steps()] == [(1, 0, True), (2, 0, False), (2, 1, True)], hooks.steps()
    assert "does not match the schema" in hooks.steps()[1][3]
    turns_sent = [r for r in fake_openai.requests if r.path == "/v1/responses"]
    assert turns_sent[1].body["previous_response_id"] == turns_sent[2].body["previous_response_id"]
    goal = turns_sent[0].user_text()
    assert "What does the button say?" in goal and '"greeting"' in goal
    assert outcome.usage.input_tokens > sum(r["usage"]["input_tokens"] for r in issued(fake_openai))


# ---- pure parts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["CTRL", "A"], "Control+a"),
        (["CONTROL", "SHIFT", "K"], "Control+Shift+k"),
        (["ENTER"], "Enter"),
        (["RETURN"], "Enter"),
        (["ARROWLEFT"], "ArrowLeft"),
        (["ESC"], "Escape"),
        (["SPACE"], "Space"),
        (["BACKSPACE"], "Backspace"),
        (["TAB"], "Tab"),
        (["CMD", "C"], "Meta+c"),
        (["META", "V"], "Meta+v"),
        (["ALT", "F4"], "Alt+F4"),
        (["PAGEUP"], "PageUp"),
        (["Page_Down"], "PageDown"),
        (["ctrl+shift+t"], "Control+Shift+t"),
        (["/"], "/"),
        (["+"], "+"),
    ],
)
def test_key_names_map_to_playwright(keys: list[str], expected: str) -> None:
    assert key_combo(keys) == expected


def test_unknown_key_names_are_refused() -> None:
    with pytest.raises(UnknownKeyError, match="HYPERDRIVE"):
        key_combo(["CTRL", "HYPERDRIVE"])


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (None, "has no action"),
        ({"type": "teleport"}, "unknown computer action type 'teleport'"),
        ({"type": "click", "x": 1}, "click needs numeric x and y"),
        ({"type": "click", "x": "1", "y": 2}, "click needs numeric x and y"),
        ({"type": "click", "button": "thumb", "x": 1, "y": 2}, "unknown mouse button 'thumb'"),
        ({"type": "scroll", "scroll_y": 100}, "scroll needs numeric x and y"),
        ({"type": "drag", "path": [{"x": 1, "y": 1}]}, "at least two points"),
        ({"type": "drag", "path": [{"x": 1, "y": 1}, {"x": 2}]}, "drag path point"),
        ({"type": "type"}, "type needs a text string"),
        ({"type": "keypress", "keys": []}, "non-empty list of key names"),
    ],
)
def test_malformed_actions_are_named(action: Any, message: str) -> None:
    with pytest.raises(InvalidModelOutputError, match=message):
        parse_action(action)


def test_parse_action_fills_defaults() -> None:
    assert parse_action({"type": "click", "x": 1, "y": 2})["button"] == "left"
    assert parse_action({"type": "click", "button": "back"}) == {"type": "click", "button": "back"}
    scroll = parse_action({"type": "scroll", "x": 1, "y": 2, "scroll_y": 300})
    assert (scroll["scroll_x"], scroll["scroll_y"]) == (0, 300)
    assert parse_action({"type": "keypress", "keys": "ENTER"})["keys"] == ["ENTER"]


def test_parse_turn_refusal_and_empty_output() -> None:
    refusal = {"id": "r1", "status": "completed", "output": [
        {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help."}]}
    ]}
    with pytest.raises(LLMError, match="refused: I can't help"):
        parse_turn(refusal)
    with pytest.raises(InvalidModelOutputError, match="neither a computer_call nor a message"):
        parse_turn({"id": "r2", "status": "incomplete", "output": [{"type": "reasoning", "summary": []}]})
