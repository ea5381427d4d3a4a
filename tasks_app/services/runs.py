"""What a run writes while it executes: steps, actions, artifacts, model replies, usage, heartbeats and
its ending. `tasks_app.runs` calls these (through database_sync_to_async) for everything the agent
reports; each write and its timeline event commit together, and the event is published after commit."""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from tasks_app.events import ActionStartedData, ArtifactCreatedData, EgressBlockedData, StepStartedData
from tasks_app.models import Action, Artifact, Step, Task
from tasks_app.services.credentials import mark_credentials_used, mark_profile_used, save_profile_state
from tasks_app.services.events import record_event
from tasks_app.services.scripts import record_replay
from tasks_app.services.tasks import finish_task

logger = logging.getLogger(__name__)

RECORDING_NOTE = "recording.unavailable"
EGRESS_BLOCKED = "egress.blocked"


# ---- steps ----------------------------------------------------------------------------------


def start_step(*, task_id: Any, order: int, retry_index: int, url: str, mode: str = "", why: str = "") -> int:
    """A new step row (a retried step is a new row with the same order); counts as a heartbeat. In a
    replay, `mode` says whether the step replays a recorded action or asks the model, and `why` why it must."""
    mode = mode if mode in Step.Mode.values else ""
    with transaction.atomic():
        step = Step.objects.create(
            task_id=task_id, order=order, retry_index=retry_index, url=url[:2048], mode=mode, why=why if mode else ""
        )
        Task.objects.filter(pk=task_id).update(heartbeat_at=timezone.now())
        data: StepStartedData = {"step_id": step.pk, "order": step.order, "retry_index": step.retry_index, "url": step.url}
        if mode:
            data["mode"], data["why"] = mode, step.why
        record_event(task_id=task_id, type="step.started", data=data)
    return step.pk


def finish_step(
    *,
    task_id: Any,
    step_id: int,
    order: int,
    retry_index: int,
    success: bool,
    error: str | None,
    input_tokens: int,
    output_tokens: int,
    cost: Decimal,
    duration_ms: float,
) -> None:
    """Close the step with its outcome and usage, and add the usage to the task's totals."""
    with transaction.atomic():
        Step.objects.filter(pk=step_id).update(
            status=Step.Status.COMPLETED if success else Step.Status.FAILED,
            error=error or "",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            finished_at=timezone.now(),
        )
        Task.objects.filter(pk=task_id).update(
            input_tokens=F("input_tokens") + input_tokens,
            output_tokens=F("output_tokens") + output_tokens,
            cost=F("cost") + cost,
        )
        record_event(
            task_id=task_id,
            type="step.finished",
            data={
                "step_id": step_id,
                "order": order,
                "retry_index": retry_index,
                "success": success,
                "error": error,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cost": str(cost),
                "duration_ms": round(duration_ms),
            },
        )


# ---- actions --------------------------------------------------------------------------------

ACTION_FIELDS = ("action_type", "element_id", "reasoning")


def start_action(
    *, task_id: Any, step_id: int, index: int, action: dict[str, Any], mode: str = "", why: str = ""
) -> int:
    params = {k: v for k, v in action.items() if k not in ACTION_FIELDS}
    data: ActionStartedData = {"action_id": 0, "step_id": step_id, "index": index, "action": action}
    if mode in Step.Mode.values and mode:
        data["mode"], data["why"] = mode, why
    with transaction.atomic():
        row = Action.objects.create(
            task_id=task_id,
            step_id=step_id,
            index=index,
            action_type=str(action.get("action_type", "")),
            element_id=str(action.get("element_id") or ""),
            reasoning=str(action.get("reasoning") or ""),
            parameters=params,
        )
        data["action_id"] = row.pk
        record_event(task_id=task_id, type="action.started", data=data)
    return row.pk


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def finish_action(
    *,
    task_id: Any,
    step_id: int,
    action_id: int | None,
    index: int,
    action_type: str | None,
    success: bool,
    error: str | None,
    navigated: bool,
    data: Any,
    duration_ms: float,
) -> None:
    data = data if _jsonable(data) else str(data)
    with transaction.atomic():
        if action_id is not None:
            Action.objects.filter(pk=action_id).update(
                success=success, error=error or "", data=data, navigated=navigated, finished_at=timezone.now()
            )
        record_event(
            task_id=task_id,
            type="action.finished",
            data={
                "action_id": action_id,
                "step_id": step_id,
                "index": index,
                "action_type": action_type,
                "success": success,
                "error": error,
                "navigated": navigated,
                "data": data,
                "duration_ms": round(duration_ms),
            },
        )


# ---- artifacts ------------------------------------------------------------------------------


def _thumbnail(data: bytes, width: int = 320) -> bytes | None:
    try:
        from PIL import Image  # Pillow is only needed here; importing it costs ~40 ms at start-up

        with Image.open(io.BytesIO(data)) as source:
            img = source.convert("RGB")
            img.thumbnail((width, width * 4))
            out = io.BytesIO()
            img.save(out, "JPEG", quality=70)
            return out.getvalue()
    except Exception:  # noqa: BLE001 - a thumbnail is a nicety; the artifact itself is kept
        logger.warning("could not make a thumbnail", exc_info=True)
        return None


