"""Bounded JSON Schema handling: refuse schemas whose regular expressions can backtrack catastrophically,
and validate data against a schema within a time limit.

jsonschema matches `pattern` and `patternProperties` with Python's `re`, which backtracks: validating
`{"type": "string", "pattern": "^(a+)+$"}` against 27 characters takes seconds, and a few more
characters take hours. Two defences, used together:

- `unsafe_patterns(schema)` (at task creation): every pattern of the schema is parsed and refused when a
  repeat sits inside another repeat and could end where the next round starts (`(a+)+`, `(\\w+\\s?)+`,
  `(.*a){20}`), then probed with the `regex` module under a timeout on strings built from its own characters
  (which catches ambiguous alternations such as `(a|aa)+$`). Fast: well under a second for any schema a
  request can carry.
- `validate_instance(data, schema, time_limit=...)` (when model output is checked): jsonschema with its
  `pattern`, `patternProperties` and `additionalProperties` keywords matching through `regex` with a
  timeout, so the whole validation ends within `time_limit` or raises SchemaTimeoutError.
  `avalidate_instance` runs it in a worker thread, off the event loop.

Framework-free: imports nothing from Django; tasks_app calls it at creation, the run pipeline when it
validates extracted data.
"""

from __future__ import annotations

import asyncio
import re
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import jsonschema
import regex
from jsonschema import ValidationError

MAX_PATTERNS = 200  # patterns per schema
MAX_PATTERN_LENGTH = 1000
PROBE_LENGTH = 40  # characters per probe string: exponential patterns take seconds long before this
PROBE_TIMEOUT = 0.02  # seconds per probe match
CHECK_BUDGET = 0.5  # seconds for probing all the patterns of one schema
MATCH_TIMEOUT = 0.25  # seconds per match while validating data
DEFAULT_TIME_LIMIT = 5.0  # seconds for one whole validation


class SchemaTimeoutError(TimeoutError):
    """Validating against the schema took longer than its time limit."""


@dataclass(frozen=True)
class UnsafePattern:
    """A regular expression of a schema that is refused, where it is, and why."""

    where: str  # JSON-pointer-like path inside the schema, e.g. "properties/name/pattern"
    pattern: str
    reason: str

    def __str__(self) -> str:
        return f"the pattern {self.pattern!r} at {self.where or '(root)'} {self.reason}"


# ---- finding the patterns of a schema -------------------------------------------------------------

_ONE_SUBSCHEMA = (
    "additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if", "then", "else",
    "unevaluatedItems", "unevaluatedProperties", "contentSchema", "items",
)
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas", "dependencies")
_VALUE_KEYWORDS = ("const", "enum", "default", "examples")


