"""Schema guard: catastrophic patterns are found quickly, and validation ends within its time limit."""

from __future__ import annotations

import asyncio
import time

import jsonschema
import pytest

from agent_core import schema_guard
from agent_core.schema_guard import (
    SchemaTimeoutError,
    pattern_problem,
    schema_patterns,
    unsafe_patterns,
    validate_instance,
)

CATASTROPHIC = [r"^(a+)+$", r"^(a|aa)+$", r"^(a|a)+$", r"^(\w+\s?)+$", r"(x+x+)+y", r"^(\d{1,3})+$", r"^([a-z]+ ?)*$", r"(.*a){20}"]
SAFE = [
    r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$", r"^([a-z0-9-]+\.)+[a-z]{2,}$", r"^(\d{1,3}\.){3}\d{1,3}$",
    r"^\d+(\.\d+)?$", r"^(\d+,)*\d+$", r"(foo|bar)+", r"^[A-Z][a-z]+( [A-Z][a-z]+)*$", r"^https?://\S+$",
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_are_found_fast(pattern):
    started = time.monotonic()
    assert pattern_problem(pattern)
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("pattern", SAFE)
def test_ordinary_patterns_pass(pattern):
    assert pattern_problem(pattern) is None


def test_invalid_and_overlong_patterns_are_refused():
    assert "not a valid regular expression" in pattern_problem("(unclosed")
    assert "longer than" in pattern_problem("a" * 2000)


def test_patterns_are_found_where_jsonschema_uses_them_and_nowhere_else():
    schema = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "pattern": "^p$"},  # a property named "pattern" is a name
            "list": {"type": "array", "items": {"pattern": "^i$"}},
        },
        "patternProperties": {"^k": {"not": {"pattern": "^n$"}}},
        "anyOf": [{"pattern": "^a$"}],
        "$defs": {"d": {"pattern": "^d$"}},
        "examples": [{"pattern": "not a schema"}],
        "additionalProperties": {"format": "regex", "enum": ["^e$"]},
    }
    found = dict((p, w) for w, p in schema_patterns(schema))
    assert set(found) == {"^p$", "^i$", "^k", "^n$", "^a$", "^d$", "^e$"}
    assert found["^i$"] == "properties/list/items/pattern"


def test_unsafe_patterns_name_where_and_why():
    [bad] = unsafe_patterns({"properties": {"code": {"pattern": "^(a+)+$"}}})
    assert bad.where == "properties/code/pattern" and "nests a repeat" in str(bad)


def test_a_schema_with_too_many_patterns_is_refused():
    schema = {"properties": {f"p{i}": {"pattern": f"^{i}$"} for i in range(schema_guard.MAX_PATTERNS + 1)}}
    assert "too many" in str(unsafe_patterns(schema)[0])


def test_validation_behaves_like_jsonschema():
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}},
        "patternProperties": {"^x-": {"type": "integer"}},
        "additionalProperties": False,
    }
    validate_instance({"code": "ABC", "x-n": 3}, schema)
    for bad in ({"code": "abc"}, {"x-n": "three"}, {"other": 1}):
        with pytest.raises(jsonschema.ValidationError):
            validate_instance(bad, schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_validation_against_a_stored_catastrophic_schema_ends_in_time():
    # A schema stored before the creation-time check: matching goes through `regex` with a timeout.
    schema = {"type": "array", "items": {"type": "string", "pattern": "^(a|aa)+$"}}
    started = time.monotonic()
    with pytest.raises(SchemaTimeoutError):
        validate_instance(["a" * 60 + "!"] * 20, schema, time_limit=0.5)
    assert time.monotonic() - started < 1.5


async def test_async_validation_keeps_the_event_loop_free():
    schema = {"type": "string", "pattern": "^(a|aa)+$"}
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    with pytest.raises(SchemaTimeoutError):
        await schema_guard.avalidate_instance("a" * 60 + "!", schema, time_limit=0.4)
    ticker.cancel()
    assert ticks >= 10
    await schema_guard.avalidate_instance("aaaa", schema)


async def test_extraction_against_a_catastrophic_pattern_fails_in_time_and_leaves_the_loop_free():
    import asyncio
    import time

    from agent_core.errors import InvalidModelOutputError
    from agent_core.extraction import validate_extraction

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(ticker())
    started = time.monotonic()
    with pytest.raises(InvalidModelOutputError, match="in time|does not match"):
        await validate_extraction({"code": "a" * 40 + "!"}, {"properties": {"code": {"pattern": "^(a+)+$"}}})
    beat.cancel()
    elapsed = time.monotonic() - started
    assert elapsed < 3.0
    assert ticks >= int(elapsed / 0.01 * 0.3), "the event loop was blocked while validating"
