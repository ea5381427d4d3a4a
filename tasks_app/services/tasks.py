"""The task state machine: creation, queueing, claiming, operator controls and finishing.

Every transition is one conditional UPDATE (`... WHERE status IN (allowed)`), so two operators, or an
operator and a worker, racing on the same task cannot both win: the loser gets a TaskStateError.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agent_core.secrets import PAYLOAD_KEY_PATTERN
from tasks_app.access import Actor, actor_label, ensure_can_control
from tasks_app.crypto import decrypt_json, encrypt_json
from tasks_app.egress import check_task_url
from tasks_app.errors import InvalidRequestError, NotFoundError, TaskStateError
from tasks_app.events import SafetyCheckData, TaskStatusData, control_group, publish
from tasks_app.models import ApiKey, Organization, Script, Task
from tasks_app.selectors.credentials import missing_credentials, profile_exists
from tasks_app.selectors.tasks import count_active_runs, deferred_task_ids
from tasks_app.services.credentials import validate_name
from tasks_app.services.dispatch import dispatch_run
from tasks_app.services.events import record_event
from tasks_app.services.webhooks import schedule_webhook

S = Task.Status
# Allowed transitions: from-status -> the statuses it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.QUEUED, S.CANCELED}),
    S.QUEUED: frozenset({S.RUNNING, S.CANCELED}),
    S.RUNNING: frozenset(
        {S.PAUSED, S.AWAITING_APPROVAL, S.AWAITING_INPUT, S.COMPLETED, S.FAILED, S.TERMINATED, S.TIMED_OUT, S.QUEUED}
    ),
    S.PAUSED: frozenset({S.RUNNING, S.TERMINATED, S.FAILED, S.TIMED_OUT, S.QUEUED}),
    S.AWAITING_APPROVAL: frozenset({S.RUNNING, S.TERMINATED, S.FAILED, S.TIMED_OUT, S.QUEUED}),
    S.AWAITING_INPUT: frozenset({S.RUNNING, S.TERMINATED, S.FAILED, S.TIMED_OUT, S.QUEUED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.TERMINATED: frozenset(),
    S.CANCELED: frozenset(),
    S.TIMED_OUT: frozenset(),
}

MAX_PAYLOAD_BYTES = 64 * 1024


def sources_of(target: str) -> frozenset[str]:
    return frozenset(src for src, targets in TRANSITIONS.items() if target in targets)


def _transition(
    task: Task,
    *,
    to: str,
    verb: str,
    fields: dict[str, Any] | None = None,
    event_data: dict[str, Any] | None = None,
    only_from: frozenset[str] | None = None,
) -> Task:
    """Move `task` to `to` if its current status allows it (and is in `only_from`, when given);
    raise TaskStateError otherwise."""
    fields = dict(fields or {})
    if to in Task.FINAL_STATUSES:
        fields.setdefault("finished_at", timezone.now())
    with transaction.atomic():
        allowed = sources_of(to) if only_from is None else sources_of(to) & only_from
        updated = Task.objects.filter(pk=task.pk, status__in=allowed).update(status=to, **fields)
        if not updated:
            current = Task.objects.filter(pk=task.pk).values_list("status", flat=True).first()
            if current is None:
                raise NotFoundError("task not found")
            raise TaskStateError(
                f"cannot {verb} a task that is {current.replace('_', ' ')}",
                extra={"task_id": str(task.pk), "status": current, "wanted": to},
            )
        task.refresh_from_db()
        data = {"status": task.status, "failure_reason": task.failure_reason, **(event_data or {})}
        record_event(task_id=task.pk, type="task.status", data=cast(TaskStatusData, data))
        # Wake the running agent at once; it re-reads the row (the source of truth) when woken.
        transaction.on_commit(lambda: publish(control_group(task.pk), "control.wake", {"status": to}))
        if to in Task.FINAL_STATUSES:
            transaction.on_commit(lambda: _final_status_reached(task.pk))
    return task


def _final_status_reached(task_id: Any) -> None:
    schedule_webhook(task_id=task_id)
    dispatch_deferred(task_id=task_id)


def dispatch_deferred(*, task_id: Any) -> list[Any]:
    """A run of the task's organization ended: dispatch its oldest deferred tasks, as many as there are
    free slots. Dispatching twice is harmless (claiming is idempotent); returns the ids dispatched."""
    org_id = Task.objects.filter(pk=task_id).values_list("organization_id", flat=True).first()
    if org_id is None:
        return []
    with transaction.atomic():
        # Waits for a claim that is deferring a task right now (it holds this lock), so that task is seen.
        Organization.objects.select_for_update().filter(pk=org_id).values_list("pk", flat=True).first()
        waiting = deferred_task_ids(organization_id=org_id)
    for waiting_id in waiting:
        dispatch_run(waiting_id)
    return waiting


# ---- creation -------------------------------------------------------------------------------


def validate_task_request(*, organization: Organization, request: dict[str, Any]) -> dict[str, Any]:
    """Check a task request and return it normalised. Raises InvalidRequestError naming the field."""
    from tasks_app.schemas import check_extraction_schema
    from tasks_app.validation import check_http_url, check_model

    request["url"] = check_http_url(str(request.get("url") or ""), field="url")
    check_task_url(request["url"])  # a 400 naming the rule: "url is blocked by the egress policy: ..."
    if not (request.get("navigation_goal") or request.get("data_extraction_goal")):
        raise InvalidRequestError(
            "give a navigation_goal, a data_extraction_goal or both", field="navigation_goal"
        )
    schema = request.get("extracted_information_schema")
    if schema is not None:
        check_extraction_schema(schema)  # valid, bounded, and no regex that backtracks catastrophically
    payload = request.get("navigation_payload")
    if payload is not None and len(json.dumps(payload)) > MAX_PAYLOAD_BYTES:
        raise InvalidRequestError(
            f"navigation_payload is larger than {MAX_PAYLOAD_BYTES // 1024} KiB", field="navigation_payload"
        )
    mapping = request.get("error_code_mapping")
    if mapping is not None and (
        not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
    ):
        raise InvalidRequestError(
            "error_code_mapping must map error codes to descriptions (strings)", field="error_code_mapping"
        )
    engine = request.get("engine") or Task.Engine.DOM
    if engine not in Task.Engine.values:
        raise InvalidRequestError(f"engine must be one of {', '.join(Task.Engine.values)}", field="engine")
    request["engine"] = engine
    max_steps = request.get("max_steps")
    if max_steps is None:
        max_steps = min(settings.LOOKOUT_DEFAULT_MAX_STEPS, organization.max_steps_per_run)
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise InvalidRequestError("max_steps must be a positive integer", field="max_steps")
    if max_steps > organization.max_steps_per_run:
        raise InvalidRequestError(
            f"max_steps is limited to {organization.max_steps_per_run} in this organization", field="max_steps"
        )
    request["max_steps"] = max_steps
    webhook = str(request.get("webhook_callback_url") or "").strip()
    if webhook:
        webhook = check_http_url(webhook, field="webhook_callback_url")
        check_task_url(webhook, field="webhook_callback_url", purpose="fetch")
    request["webhook_callback_url"] = webhook
    if "model" in request:
        request["model"] = check_model(request.get("model"))
    _validate_secrets(organization=organization, request=request)
    return request


def _validate_secrets(*, organization: Organization, request: dict[str, Any]) -> None:
    """credentials (names of the organization's credentials), secret_payload_keys (top-level keys of a
    payload object, with real values) and profile / save_profile."""
    names = request.get("credentials") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidRequestError("credentials must be a list of credential names", field="credentials")
    names = list(dict.fromkeys(n.strip() for n in names))
    missing = missing_credentials(organization=organization, names=names)
    if missing:
        raise InvalidRequestError(f"no credential named {', '.join(map(repr, missing))} in this organization", field="credentials")
    request["credentials"] = names
    keys = request.get("secret_payload_keys") or []
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise InvalidRequestError("secret_payload_keys must be a list of navigation_payload keys", field="secret_payload_keys")
    keys = list(dict.fromkeys(keys))
    payload = request.get("navigation_payload")
    if keys and not isinstance(payload, dict):
        raise InvalidRequestError("secret_payload_keys needs a navigation_payload object", field="secret_payload_keys")
    for key in keys:
        if not SECRET_KEY.fullmatch(key):
            raise InvalidRequestError(f"{key!r} cannot be a secret payload key (no braces or spaces)", field="secret_payload_keys")
        if key not in payload:  # type: ignore[operator]  # a dict, checked above
            raise InvalidRequestError(f"{key!r} is not a key of navigation_payload", field="secret_payload_keys")
        if payload[key] == Task.SECRET_SHOWN:  # type: ignore[index]
            raise InvalidRequestError(
                f"type the secret value of {key!r} again: secret values are never shown, so {Task.SECRET_SHOWN} is not one",
                field="navigation_payload",
            )
    request["secret_payload_keys"] = keys
    profile = str(request.get("profile") or "").strip()
    save = bool(request.get("save_profile"))
    if save and not profile:
        raise InvalidRequestError("save_profile needs a profile name", field="profile")
    if profile:
        profile = validate_name(profile, field="profile", what="profile")
        if not save and not profile_exists(organization=organization, name=profile):
            raise InvalidRequestError(
                f"no browser profile named {profile!r}; a task with save_profile creates it", field="profile"
            )
    request["profile"], request["save_profile"] = profile, save


def _split_secret_payload(request: dict[str, Any]) -> dict[str, Any]:
    """Take the secret payload values out of the request: they are stored encrypted (`secret_payload`)
    and the stored navigation_payload shows Task.SECRET_SHOWN in their place."""
    keys = request.get("secret_payload_keys") or []
    payload = request.get("navigation_payload")
    if not keys or not isinstance(payload, dict):
        return request
    request["secret_payload"] = encrypt_json({key: payload[key] for key in keys})
    request["navigation_payload"] = {k: Task.SECRET_SHOWN if k in keys else v for k, v in payload.items()}
    return request


REQUEST_FIELDS = (
    "url",
    "title",
    "navigation_goal",
    "data_extraction_goal",
    "navigation_payload",
    "extracted_information_schema",
    "error_code_mapping",
    "webhook_callback_url",
    "engine",
    "model",
    "max_steps",
    "credentials",
    "secret_payload_keys",
    "profile",
    "save_profile",
)
SECRET_KEY = re.compile(PAYLOAD_KEY_PATTERN)


def create_task(
    *,
    organization: Organization,
    created_by: Actor = None,
    start: bool = True,
    dispatch: bool = True,
    retry_of: Task | None = None,
    run_with: str = Task.RunWith.AGENT,
    script: Script | None = None,
    **request: Any,
) -> Task:
    """Validate and store a task; with start=True it is queued and (with dispatch=True) handed to the
    runner after commit. `dispatch=False` is for callers that execute the task themselves (run_task).
    `run_with="script"` replays `script` (a version of this organization's, dom engine only; see
    services.scripts.replay_task, which finds the version and the request to replay)."""
    unknown = set(request) - set(REQUEST_FIELDS)
    if unknown:
        raise InvalidRequestError(f"unknown task fields: {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    if created_by is not None:
        ensure_can_control(organization=organization, actor=created_by)
    request = _split_secret_payload(validate_task_request(organization=organization, request=dict(request)))
    _check_run_with(organization=organization, run_with=run_with, script=script, engine=request["engine"])
    user = created_by if isinstance(created_by, User) else None
    if isinstance(created_by, ApiKey):
        user = created_by.created_by
    with transaction.atomic():
        task = Task.objects.create(
            organization=organization,
            created_by=user,
            retry_of=retry_of,
            run_with=run_with,
            script=script if run_with == Task.RunWith.SCRIPT else None,
            **{k: v for k, v in request.items() if v is not None},
        )
        record_event(task_id=task.pk, type="task.status", data={"status": task.status, "failure_reason": ""})
        if start:
            enqueue_task(task=task, dispatch=dispatch)
    return task


def _check_run_with(*, organization: Organization, run_with: str, script: Script | None, engine: str) -> None:
    if run_with not in Task.RunWith.values:
        raise InvalidRequestError(f"run_with must be one of {', '.join(Task.RunWith.values)}", field="run_with")
    if run_with != Task.RunWith.SCRIPT:
        return
    if script is None:
        raise InvalidRequestError("run_with script needs a script to replay", field="run_with")
    if script.organization_id != organization.pk:
        raise NotFoundError("script not found")
    if engine != Task.Engine.DOM:
        raise InvalidRequestError(
            "a script replays on the dom engine only (the cua engine records no script)", field="engine"
        )


def enqueue_task(*, task: Task, dispatch: bool = True) -> Task:
    """created -> queued, then hand the task to the configured runner once the transaction commits."""
    task = _transition(
        task, to=S.QUEUED, verb="queue", fields={"queued_at": timezone.now()}, only_from=frozenset({S.CREATED})
    )
    task_id = task.pk
    if dispatch:
        transaction.on_commit(lambda: dispatch_run(task_id))
    return task


def claim_task(*, task_id: Any, worker: str) -> Task | None:
    """queued -> running for exactly one worker. Returns None if someone else has it, it was canceled, or
    its organization already runs as many tasks as its limit allows: then the task stays queued, marked
    deferred, and the next run of the organization to end dispatches it again (see `dispatch_deferred`).

    The organization row is locked while counting, so two workers cannot both take the last slot."""
    now = timezone.now()
    with transaction.atomic():
        org_id = Task.objects.filter(pk=task_id, status=S.QUEUED).values_list("organization_id", flat=True).first()
        if org_id is None:
            return None
        limit = Organization.objects.select_for_update().filter(pk=org_id).values_list("max_concurrent_runs", flat=True).get()
        if count_active_runs(organization_id=org_id) >= limit:
            Task.objects.filter(pk=task_id, status=S.QUEUED, deferred_at__isnull=True).update(deferred_at=now)
            return None
        claimed = Task.objects.filter(pk=task_id, status=S.QUEUED).update(
            status=S.RUNNING, started_at=now, heartbeat_at=now, worker=worker, deferred_at=None
        )
        if not claimed:
            return None
        task = Task.objects.select_related("organization").get(pk=task_id)
        record_event(task_id=task_id, type="task.status", data={"status": task.status, "failure_reason": ""})
    return task


# ---- operator controls --------------------------------------------------------------------


def pause_task(*, task: Task, by: Actor) -> Task:
    """running -> paused. The run stops at its next checkpoint; the browser stays open."""
    ensure_can_control(organization=task.organization, actor=by)
    return _transition(task, to=S.PAUSED, verb="pause", event_data={"by": actor_label(by)})


def _refuse_while_controlled(task: Task, verb: str) -> None:
    holder = Task.objects.filter(pk=task.pk).values_list("control_holder_label", flat=True).first()
    if holder:
        raise TaskStateError(f"cannot {verb} while {holder} has control; release control instead", extra={"holder": holder})


def resume_task(*, task: Task, by: Actor) -> Task:
    """paused -> running, from the page as it is (not while a person holds control: releasing resumes)."""
    ensure_can_control(organization=task.organization, actor=by)
    _refuse_while_controlled(task, "resume")
    return _transition(
        task, to=S.RUNNING, verb="resume", event_data={"by": actor_label(by)}, only_from=frozenset({S.PAUSED})
    )


def retry_step(*, task: Task, by: Actor) -> Task:
    """On a paused run: drop the current plan, resume, and ask the model again from the current page."""
    ensure_can_control(organization=task.organization, actor=by)
    _refuse_while_controlled(task, "retry the step")
    if task.status != S.PAUSED:
        current = Task.objects.filter(pk=task.pk).values_list("status", flat=True).first()
        if current != S.PAUSED:
            raise TaskStateError(f"retry step needs a paused run; this one is {str(current).replace('_', ' ')}")
    return _transition(
        task,
        to=S.RUNNING,
        verb="retry the step of",
        fields={"retry_step_requested": True},
        event_data={"by": actor_label(by), "retry_step": True},
    )


def terminate_task(*, task: Task, by: Actor, reason: str = "") -> Task:
    """Stop a running, paused or waiting run as soon as possible. Final artifacts are kept."""
    ensure_can_control(organization=task.organization, actor=by)
    reason = reason or f"terminated by {actor_label(by)}"
    return _transition(
        task,
        to=S.TERMINATED,
        verb="terminate",
        fields={"failure_reason": reason, "stop_cause": Task.StopCause.OPERATOR},
    )


def cancel_task(*, task: Task, by: Actor) -> Task:
    """created/queued -> canceled: the task never runs (a worker that receives it later leaves it alone)."""
    ensure_can_control(organization=task.organization, actor=by)
    return _transition(
        task, to=S.CANCELED, verb="cancel", fields={"failure_reason": f"canceled by {actor_label(by)}"}
    )


def retry_task(*, task: Task, by: Actor) -> Task:
    """A new task with the same request, linked by retry_of. Only for finished tasks."""
    ensure_can_control(organization=task.organization, actor=by)
    task.refresh_from_db(fields=["status"])
    if not task.is_final:
        raise TaskStateError(f"only a finished task can be retried; this one is {task.status.replace('_', ' ')}")
    if task.is_replay and task.script_id is None:
        raise TaskStateError("the script this run replayed no longer exists; replay a newer version instead")
    return create_task(
        organization=task.organization, created_by=by, retry_of=task, run_with=task.run_with, script=task.script,
        **request_of(task),
    )


def request_of(task: Task) -> dict[str, Any]:
    """The task's request as create_task takes it, with the real values of its secret payload keys and
    max_steps within the organization's current limit: to run it again (retry, replay)."""
    request = {field: getattr(task, field) for field in REQUEST_FIELDS}
    request["max_steps"] = min(request["max_steps"], task.organization.max_steps_per_run)
    if task.secret_payload and isinstance(task.navigation_payload, dict):
        request["navigation_payload"] = {**task.navigation_payload, **(decrypt_json(task.secret_payload) or {})}
    return request


