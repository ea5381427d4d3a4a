"""Turning the page (or a final answer) into extracted_information, validated against the task's schema."""

from __future__ import annotations

from typing import Any

import jsonschema

from agent_core.errors import InvalidModelOutputError
from agent_core.llm import LLMReply, OpenAIClient
from agent_core.prompts import render_extraction_prompt
from agent_core.schema_guard import avalidate_instance
from agent_core.types import TaskSpec


async def validate_extraction(data: Any, schema: dict[str, Any] | None) -> None:
    """Raise InvalidModelOutputError naming the first mismatch when `data` does not fit `schema`.

    Runs off the event loop with a time limit (other runs share the loop), every pattern matched through
    `regex` with a timeout: a schema that cannot be decided in time fails the step, it never stalls."""
    if schema is None:
        return
    try:
        await avalidate_instance(data, schema)
    except TimeoutError as exc:  # SchemaTimeoutError, or the thread overran its deadline
        raise InvalidModelOutputError(
            f"the extracted data could not be checked against the schema in time: {exc}", raw=str(data)[:2000]
        ) from exc
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise InvalidModelOutputError(
            f"extracted data does not match the schema at {where}: {exc.message}", raw=str(data)[:2000]
        ) from exc


async def extract(
    *,
    llm: OpenAIClient,
    spec: TaskSpec,
    current_url: str,
    page_text: str,
    screenshot: bytes | None,
    model: str | None,
) -> LLMReply:
    """One chat completion that answers the data_extraction_goal; `parsed` is validated before return."""
    system, user = render_extraction_prompt(
        spec=spec, current_url=current_url, page_text=page_text, schema=spec.extracted_information_schema
    )
    reply = await llm.complete_json(
        system=system,
        user=user,
        images=[screenshot] if screenshot else [],
        schema_name="extracted_information",
        schema=spec.extracted_information_schema,
        model=model,
    )
    await validate_extraction(reply.parsed, spec.extracted_information_schema)
    return reply
