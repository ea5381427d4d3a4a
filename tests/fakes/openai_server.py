"""A real local HTTP server that speaks enough of the OpenAI API (chat completions, Responses) for the SDK.

Tests script its replies and read back what the agent sent:

    async def test_step(fake_openai: FakeOpenAIServer) -> None:
        fake_openai.script = [reply_error(500, "boom"), reply_json({"ok": True})]
        client = OpenAIClient(LLMConfig(base_url=fake_openai.base_url, api_key="test"))
        reply = await client.complete_json(system="Reply in JSON.", user="Hi", schema_name="x", schema=None)
        assert fake_openai.requests[1].body["response_format"] == {"type": "json_object"}

It runs a stdlib `ThreadingHTTPServer` on its own thread, so it keeps answering while the test's event
loop is busy, and a `delay` ends early when the server stops or the client hangs up.
"""

from __future__ import annotations

import base64
import json
import re
import select
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = [
    "FakeOpenAIServer",
    "FakeRequest",
    "Reply",
    "Script",
    "computer_call",
    "computer_call_item",
    "decode_data_url",
    "fake_openai",
    "message",
    "message_item",
    "reasoning_item",
    "reply_error",
    "reply_json",
    "reply_output",
    "reply_refusal",
    "reply_text",
    "reply_truncated",
]

_JSON_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class FakeRequest:
    """One request the server received. `body` is the parsed JSON (None when the body was not JSON)."""

    path: str
    body: Any
    headers: dict[str, str]
    index: int
    method: str = "POST"
    # Set when the client hung up before the reply was written (a timeout or a cancelled call).
    disconnected: bool = False

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    def user_text(self) -> str:
        """The text of every user message (chat) or input text (Responses), joined: handy for asserts."""
        return "\n".join(_texts(self.body, roles={"user"}))

    def system_text(self) -> str:
        return "\n".join(_texts(self.body, roles={"system", "developer"}))

    def image_urls(self) -> list[str]:
        """Every image URL in the request (chat `image_url` parts, Responses `input_image` / screenshots)."""
        return list(_image_urls(self.body))


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request. Build it with the helpers below rather than by hand.

    For chat completions: `content` (or `refusal`) with `finish_reason`. For the Responses API: `output`
    items; a reply with only `content` becomes one `message` item. `status` >= 400 sends `error` instead.
    """

    status: int = 200
    content: str | None = None
    refusal: str | None = None
    finish_reason: str = "stop"
    output: tuple[dict[str, Any], ...] | None = None
    error: dict[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (interrupted when the server stops)
    chunks: int | tuple[str, ...] | None = None  # streaming: number of deltas, or the exact deltas
    chunk_delay: float = 0.0  # streaming: seconds between deltas
    input_tokens: int | None = None  # None: estimated from the request size
    output_tokens: int | None = None  # None: estimated from the reply size
    cached_tokens: int = 0


ScriptFn = Callable[[FakeRequest], Reply]
Script = ScriptFn | Sequence[Reply]


# ---- reply helpers: chat completions -----------------------------------------------------------


def reply_json(
    obj: Any,
    *,
    delay: float = 0.0,
    chunks: int | Sequence[str] | None = None,
    chunk_delay: float = 0.0,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cached_tokens: int = 0,
) -> Reply:
    """A reply whose content is `json.dumps(obj)`."""
    return reply_text(
        json.dumps(obj),
        delay=delay,
        chunks=chunks,
        chunk_delay=chunk_delay,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached_tokens,
    )


def reply_text(
    text: str,
    *,
    delay: float = 0.0,
    chunks: int | Sequence[str] | None = None,
    chunk_delay: float = 0.0,
    finish_reason: str = "stop",
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cached_tokens: int = 0,
) -> Reply:
    """A reply with this raw content (e.g. invalid JSON). With `chunks` as strings, they must join to `text`."""
    if chunks is not None and not isinstance(chunks, int):
        if "".join(chunks) != text:
            raise ValueError("reply chunks must join to the reply text")
        chunks = tuple(chunks)
    return Reply(
        content=text,
        finish_reason=finish_reason,
        delay=delay,
        chunks=chunks,
        chunk_delay=chunk_delay,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached_tokens,
    )


def reply_refusal(text: str, *, delay: float = 0.0) -> Reply:
    """The model declines: `message.refusal` set, `content` null."""
    return Reply(refusal=text, delay=delay)


def reply_truncated(content: str, *, delay: float = 0.0) -> Reply:
    """The reply hit max tokens: `finish_reason` "length" and (usually) unfinished JSON."""
    return Reply(content=content, finish_reason="length", delay=delay)


def reply_error(
    status: int,
    message: str,
    type: str | None = None,
    *,
    code: str | None = None,
    param: str | None = None,
    delay: float = 0.0,
    retry_after_ms: int | None = 10,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An API error in OpenAI's shape. Works for both endpoints.

    `retry_after_ms` sends `retry-after-ms`, which the SDK honours, so retries in tests take milliseconds
    instead of its 0.5 s+ backoff; None leaves the header out.
    """
    if type is None:
        type = {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "not_found_error",
            429: "rate_limit_exceeded",
        }.get(status, "server_error" if status >= 500 else "invalid_request_error")
    all_headers = dict(headers or {})
    if retry_after_ms is not None:
        all_headers.setdefault("retry-after-ms", str(retry_after_ms))
    return Reply(
        status=status,
        error={"message": message, "type": type, "param": param, "code": code},
        headers=all_headers,
        delay=delay,
    )


