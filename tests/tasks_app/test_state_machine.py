"""Every transition of the task state machine, legal and illegal, through the services."""

import pytest
from django.utils import timezone

from tasks_app import services
from tasks_app.errors import NotFoundError, PermissionDeniedError, TaskStateError
from tasks_app.models import Task, TaskEvent
from tasks_app.services.tasks import TRANSITIONS, requeue_task
from tests.factories import TaskFactory
from tests.tasks_app.running import assert_events_typed

S = Task.Status
ALL = list(S.values)


def _do(target, task, actor):
    """Reach `target` with the service an operator or worker would use."""
    if target == S.QUEUED:
        if task.status == S.CREATED:
            return services.enqueue_task(task=task)
        return requeue_task(task=task, reason="worker lost")  # the sweeper's requeue of a lost run
    if target == S.RUNNING:
        if task.status == S.QUEUED:
            claimed = services.claim_task(task_id=task.pk, worker="w1")
            if claimed is None:
                raise TaskStateError("not claimed")
            return claimed
        if task.status == S.AWAITING_APPROVAL:
            return services.approve_safety_checks(task=task, by=actor)
        if task.status == S.AWAITING_INPUT:
            return services.answer_question(task=task, by=actor, answer="pro")
        return services.resume_task(task=task, by=actor)
    if target == S.PAUSED:
        return services.pause_task(task=task, by=actor)
    if target == S.AWAITING_INPUT:
        return services.request_input(task=task, question="Which plan?")
    if target == S.AWAITING_APPROVAL:
        return services.request_approval(task=task, checks=[{"id": "c1", "code": "malicious_instructions", "message": "m"}])
    if target == S.TERMINATED:
        return services.terminate_task(task=task, by=actor)
    if target == S.CANCELED:
        return services.cancel_task(task=task, by=actor)
    if target in (S.COMPLETED, S.FAILED, S.TIMED_OUT):
        before = task.status
        result = services.finish_task(task=task, status=target)
        if before in Task.FINAL_STATUSES or result.status != target:
            raise TaskStateError(f"{before} stays {result.status}")
        return result
    if target == S.CREATED:
        raise TaskStateError("nothing goes back to created")
    raise AssertionError(target)


@pytest.mark.django_db
@pytest.mark.parametrize("source", ALL)
@pytest.mark.parametrize("target", ALL)
def test_every_transition(source, target, org, operator):
    task = TaskFactory(organization=org, status=source)
    legal = target in TRANSITIONS[source]
    # a claim needs "queued"; queued->running goes through claim_task, which is the worker's path
    if legal:
        result = _do(target, task, operator)
        assert Task.objects.get(pk=task.pk).status == target
        assert result.status == target
        last = TaskEvent.objects.filter(task=task, type="task.status").order_by("-seq").first()
        assert last.data["status"] == target
        if target in Task.FINAL_STATUSES:
            assert Task.objects.get(pk=task.pk).finished_at is not None
    else:
        # (finishing an already-finished run is not an error: it keeps the first outcome, checked below)
        with pytest.raises(TaskStateError):
            _do(target, task, operator)
        assert Task.objects.get(pk=task.pk).status == source


@pytest.mark.django_db
def test_illegal_transition_message_names_the_state(org, operator):
    task = TaskFactory(organization=org, status=S.COMPLETED)
    with pytest.raises(TaskStateError) as err:
        services.pause_task(task=task, by=operator)
    assert "cannot pause a task that is completed" in str(err.value)
    assert err.value.extra["status"] == "completed"


@pytest.mark.django_db
def test_viewer_cannot_control_and_outsider_sees_nothing(org, viewer, outsider):
    task = TaskFactory(organization=org, status=S.RUNNING)
    with pytest.raises(PermissionDeniedError):
        services.pause_task(task=task, by=viewer)
    with pytest.raises(NotFoundError):
        services.pause_task(task=task, by=outsider)
    assert Task.objects.get(pk=task.pk).status == S.RUNNING


@pytest.mark.django_db
def test_claim_is_exclusive_and_skips_canceled(org, operator):
    task = TaskFactory(organization=org, status=S.QUEUED)
    assert services.claim_task(task_id=task.pk, worker="a") is not None
    assert services.claim_task(task_id=task.pk, worker="b") is None
    assert Task.objects.get(pk=task.pk).worker == "a"
    canceled = TaskFactory(organization=org, status=S.QUEUED)
    services.cancel_task(task=canceled, by=operator)
    assert services.claim_task(task_id=canceled.pk, worker="a") is None


