"""The model client: JSON chat completions (dom engine) and Responses-API calls (cua engine) over AsyncOpenAI.

Retries with backoff on 429, 5xx and connection errors are the SDK's own (`max_retries`); whatever still
fails comes out as an `agent_core.errors` exception whose message an operator can act on and whose
`.raw` keeps what the model or the API said.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from agent_core.errors import InvalidModelOutputError, LLMError
from agent_core.types import LLMConfig, Usage

__all__ = ["LLMReply", "OpenAIClient", "image_data_url", "redact_images"]

DeltaCallback = Callable[[str], Awaitable[None]]

_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+);base64,(.*)$", re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(.*)\n\s*```$", re.DOTALL)


@dataclass(frozen=True)
class LLMReply:
    """A successful model call.

    `parsed`: the reply's JSON (complete_json) or the whole response as a dict (responses_create).
    `raw`: the text the model returned (complete_json) or the response as JSON text (responses_create).
    `request`: the body as sent, JSON-able, with image data URLs replaced by "<image N bytes>".
    """

    parsed: Any
    raw: str
    usage: Usage
    request: dict[str, Any]


class OpenAIClient:
    """One AsyncOpenAI client per instance; share it across a run, `close()` it at the end.

    Works against any OpenAI-compatible endpoint (`config.base_url`). Calls may be cancelled at any await
    (the run loop does so when an operator terminates): the HTTP request is dropped with them.
    """

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self._made: openai.AsyncOpenAI | None = None

    @property
    def _client(self) -> openai.AsyncOpenAI:
        """Made at the first call: building one (its TLS context) costs ~60 ms, which a replay that never
        asks the model does not pay."""
        if self._made is None:
            self._made = openai.AsyncOpenAI(
                api_key=self.config.api_key or "unset",
                base_url=self.config.base_url,
                timeout=self.config.timeout_s,
                max_retries=self.config.max_retries,
            )
        return self._made

    async def complete_json(
        self,
        *,
        system: str,
        user: str,
        images: Sequence[bytes] = (),
        schema_name: str,
        schema: dict[str, Any] | None = None,
        strict: bool = False,
        model: str | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> LLMReply:
        """Ask for a JSON reply: `json_schema` named `schema_name` when `schema` is given, else `json_object`.

        With `on_delta`, the reply streams and `on_delta` is awaited with each piece of content in order.
        Raises InvalidModelOutputError (reply is not JSON) or LLMError (refusal, cut off, API failure).
        """
        content: str | list[dict[str, Any]] = user
        if images:
            content = [{"type": "text", "text": user}]
            content += [
                {"type": "image_url", "image_url": {"url": image_data_url(image)}} for image in images
            ]
        response_format: dict[str, Any]
        if schema is not None:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": strict},
            }
        else:
            response_format = {"type": "json_object"}
        body: dict[str, Any] = {
            "model": model or self.config.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": content}],
            "response_format": response_format,
        }
        if on_delta is not None:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        request = redact_images(body)

        if on_delta is None:
            text, refusal, finish_reason, usage = await self._complete(body)
        else:
            text, refusal, finish_reason, usage = await self._complete_streamed(body, on_delta)
        usage_model = usage.model or body["model"]
        usage = Usage(usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage_model)

        if refusal:
            raise LLMError(f"model refused: {refusal}", raw=refusal)
        if finish_reason == "length":
            raise LLMError("model reply was cut off (max tokens)", raw=text)
        if finish_reason == "content_filter":
            raise LLMError("model reply was blocked by the provider's content filter", raw=text)
        parsed = parse_json_reply(text)
        return LLMReply(parsed=parsed, raw=text, usage=usage, request=request)

    async def responses_create(self, **kwargs: Any) -> LLMReply:
        """`client.responses.create(**kwargs)` for the cua engine; `model` defaults to `config.cua_model`.

        `parsed` is `response.model_dump(mode="json")`; errors are mapped as for `complete_json` (an unknown
        `previous_response_id` or unacknowledged safety checks come back as LLMError naming the parameter).
        """
        kwargs.setdefault("model", self.config.cua_model)
        request = redact_images(kwargs)
        try:
            response = await self._client.responses.create(**kwargs)
        except openai.APIError as err:
            raise _api_error(err, self.config) from err
        parsed = response.model_dump(mode="json")
        usage = Usage(model=str(parsed.get("model") or kwargs["model"]))
        if response.usage is not None:
            details = response.usage.input_tokens_details
            usage = Usage(
                input_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
                cached_tokens=(details.cached_tokens or 0) if details is not None else 0,
                model=usage.model,
            )
        return LLMReply(parsed=parsed, raw=json.dumps(parsed), usage=usage, request=request)

    async def close(self) -> None:
        """Close the HTTP connections. Safe to call twice."""
        if self._made is not None:
            await self._made.close()

    # ---- internals ----
    async def _complete(self, body: dict[str, Any]) -> tuple[str, str | None, str | None, Usage]:
        try:
            completion = await self._client.chat.completions.create(**body)
        except openai.APIError as err:
            raise _api_error(err, self.config) from err
        if not completion.choices:
            raise LLMError("model returned no choices", raw=completion.model_dump_json())
        choice = completion.choices[0]
        usage = Usage(model=completion.model or "")
        if completion.usage is not None:
            usage = _chat_usage(completion.usage, completion.model or "")
        return choice.message.content or "", choice.message.refusal, choice.finish_reason, usage

    async def _complete_streamed(
        self, body: dict[str, Any], on_delta: DeltaCallback
    ) -> tuple[str, str | None, str | None, Usage]:
        parts: list[str] = []
        refusal_parts: list[str] = []
        finish_reason: str | None = None
        usage = Usage()
        try:
            stream = await self._client.chat.completions.create(**body)
            try:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = _chat_usage(chunk.usage, chunk.model or "")
                    elif chunk.model and not usage.model:
                        usage = Usage(model=chunk.model)
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        if choice.delta.refusal:
                            refusal_parts.append(choice.delta.refusal)
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                            await on_delta(choice.delta.content)
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
            finally:
                await stream.close()
        except openai.APIError as err:
            raise _api_error(err, self.config, raw="".join(parts) or None) from err
        return "".join(parts), "".join(refusal_parts) or None, finish_reason, usage


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (only finite numbers are)")


def loads_finite(text: str) -> Any:
    """json.loads that refuses NaN, Infinity and -Infinity, which Python accepts and JSON does not: a
    model reply carrying them would otherwise reach the database, the events and the extraction schema."""
    return json.loads(text, parse_constant=_no_constant)


def parse_json_reply(text: str) -> Any:
    """The JSON in a model's reply; tolerates one surrounding ``` fence (some local models add it)."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    if not stripped:
        raise InvalidModelOutputError("model reply is not valid JSON: the reply is empty", raw=text)
    try:
        return loads_finite(stripped)
    except ValueError as err:
        raise InvalidModelOutputError(f"model reply is not valid JSON: {err}", raw=text) from err


