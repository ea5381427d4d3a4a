"""Bounded JSON parsing: request bodies, form fields and websocket messages nested deeper than
MAX_JSON_DEPTH are refused before they are parsed.

Python's json module recurses once per level (a body nested 100,000 deep raises RecursionError, which
no caller expects), and so does everything that walks the result afterwards (validators, jsonschema, the
database's JSON encoder). Counting brackets first keeps all of them well inside the recursion limit.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Deep enough for any real payload or extraction schema (a schema nested 32 objects deep is 64 levels of
# JSON), shallow enough that jsonschema's own recursion over it stays far from Python's limit.
MAX_JSON_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JSONTooDeepError(ValueError):
    """The text nests arrays/objects deeper than allowed (a ValueError, like json's own parse errors)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


def check_depth(text: str, *, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise JSONTooDeepError when `text` opens more than `limit` nested arrays/objects. Linear time;
    brackets inside strings do not count. Text that is not JSON is left for the parser to refuse."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                raise JSONTooDeepError(limit)
        else:
            depth -= 1


def loads(text: str | bytes, *, limit: int = MAX_JSON_DEPTH, **kwargs: Any) -> Any:
    """json.loads for untrusted text: JSONTooDeepError (a ValueError) instead of a RecursionError."""
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8")
    check_depth(text, limit=limit)
    return json.loads(text, **kwargs)


def depth_of(value: Any) -> int:
    """The nesting depth of already-parsed data (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest
