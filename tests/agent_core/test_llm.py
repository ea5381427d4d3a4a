"""OpenAIClient against the fake OpenAI server: requests as sent, streaming, usage and error mapping."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_core.errors import InvalidModelOutputError, LLMError
from agent_core.llm import LLMReply, OpenAIClient, image_data_url, redact_images
from agent_core.types import LLMConfig, Usage
from tests.fakes import openai_server
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    computer_call,
    decode_data_url,
    message,
    reply_error,
    reply_json,
    reply_refusal,
    reply_text,
    reply_truncated,
)

# The fixture, for when tests/conftest.py does not provide it.
fake_openai = openai_server.fake_openai

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 20
STEP_SCHEMA = {
    "type": "object",
    "properties": {"thinking": {"type": "string"}, "actions": {"type": "array"}},
    "required": ["thinking", "actions"],
}
STEP = {"thinking": "Type the email.", "goal_achieved": False, "actions": []}


@pytest.fixture
async def client(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIClient]:
    llm = OpenAIClient(LLMConfig(api_key="test", base_url=fake_openai.base_url, timeout_s=5, max_retries=2))
    yield llm
    await llm.close()


async def ask(client: OpenAIClient, **overrides: Any) -> LLMReply:
    args: dict[str, Any] = {
        "system": "You drive a browser. Reply in JSON.",
        "user": "[e1] <button>Go</button>",
        "schema_name": "agent_step",
        "schema": STEP_SCHEMA,
    }
    args.update(overrides)
    return await client.complete_json(**args)


async def test_json_schema_request_as_sent(fake_openai: FakeOpenAIServer, client: OpenAIClient) -> None:
    fake_openai.script = [reply_json(STEP, input_tokens=1000, output_tokens=50, cached_tokens=768)]

    reply = await ask(client, images=[PNG], strict=True)

    assert reply.parsed == STEP
    assert reply.raw == json.dumps(STEP)
    assert reply.usage == Usage(input_tokens=1000, output_tokens=50, cached_tokens=768, model="gpt-4o")
    [sent] = fake_openai.requests
    body = sent.body
    assert body["model"] == "gpt-4o"
    assert "stream" not in body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "agent_step", "schema": STEP_SCHEMA, "strict": True},
    }
    system, user = body["messages"]
    assert system == {"role": "system", "content": "You drive a browser. Reply in JSON."}
    assert user["role"] == "user"
    assert user["content"][0] == {"type": "text", "text": "[e1] <button>Go</button>"}
    assert user["content"][1]["type"] == "image_url"
    assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert [decode_data_url(url) for url in sent.image_urls()] == [PNG]
    # The reply keeps the request as sent, minus the image bytes.
    assert reply.request["messages"][1]["content"][1]["image_url"]["url"] == f"<image {len(PNG)} bytes>"
    assert reply.request["response_format"] == body["response_format"]
    json.dumps(reply.request)


async def test_json_object_when_no_schema(fake_openai: FakeOpenAIServer, client: OpenAIClient) -> None:
    fake_openai.script = [reply_json({"price": "12.50"})]

    reply = await ask(client, schema=None, schema_name="extracted_information", model="gpt-4o-mini")

    assert reply.parsed == {"price": "12.50"}
    body = fake_openai.requests[0].body
    assert body["response_format"] == {"type": "json_object"}
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][1] == {
        "role": "user",
        "content": "[e1] <button>Go</button>",
    }  # no images: plain text


async def test_jpeg_images_are_typed_by_magic_bytes(
    fake_openai: FakeOpenAIServer, client: OpenAIClient
) -> None:
    fake_openai.script = [reply_json(STEP)]
    await ask(client, images=[JPEG, PNG])
    urls = fake_openai.requests[0].image_urls()
    assert [url.split(";")[0] for url in urls] == ["data:image/jpeg", "data:image/png"]
    with pytest.raises(ValueError, match="unsupported image format"):
        image_data_url(b"not an image")


async def test_streaming_deltas_arrive_in_order(fake_openai: FakeOpenAIServer, client: OpenAIClient) -> None:
    text = json.dumps(STEP)
    pieces = [text[:10], text[10:25], text[25:]]
    fake_openai.script = [reply_text(text, chunks=pieces, input_tokens=900, output_tokens=40)]
    seen: list[str] = []

    async def on_delta(delta: str) -> None:
        seen.append(delta)

    reply = await ask(client, on_delta=on_delta)

    assert seen == pieces
    assert reply.parsed == STEP
    assert reply.raw == text
    assert reply.usage == Usage(input_tokens=900, output_tokens=40, model="gpt-4o")
    body = fake_openai.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert reply.request["stream"] is True


async def test_deltas_are_delivered_while_the_reply_is_still_streaming(
    fake_openai: FakeOpenAIServer, client: OpenAIClient
) -> None:
    fake_openai.script = [reply_json(STEP, chunks=3, chunk_delay=0.2)]
    arrivals: list[float] = []

    async def on_delta(delta: str) -> None:
        arrivals.append(time.monotonic())

    await ask(client, on_delta=on_delta)

    assert len(arrivals) == 3
    assert arrivals[-1] - arrivals[0] >= 0.3  # not buffered until the end


async def test_invalid_json_keeps_the_raw_reply(fake_openai: FakeOpenAIServer, client: OpenAIClient) -> None:
    fake_openai.script = [reply_text("Sure! I will click the button."), reply_text("{oops", chunks=2)]

    with pytest.raises(InvalidModelOutputError, match="^model reply is not valid JSON: ") as caught:
        await ask(client)
    assert caught.value.raw == "Sure! I will click the button."

    async def on_delta(delta: str) -> None:
        pass

    with pytest.raises(InvalidModelOutputError) as streamed:
        await ask(client, on_delta=on_delta)
    assert streamed.value.raw == "{oops"


async def test_fenced_json_is_accepted(fake_openai: FakeOpenAIServer, client: OpenAIClient) -> None:
    fake_openai.script = [reply_text('```json\n{"a": 1}\n```')]
    reply = await ask(client, schema=None)
    assert reply.parsed == {"a": 1}
    assert reply.raw == '```json\n{"a": 1}\n```'


async def test_refusal(fake_openai: FakeOpenAIServer, client: OpenAIClient) -> None:
    fake_openai.script = [reply_refusal("I can't help with buying that."), reply_refusal("No.")]

    with pytest.raises(LLMError, match="^model refused: I can't help with buying that.$") as caught:
        await ask(client)
    assert caught.value.raw == "I can't help with buying that."

    async def on_delta(delta: str) -> None:
        pass

    with pytest.raises(LLMError, match="^model refused: No.$"):
        await ask(client, on_delta=on_delta)


async def test_truncated_reply(fake_openai: FakeOpenAIServer, client: OpenAIClient) -> None:
    fake_openai.script = [reply_truncated('{"thinking": "The page has')]
    with pytest.raises(LLMError, match=r"^model reply was cut off \(max tokens\)$") as caught:
        await ask(client)
    assert caught.value.raw == '{"thinking": "The page has'
    assert not isinstance(caught.value, InvalidModelOutputError)


async def test_server_error_then_success_is_retried_by_the_sdk(
    fake_openai: FakeOpenAIServer, client: OpenAIClient
) -> None:
    fake_openai.script = [
        reply_error(500, "The server had an error"),
        reply_error(429, "Slow down"),
        reply_json(STEP),
    ]
    reply = await ask(client)
    assert reply.parsed == STEP
    assert len(fake_openai.requests) == 3


async def test_errors_after_the_retries_become_llm_error(
    fake_openai: FakeOpenAIServer, client: OpenAIClient
) -> None:
    fake_openai.script = [reply_error(503, "Overloaded")] * 3
    with pytest.raises(
        LLMError, match=r"^model API error 503 server_error after 2 retries: Overloaded$"
    ) as caught:
        await ask(client)
    assert len(fake_openai.requests) == 3
    assert caught.value.raw is not None and "Overloaded" in caught.value.raw


async def test_bad_request_is_not_retried(fake_openai: FakeOpenAIServer, client: OpenAIClient) -> None:
    fake_openai.script = [
        reply_error(400, "Invalid schema for response_format 'agent_step'", param="response_format")
    ]
    with pytest.raises(LLMError) as caught:
        await ask(client)
    assert str(caught.value) == (
        "model API error 400 invalid_request_error: Invalid schema for response_format 'agent_step' "
        "(param response_format)"
    )
    assert len(fake_openai.requests) == 1


async def test_slow_reply_times_out_quickly(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script = [reply_json(STEP, delay=3)]
    client = OpenAIClient(LLMConfig(base_url=fake_openai.base_url, timeout_s=0.5, max_retries=0))
    started = time.monotonic()
    try:
        with pytest.raises(LLMError, match=r"^model call timed out after 0.5 s"):
            await ask(client)
    finally:
        await client.close()
    assert time.monotonic() - started < 1.5
    assert fake_openai.requests[0].headers["authorization"] == "Bearer unset"  # no key configured


async def test_unreachable_endpoint(fake_openai: FakeOpenAIServer) -> None:
    base_url = fake_openai.base_url
    fake_openai.stop()
    client = OpenAIClient(LLMConfig(base_url=base_url, timeout_s=1, max_retries=0))
    try:
        with pytest.raises(LLMError, match=f"^could not reach the model API at {base_url}"):
            await ask(client)
    finally:
        await client.close()


async def test_cancelling_a_call_stops_it(fake_openai: FakeOpenAIServer, client: OpenAIClient) -> None:
    fake_openai.script = [reply_json(STEP, delay=5)]
    call = asyncio.create_task(ask(client))
    while not fake_openai.requests:
        await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_responses_create(fake_openai: FakeOpenAIServer, client: OpenAIClient) -> None:
    fake_openai.script = [
        computer_call(
            {"type": "click", "x": 5, "y": 6, "button": "left"},
            safety_checks=["malicious_instructions"],
            reasoning="Click it.",
            input_tokens=300,
            output_tokens=20,
        ),
        message("All done."),
    ]
    screenshot = "data:image/png;base64,iVBORw0KGgoAAAA="

    first = await client.responses_create(
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Go."},
                    {"type": "input_image", "image_url": screenshot},
                ],
            }
        ],
        truncation="auto",
    )

    assert first.parsed["id"].startswith("resp_")
    reasoning, call = first.parsed["output"]
    assert reasoning["summary"][0]["text"] == "Click it."
    assert call["type"] == "computer_call"
    assert call["action"]["type"] == "click"
    assert call["pending_safety_checks"][0]["code"] == "malicious_instructions"
    assert first.usage == Usage(input_tokens=300, output_tokens=20, model="computer-use-preview")
    assert json.loads(first.raw) == first.parsed
    assert fake_openai.requests[0].body["model"] == "computer-use-preview"  # config.cua_model
    assert first.request["input"][0]["content"][1]["image_url"] == "<image 11 bytes>"

    second = await client.responses_create(
        previous_response_id=first.parsed["id"],
        input=[
            {
                "type": "computer_call_output",
                "call_id": call["call_id"],
                "acknowledged_safety_checks": call["pending_safety_checks"],
                "output": {"type": "computer_screenshot", "image_url": screenshot},
            }
        ],
    )
    assert second.parsed["output"][0]["content"][0]["text"] == "All done."


async def test_responses_errors_name_the_parameter(
    fake_openai: FakeOpenAIServer, client: OpenAIClient
) -> None:
    fake_openai.script = [message("unused")]
    with pytest.raises(
        LLMError,
        match=r"^model API error 400 invalid_request_error: .*resp_gone.*"
        r"\(param previous_response_id\)$",
    ):
        await client.responses_create(previous_response_id="resp_gone", input=[])


def test_redact_images_replaces_only_data_urls() -> None:
    body = {
        "a": ["data:image/jpeg;base64,/9j/4AAQ", "https://example.com/x.png", "data:text/plain,hi"],
        "n": 1,
    }
    assert redact_images(body) == {
        "a": ["<image 6 bytes>", "https://example.com/x.png", "data:text/plain,hi"],
        "n": 1,
    }
