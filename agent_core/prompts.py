"""The prompts sent to the model: the dom engine's step prompt, the cua engine's goal message and the extraction
prompt (Jinja2 templates).

The templates live in `agent_core/prompts/*.j2`. Task-constant text comes first in each message and what
changes per step last, so providers that cache prompt prefixes can reuse most of it across steps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from agent_core.actions.vocabulary import READ_TEXT_LIMIT
from agent_core.types import TaskSpec

__all__ = [
    "PAGE_TEXT_LIMIT",
    "credential_lines",
    "render_cua_goal",
    "render_extraction_prompt",
    "render_step_prompt",
    "render_template",
]

PAGE_TEXT_LIMIT = 30_000  # characters of visible page text sent for extraction
_HISTORY_KEYS = ("step", "action_type", "element_id", "reasoning", "success", "error", "changes", "read")
_TEXT_LIMIT = 300  # per field of a history line

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("prompts")),
    undefined=jinja2.StrictUndefined,  # a misspelt variable fails loudly instead of rendering as ""
    autoescape=False,  # prompts, not HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


def render_template(name: str, **context: Any) -> str:
    """Render one template of `agent_core/prompts/` (raises jinja2.UndefinedError on a missing variable)."""
    return _env.get_template(name).render(**context).strip() + "\n"


def render_step_prompt(
    *,
    spec: TaskSpec,
    current_url: str,
    element_listing: str,
    history: Sequence[Mapping[str, Any]],
    notes: Sequence[str] = (),
    now: datetime | None = None,
    warnings: Sequence[str] = (),
) -> tuple[str, str]:
    """(system, user) for one dom-engine step.

    `notes` are what people told or did for the agent since its last prompt (an answer to its question, a
    summary of what a person did while they had control), shown once in the current state.

    `history` is the window of earlier actions to show, oldest first (the caller trims it to
    `AgentConfig.history_window`); each item has step, action_type, element_id, reasoning, success, error,
    may have `changes` (the one-line summary of what the action changed on the page) and may carry the
    action's parameters (text, url, ...), which are shown too. A `read_text` item carries `read`
    ({"text", "offset", "total"}): shown whole in the lines of the latest step, which are the model's
    answer to it, and only counted in older ones. `warnings`: what the model must read now (an action it
    keeps repeating).
    """
    system = render_template("step_system.j2", read_text_limit=READ_TEXT_LIMIT)
    latest = history[-1].get("step") if history else None
    user = render_template(
        "step_user.j2",
        navigation_goal=spec.navigation_goal.strip()
        or "(none given: follow the page toward the task's purpose)",
        navigation_payload=_payload_text(spec.navigation_payload),
        secret_payload_keys=list(spec.secret_payload_keys),
        credentials=credential_lines(spec),
        data_extraction_goal=spec.data_extraction_goal.strip(),
        error_codes=sorted(spec.error_code_mapping.items()),
        start_url=spec.url,
        current_url=current_url,
        now=_iso_utc(now),
        history_lines=[_history_line(item, latest=item.get("step") == latest) for item in history],
        notes=list(notes),
        element_listing=element_listing.rstrip(),
        warnings=list(warnings),
    )
    return system, user


def render_cua_goal(*, spec: TaskSpec, current_url: str) -> str:
    """The cua engine's opening user message: the task, its data and what to report, for the page at
    `current_url`. Unlike the other prompts it carries no trailing newline."""
    schema = spec.extracted_information_schema
    return render_template(
        "cua_goal.j2",
        current_url=current_url,
        navigation_goal=spec.navigation_goal.strip()
        or "(no navigation needed: answer from what the page shows)",
        navigation_payload=_payload_text(spec.navigation_payload),
        secret_payload_keys=list(spec.secret_payload_keys),
        credentials=credential_lines(spec),
        data_extraction_goal=spec.data_extraction_goal.strip(),
        schema=json.dumps(schema, ensure_ascii=False) if schema is not None else None,
    ).rstrip("\n")


def render_extraction_prompt(
    *,
    spec: TaskSpec,
    current_url: str,
    page_text: str,
    schema: dict[str, Any] | None,
    now: datetime | None = None,
) -> tuple[str, str]:
    """(system, user) for extracting `spec.data_extraction_goal` from the page's visible text.

    Text beyond PAGE_TEXT_LIMIT characters is cut, and the prompt says so.
    """
    text = page_text.strip()
    shown = text[:PAGE_TEXT_LIMIT]
    system = render_template("extract_system.j2", has_schema=schema is not None)
    user = render_template(
        "extract_user.j2",
        data_extraction_goal=spec.data_extraction_goal.strip(),
        navigation_goal=spec.navigation_goal.strip(),
        schema=json.dumps(schema, indent=2, ensure_ascii=False) if schema is not None else None,
        current_url=current_url,
        now=_iso_utc(now),
        page_text=shown if shown else "(the page has no visible text)",
        truncated=len(text) > len(shown),
        shown_chars=len(shown),
        total_chars=len(text),
    )
    return system, user


def credential_lines(spec: TaskSpec) -> list[str]:
    """One line per credential of the task: its placeholders and the sites they may be typed on. The
    spec's credential fields hold placeholders here (agent_core.secrets.Secrets.public_spec), never values."""
    lines = []
    for cred in spec.credentials:
        names = [value for value in (cred.username, cred.password, cred.totp_secret) if value]
        if not names:
            continue
        where = ", ".join(cred.sites) if cred.sites else "no site"
        lines.append(f"- {cred.name}: {', '.join(names)} (only on {where})")
    return lines


