"""Recording a Script while a dom run acts: each successful action with its target's locators (taken before
it ran), its parameters with payload values as references, what it changed; the extraction at the end."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from playwright.async_api import Page

from agent_core.replay.locators import capture, find_texts, read_texts
from agent_core.replay.script import REPLAYABLE, Script, ScriptStep, reference_payload
from agent_core.scraper import ScrapeResult
from agent_core.types import ActionResult, RunOutcome, TaskSpec

_NOT_PARAMS = frozenset({"action_type", "element_id", "reasoning", "replay"})
_EXTRACTION_S = 5.0  # at most this long to find the extraction's selectors on the final page
_SCALARS = {str: "string", bool: "boolean", int: "integer", float: "number"}


@dataclasses.dataclass(frozen=True)
class Captured:
    """An action about to run, as the script will hold it once it succeeds."""

    action: dict[str, Any]
    target: dict[str, Any] | None
    listing_line: str


class ScriptRecorder:
    """Collects the steps of one run (`spec` is the public spec the engine runs: secrets as placeholders)."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.steps: list[ScriptStep] = []

    async def before(self, page: Page, scrape: ScrapeResult, action: dict[str, Any]) -> Captured | None:
        """Take the target's locators before the action changes the page; None for what a script never holds."""
        if action.get("action_type") not in REPLAYABLE:
            return None
        element = scrape.get(action["element_id"]) if action.get("element_id") else None
        if action.get("element_id") and element is None:
            return None  # an id the page never had: the action fails
        target, line = await capture(page, element) if element is not None else (None, "")
        return Captured(action=action, target=target, listing_line=line)

    def after(self, captured: Captured | None, result: ActionResult, url: str) -> None:
        """Keep a captured action that succeeded, with what it changed and the URL it left the page at."""
        if captured is None or not result.success:
            return
        changes = result.data.get("changes") if isinstance(result.data, dict) else None
        summary = str((changes or {}).get("summary") or "")
        params = {k: v for k, v in captured.action.items() if k not in _NOT_PARAMS}
        self.steps.append(
            ScriptStep(
                action=str(captured.action["action_type"]),
                params=reference_payload(params, self.spec.navigation_payload),
                target=captured.target,
                listing_line=captured.listing_line,
                expect={
                    "url": url,
                    "navigates": bool(result.navigated),
                    "changed": bool(summary) and not summary.startswith("no visible change"),
                    "change": summary,
                },
            )
        )

    def keep(self, step: ScriptStep) -> None:
        """A step replayed as recorded (its locators refreshed by a capture when it had one)."""
        self.steps.append(step)

    async def document(
        self,
        page: Page,
        *,
        extracted: Any,
        recorded: dict[str, Any],
        extraction: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The Script of the steps kept so far. The extraction's selectors are found on `page` (the final
        page) unless `extraction` is given (a replay whose recorded selectors still work)."""
        if extraction is None and self.spec.data_extraction_goal and extracted is not None:
            try:  # a huge page must not hold the run's end: without selectors, replays ask the model
                extraction = await asyncio.wait_for(record_extraction(page, extracted), _EXTRACTION_S)
            except TimeoutError:
                extraction = None
        script = Script(
            url=self.spec.url,
            steps=list(self.steps),
            navigation_goal=self.spec.navigation_goal,
            data_extraction_goal=self.spec.data_extraction_goal,
            extraction_schema=self.spec.extracted_information_schema,
            extraction=extraction,
            recorded=recorded,
        )
        return script.to_dict()


def recorded_cost(outcome: RunOutcome, spec: TaskSpec) -> dict[str, Any]:
    """What the run cost in model calls and tokens: one call per step attempt, one for the extraction."""
    calls = outcome.steps + (1 if spec.data_extraction_goal else 0)
    return {
        "model_calls": calls,
        "input_tokens": outcome.usage.input_tokens,
        "output_tokens": outcome.usage.output_tokens,
    }


# ---- extraction ------------------------------------------------------------------------------------------------


def _leaves(value: Any, path: list[Any]) -> list[tuple[list[Any], Any]] | None:
    """(path, scalar) for every leaf of an object; None when it holds a list (its length is the page's to say)."""
    if isinstance(value, dict):
        out: list[tuple[list[Any], Any]] = []
        for key, item in value.items():
            found = _leaves(item, [*path, key])
            if found is None:
                return None
            out += found
        return out
    if isinstance(value, list):
        return None
    return [(path, value)]


async def record_extraction(page: Page, extracted: Any) -> dict[str, Any] | None:
    """Selectors that read each value of `extracted` off the final page, or None when one cannot be read
    there (a value the model worked out, a list): then replays ask the model to extract."""
    leaves = _leaves(extracted, [])
    if not leaves:
        return None
    texts = [(path, value) for path, value in leaves if value is not None and value != ""]
    found = await find_texts(page, [_as_text(value) for _, value in texts])
    fields: list[dict[str, Any]] = []
    for (path, value), where in zip(texts, found, strict=True):
        if not where or not where.get("css"):
            return None
        field = {"path": path, "css": where["css"], "type": _SCALARS.get(type(value), "string")}
        field.update({k: where[k] for k in ("before", "after") if where.get(k)})
        fields.append(field)
    # Check the selectors read back what the model said, as a replay would read them.
    check = await read_fields(page, fields)
    if check is None or any(_get(check, f["path"]) != _get(extracted, f["path"]) for f in fields):
        return None
    constants = [{"path": path, "value": value} for path, value in leaves if value is None or value == ""]
    return {"fields": fields, "constants": constants}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _get(data: Any, path: list[Any]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _put(data: dict[str, Any], path: list[Any], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value


def _cut(text: str, before: str, after: str) -> str | None:
    if before:
        at = text.find(before)
        if at < 0:
            return None
        text = text[at + len(before) :]
    if after:
        at = text.find(after)
        if at < 0:
            return None
        text = text[:at]
    return text.strip()


def _typed(text: str, kind: str) -> Any:
    if kind == "integer":
        return int(text.replace(",", ""))
    if kind == "number":
        return float(text.replace(",", ""))
    if kind == "boolean":
        if text.casefold() in ("true", "yes"):
            return True
        if text.casefold() in ("false", "no"):
            return False
        raise ValueError(text)
    return text


async def read_fields(
    page: Page, fields: list[dict[str, Any]], constants: list[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The extraction the recorded selectors read off `page`; None when one finds nothing (or no single element)."""
    texts = await read_texts(page, [f["css"] for f in fields])
    out: dict[str, Any] = {}
    for field, text in zip(fields, texts, strict=True):
        value = _cut(text, field.get("before", ""), field.get("after", "")) if text is not None else None
        if not value:
            return None
        try:
            _put(out, field["path"], _typed(value, field.get("type", "string")))
        except ValueError:
            return None
    for constant in constants or []:
        _put(out, constant["path"], constant["value"])
    return out

