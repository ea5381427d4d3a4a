"""Take control and ask a person: who drives the agent's browser, the agent's questions and their answers.

Like every control, each service changes the task row under its lock and wakes the running agent
(`control.wake`), which re-reads the row; viewers of the live view learn who holds control from
`live.control` on the frames group. The run is paused while a person holds control: taking control of a
running task pauses it, and releasing it resumes the run (or, when the agent was waiting on a question,
answers "handled it myself").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from tasks_app.access import Actor, actor_label, ensure_can_control, role_of
from tasks_app.errors import InvalidRequestError, NotFoundError, PermissionDeniedError, TaskStateError
from tasks_app.events import (
    ControlActionData,
    ControlReleasedData,
    ControlTakenData,
    LiveControlData,
    control_group,
    frames_group,
    publish,
)
from tasks_app.models import Membership, Task
from tasks_app.services.events import record_event
from tasks_app.services.tasks import _transition
from tasks_app.services.webhooks import schedule_webhook

S = Task.Status
# A person may hold control while the agent runs (it pauses at its next checkpoint), is paused, or waits
# for an answer. Not while a safety check waits: that is decided first.
CONTROLLABLE = frozenset({S.RUNNING, S.PAUSED, S.AWAITING_INPUT})
MAX_QUESTION = 2000
MAX_ANSWER = 4000
HANDLED = "(handled it myself)"


def _held_by(row: dict[str, Any], actor: Actor) -> bool:
    user_id = actor.pk if isinstance(actor, User) else None
    return bool(row["control_holder_label"]) and row["control_holder_id"] == user_id and (
        row["control_holder_label"] == actor_label(actor)
    )


def _locked_row(task: Task) -> dict[str, Any]:
    row = (
        Task.objects.select_for_update()
        .filter(pk=task.pk)
        .values("status", "control_holder_id", "control_holder_label", "pending_question")
        .first()
    )
    if row is None:
        raise NotFoundError("task not found")
    return dict(row)


def _announce(task_id: Any, *, holder_id: int | None, holder: str) -> None:
    """After commit: wake the agent, and tell the live view's viewers who holds control now."""
    data: LiveControlData = {"holder_id": holder_id, "holder": holder, "ready": False}
    transaction.on_commit(lambda: publish(control_group(task_id), "control.wake", {"control": holder}))
    transaction.on_commit(lambda: publish(frames_group(task_id), "live.control", dict(data)))


def take_control(*, task: Task, by: Actor) -> Task:
    """Give `by` the agent's browser: a running task is paused (it stops at its next checkpoint); a paused
    one or one waiting on a question stays as it is. Taking control you already hold changes nothing.
    When someone else holds it, only an organization admin may take it over. Raises TaskStateError."""
    ensure_can_control(organization=task.organization, actor=by)
    label = actor_label(by)
    user = by if isinstance(by, User) else None
    with transaction.atomic():
        row = _locked_row(task)
        if row["status"] not in CONTROLLABLE:
            raise TaskStateError(
                f"cannot take control of a task that is {row['status'].replace('_', ' ')}",
                extra={"task_id": str(task.pk), "status": row["status"]},
            )
        if _held_by(row, by):
            task.refresh_from_db()
            return task
        previous = row["control_holder_label"]
        if previous and role_of(organization=task.organization, actor=by) != Membership.Role.ADMIN:
            raise TaskStateError(
                f"{previous} has control of this run; an organization admin can take it over",
                extra={"task_id": str(task.pk), "holder": previous},
            )
        fields = {"control_holder": user, "control_holder_label": label, "control_taken_at": timezone.now()}
        if previous:
            released: ControlReleasedData = {"by": previous, "reason": "taken over"}
            record_event(task_id=task.pk, type="control.released", data=released)
        if row["status"] == S.RUNNING:
            task = _transition(
                task, to=S.PAUSED, verb="take control of", fields=fields, event_data={"by": label, "control": True},
                only_from=frozenset({S.RUNNING}),
            )
        else:
            Task.objects.filter(pk=task.pk).update(**fields)
            task.refresh_from_db()
        taken: ControlTakenData = {"by": label, "previous": previous} if previous else {"by": label}
        record_event(task_id=task.pk, type="control.taken", data=taken)
        _announce(task.pk, holder_id=user.pk if user else None, holder=label)
    return task


