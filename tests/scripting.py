"""Helpers for scripting the fake model: find element ids in the listing the agent sent, build agent steps."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.openai_server import FakeRequest, reply_json


def listing_of(request: FakeRequest) -> str:
    return request.user_text()


def element_id(request: FakeRequest, *patterns: str) -> str:
    """The id of the first listing line that matches every regex in `patterns`."""
    for line in listing_of(request).splitlines():
        match = re.match(r"\s*\[(\w+)\]\s", line)
        if match and all(re.search(p, line) for p in patterns):
            return match.group(1)
    raise AssertionError(f"no element matching {patterns} in listing:\n{listing_of(request)}")


def step(
    *actions: dict[str, Any], thinking: str = "working on it", goal_achieved: bool = False, delay: float = 0.0
) -> Any:
    return reply_json({"thinking": thinking, "goal_achieved": goal_achieved, "actions": list(actions)}, delay=delay)


def act(action_type: str, element_id: str | None = None, reasoning: str = "because", **params: Any) -> dict[str, Any]:
    return {"action_type": action_type, "element_id": element_id, "reasoning": reasoning, **params}


def is_extraction(request: FakeRequest) -> bool:
    fmt = request.body.get("response_format") or {}
    return fmt.get("type") == "json_object" or (fmt.get("json_schema") or {}).get("name") == "extracted_information"


def page_url(request: FakeRequest) -> str:
    match = re.search(r"[Cc]urrent URL:?\s*(\S+)", request.user_text())
    return match.group(1) if match else ""