def schema_patterns(schema: Any) -> Iterator[tuple[str, str]]:
    """Every regular expression a schema holds, as (where, pattern): `pattern` values, `patternProperties`
    keys, and the string values (`const`, `enum`, `default`, `examples`) of subschemas with
    `"format": "regex"`. Walks subschemas only (a property called "pattern" is a name, not a regex);
    iterative, so a deep schema cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        where, node = stack.pop()
        if not isinstance(node, dict):
            continue
        prefix = f"{where}/" if where else ""
        if isinstance(node.get("pattern"), str):
            yield f"{prefix}pattern", node["pattern"]
        if node.get("format") == "regex":
            for key in _VALUE_KEYWORDS:
                value = node.get(key)
                values = value if isinstance(value, list) else [value]
                for index, item in enumerate(values):
                    if isinstance(item, str):
                        yield f"{prefix}{key}" + (f"/{index}" if isinstance(value, list) else ""), item
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict):
            for key in patterns:
                yield f"{prefix}patternProperties/{key}", key
        for key in _ONE_SUBSCHEMA:
            if isinstance(node.get(key), dict):
                stack.append((f"{prefix}{key}", node[key]))
        for key in _SUBSCHEMA_LISTS:
            if isinstance(node.get(key), list):
                stack.extend((f"{prefix}{key}/{i}", sub) for i, sub in enumerate(node[key]))
        for key in _SUBSCHEMA_MAPS:
            if isinstance(node.get(key), dict):
                stack.extend((f"{prefix}{key}/{name}", sub) for name, sub in node[key].items())


# ---- the static check: a repeat inside a repeat that can end where the next round starts ------------

# re._parser / re._constants (sre_parse before Python 3.11) are private, but the only parser of Python's
# regex dialect; they are only read here.
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
if hasattr(sre_constants, "POSSESSIVE_REPEAT"):
    _REPEATS.add(sre_constants.POSSESSIVE_REPEAT)
_BASE_ALPHABET = frozenset(string.printable) | frozenset("\x00\u00a0éßÉ中٣")
_CATEGORY_RE = {
    sre_constants.CATEGORY_DIGIT: re.compile(r"\d"),
    sre_constants.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    sre_constants.CATEGORY_SPACE: re.compile(r"\s"),
    sre_constants.CATEGORY_NOT_SPACE: re.compile(r"\S"),
    sre_constants.CATEGORY_WORD: re.compile(r"\w"),
    sre_constants.CATEGORY_NOT_WORD: re.compile(r"\W"),
}


class _Analysis:
    """Character sets over a sample alphabet (the pattern's own literals plus a printable sample)."""

    def __init__(self, parsed: Any) -> None:
        self.literals = frozenset(
            chr(av) for op, av in _nodes(parsed) if op in (sre_constants.LITERAL, sre_constants.NOT_LITERAL)
        )
        self.alphabet = frozenset(_with_cases(_BASE_ALPHABET | self.literals))

    def char_class(self, op: Any, av: Any) -> frozenset[str]:
        """What one character-consuming node can match."""
        if op == sre_constants.LITERAL:
            return frozenset(_with_cases({chr(av)}))
        if op == sre_constants.NOT_LITERAL:
            return self.alphabet - {chr(av)}
        if op == sre_constants.ANY:
            return self.alphabet - {"\n"}
        if op == sre_constants.IN:
            chosen: set[str] = set()
            negate = False
            for item_op, item_av in av:
                if item_op == sre_constants.NEGATE:
                    negate = True
                elif item_op == sre_constants.LITERAL:
                    chosen |= _with_cases({chr(item_av)})
                elif item_op == sre_constants.RANGE:
                    lo, hi = item_av
                    chosen |= {c for c in self.alphabet if lo <= ord(c) <= hi}
                elif item_op == sre_constants.CATEGORY:
                    chosen |= self._category(item_av)
                else:  # an unusual item: assume it may match anything
                    chosen |= self.alphabet
            return self.alphabet - chosen if negate else frozenset(chosen)
        if op == sre_constants.CATEGORY:
            return self._category(av)
        return frozenset()

    def _category(self, category: Any) -> frozenset[str]:
        matcher = _CATEGORY_RE.get(category)
        if matcher is None:
            return self.alphabet
        return frozenset(c for c in self.alphabet if matcher.fullmatch(c))

    def first(self, seq: Any) -> tuple[frozenset[str], bool]:
        """The characters `seq` can start with, and whether it can match the empty string."""
        found: set[str] = set()
        for op, av in seq:
            chars, nullable = self._first_node(op, av)
            found |= chars
            if not nullable:
                return frozenset(found), False
        return frozenset(found), True

    def _first_node(self, op: Any, av: Any) -> tuple[frozenset[str], bool]:
        if op in _REPEATS:
            chars, nullable = self.first(av[2])
            return chars, nullable or av[0] == 0
        if op == sre_constants.SUBPATTERN:
            return self.first(av[-1])
        if op == sre_constants.BRANCH:
            found: set[str] = set()
            nullable = False
            for alternative in av[1]:
                chars, alt_nullable = self.first(alternative)
                found |= chars
                nullable = nullable or alt_nullable
            return frozenset(found), nullable
        if op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            return frozenset(), True
        if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            return self.alphabet, True
        return self.char_class(op, av), False

    def consumed(self, seq: Any) -> frozenset[str]:
        """Every character `seq` can consume anywhere."""
        found: set[str] = set()
        for op, av in _nodes(seq):
            if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
                return self.alphabet
            found |= self.char_class(op, av)
        return frozenset(found)

    def ambiguous_repeat(self, seq: Any, follow: frozenset[str], in_repeat: bool) -> str | None:
        """A repeat nested in a repeat whose characters overlap what may follow it (so the engine can split
        a run of those characters between the inner and the outer repeat in exponentially many ways)."""
        for index, (op, av) in enumerate(seq):
            rest_first, rest_nullable = self.first(seq[index + 1 :])
            node_follow = rest_first | follow if rest_nullable else rest_first
            found = self._ambiguous_node(op, av, node_follow, in_repeat)
            if found:
                return found
        return None

    def _ambiguous_node(self, op: Any, av: Any, follow: frozenset[str], in_repeat: bool) -> str | None:
        if op in _REPEATS:
            _, hi, body = av
            repeats = hi == sre_constants.MAXREPEAT or hi > 1
            if repeats and in_repeat and self.consumed(body) & follow:
                return "nests a repeat inside a repeat (like (a+)+), which can take exponential time to fail"
            if repeats:
                body_first, _ = self.first(body)
                return self.ambiguous_repeat(body, body_first | follow, True)
            return self.ambiguous_repeat(body, follow, in_repeat)
        if op == sre_constants.SUBPATTERN:
            return self.ambiguous_repeat(av[-1], follow, in_repeat)
        if op == sre_constants.BRANCH:
            for alternative in av[1]:
                found = self.ambiguous_repeat(alternative, follow, in_repeat)
                if found:
                    return found
        if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            return self.ambiguous_repeat(av[1], frozenset(), False)
        return None


def _nodes(seq: Any) -> Iterator[tuple[Any, Any]]:
    """Every node of a parsed pattern, depth first."""
    stack = [iter(seq)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        op, av = node
        yield op, av
        if op in _REPEATS:
            stack.append(iter(av[2]))
        elif op == sre_constants.SUBPATTERN:
            stack.append(iter(av[-1]))
        elif op == sre_constants.BRANCH:
            for alternative in av[1]:
                stack.append(iter(alternative))
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            stack.append(iter(av[1]))
        elif op == sre_constants.GROUPREF_EXISTS:
            stack.extend(iter(branch) for branch in av[1:] if branch is not None)


def _with_cases(chars: set[str] | frozenset[str]) -> set[str]:
    return {variant for c in chars for variant in (c, c.lower(), c.upper()) if len(variant) == 1}


def pattern_problem(pattern: str, *, deadline: float | None = None) -> str | None:
    """Why `pattern` is refused, or None when it is safe to match against untrusted text."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"is longer than {MAX_PATTERN_LENGTH} characters"
    try:
        parsed = sre_parse.parse(pattern)
        regex.compile(pattern)
    except (re.error, regex.error, RecursionError, OverflowError) as exc:
        return f"is not a valid regular expression ({exc})"
    analysis = _Analysis(parsed)
    found = analysis.ambiguous_repeat(parsed, frozenset(), False)
    if found:
        return found
    return _probe(pattern, analysis, deadline=deadline)


def _probe(pattern: str, analysis: _Analysis, *, deadline: float | None) -> str | None:
    """Run the pattern on long runs of each character it mentions, ending in one it may refuse: a pattern
    that backtracks exponentially on some input almost always does on one of these."""
    literal = [c for c in sorted(analysis.literals) if c.isprintable()]
    samples = list(dict.fromkeys([*literal, "a", "A", "0", " ", "-", "."]))[:16]
    compiled = regex.compile(pattern)
    for char in samples:
        for tail in ("\x00", "!"):
            timeout = PROBE_TIMEOUT
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    return "could not be checked in time (the schema has too many patterns)"
            try:
                compiled.search(char * PROBE_LENGTH + tail, timeout=timeout)
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    return "could not be checked in time (the schema has too many patterns)"
                return "takes too long to match (it backtracks on repeated characters)"
    return None


def unsafe_patterns(schema: Any, *, budget: float = CHECK_BUDGET) -> list[UnsafePattern]:
    """The schema's regular expressions that are refused (empty when all are safe). Bounded: at most
    MAX_PATTERNS patterns of at most MAX_PATTERN_LENGTH characters, probed within `budget` seconds."""
    deadline = time.monotonic() + budget
    found: list[UnsafePattern] = []
    for count, (where, pattern) in enumerate(schema_patterns(schema), start=1):
        if count > MAX_PATTERNS:
            found.append(UnsafePattern(where, pattern, f"is one too many (at most {MAX_PATTERNS} patterns per schema)"))
            break
        problem = pattern_problem(pattern, deadline=deadline)
        if problem:
            found.append(UnsafePattern(where, pattern, problem))
            break
    return found


# ---- validation within a time limit ----------------------------------------------------------------


def _search(pattern: str, text: str, deadline: float) -> bool:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise SchemaTimeoutError("validation against the schema ran out of time")
    try:
        return regex.search(pattern, text, timeout=min(remaining, MATCH_TIMEOUT)) is not None
    except TimeoutError as exc:
        raise SchemaTimeoutError(f"matching the pattern {pattern!r} took too long") from exc


def _bounded_validator(schema: Any, deadline: float) -> Any:
    base = jsonschema.validators.validator_for(schema)

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if validator.is_type(instance, "string") and not _search(patrn, instance, deadline):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    def pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        for patrn, subschema in patterns.items():
            for key, value in instance.items():
                if _search(patrn, key, deadline):
                    yield from validator.descend(value, subschema, path=key, schema_path=patrn)

    def additional_properties(validator: Any, ap: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        # jsonschema's own, with its find_additional_properties matching through _search.
        if not validator.is_type(instance, "object"):
            return
        properties = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extras = [
            key for key in instance
            if key not in properties and not any(_search(p, key, deadline) for p in patterns)
        ]
        if validator.is_type(ap, "object"):
            for extra in extras:
                yield from validator.descend(instance[extra], ap, path=extra)
        elif not ap and extras:
            if patterns:
                verb = "does" if len(extras) == 1 else "do"
                joined = ", ".join(repr(each) for each in sorted(extras))
                yield ValidationError(f"{joined} {verb} not match any of the regexes: {', '.join(map(repr, sorted(patterns)))}")
            else:
                shown = ", ".join(repr(each) for each in sorted(extras, key=str))
                verb = "was" if len(extras) == 1 else "were"
                yield ValidationError(f"Additional properties are not allowed ({shown} {verb} unexpected)")

    return jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        base,
        {"pattern": pattern, "patternProperties": pattern_properties, "additionalProperties": additional_properties},
    )


def validate_instance(data: Any, schema: Any, *, time_limit: float = DEFAULT_TIME_LIMIT) -> None:
    """Like jsonschema.validate(data, schema): raises jsonschema.ValidationError (the best match) when
    `data` does not fit, SchemaTimeoutError when it cannot be decided within `time_limit` seconds, and
    jsonschema.SchemaError when the schema itself is invalid. Every regex match runs through `regex`
    with a timeout, so the limit holds however the schema's patterns were written."""
    deadline = time.monotonic() + time_limit
    validator_class = _bounded_validator(schema, deadline)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise error


async def avalidate_instance(data: Any, schema: Any, *, time_limit: float = DEFAULT_TIME_LIMIT) -> None:
    """validate_instance in a worker thread, so a slow schema never blocks the event loop."""
    await asyncio.wait_for(
        asyncio.to_thread(validate_instance, data, schema, time_limit=time_limit), timeout=time_limit + 1.0
    )
