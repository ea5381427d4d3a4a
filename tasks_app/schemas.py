"""Creation-time checks of a task's extraction schema: a valid JSON Schema, bounded in depth, whose regular
expressions cannot backtrack catastrophically (the rules themselves live in agent_core.schema_guard)."""

from __future__ import annotations

from typing import Any

import jsonschema

from agent_core.schema_guard import unsafe_patterns
from tasks_app.errors import InvalidRequestError
from tasks_app.json_limits import MAX_JSON_DEPTH, depth_of

FIELD = "extracted_information_schema"


def check_extraction_schema(schema: Any, *, field: str = FIELD) -> dict[str, Any]:
    """`schema` if it may be stored on a task; InvalidRequestError naming `field` otherwise. Bounded in time:
    a schema from a request is at most MAX_JSON_DEPTH deep and its patterns are checked within a budget."""
    if not isinstance(schema, dict):
        raise InvalidRequestError(f"{field} must be a JSON object", field=field)
    if depth_of(schema) > MAX_JSON_DEPTH:
        raise InvalidRequestError(f"{field} is nested deeper than {MAX_JSON_DEPTH} levels", field=field)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidRequestError(f"{field} is not a valid JSON Schema: {exc.message}", field=field) from exc
    unsafe = unsafe_patterns(schema)
    if unsafe:
        raise InvalidRequestError(
            f"{field} is refused: {unsafe[0]}; rewrite the pattern without nested or overlapping repeats",
            field=field,
            extra={"where": unsafe[0].where, "pattern": unsafe[0].pattern},
        )
    return schema
