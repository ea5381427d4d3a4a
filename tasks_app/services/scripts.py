"""Scripts: storing the versions runs record or repair, and starting a replay of one ("run it again without
the model"). The script document itself is agent_core.replay's; this module only files it per organization
and lineage, and builds the replaying task's request."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.db.models import Max

from agent_core.replay.script import Script as ScriptDocument
from agent_core.replay.script import ScriptError, references
from tasks_app.access import Actor, ensure_can_control
from tasks_app.errors import InvalidRequestError
from tasks_app.events import ReplayFinishedData, ScriptRecordedData
from tasks_app.models import Organization, Script, Task
from tasks_app.selectors.scripts import latest_script
from tasks_app.services.events import record_event
from tasks_app.services.tasks import create_task, request_of

MAX_DOCUMENT_BYTES = 2 * 2**20
# What a replay may change of the recorded request; the rest (url, goals, schema, ...) is the recorded
# run's, since that is what the script does. `engine` is accepted only as "dom" (create_task says so).
REPLAY_OVERRIDES = frozenset(
    {"navigation_payload", "secret_payload_keys", "title", "webhook_callback_url", "max_steps", "model", "engine"}
)
SCRIPT_EVENT = "script.recorded"
REPLAY_EVENT = "replay.finished"


def save_script(*, task_id: Any, document: dict[str, Any], healed_steps: list[int], reason: str) -> Script:
    """Store a script the run of `task_id` produced. A replay's goes to the lineage of the version it
    replayed, as the next version; any other run's starts a lineage (version 1). Records a
    `script.recorded` event with it. Safe to call twice for one run: the first version it made is returned."""
    if reason not in Script.Reason.values:
        raise ValueError(f"unknown script reason {reason!r}")
    read_document(document)
    if len(json.dumps(document)) > MAX_DOCUMENT_BYTES:
        raise InvalidRequestError(f"the script is larger than {MAX_DOCUMENT_BYTES // 2**20} MiB", field="document")
    task = Task.objects.select_related("script").get(pk=task_id)
    with transaction.atomic():
        existing = Script.objects.filter(made_by_task=task).order_by("version").first()
        if existing is not None:
            return existing
        if task.is_replay and task.script is not None:
            lineage_id = task.script.lineage_id
            # Two replays repairing the same lineage at once wait here for each other's version number.
            Task.objects.select_for_update().filter(pk=lineage_id).values_list("pk", flat=True).first()
            newest = Script.objects.filter(lineage_id=lineage_id).aggregate(n=Max("version"))["n"] or 0
            version = newest + 1
        else:
            lineage_id, version = task.pk, 1
        script = Script.objects.create(
            organization_id=task.organization_id,
            lineage_id=lineage_id,
            version=version,
            document=document,
            reason=reason,
            healed_steps=[int(n) for n in healed_steps],
            made_by_task=task,
        )
        data: ScriptRecordedData = {
            "script_id": script.pk,
            "lineage_id": str(lineage_id),
            "version": version,
            "reason": reason,
            "steps": script.step_count,
            "healed_steps": script.healed_steps,
        }
        record_event(task_id=task.pk, type=SCRIPT_EVENT, data=data)
    return script


def read_document(document: Any) -> ScriptDocument:
    """The document read by agent_core (which replays it); InvalidRequestError naming the problem otherwise."""
    try:
        return ScriptDocument.from_dict(document)
    except ScriptError as exc:
        raise InvalidRequestError(f"the script cannot be replayed: {exc}", field="document") from exc


def _check_payload_keys(script: Script, payload: Any) -> None:
    """Every payload key the script types is in the replay's payload (else it could not type it)."""
    wanted = references(read_document(script.document))
    have = set(payload) if isinstance(payload, dict) else set()
    missing = sorted(wanted - have)
    if missing:
        raise InvalidRequestError(
            f"the payload lacks {', '.join(map(repr, missing))}, which the script types "
            f"(it types the keys {', '.join(sorted(wanted))})",
            field="navigation_payload",
            extra={"missing": missing},
        )


def record_replay(*, task_id: Any, replay: dict[str, Any]) -> None:
    """A replay's figures (agent_core's RunOutcome.replay) on the task, and a `replay.finished` event."""

    def count(key: str) -> int:
        value = replay.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values_list("script_id", "script__version").first()
        script_id, version = row if row else (None, None)
        data: ReplayFinishedData = {
            "script_id": script_id,
            "version": version,
            "steps_replayed": count("steps_replayed"),
            "steps_healed": count("steps_healed"),
            "model_calls": count("model_calls"),
            "model_calls_recorded": count("model_calls_recorded"),
            "tokens_saved": count("tokens_saved"),
        }
        Task.objects.filter(pk=task_id).update(replay={k: v for k, v in data.items() if k not in ("script_id", "version")})
        record_event(task_id=task_id, type=REPLAY_EVENT, data=data)


def replay_task(
    *,
    organization: Organization,
    by: Actor,
    replay_of: Task | None = None,
    script: Script | None = None,
    start: bool = True,
    dispatch: bool = True,
    **changes: Any,
) -> Task:
    """A new task that replays a script: exactly `script`, or the newest version of `replay_of`'s lineage
    (the script it recorded, or the one it replays). The request is the recorded run's (`replay_of`, or the
    run that recorded `script`'s lineage) with `changes` applied: a new navigation_payload (its secret keys
    stay secret unless secret_payload_keys says otherwise), a title, webhook, max_steps or model (the one
    that repairs broken steps). Both must be of `organization` (callers look them up scoped to it)."""
    ensure_can_control(organization=organization, actor=by)
    refused = sorted(set(changes) - REPLAY_OVERRIDES)
    if refused:
        raise InvalidRequestError(
            f"{refused[0]} comes from the recorded run when replaying a script; leave it out "
            f"(a replay may change only {', '.join(sorted(REPLAY_OVERRIDES))})",
            field=refused[0],
        )
    if script is None:
        if replay_of is None:
            raise InvalidRequestError("give the task to replay (replay_of) or a script version (script_id)", field="replay_of")
        script = latest_script(task=replay_of)
        if script is None:
            raise InvalidRequestError(
                f"task {replay_of.pk} has no script to replay: a script is recorded by a completed run of the dom engine",
                field="replay_of",
                extra={"task_id": str(replay_of.pk)},
            )
    source = replay_of or script.lineage
    request = request_of(source)
    if "navigation_payload" in changes and "secret_payload_keys" not in changes:
        payload = changes["navigation_payload"]
        keys = request.get("secret_payload_keys") or []
        changes["secret_payload_keys"] = [k for k in keys if isinstance(payload, dict) and k in payload]
    request.update(changes)
    _check_payload_keys(script, request.get("navigation_payload"))
    return create_task(
        organization=organization,
        created_by=by,
        start=start,
        dispatch=dispatch,
        run_with=Task.RunWith.SCRIPT,
        script=script,
        **request,
    )