@pytest.mark.django_db
def test_finish_after_operator_terminate_keeps_terminated(org, operator):
    task = TaskFactory(organization=org, status=S.RUNNING)
    services.terminate_task(task=task, by=operator)
    result = services.finish_task(task=task, status=S.COMPLETED, extracted_information={"a": 1})
    assert result.status == S.TERMINATED
    assert result.extracted_information == {"a": 1}
    assert "terminated by" in result.failure_reason


@pytest.mark.django_db
def test_deny_names_checks_and_approve_clears_them(org, operator):
    checks = [{"id": "sc_1", "code": "irrelevant_domain", "message": "The page is off-task"}]
    task = TaskFactory(organization=org, status=S.RUNNING)
    services.request_approval(task=task, checks=checks)
    task = services.approve_safety_checks(task=task, by=operator)
    assert task.status == S.RUNNING and task.pending_safety_checks == []
    services.request_approval(task=task, checks=checks)
    task = services.deny_safety_checks(task=task, by=operator)
    assert task.status == S.TERMINATED
    assert "irrelevant_domain: The page is off-task" in task.failure_reason
    assert task.stop_cause == Task.StopCause.SAFETY_CHECK_DENIED  # the decision is data, not a phrase
    events = list(TaskEvent.objects.filter(task=task).order_by("seq"))
    types = [e.type for e in events]
    assert types.count("approval.pending") == 2 and types.count("approval.resolved") == 2
    assert_events_typed(events)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [S.RUNNING, S.PAUSED])
def test_approvals_need_a_waiting_run(org, operator, status):
    task = TaskFactory(organization=org, status=status)
    with pytest.raises(TaskStateError):
        services.approve_safety_checks(task=task, by=operator)
    with pytest.raises(TaskStateError):
        services.deny_safety_checks(task=task, by=operator)
    with pytest.raises(TaskStateError):
        services.enqueue_task(task=task)
    assert Task.objects.get(pk=task.pk).status == status


@pytest.mark.django_db
def test_retry_step_needs_paused_and_sets_flag(org, operator):
    task = TaskFactory(organization=org, status=S.RUNNING)
    with pytest.raises(TaskStateError):
        services.retry_step(task=task, by=operator)
    services.pause_task(task=task, by=operator)
    task = services.retry_step(task=task, by=operator)
    assert task.status == S.RUNNING and task.retry_step_requested


@pytest.mark.django_db
def test_retry_creates_linked_task_only_when_finished(org, operator, django_capture_on_commit_callbacks):
    task = TaskFactory(organization=org, status=S.RUNNING, navigation_payload={"name": "Ada"}, max_steps=4)
    with pytest.raises(TaskStateError):
        services.retry_task(task=task, by=operator)
    services.finish_task(task=task, status=S.FAILED, failure_reason="x")
    from unittest import mock

    with mock.patch("tasks_app.runs.dispatch.RunDispatcher.run") as dispatch, django_capture_on_commit_callbacks(execute=True):
        new = services.retry_task(task=task, by=operator)
    assert new.retry_of_id == task.pk and new.status == S.QUEUED
    assert new.navigation_payload == {"name": "Ada"} and new.max_steps == 4
    dispatch.assert_called_once_with(new.pk)


@pytest.mark.django_db
def test_events_are_numbered_without_gaps(org, operator):
    task = TaskFactory(organization=org, status=S.CREATED)
    services.enqueue_task(task=task)
    services.claim_task(task_id=task.pk, worker="w")
    services.pause_task(task=task, by=operator)
    services.resume_task(task=task, by=operator)
    seqs = list(TaskEvent.objects.filter(task=task).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 4
    assert Task.objects.get(pk=task.pk).last_event_seq == 4


@pytest.mark.django_db
def test_heartbeat_cleared_on_finish(org):
    task = TaskFactory(organization=org, status=S.RUNNING, heartbeat_at=timezone.now())
    task = services.finish_task(task=task, status=S.COMPLETED)
    assert task.heartbeat_at is None
