"""Reading the model's reply into an AgentStep: the reply's JSON schema, forgiving normalisation, clear errors."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agent_core.actions.vocabulary import ACTION_TYPES, MAX_WAIT_S, READ_TEXT_LIMIT, Action
from agent_core.errors import InvalidModelOutputError
from agent_core.llm import loads_finite

_ACTION_ALIASES = {
    "type": "input_text",
    "fill": "input_text",
    "input": "input_text",
    "select": "select_option",
    "check": "checkbox",
    "slide": "set_slider",
    "slider": "set_slider",
    "set_value": "set_slider",
    "set_range": "set_slider",
    "mouse_over": "hover",
    "mouseover": "hover",
    "hover_over": "hover",
    "read": "read_text",
    "get_text": "read_text",
    "upload": "upload_file",
    "press": "keypress",
    "key": "keypress",
    "goto": "goto_url",
    "navigate": "goto_url",
    "back": "go_back",
    "ask": "ask_human",
    "ask_user": "ask_human",
}


class AgentStep(BaseModel):
    """One reply of the model in the dom engine (DESIGN.md, "Contract with the model")."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    thinking: str = ""
    goal_achieved: bool = False
    actions: list[Action]


_ERROR_ITEM = {
    "type": "object",
    "properties": {"error_code": {"type": "string"}, "reasoning": {"type": "string"}},
    "required": ["error_code", "reasoning"],
}
# One flat action object (the parameters each type uses are named in the descriptions): simpler for models
# to follow than a oneOf, and fine for a non-strict json_schema response format.
AGENT_STEP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "thinking": {"type": "string", "description": "What you see on the page and why you act as you do."},
        "goal_achieved": {"type": "boolean", "description": "True once the navigation goal is reached."},
        "actions": {
            "type": "array",
            "description": "Actions to perform in order on the current page.",
            "items": {
                "type": "object",
                "properties": {
                    "action_type": {"type": "string", "enum": list(ACTION_TYPES)},
                    "element_id": {
                        "type": ["string", "null"],
                        "description": 'The id in brackets from the element listing, e.g. "e12"; null when '
                        "the action needs no element.",
                    },
                    "reasoning": {"type": "string"},
                    "text": {"type": "string", "description": "input_text: the text to type."},
                    "option": {
                        "type": ["string", "array"],
                        "items": {"type": "string"},
                        "description": "select_option: the option's label or value; for a <select multiple>, the "
                        "list of every option wanted (exactly those end up chosen).",
                    },
                    "checked": {"type": "boolean", "description": "checkbox: the state wanted."},
                    "value": {"type": "number", "description": "set_slider: the value to move the slider to."},
                    "offset": {
                        "type": "integer",
                        "description": f"read_text: the character to start reading at (default 0); one read "
                        f"returns at most {READ_TEXT_LIMIT} characters.",
                    },
                    "file_url": {
                        "type": "string",
                        "description": "upload_file: an http(s) URL or a file path.",
                    },
                    "direction": {"type": "string", "enum": ["up", "down"], "description": "scroll"},
                    "keys": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": 'keypress: keys pressed one after another, e.g. ["Enter"], ["Control+a"].',
                    },
                    "seconds": {"type": "number", "description": f"wait: at most {MAX_WAIT_S:g}."},
                    "url": {"type": "string", "description": "goto_url: an http(s) URL."},
                    "question": {
                        "type": "string",
                        "description": "ask_human: the question for the person overseeing the run.",
                    },
                    "errors": {
                        "type": "array",
                        "items": _ERROR_ITEM,
                        "description": "terminate: why the goal cannot be reached, codes from the error mapping.",
                    },
                },
                "required": ["action_type", "element_id", "reasoning"],
            },
        },
    },
    "required": ["thinking", "goal_achieved", "actions"],
}
AGENT_STEP_RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "agent_step", "schema": AGENT_STEP_SCHEMA, "strict": False},
}


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)


def parse_agent_step(data: Any) -> AgentStep:
    """Validate a model reply (a JSON string or an already-decoded object) into an AgentStep.

    Raises InvalidModelOutputError with a reason fit for the step's failure record, e.g.
    "action 1: unknown action type 'jump'" or "action 2: missing 'text' for input_text".
    """
    raw = data if isinstance(data, str) else None
    if isinstance(data, bytes):
        data = raw = data.decode("utf-8", "replace")
    if isinstance(data, str):
        text = data.strip()
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1)
        try:
            data = loads_finite(text)
        except ValueError as exc:
            raise InvalidModelOutputError(f"the reply is not JSON: {exc}", raw=raw) from None
    if raw is None:
        try:
            raw = json.dumps(data, default=str)
        except (TypeError, ValueError):
            raw = repr(data)
    if not isinstance(data, dict):
        raise InvalidModelOutputError(
            f"the reply must be a JSON object with thinking, goal_achieved and actions, not {type(data).__name__}",
            raw=raw,
        )
    if "actions" not in data:
        raise InvalidModelOutputError("the reply has no 'actions' list", raw=raw)
    actions = data["actions"]
    if isinstance(actions, dict):  # a single action instead of a list
        actions = [actions]
    if not isinstance(actions, list):
        raise InvalidModelOutputError("'actions' must be a list of action objects", raw=raw)
    normalised: list[dict[str, Any]] = []
    for number, item in enumerate(actions, start=1):
        if not isinstance(item, dict):
            raise InvalidModelOutputError(f"action {number} is not an object", raw=raw)
        kind = item.get("action_type", item.get("type") if isinstance(item.get("type"), str) else None)
        if kind is None or not str(kind).strip():
            raise InvalidModelOutputError(f"action {number} has no action_type", raw=raw)
        name = re.sub(r"[\s\-]+", "_", str(kind).strip().lower())
        name = _ACTION_ALIASES.get(name, name)
        if name not in ACTION_TYPES:
            raise InvalidModelOutputError(
                f"action {number}: unknown action type {str(kind)!r}; expected one of {', '.join(ACTION_TYPES)}",
                raw=raw,
            )
        normalised.append({**item, "action_type": name})
    try:
        return AgentStep.model_validate({**data, "actions": normalised})
    except ValidationError as exc:
        raise InvalidModelOutputError(_describe(exc), raw=raw) from None


def _describe(exc: ValidationError) -> str:
    reasons = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if len(loc) >= 2 and loc[0] == "actions" and isinstance(loc[1], int):
            prefix = f"action {loc[1] + 1}"
            kind = str(loc[2]) if len(loc) > 2 else "action"
            field = ".".join(str(part) for part in loc[3:])
            if error.get("type") == "missing" and field:
                reasons.append(f"{prefix}: missing {field!r} for {kind}")
            elif field:
                reasons.append(f"{prefix}: {field!r} for {kind}: {message}")
            else:
                reasons.append(f"{prefix}: {message}")
        else:
            field = ".".join(str(part) for part in loc) or "reply"
            reasons.append(
                f"missing {field!r}" if error.get("type") == "missing" else f"{field!r}: {message}"
            )
    return "; ".join(reasons) or "invalid agent step"
