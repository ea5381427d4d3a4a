"""The Script document: what a successful dom run did, as data a replay can carry out and a person can read.

    {"format": 1, "url": start URL, "navigation_goal": ..., "data_extraction_goal": ..., "extraction_schema": ...,
     "recorded": {"model_calls": n, "input_tokens": n, "output_tokens": n},
     "steps": [{"action": "input_text", "params": {"text": {"payload": "email"}},
                "target": {"role": "textbox", "name": "Email", "label": "Email", "placeholder": "...", "text": "",
                           "attrs": {"id": "...", "name": "...", "data-testid": "..."}, "css": "form > input:nth-of-type(2)",
                           "tag": "input", "type": "email", "frame_path": []},
                "listing_line": "<input type=email name=email label=\"Email\">",
                "expect": {"url": URL after the action, "navigates": bool, "changed": bool, "change": summary},
                "checks": [safety checks an operator approved, asked again on replay]}],
     "extraction": {"fields": [{"path": ["username"], "css": "...", "type": "string", "before": "", "after": ""}],
                    "complete": bool} | null}

Payload values are references (`{"payload": "email"}`): a replay types the value its own payload has under
that key (the placeholder of a secret key, which the executor reveals at the last moment). Credential
placeholders (`{{acme.password}}`) stay as they were typed. No value of a secret ever appears here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agent_core.actions.vocabulary import ACTION_TYPES, Action
from agent_core.errors import InvalidTaskError

FORMAT = 1
# What a script may hold: every action of the vocabulary but those that end a run or need a person.
REPLAYABLE = frozenset(ACTION_TYPES) - {"complete", "terminate", "ask_human"}
_NO_ELEMENT = frozenset({"wait", "goto_url", "go_back"})  # never aim at an element
_OPTIONAL_ELEMENT = frozenset({"scroll", "keypress"})
LOCATOR_KEYS = ("role", "name", "label", "placeholder", "text", "attrs", "css", "tag", "type", "frame_path")
_ACTION = TypeAdapter(Action)


class ScriptError(InvalidTaskError):
    """A Script document that cannot be replayed; the message names the step and what is wrong."""


@dataclass(frozen=True)
class ScriptStep:
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] | None = None
    listing_line: str = ""
    expect: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, str]] = field(default_factory=list)

    def describe(self) -> str:
        """How a person names the step: `click "Continue"`, `input_text "Email"`, `goto_url`."""
        target = self.target or {}
        name = target.get("name") or target.get("label") or target.get("text") or target.get("placeholder")
        if not name:
            attrs = target.get("attrs") or {}
            name = attrs.get("name") or attrs.get("id") or ""
        return f'{self.action} "{name}"' if name else self.action

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action, "params": self.params, "target": self.target}
        if self.listing_line:
            data["listing_line"] = self.listing_line
        data["expect"] = self.expect
        if self.checks:
            data["checks"] = self.checks
        return data


@dataclass(frozen=True)
class Script:
    url: str
    steps: list[ScriptStep]
    navigation_goal: str = ""
    data_extraction_goal: str = ""
    extraction_schema: dict[str, Any] | None = None
    extraction: dict[str, Any] | None = None
    recorded: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "url": self.url,
            "navigation_goal": self.navigation_goal,
            "data_extraction_goal": self.data_extraction_goal,
            "extraction_schema": self.extraction_schema,
            "recorded": self.recorded,
            "steps": [step.to_dict() for step in self.steps],
            "extraction": self.extraction,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Script:
        """Read and check a stored document. Raises ScriptError naming the first problem."""
        if not isinstance(data, Mapping):
            raise ScriptError("a script must be a JSON object")
        if data.get("format") != FORMAT:
            raise ScriptError(f"unknown script format {data.get('format')!r} (this version reads format {FORMAT})")
        url = data.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ScriptError("a script needs the http(s) URL it starts at")
        steps = data.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ScriptError("a script needs a non-empty list of steps")
        for key in ("navigation_goal", "data_extraction_goal"):
            if not isinstance(data.get(key, ""), str):
                raise ScriptError(f"the script's {key} must be text")
        for key in ("extraction_schema", "extraction", "recorded"):
            if data.get(key) is not None and not isinstance(data.get(key), Mapping):
                raise ScriptError(f"the script's {key} must be an object or null")
        extraction = data.get("extraction")
        if extraction is not None:
            _check_extraction(extraction)
        return cls(
            url=url,
            steps=[_read_step(number, step) for number, step in enumerate(steps, 1)],
            navigation_goal=data.get("navigation_goal") or "",
            data_extraction_goal=data.get("data_extraction_goal") or "",
            extraction_schema=dict(data["extraction_schema"]) if data.get("extraction_schema") else None,
            extraction=dict(extraction) if extraction else None,
            recorded=dict(data.get("recorded") or {}),
        )


def _read_step(number: int, data: Any) -> ScriptStep:
    def fail(message: str) -> ScriptError:
        return ScriptError(f"script step {number}: {message}")

    if not isinstance(data, Mapping):
        raise fail("must be an object")
    action = data.get("action")
    if action not in REPLAYABLE:
        raise fail(f"unknown or unreplayable action {action!r} (one of {', '.join(sorted(REPLAYABLE))})")
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        raise fail("params must be an object")
    for key, value in params.items():
        if is_reference(value):
            if not isinstance(value["payload"], str) or not value["payload"]:
                raise fail(f"params.{key}: a payload reference names a key: {{\"payload\": \"KEY\"}}")
        elif isinstance(value, Mapping):
            raise fail(f"params.{key}: an object that is not a payload reference")
    try:  # the action's own rules (a checkbox's checked is a bool, keypress needs keys, ...)
        filled = {key: "x" if is_reference(value) else value for key, value in params.items()}
        _ACTION.validate_python({**filled, "action_type": action, "element_id": "e1"})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "params"
        raise fail(f"{where}: {first['msg']}") from None
    target = data.get("target")
    if target is not None:
        if not isinstance(target, Mapping):
            raise fail("target must be an object of locators or null")
        unknown = sorted(set(target) - set(LOCATOR_KEYS))
        if unknown:
            raise fail(f"unknown locator {unknown[0]!r} (locators: {', '.join(LOCATOR_KEYS)})")
        if not any(target.get(key) for key in ("role", "name", "label", "placeholder", "text", "attrs", "css")):
            raise fail("target has no locator to find its element by")
        if not isinstance(target.get("attrs") or {}, Mapping):
            raise fail("target.attrs must be an object")
    if target is None and action not in _NO_ELEMENT | _OPTIONAL_ELEMENT:
        raise fail(f"{action} needs a target element")
    if target is not None and action in _NO_ELEMENT:
        raise fail(f"{action} does not act on an element")
    expect = data.get("expect") or {}
    if not isinstance(expect, Mapping):
        raise fail("expect must be an object")
    checks = data.get("checks") or []
    if not isinstance(checks, list) or not all(isinstance(c, Mapping) for c in checks):
        raise fail("checks must be a list of safety checks")
    return ScriptStep(
        action=str(action),
        params=dict(params),
        target=dict(target) if target else None,
        listing_line=str(data.get("listing_line") or ""),
        expect=dict(expect),
        checks=[{k: str(v) for k, v in c.items()} for c in checks],
    )


def _check_extraction(extraction: Mapping[str, Any]) -> None:
    fields = extraction.get("fields")
    if fields is None:
        return
    if not isinstance(fields, list):
        raise ScriptError("the script's extraction.fields must be a list")
    for index, item in enumerate(fields, 1):
        if not isinstance(item, Mapping) or not isinstance(item.get("css"), str) or not isinstance(item.get("path"), list):
            raise ScriptError(f"the script's extraction field {index} needs a css selector and a path")


# ---- payload references ------------------------------------------------------------------------------------


def is_reference(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"payload"}


def payload_text(value: Any) -> str:
    """How a payload value is typed: text as it is, anything else as JSON-ish text (numbers as written)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def reference_payload(params: Mapping[str, Any], payload: Any) -> dict[str, Any]:
    """`params` with every text that is exactly one of the payload's values replaced by a reference to its key
    (the first key when several share a value). Placeholders (`{{...}}`) of secret keys become references too."""
    if not isinstance(payload, Mapping):
        return dict(params)
    by_value: dict[str, str] = {}
    for key, value in payload.items():
        if value is None or isinstance(value, Mapping | list):
            continue
        by_value.setdefault(payload_text(value), str(key))
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, str) and value and value in by_value:
            out[name] = {"payload": by_value[value]}
        else:
            out[name] = value
    return out


def fill_references(params: Mapping[str, Any], payload: Any) -> dict[str, Any]:
    """`params` with each payload reference replaced by the payload's value under its key (as typed).
    Raises ScriptError naming the key the payload lacks."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if is_reference(value):
            key = value["payload"]
            if not isinstance(payload, Mapping) or key not in payload:
                have = ", ".join(sorted(map(str, payload))) if isinstance(payload, Mapping) else "no payload object"
                raise ScriptError(f"the script types the payload value {key!r}, which this task's payload lacks ({have})")
            out[name] = payload_text(payload[key])
        else:
            out[name] = value
    return out


def references(script: Script) -> set[str]:
    """The payload keys a script types."""
    return {v["payload"] for step in script.steps for v in step.params.values() if is_reference(v)}