# ---- reply helpers: Responses API (computer use) ------------------------------------------------

_ids = iter(range(1, 1 << 62))
_ids_lock = threading.Lock()


def _new_id(prefix: str) -> str:
    with _ids_lock:
        return f"{prefix}_{next(_ids):06d}"


def reasoning_item(text: str) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": _new_id("rs"),
        "summary": [{"type": "summary_text", "text": text}],
    }


def computer_call_item(
    action: Mapping[str, Any],
    *,
    safety_checks: Sequence[Mapping[str, str] | str] = (),
    call_id: str | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    """A `computer_call` output item. A safety check may be a dict (id/code/message, id optional) or a code."""
    checks: list[dict[str, str]] = []
    for check in safety_checks:
        given = {"code": check} if isinstance(check, str) else dict(check)
        checks.append(
            {
                "id": given.get("id") or _new_id("cu_sc"),
                "code": given.get("code") or "malicious_instructions",
                "message": given.get("message")
                or f"Safety check: {given.get('code') or 'malicious_instructions'}",
            }
        )
    return {
        "type": "computer_call",
        "id": _new_id("cu"),
        "call_id": call_id or _new_id("call"),
        "action": dict(action),
        "pending_safety_checks": checks,
        "status": status,
    }


def message_item(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": _new_id("msg"),
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def reply_output(
    items: Sequence[dict[str, Any]],
    *,
    delay: float = 0.0,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cached_tokens: int = 0,
) -> Reply:
    """A Responses-API reply with these output items, in order."""
    return Reply(
        output=tuple(items),
        delay=delay,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached_tokens,
    )


def computer_call(
    action: Mapping[str, Any],
    safety_checks: Sequence[Mapping[str, str] | str] = (),
    reasoning: str | None = None,
    *,
    call_id: str | None = None,
    delay: float = 0.0,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> Reply:
    """A response with an optional reasoning summary, then one `computer_call`."""
    items = [reasoning_item(reasoning)] if reasoning else []
    items.append(computer_call_item(action, safety_checks=safety_checks, call_id=call_id))
    return reply_output(items, delay=delay, input_tokens=input_tokens, output_tokens=output_tokens)


def message(
    text: str,
    reasoning: str | None = None,
    *,
    delay: float = 0.0,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> Reply:
    """A response whose output is an assistant message (the model is done, or asks something)."""
    items = [reasoning_item(reasoning)] if reasoning else []
    items.append(message_item(text))
    return reply_output(items, delay=delay, input_tokens=input_tokens, output_tokens=output_tokens)


# ---- the server ---------------------------------------------------------------------------------


class _ClientGone(Exception):
    """The client closed the connection (or the server is stopping) before the reply was written."""


class FakeOpenAIServer:
    """An OpenAI-compatible HTTP server on 127.0.0.1. `start()`, set `script`, point the SDK at `base_url`.

    Thread-safe: requests are handled on their own threads; `requests` and `responses` are appended
    under a lock. `require_tool_outputs` makes a chained Responses request that does not answer every
    `computer_call` of the previous response fail with 400, as the real API does.
    """

    def __init__(self, script: Script | None = None, *, require_tool_outputs: bool = True) -> None:
        self._lock = threading.Lock()
        self._script: Script = []
        self._position = 0
        self.script = script if script is not None else []
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[FakeRequest] = []
        self.responses: dict[str, dict[str, Any]] = {}  # Responses API objects issued, by id
        self.errors: list[str] = []  # script problems (exhausted, raised), also sent back as HTTP 500
        self.require_tool_outputs = require_tool_outputs

    # ---- lifecycle ----
    def start(self) -> FakeOpenAIServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed replies wake up and are dropped. Safe to call twice."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        # Handler threads idle on keep-alive connections: hang up so they end now, not at interpreter exit.
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("fake OpenAI server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- scripting ----
    @property
    def script(self) -> Script:
        return self._script

    @script.setter
    def script(self, script: Script) -> None:
        with self._lock:
            self._script = script if callable(script) else list(script)
            self._position = 0

    @property
    def remaining(self) -> int:
        """Replies of a list script not used yet (0 for a callable script)."""
        with self._lock:
            return 0 if callable(self._script) else len(self._script) - self._position

    def _record(self, path: str, method: str, body: Any, headers: dict[str, str]) -> FakeRequest:
        with self._lock:
            request = FakeRequest(
                path=path, body=body, headers=headers, index=len(self.requests), method=method
            )
            self.requests.append(request)
            return request

    def _next_reply(self, request: FakeRequest) -> Reply:
        script = self._script
        if callable(script):
            try:
                reply = script(request)
            except Exception:
                return self._script_error(
                    f"script raised on request #{request.index}:\n{traceback.format_exc()}"
                )
            if not isinstance(reply, Reply):
                return self._script_error(
                    f"script returned {reply!r}, not a Reply, for request #{request.index}"
                )
            return reply
        with self._lock:
            if self._position >= len(script):
                used = self._position
                return self._script_error(
                    f"fake OpenAI script exhausted: request #{request.index} ({request.method} {request.path}) "
                    f"came after all {used} scripted replies were used"
                )
            reply = script[self._position]
            self._position += 1
            return reply

    def _script_error(self, text: str) -> Reply:
        self.errors.append(text)
        # x-should-retry: false, so the SDK fails at once instead of retrying into the same hole.
        return reply_error(
            500, text, "fake_server_error", retry_after_ms=None, headers={"x-should-retry": "false"}
        )

    def _sleep(self, seconds: float, connection: socket.socket) -> None:
        """Sleep, waking early (and raising _ClientGone) if the server stops or the client hangs up."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._stopping.wait(min(left, 0.02)):
                raise _ClientGone("server stopping")
            if _peer_closed(connection):
                raise _ClientGone("client hung up")


def _peer_closed(connection: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        if not readable:
            return False
        return connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    server_version = "FakeOpenAI/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest output stays readable

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.fake._lock:
                self.fake._connections.discard(self.connection)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        request = self.fake._record(path, method, body, {k.lower(): v for k, v in self.headers.items()})
        try:
            self._dispatch(request)
        except _ClientGone:
            request.disconnected = True
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            request.disconnected = True
            self.close_connection = True
        except Exception:
            # A bug in the fake itself: say so loudly, and tell the SDK not to retry into it.
            text = f"fake OpenAI server crashed on request #{request.index}:\n{traceback.format_exc()}"
            self.fake.errors.append(text)
            self.close_connection = True
            try:
                self._send_error(500, text, type="fake_server_error", headers={"x-should-retry": "false"})
            except OSError:
                pass

    def _dispatch(self, request: FakeRequest) -> None:
        if request.method == "POST" and request.path == "/v1/chat/completions":
            problem = _check_chat_request(request.body)
            if problem:
                return self._send_error(400, problem[0], param=problem[1])
            reply = self.fake._next_reply(request)
            self.fake._sleep(reply.delay, self.connection)
            return self._answer_chat(request, reply)
        if request.method == "POST" and request.path == "/v1/responses":
            problem = self._check_responses_request(request.body)
            if problem:
                return self._send_error(400, problem[0], param=problem[1])
            reply = self.fake._next_reply(request)
            self.fake._sleep(reply.delay, self.connection)
            return self._answer_responses(request, reply)
        self._send_error(404, f"Invalid URL ({request.method} {request.path})", type="invalid_request_error")

    # ---- chat completions ----
    def _answer_chat(self, request: FakeRequest, reply: Reply) -> None:
        if reply.status >= 400:
            return self._send_reply_error(reply)
        if reply.output is not None:
            msg = "fake OpenAI script gave a Responses-API reply (computer_call/message) to a chat completion"
            self.fake.errors.append(msg)
            return self._send_error(500, msg, type="fake_server_error", headers={"x-should-retry": "false"})
        body = request.body
        model = str(body.get("model"))
        completion_id = _new_id("chatcmpl")
        created = int(time.time())
        text = reply.content if reply.content is not None else (reply.refusal or "")
        usage = {
            "prompt_tokens": reply.input_tokens if reply.input_tokens is not None else _estimate_tokens(body),
            "completion_tokens": reply.output_tokens
            if reply.output_tokens is not None
            else max(1, len(text) // 4),
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not request.stream:
            return self._send_json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": reply.content,
                                "refusal": reply.refusal,
                                "annotations": [],
                            },
                            "logprobs": None,
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": usage,
                    "service_tier": "default",
                },
                reply.headers,
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                out["usage"] = None
            return out

        key = "content" if reply.content is not None else "refusal"
        events = [chunk({"role": "assistant", "content": "" if key == "content" else None, "refusal": None})]
        pieces = _split(text, reply.chunks)
        self._start_stream(reply.headers)
        self._send_event(events[0])
        for n, piece in enumerate(pieces):
            if n and reply.chunk_delay:
                self.fake._sleep(reply.chunk_delay, self.connection)
            self._send_event(chunk({key: piece}))
        self._send_event(chunk({}, reply.finish_reason))
        if include_usage:
            final = chunk({})
            final["choices"] = []
            final["usage"] = usage
            self._send_event(final)
        self._send_chunk(b"data: [DONE]\n\n")
        self._send_chunk(b"")

    # ---- Responses API ----
    def _check_responses_request(self, body: Any) -> tuple[str, str | None] | None:
        if not isinstance(body, dict):
            return "We could not parse the JSON body of your request.", None
        if not body.get("model"):
            return "Missing required parameter: 'model'.", "model"
        if body.get("stream"):
            return "The fake OpenAI server does not stream Responses-API replies.", "stream"
        previous_id = body.get("previous_response_id")
        if previous_id is None:
            return None
        with self.fake._lock:
            previous = self.fake.responses.get(str(previous_id))
        if previous is None:
            return f"Previous response with id '{previous_id}' not found.", "previous_response_id"
        items = body.get("input")
        outputs = {
            str(item.get("call_id")): item
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict) and item.get("type") == "computer_call_output"
        }
        for call in previous.get("output", []):
            if call.get("type") != "computer_call":
                continue
            output = outputs.get(call["call_id"])
            if output is None:
                if self.fake.require_tool_outputs:
                    return f"No tool output found for computer call {call['call_id']}.", "input"
                continue
            pending = {check["id"] for check in call.get("pending_safety_checks", [])}
            acked = {
                str(check.get("id"))
                for check in output.get("acknowledged_safety_checks") or []
                if isinstance(check, dict)
            }
            missing = sorted(pending - acked)
            if missing:
                return (
                    f"Pending safety checks for computer call {call['call_id']} were not acknowledged: "
                    f"{', '.join(missing)}. Pass them in 'acknowledged_safety_checks' of the "
                    "computer_call_output item.",
                    "input",
                )
        return None

    def _answer_responses(self, request: FakeRequest, reply: Reply) -> None:
        if reply.status >= 400:
            return self._send_reply_error(reply)
        body = request.body
        if reply.output is not None:
            output = [dict(item) for item in reply.output]
        elif reply.content is not None:
            output = [message_item(reply.content)]
        else:
            msg = "fake OpenAI script gave a chat-only reply (refusal) to a Responses-API request"
            self.fake.errors.append(msg)
            return self._send_error(500, msg, type="fake_server_error", headers={"x-should-retry": "false"})
        out_text = json.dumps(output)
        input_tokens = reply.input_tokens if reply.input_tokens is not None else _estimate_tokens(body)
        output_tokens = reply.output_tokens if reply.output_tokens is not None else max(1, len(out_text) // 4)
        response = {
            "id": _new_id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body["model"],
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": 1.0,
            "truncation": body.get("truncation", "disabled"),
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": reply.cached_tokens},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + output_tokens,
            },
            "user": None,
            "metadata": {},
        }
        with self.fake._lock:
            self.fake.responses[response["id"]] = response
        self._send_json(200, response, reply.headers)

    # ---- writing ----
    def _send_reply_error(self, reply: Reply) -> None:
        self._send_json(
            reply.status,
            {
                "error": reply.error
                or {"message": "error", "type": "server_error", "param": None, "code": None}
            },
            reply.headers,
        )

    def _send_error(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        error = {"message": message, "type": type, "param": param, "code": None}
        self._send_json(status, {"error": error}, headers or {})

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", _new_id("req"))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_stream(self, headers: Mapping[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", _new_id("req"))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()

    def _send_event(self, data: Any) -> None:
        self._send_chunk(f"data: {json.dumps(data)}\n\n".encode())

    def _send_chunk(self, data: bytes) -> None:
        """One HTTP/1.1 chunk; empty data ends the body."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _check_chat_request(body: Any) -> tuple[str, str | None] | None:
    """The checks the real API makes that an agent can plausibly get wrong."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request.", None
    if not body.get("model"):
        return "you must provide a model parameter", "model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Missing required parameter: 'messages'.", "messages"
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        # The real API refuses json_object unless the prompt mentions JSON.
        if "json" not in json.dumps(messages).lower():
            return (
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                "'json_object'.",
                "messages",
            )
    elif kind == "json_schema":
        schema = fmt.get("json_schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            return (
                "Missing required parameter: 'response_format.json_schema.name'.",
                "response_format.json_schema.name",
            )
        if not _JSON_NAME.match(schema["name"]):
            return (
                f"Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string "
                f"that matches the pattern '{_JSON_NAME.pattern}'.",
                "response_format.json_schema.name",
            )
        if "schema" in schema and not isinstance(schema["schema"], dict):
            return "Invalid type for 'response_format.json_schema.schema': expected an object.", (
                "response_format.json_schema.schema"
            )
    elif kind != "text":
        return f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and 'text'.", (
            "response_format.type"
        )
    return None


def _split(text: str, chunks: int | tuple[str, ...] | None) -> list[str]:
    if isinstance(chunks, tuple):
        return list(chunks)
    count = chunks if chunks is not None else 3
    if not text:
        return []
    count = max(1, min(count, len(text)))
    size = -(-len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _estimate_tokens(body: Any) -> int:
    """A stable stand-in for token counting: about four characters a token, images counted as 85."""
    text = json.dumps(body)
    images = len(list(_image_urls(body)))
    text_chars = len(re.sub(r"data:[^\"]*", "", text))
    return max(1, text_chars // 4 + 85 * images)


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _image_urls(body: Any) -> Iterator[str]:
    for node in _walk(body):
        if isinstance(node, dict):
            if node.get("type") == "image_url" and isinstance(node.get("image_url"), dict):
                yield str(node["image_url"].get("url"))
            elif node.get("type") in ("input_image", "computer_screenshot") and "image_url" in node:
                yield str(node["image_url"])


def _texts(body: Any, *, roles: set[str]) -> Iterator[str]:
    if not isinstance(body, dict):
        return
    if isinstance(body.get("instructions"), str) and roles & {"system", "developer"}:
        yield body["instructions"]
    entries = body.get("messages")
    if entries is None:
        entries = body.get("input")
        if isinstance(entries, str):
            if "user" in roles:
                yield entries
            return
    for entry in entries or []:
        if not isinstance(entry, dict) or entry.get("role") not in roles:
            continue
        content = entry.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part["text"]


def decode_data_url(url: str) -> bytes:
    """The bytes inside a `data:...;base64,` URL (for asserting on images the agent sent)."""
    head, _, data = url.partition(",")
    if not head.startswith("data:") or not head.endswith(";base64"):
        raise ValueError(f"not a base64 data URL: {url[:40]!r}")
    return base64.b64decode(data)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started fake OpenAI server with an empty script; stopped after the test."""
    server = FakeOpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()
