"""The fake OpenAI server, driven by the real openai SDK."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from tests.fakes import openai_server
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    FakeRequest,
    Reply,
    computer_call,
    decode_data_url,
    message,
    reply_error,
    reply_json,
    reply_refusal,
    reply_text,
    reply_truncated,
)

# The fixture, for when tests/conftest.py does not provide it (e.g. this directory run on its own).
fake_openai = openai_server.fake_openai

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
async def client(fake_openai: FakeOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(api_key="test", base_url=fake_openai.base_url, max_retries=2, timeout=5)
    yield sdk
    await sdk.close()


def chat(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Reply in JSON."}]}
    body.update(overrides)
    return body


COMPUTER_TOOL = {
    "type": "computer_use_preview",
    "display_width": 1280,
    "display_height": 800,
    "environment": "browser",
}


def screenshot_output(call_id: str, acknowledged: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "computer_call_output",
        "call_id": call_id,
        "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,iVBORw0KGgo="},
    }
    if acknowledged is not None:
        item["acknowledged_safety_checks"] = acknowledged
    return item


# ---- chat completions ----


async def test_plain_completion_returns_content_and_usage(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [reply_json({"ok": True}, input_tokens=120, output_tokens=7, cached_tokens=64)]

    completion = await client.chat.completions.create(**chat())

    assert completion.choices[0].message.content == '{"ok": true}'
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (120, 7)
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 64
    [request] = fake_openai.requests
    assert (request.path, request.index, request.body["model"]) == ("/v1/chat/completions", 0, "gpt-4o")
    assert request.headers["authorization"] == "Bearer test"


async def test_streamed_completion_sends_deltas_then_usage(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [reply_text('{"a": 1}', chunks=['{"a"', ": ", "1}"])]

    stream = await client.chat.completions.create(**chat(stream=True, stream_options={"include_usage": True}))
    deltas, finish, usage = [], None, None
    async for chunk in stream:
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                deltas.append(choice.delta.content)
            finish = choice.finish_reason or finish

    assert deltas == ['{"a"', ": ", "1}"]
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


async def test_stream_without_include_usage_has_no_usage_chunk(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [reply_json({"a": 1}, chunks=4)]

    stream = await client.chat.completions.create(**chat(stream=True))
    chunks = [chunk async for chunk in stream]

    assert all(chunk.usage is None for chunk in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == '{"a": 1}'
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4


async def test_json_schema_request_is_recorded(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [reply_json({"n": 1})]
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    image = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content = [{"type": "text", "text": "Count."}, {"type": "image_url", "image_url": {"url": image}}]

    await client.chat.completions.create(
        **chat(
            messages=[{"role": "user", "content": content}],
            response_format={"type": "json_schema", "json_schema": {"name": "agent_step", "schema": schema}},
        )
    )

    [request] = fake_openai.requests
    assert request.body["response_format"]["json_schema"]["name"] == "agent_step"
    assert request.user_text() == "Count."
    assert [decode_data_url(url) for url in request.image_urls()] == [PNG]


async def test_bad_json_schema_name_is_rejected(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [reply_json({})]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            **chat(
                response_format={"type": "json_schema", "json_schema": {"name": "agent step", "schema": {}}}
            )
        )
    assert caught.value.param == "response_format.json_schema.name"
    assert fake_openai.remaining == 1  # validation failures do not use up the script


async def test_json_object_needs_the_word_json(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [reply_json({})]
    with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
        await client.chat.completions.create(
            **chat(messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"})
        )
    await client.chat.completions.create(**chat(response_format={"type": "json_object"}))


async def test_refusal_and_truncation_shapes(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [reply_refusal("I can't help with that."), reply_truncated('{"thinking": "lo')]

    refused = await client.chat.completions.create(**chat())
    cut = await client.chat.completions.create(**chat())

    assert refused.choices[0].message.refusal == "I can't help with that."
    assert refused.choices[0].message.content is None
    assert cut.choices[0].finish_reason == "length"
    assert cut.choices[0].message.content == '{"thinking": "lo'


async def test_streamed_refusal(fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    fake_openai.script = [reply_refusal("No.")]
    stream = await client.chat.completions.create(**chat(stream=True))
    refusal = "".join([c.choices[0].delta.refusal or "" async for c in stream if c.choices])
    assert refusal == "No."


# ---- errors, retries, scripts ----


async def test_retryable_error_then_success(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [
        reply_error(429, "Rate limit reached"),
        reply_error(500, "boom"),
        reply_json({"ok": 1}),
    ]
    started = time.monotonic()

    completion = await client.chat.completions.create(**chat())

    assert completion.choices[0].message.content == '{"ok": 1}'
    assert len(fake_openai.requests) == 3
    assert time.monotonic() - started < 1  # retry-after-ms keeps the SDK's backoff short


async def test_bad_request_is_not_retried(fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    fake_openai.script = [reply_error(400, "Invalid 'messages'", param="messages")]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(**chat())
    assert caught.value.status_code == 400
    assert (caught.value.type, caught.value.param) == ("invalid_request_error", "messages")
    assert "Invalid 'messages'" in str(caught.value)
    assert len(fake_openai.requests) == 1


async def test_exhausted_script_fails_loudly_without_retries(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [reply_json({})]
    await client.chat.completions.create(**chat())
    with pytest.raises(openai.InternalServerError, match="script exhausted: request #1"):
        await client.chat.completions.create(**chat())
    assert len(fake_openai.requests) == 2
    assert fake_openai.errors and "exhausted" in fake_openai.errors[0]


async def test_callable_script_sees_each_request(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    def script(request: FakeRequest) -> Reply:
        return reply_json({"index": request.index, "model": request.body["model"]})

    fake_openai.script = script
    first = await client.chat.completions.create(**chat())
    second = await client.chat.completions.create(**chat(model="gpt-4o-mini"))

    assert json.loads(first.choices[0].message.content or "") == {"index": 0, "model": "gpt-4o"}
    assert json.loads(second.choices[0].message.content or "") == {"index": 1, "model": "gpt-4o-mini"}


async def test_callable_script_that_raises_fails_loudly(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    def script(request: FakeRequest) -> Reply:
        raise KeyError("oops")

    fake_openai.script = script
    with pytest.raises(openai.InternalServerError, match="script raised"):
        await client.chat.completions.create(**chat())
    assert len(fake_openai.requests) == 1


async def test_delay_beyond_timeout_and_the_server_notices_the_hang_up(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script = [reply_json({}, delay=5)]
    sdk = openai.AsyncOpenAI(api_key="test", base_url=fake_openai.base_url, max_retries=0, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await sdk.chat.completions.create(**chat())
    await sdk.close()
    assert time.monotonic() - started < 1.5
    for _ in range(50):
        if fake_openai.requests[0].disconnected:
            break
        await asyncio.sleep(0.02)
    assert fake_openai.requests[0].disconnected


async def test_cancelling_a_call_drops_the_request(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [reply_json({}, delay=5)]
    call = asyncio.create_task(client.chat.completions.create(**chat()))
    while not fake_openai.requests:
        await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    for _ in range(50):
        if fake_openai.requests[0].disconnected:
            break
        await asyncio.sleep(0.02)
    assert fake_openai.requests[0].disconnected


def test_stop_interrupts_a_delayed_reply() -> None:
    server = FakeOpenAIServer([reply_json({}, delay=30)]).start()
    sdk = openai.OpenAI(api_key="test", base_url=server.base_url, max_retries=0, timeout=10)

    errors: list[BaseException] = []

    def call() -> None:
        try:
            sdk.chat.completions.create(**chat())
        except BaseException as err:  # collected for the assert below
            errors.append(err)

    thread = threading.Thread(target=call)
    thread.start()
    while not server.requests:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1
    assert errors and isinstance(errors[0], openai.APIConnectionError)


# ---- Responses API ----


async def test_responses_computer_call_and_chaining(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [
        computer_call({"type": "click", "x": 10, "y": 20, "button": "left"}, reasoning="Click the button."),
        message("Done: the form is sent.", input_tokens=500, output_tokens=12),
    ]

    first = await client.responses.create(
        model="computer-use-preview", tools=[COMPUTER_TOOL], input="Send the form.", truncation="auto"
    )
    reasoning, call = first.output
    assert first.id.startswith("resp_")
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Click the button."
    assert call.type == "computer_call" and call.action is not None
    assert call.action.model_dump(exclude_none=True) == {"type": "click", "x": 10, "y": 20, "button": "left"}
    assert call.pending_safety_checks == []
    assert first.usage is not None and first.usage.input_tokens > 0

    second = await client.responses.create(
        model="computer-use-preview",
        tools=[COMPUTER_TOOL],
        previous_response_id=first.id,
        input=[screenshot_output(call.call_id)],
        truncation="auto",
    )
    assert second.output_text == "Done: the form is sent."
    assert second.usage is not None and (second.usage.input_tokens, second.usage.output_tokens) == (500, 12)
    assert fake_openai.requests[1].body["previous_response_id"] == first.id
    assert fake_openai.requests[1].image_urls() == ["data:image/png;base64,iVBORw0KGgo="]


async def test_unknown_previous_response_id_is_400(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [message("unused")]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(
            model="computer-use-preview", input=[], previous_response_id="resp_nope"
        )
    assert caught.value.param == "previous_response_id"
    assert caught.value.type == "invalid_request_error"
    assert "resp_nope" in caught.value.message
    assert len(fake_openai.requests) == 1


async def test_safety_checks_must_be_acknowledged(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [
        computer_call(
            {"type": "type", "text": "hello"},
            safety_checks=[
                {"id": "cu_sc_1", "code": "malicious_instructions", "message": "Odd instructions."},
                "irrelevant_domain",
            ],
        ),
        message("ok"),
    ]
    first = await client.responses.create(model="computer-use-preview", input="Type hello.")
    call = first.output[0]
    assert call.type == "computer_call"
    checks = [check.model_dump() for check in call.pending_safety_checks]
    assert [c["code"] for c in checks] == ["malicious_instructions", "irrelevant_domain"]
    assert checks[0] == {"id": "cu_sc_1", "code": "malicious_instructions", "message": "Odd instructions."}

    for acknowledged in (None, checks[:1]):
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(
                model="computer-use-preview",
                previous_response_id=first.id,
                input=[screenshot_output(call.call_id, acknowledged)],
            )
        assert caught.value.type == "invalid_request_error"
        assert checks[1]["id"] in caught.value.message

    second = await client.responses.create(
        model="computer-use-preview",
        previous_response_id=first.id,
        input=[screenshot_output(call.call_id, checks)],
    )
    assert second.output_text == "ok"
    assert fake_openai.requests[-1].body["input"][0]["acknowledged_safety_checks"] == checks


async def test_chained_request_must_answer_the_computer_call(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [computer_call({"type": "screenshot"}), message("ok")]
    first = await client.responses.create(model="computer-use-preview", input="Look.")
    with pytest.raises(openai.BadRequestError, match="No tool output found"):
        await client.responses.create(
            model="computer-use-preview", previous_response_id=first.id, input="next"
        )
    fake_openai.require_tool_outputs = False
    second = await client.responses.create(
        model="computer-use-preview", previous_response_id=first.id, input="x"
    )
    assert second.output_text == "ok"


async def test_responses_errors_are_scripted_too(
    fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    fake_openai.script = [reply_error(503, "overloaded"), message("ok")]
    response = await client.responses.create(model="computer-use-preview", input="hi")
    assert response.output_text == "ok"
    assert [r.path for r in fake_openai.requests] == ["/v1/responses", "/v1/responses"]


async def test_unknown_path_is_404(fake_openai: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await client.embeddings.create(model="text-embedding-3-small", input="hi")
