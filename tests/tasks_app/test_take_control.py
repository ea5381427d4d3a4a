"""Take control and ask a person, through the services and the API: one holder at a time (an admin takes
over), release resumes or answers "handled it myself", questions are answered once or time out."""

from __future__ import annotations

import pytest

from tasks_app import services
from tasks_app.errors import InvalidRequestError, PermissionDeniedError, TaskStateError
from tasks_app.models import Task, TaskEvent
from tasks_app.services.control import expire_input_request, record_control_actions, take_input_reply
from tasks_app.services.webhooks import webhook_payload
from tests.factories import MembershipFactory, TaskFactory
from tests.tasks_app.running import assert_events_typed

S = Task.Status
pytestmark = pytest.mark.django_db


def types(task):
    return list(TaskEvent.objects.filter(task=task).order_by("seq").values_list("type", flat=True))


def test_take_control_pauses_a_running_task_and_one_operator_holds_it(org, operator, org_admin):
    task = TaskFactory(organization=org, status=S.RUNNING)
    task = services.take_control(task=task, by=operator)
    assert task.status == S.PAUSED and task.control_holder == operator
    assert task.control_holder_label == operator.username
    assert services.take_control(task=task, by=operator).control_holder == operator  # idempotent
    second = MembershipFactory(organization=org, role="operator").user
    with pytest.raises(TaskStateError) as err:
        services.take_control(task=task, by=second)
    assert f"{operator.username} has control" in str(err.value) and err.value.extra["holder"] == operator.username
    with pytest.raises(PermissionDeniedError):
        services.release_control(task=task, by=second)
    with pytest.raises(TaskStateError):  # resume is not how control ends
        services.resume_task(task=task, by=operator)
    # an organization admin takes it over
    task = services.take_control(task=task, by=org_admin)
    assert task.control_holder == org_admin and task.status == S.PAUSED
    task = services.release_control(task=task, by=org_admin)
    assert task.status == S.RUNNING and task.control_holder is None and task.control_holder_label == ""
    events = list(TaskEvent.objects.filter(task=task).order_by("seq"))
    assert [e.type for e in events] == [
        "task.status", "control.taken", "control.released", "control.taken", "control.released", "task.status"
    ]
    assert events[3].data == {"by": org_admin.username, "previous": operator.username}
    assert events[2].data["reason"] == "taken over"
    assert_events_typed(events)


def test_viewers_cannot_take_control_and_final_or_approval_runs_refuse(org, viewer, operator):
    with pytest.raises(PermissionDeniedError):
        services.take_control(task=TaskFactory(organization=org, status=S.RUNNING), by=viewer)
    for status in (S.AWAITING_APPROVAL, S.COMPLETED, S.QUEUED):
        with pytest.raises(TaskStateError):
            services.take_control(task=TaskFactory(organization=org, status=status), by=operator)
    with pytest.raises(TaskStateError):
        services.release_control(task=TaskFactory(organization=org, status=S.PAUSED), by=operator)


def test_a_question_is_answered_once(org, operator):
    task = TaskFactory(organization=org, status=S.RUNNING)
    task = services.request_input(task=task, question="Which plan should I pick?")
    assert task.status == S.AWAITING_INPUT and task.pending_question == "Which plan should I pick?"
    with pytest.raises(InvalidRequestError):
        services.answer_question(task=task, by=operator, answer="  ")
    task = services.answer_question(task=task, by=operator, answer="The pro plan")
    assert task.status == S.RUNNING and task.pending_question == ""
    assert take_input_reply(task_id=task.pk) == {"answer": "The pro plan", "by": operator.username, "handled": False}
    assert take_input_reply(task_id=task.pk) is None
    with pytest.raises(TaskStateError):
        services.answer_question(task=task, by=operator, answer="again")
    events = list(TaskEvent.objects.filter(task=task).order_by("seq"))
    answered = [e for e in events if e.type == "input.answered"][0]
    assert answered.data == {"question": "Which plan should I pick?", "answer": "The pro plan", "by": operator.username, "handled": False}
    assert_events_typed(events)


def test_release_while_awaiting_input_answers_handled_it_myself(org, operator):
    task = services.request_input(task=TaskFactory(organization=org, status=S.RUNNING), question="Code from SMS?")
    task = services.take_control(task=task, by=operator)
    assert task.status == S.AWAITING_INPUT  # at once: the agent already waits
    record_control_actions(task_id=task.pk, by=operator.username, actions=[("type", 'typed "123456" into the text field "Code"')])
    task = services.release_control(task=task, by=operator)
    assert task.status == S.RUNNING
    assert take_input_reply(task_id=task.pk)["handled"] is True
    assert types(task)[-4:] == ["control.action", "control.released", "task.status", "input.answered"]
    assert_events_typed(TaskEvent.objects.filter(task=task))


def test_idle_release_keeps_the_question_open(org, operator):
    task = services.request_input(task=TaskFactory(organization=org, status=S.RUNNING), question="Code?")
    services.take_control(task=task, by=operator)
    task = services.release_control(task=task, by=None, reason="idle")
    assert task.status == S.AWAITING_INPUT and task.control_holder_label == ""


def test_an_unanswered_question_fails_the_run_naming_it(org):
    task = services.request_input(task=TaskFactory(organization=org, status=S.RUNNING), question="Which plan?")
    assert expire_input_request(task_id=task.pk, timeout_s=3600) is None  # not yet
    task = expire_input_request(task_id=task.pk, timeout_s=0)
    assert task.status == S.FAILED
    assert task.failure_reason == "nobody answered the agent's question within 0 s: \"Which plan?\""


def test_webhook_payload_of_a_waiting_task_carries_the_question(org):
    task = services.request_input(task=TaskFactory(organization=org, status=S.RUNNING), question="Which plan?")
    payload = webhook_payload(task, "task.awaiting_input")
    assert payload["event"] == "task.awaiting_input" and payload["status"] == "awaiting_input"
    assert payload["question"] == "Which plan?"