def request_approval(*, task: Task, checks: list[SafetyCheckData]) -> Task:
    """Worker side: running -> awaiting_approval with the model's pending safety checks."""
    with transaction.atomic():
        task = _transition(
            task, to=S.AWAITING_APPROVAL, verb="ask approval for", fields={"pending_safety_checks": checks}
        )
        record_event(task_id=task.pk, type="approval.pending", data={"checks": checks})
    return task


def approve_safety_checks(*, task: Task, by: Actor) -> Task:
    """awaiting_approval -> running; the worker runs the held action and acknowledges the checks."""
    ensure_can_control(organization=task.organization, actor=by)
    with transaction.atomic():
        checks = Task.objects.filter(pk=task.pk).values_list("pending_safety_checks", flat=True).first()
        task = _transition(
            task,
            to=S.RUNNING,
            verb="approve safety checks of",
            fields={"pending_safety_checks": []},
            only_from=frozenset({S.AWAITING_APPROVAL}),
        )
        record_event(
            task_id=task.pk,
            type="approval.resolved",
            data={"approved": True, "checks": checks or [], "by": actor_label(by)},
        )
    return task


def deny_safety_checks(*, task: Task, by: Actor) -> Task:
    """awaiting_approval -> terminated, naming the denied checks in the failure reason."""
    ensure_can_control(organization=task.organization, actor=by)
    with transaction.atomic():
        checks = Task.objects.filter(pk=task.pk).values_list("pending_safety_checks", flat=True).first() or []
        named = "; ".join(f"{c.get('code')}: {c.get('message')}" for c in checks) or "no checks recorded"
        task = _transition(
            task,
            to=S.TERMINATED,
            verb="deny safety checks of",
            only_from=frozenset({S.AWAITING_APPROVAL}),
            fields={
                "pending_safety_checks": [],
                "failure_reason": f"safety checks denied by {actor_label(by)} ({named})",
                "stop_cause": Task.StopCause.SAFETY_CHECK_DENIED,
            },
        )
        record_event(
            task_id=task.pk, type="approval.resolved", data={"approved": False, "checks": checks, "by": actor_label(by)}
        )
    return task


