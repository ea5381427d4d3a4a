"""The API's JSON parser: DRF's, refusing text that is not valid Unicode (lone surrogates such as "\\ud800"),
which no database can store, and bodies nested deeper than json_limits.MAX_JSON_DEPTH; each failure is a
400 parse_error instead of a 500 deep in the ORM or a RecursionError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from tasks_app import json_limits


def _valid_unicode(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_valid_unicode(k) and _valid_unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_valid_unicode(item) for item in value)
    return True


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            parse_constant = strict_constant if self.strict else None  # NaN and Infinity are not JSON
            data = json_limits.loads(text, parse_constant=parse_constant)
        except json_limits.JSONTooDeepError as exc:
            raise ParseError(f"JSON parse error - the body is nested deeper than {exc.limit} levels") from exc
        except ValueError as exc:  # includes UnicodeDecodeError and json.JSONDecodeError
            raise ParseError(f"JSON parse error - {exc}") from exc
        if not _valid_unicode(data):
            raise ParseError("JSON parse error - the body contains invalid Unicode (a lone surrogate escape)")
        return data
