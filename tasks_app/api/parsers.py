"""The API's JSON parser: DRF's, refusing text that is not valid Unicode (lone surrogates such as "\\ud800"),
which no database can store; the failure is a 400 parse_error instead of a 500 deep in the ORM."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


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
        data = super().parse(stream, media_type, parser_context)
        if not _valid_unicode(data):
            raise ParseError("JSON parse error - the body contains invalid Unicode (a lone surrogate escape)")
        return data