def _payload_text(payload: Any) -> str | None:
    if payload is None or payload == "" or payload == {} or payload == []:
        return None
    if isinstance(payload, str):
        return payload.strip()
    return json.dumps(payload, indent=2, ensure_ascii=False, default=str)


def _iso_utc(now: datetime | None) -> str:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)  # naive datetimes are taken as UTC
    return now.astimezone(UTC).isoformat(timespec="seconds")


def _history_line(item: Mapping[str, Any], *, latest: bool = True) -> str:
    """One compact line, e.g. `- step 2: click [e12] -> ok; 1 new: [e31] option "Egypt" (open the list)`;
    the text a read_text returned follows its line when the step is the `latest`."""
    head = f"- step {item.get('step', '?')}: {item.get('action_type') or '?'}"
    if item.get("element_id"):
        head += f" [{item['element_id']}]"
    params = [
        f"{key}={_short(json.dumps(value, ensure_ascii=False, default=str))}"
        for key, value in item.items()
        if key not in _HISTORY_KEYS and value is not None
    ]
    if params:
        head += " " + " ".join(params)
    success = item.get("success")
    if success is None:
        outcome = "not run"
    elif success:
        outcome = "ok"
        if isinstance(item.get("read"), Mapping):
            outcome += f"; {_read_text(item['read'], whole=latest)}"
        elif item.get("changes"):
            outcome += f"; {_short(str(item['changes']))}"
    else:
        outcome = f"FAILED: {_short(str(item.get('error') or 'no reason given'))}"
    line = f"{head} -> {outcome}"
    reasoning = str(item.get("reasoning") or "").strip()
    if reasoning:
        line += f" ({_short(reasoning)})"
    return line


def _read_text(read: Mapping[str, Any], *, whole: bool) -> str:
    """What a read_text found: the text itself (JSON-quoted, so it stays on its line) when `whole`."""
    text, offset, total = str(read.get("text") or ""), int(read.get("offset") or 0), int(read.get("total") or 0)
    if not whole:
        return f"it held {total} characters (no longer shown: read it again if you need it)"
    if offset == 0 and len(text) >= total:
        return f"its whole text ({total} characters): {json.dumps(text, ensure_ascii=False)}"
    end = offset + len(text)
    more = f"; read_text with offset {end} reads on" if end < total else ""
    return (
        f"characters {offset} to {end} of its {total}{more}: {json.dumps(text, ensure_ascii=False)}"
    )


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"