def time_out_task(*, task_id: Any) -> Task | None:
    """The run exceeded its time limit: running/paused/waiting -> timed_out. No-op if already final."""
    task = Task.objects.filter(pk=task_id).first()
    if task is None or task.is_final:
        return task
    try:
        return _transition(task, to=S.TIMED_OUT, verb="time out", fields={"failure_reason": "the run exceeded its time limit"})
    except TaskStateError:
        return task


def requeue_task(*, task: Task, reason: str) -> Task:
    """System side: an active run whose worker was lost goes back to the queue, once (see the sweeper);
    it is dispatched again after commit."""
    task = _transition(
        task,
        to=S.QUEUED,
        verb="requeue",
        fields={"requeue_count": F("requeue_count") + 1, "worker": "", "heartbeat_at": None, "queued_at": timezone.now()},
        event_data={"requeued": True, "reason": reason},
        only_from=Task.ACTIVE_STATUSES,
    )
    task_id = task.pk
    transaction.on_commit(lambda: dispatch_run(task_id))
    return task


def fail_task(*, task: Task, reason: str) -> Task:
    """System side: an active run ends failed with `reason` (e.g. its worker was lost)."""
    return _transition(
        task, to=S.FAILED, verb="fail", fields={"failure_reason": reason, "heartbeat_at": None}, only_from=Task.ACTIVE_STATUSES
    )


# ---- the end of a run -----------------------------------------------------------------------


def finish_task(
    *,
    task: Task,
    status: str,
    failure_reason: str = "",
    extracted_information: Any = None,
    errors: list[dict[str, Any]] | None = None,
) -> Task:
    """Record a run's outcome. If an operator already ended it (terminated), keep that status and
    reason but still store what the run produced. Safe to call twice."""
    if status not in Task.FINAL_STATUSES:
        raise ValueError(f"{status} is not a final status")
    outcome = {"extracted_information": extracted_information, "errors": errors or [], "heartbeat_at": None}
    task.refresh_from_db()
    if task.is_final:
        Task.objects.filter(pk=task.pk).update(
            extracted_information=extracted_information if extracted_information is not None else task.extracted_information,
            errors=errors or task.errors,
        )
        task.refresh_from_db()
        return task
    try:
        return _transition(task, to=status, verb=f"mark {status}", fields={"failure_reason": failure_reason, **outcome})
    except TaskStateError:
        # Lost a race with an operator (terminate/cancel) between refresh and update: keep theirs.
        task.refresh_from_db()
        return task