def release_control(*, task: Task, by: Actor, reason: str = "released") -> Task:
    """Hand the browser back to the agent: a paused run resumes from the page as the person left it; a run
    waiting on a question gets "handled it myself" as its answer (except when control is released for
    idleness: the question stays open). `by=None` is the system (idle release). Only the holder or an
    organization admin may release. Raises TaskStateError when nobody holds control."""
    if by is not None:
        ensure_can_control(organization=task.organization, actor=by)
    with transaction.atomic():
        row = _locked_row(task)
        holder = row["control_holder_label"]
        if not holder:
            raise TaskStateError("nobody has control of this run", extra={"task_id": str(task.pk)})
        if by is not None and not _held_by(row, by) and role_of(organization=task.organization, actor=by) != Membership.Role.ADMIN:
            raise PermissionDeniedError(f"{holder} has control of this run; only they or an organization admin can release it")
        clear: dict[str, Any] = {"control_holder": None, "control_holder_label": "", "control_taken_at": None}
        released: ControlReleasedData = {"by": holder, "reason": reason}
        record_event(task_id=task.pk, type="control.released", data=released)
        if row["status"] == S.PAUSED:
            task = _transition(
                task, to=S.RUNNING, verb="release control of", fields=clear,
                event_data={"by": actor_label(by) if by is not None else holder, "control": True},
                only_from=frozenset({S.PAUSED}),
            )
        elif row["status"] == S.AWAITING_INPUT and reason != "idle":
            task = _answer(task, question=row["pending_question"], answer=HANDLED, by=holder, handled=True, fields=clear)
        else:
            Task.objects.filter(pk=task.pk).update(**clear)
            task.refresh_from_db()
        _announce(task.pk, holder_id=None, holder="")
    return task


def request_input(*, task: Task, question: str) -> Task:
    """Worker side: running -> awaiting_input with the agent's question (a webhook says so, if the task
    has one). The run waits at most LOOKOUT_INPUT_TIMEOUT for `answer_question` or a release of control."""
    question = question.strip()[:MAX_QUESTION] or "(the agent asked without saying what)"
    with transaction.atomic():
        task = _transition(
            task,
            to=S.AWAITING_INPUT,
            verb="ask a question for",
            fields={"pending_question": question, "input_requested_at": timezone.now(), "input_reply": None},
            only_from=frozenset({S.RUNNING}),
        )
        record_event(task_id=task.pk, type="input.requested", data={"question": question})
        task_id = task.pk
        transaction.on_commit(lambda: schedule_webhook(task_id=task_id, event="task.awaiting_input"))
    return task


def answer_question(*, task: Task, by: Actor, answer: str) -> Task:
    """awaiting_input -> running; the agent gets `answer` with its next step."""
    ensure_can_control(organization=task.organization, actor=by)
    answer = (answer or "").strip()
    if not answer:
        raise InvalidRequestError("write an answer", field="answer")
    if len(answer) > MAX_ANSWER:
        raise InvalidRequestError(f"the answer is longer than {MAX_ANSWER} characters", field="answer")
    with transaction.atomic():
        row = _locked_row(task)
        if row["status"] != S.AWAITING_INPUT:
            raise TaskStateError(
                f"cannot answer a task that is {row['status'].replace('_', ' ')}",
                extra={"task_id": str(task.pk), "status": row["status"]},
            )
        return _answer(task, question=row["pending_question"], answer=answer, by=actor_label(by), handled=False)


def _answer(task: Task, *, question: str, answer: str, by: str, handled: bool, fields: dict[str, Any] | None = None) -> Task:
    reply = {"answer": "" if handled else answer, "by": by, "handled": handled}
    task = _transition(
        task,
        to=S.RUNNING,
        verb="answer",
        fields={**(fields or {}), "input_reply": reply, "pending_question": "", "input_requested_at": None},
        event_data={"by": by},
        only_from=frozenset({S.AWAITING_INPUT}),
    )
    record_event(
        task_id=task.pk, type="input.answered", data={"question": question, "answer": answer, "by": by, "handled": handled}
    )
    return task


def take_input_reply(*, task_id: Any) -> dict[str, Any] | None:
    """Worker side: the reply waiting for the agent, cleared as it is read (so it is delivered once)."""
    with transaction.atomic():
        reply = Task.objects.select_for_update().filter(pk=task_id).values_list("input_reply", flat=True).first()
        if reply is not None:
            Task.objects.filter(pk=task_id).update(input_reply=None)
    return reply


def expire_input_request(*, task_id: Any, timeout_s: float) -> Task | None:
    """Worker side: a question unanswered for `timeout_s` fails the run, naming it. No-op when it was
    answered meanwhile or is younger than that."""
    cutoff = timezone.now() - timedelta(seconds=timeout_s)
    task = Task.objects.filter(pk=task_id, status=S.AWAITING_INPUT, input_requested_at__lte=cutoff).first()
    if task is None:
        return None
    minutes = f"{timeout_s / 60:g} minutes" if timeout_s >= 60 else f"{timeout_s:g} s"
    reason = f'nobody answered the agent\'s question within {minutes}: "{task.pending_question[:300]}"'
    try:
        return _transition(
            task, to=S.FAILED, verb="time out the question of", fields={"failure_reason": reason, "heartbeat_at": None},
            only_from=frozenset({S.AWAITING_INPUT}),
        )
    except TaskStateError:
        return None


def record_control_actions(*, task_id: Any, by: str, actions: list[tuple[str, str]]) -> None:
    """What the person in control did, one timeline entry per coalesced action `(kind, text)`."""
    with transaction.atomic():
        for kind, text in actions:
            data: ControlActionData = {"kind": kind, "text": text[:500], "by": by}
            record_event(task_id=task_id, type="control.action", data=data)