def image_data_url(image: bytes) -> str:
    """A base64 data URL for a PNG, JPEG, GIF or WebP image, typed by its magic bytes."""
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    elif image.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    elif image.startswith((b"GIF87a", b"GIF89a")):
        mime = "image/gif"
    elif image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        mime = "image/webp"
    else:
        raise ValueError(f"unsupported image format (expected PNG or JPEG), starts with {image[:8]!r}")
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


def redact_images(value: Any) -> Any:
    """A JSON-able copy of a request body with every base64 data URL replaced by "<image N bytes>"."""
    if isinstance(value, dict):
        return {str(key): redact_images(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_images(item) for item in value]
    if isinstance(value, str):
        match = _DATA_URL.match(value) if value.startswith("data:") else None
        if match:
            data = match.group(2).strip()
            size = len(data) * 3 // 4 - (len(data) - len(data.rstrip("=")))
            return f"<image {size} bytes>"
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if hasattr(value, "model_dump"):  # SDK param models passed to responses_create
        return redact_images(value.model_dump(mode="json"))
    return str(value)


def _chat_usage(usage: Any, model: str) -> Usage:
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cached_tokens=cached or 0,
        model=model,
    )


def _api_error(err: openai.APIError, config: LLMConfig, *, raw: str | None = None) -> LLMError:
    """An operator-facing LLMError for an SDK error that survived the SDK's retries."""
    where = config.base_url or "the OpenAI API"
    if isinstance(err, openai.APITimeoutError):
        return LLMError(f"model call timed out after {config.timeout_s:g} s ({where})", raw=raw)
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err.__context__
        detail = f": {cause}" if cause is not None and str(cause) else ""
        return LLMError(f"could not reach the model API at {where}{detail}", raw=raw)
    if isinstance(err, openai.APIStatusError):
        body = err.body
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message:
            message = err.response.text.strip()[:500] or err.message
        kind = f" {err.type}" if err.type else ""
        param = f" (param {err.param})" if err.param else ""
        retried = ""
        said_no = err.response.headers.get("x-should-retry") == "false"
        if _retryable_status(err.status_code) and config.max_retries and not said_no:
            retried = f" after {config.max_retries} retries"
        return LLMError(
            f"model API error {err.status_code}{kind}{retried}: {message}{param}",
            raw=raw if raw is not None else err.response.text,
        )
    return LLMError(f"model API error: {err.message}", raw=raw)


def _retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500