def artifact_data(artifact: Artifact) -> ArtifactCreatedData:
    return {
        "id": artifact.pk,
        "kind": artifact.kind,
        "name": artifact.name,
        "content_type": artifact.content_type,
        "size": artifact.size,
        "step_id": artifact.step_id,
        "action_id": artifact.action_id,
        "url": reverse("artifact-file", args=[artifact.task_id, artifact.pk]),
        "thumbnail_url": reverse("artifact-thumbnail", args=[artifact.task_id, artifact.pk]) if artifact.thumbnail else None,
    }


def store_artifact(
    *,
    task_id: Any,
    kind: str,
    name: str,
    content_type: str,
    data: bytes,
    step_id: int | None = None,
    action_id: int | None = None,
) -> Artifact:
    """Store the file (and a thumbnail for screenshots) through the configured storage, then its row and
    an `artifact.created` event."""
    artifact = Artifact(
        task_id=task_id,
        step_id=step_id,
        action_id=action_id,
        kind=kind,
        name=name[:200],
        content_type=content_type,
        size=len(data),
    )
    artifact.file.save(name, ContentFile(data), save=False)
    if kind in Artifact.SCREENSHOT_KINDS:
        thumb = _thumbnail(data)
        if thumb:
            artifact.thumbnail.save(f"thumb-{name.rsplit('.', 1)[0]}.jpg", ContentFile(thumb), save=False)
    with transaction.atomic():
        artifact.save()
        record_event(task_id=task_id, type="artifact.created", data=artifact_data(artifact))
    return artifact


# ---- model replies, heartbeats, notes -------------------------------------------------------


def record_llm_response(
    *,
    task_id: Any,
    step_id: int | None,
    order: int,
    retry_index: int,
    parsed: Any,
    raw: str,
    input_tokens: int,
    output_tokens: int,
) -> None:
    """The model's reply of a step, on the timeline: parsed when it parsed, else the first 4,000 characters."""
    record_event(
        task_id=task_id,
        type="llm.response",
        data={
            "step_id": step_id,
            "order": order,
            "retry_index": retry_index,
            "parsed": parsed,
            "raw": None if parsed is not None else raw[:4000],
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        },
    )


def beat(*, task_id: Any) -> None:
    """The worker is alive: refresh the heartbeat of a task that is still active (the sweeper reads it)."""
    Task.objects.filter(pk=task_id, status__in=Task.ACTIVE_STATUSES).update(heartbeat_at=timezone.now())


def take_retry_step_request(*, task_id: Any) -> bool:
    """True once per operator "retry step": the flag is cleared as it is read."""
    return bool(Task.objects.filter(pk=task_id, retry_step_requested=True).update(retry_step_requested=False))


def note_recording_unavailable(*, task_id: Any, recording: str, reason: str) -> None:
    """A timeline event saying why a recording is missing; the task page's recordings section shows it."""
    record_event(task_id=task_id, type=RECORDING_NOTE, data={"recording": recording, "reason": reason})


def mark_secrets_used(*, task: Task) -> None:
    """The run starts with the task's credentials and saved login: their "last used" is now."""
    mark_credentials_used(organization=task.organization, names=task.credentials or [])
    if task.profile:
        mark_profile_used(organization=task.organization, name=task.profile)


def save_run_profile(*, task_id: Any, state: dict[str, Any]) -> None:
    """A completed run's browser state becomes the task's saved login (when it asked to save it), and the
    timeline says so. The state itself is stored encrypted and never shown."""
    task = Task.objects.select_related("organization").filter(pk=task_id).first()
    if task is None or not (task.save_profile and task.profile):
        return
    with transaction.atomic():
        saved = save_profile_state(organization=task.organization, name=task.profile, state=state, task_id=task.pk)
        record_event(
            task_id=task_id,
            type="profile.saved",
            data={"profile": saved.profile.name, "sites": saved.profile.sites, "created": saved.created},
        )


def record_egress_blocked(*, task_id: Any, url: str, reason: str, omitted: int = 0) -> None:
    """A request of the run that the egress policy refused, on the timeline; with `omitted`, the one event
    that counts the refusals left off after the first ones (the caller bounds how many it records)."""
    data = EgressBlockedData(url=url[:2048], reason=reason[:1000])
    if omitted:
        data["omitted"] = omitted
    record_event(task_id=task_id, type=EGRESS_BLOCKED, data=data)


def end_run(
    *,
    task_id: Any,
    status: str,
    failure_reason: str = "",
    extracted_information: Any = None,
    errors: list[dict[str, Any]] | None = None,
    replay: dict[str, Any] | None = None,
) -> Task:
    """The run is over: a step still open is closed as canceled, a replay's figures are recorded (before
    the final status, so the timeline reads them first), then the task gets its final status (an
    operator's earlier ending wins; see finish_task). Safe to call twice."""
    task = Task.objects.select_related("organization").get(pk=task_id)
    with transaction.atomic():
        Step.objects.filter(task_id=task_id, status=Step.Status.RUNNING).update(
            status=Step.Status.CANCELED, finished_at=timezone.now(), error="the run ended during this step"
        )
        if replay is not None and task.replay is None:
            record_replay(task_id=task_id, replay=replay)
        return finish_task(
            task=task,
            status=status,
            failure_reason=failure_reason,
            extracted_information=extracted_information,
            errors=errors,
        )
