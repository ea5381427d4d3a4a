"""Read-only queries for organizations, tasks, steps, artifacts and events, always scoped to an organization."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from tasks_app.errors import NotFoundError
from tasks_app.models import Artifact, Membership, Organization, Step, Task, TaskEvent


def organizations_for(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    if getattr(user, "is_superuser", False):
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=user).distinct()


def membership_for(*, user: AbstractBaseUser | AnonymousUser, organization: Organization) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, organization=organization).first()


def list_tasks(*, organization: Organization) -> QuerySet[Task]:
    return organization.tasks.select_related("created_by")


def get_task(*, organization: Organization, task_id: Any) -> Task:
    """The task if it belongs to the organization; NotFoundError otherwise (never reveals other orgs' ids)."""
    try:
        return Task.objects.select_related("organization", "created_by", "retry_of").get(
            pk=task_id, organization=organization
        )
    except (Task.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise NotFoundError("task not found") from exc


def task_for_user(*, user: AbstractBaseUser | AnonymousUser, task_id: Any) -> Task | None:
    """The task if the user is a member of its organization (or a superuser), else None."""
    if not user.is_authenticated:
        return None
    qs = Task.objects.select_related("organization").filter(pk=task_id)
    if not getattr(user, "is_superuser", False):
        qs = qs.filter(organization__memberships__user=user)
    try:
        return qs.first()
    except (ValueError, TypeError, ValidationError):
        return None


def list_steps(*, task: Task) -> QuerySet[Step]:
    return task.steps.prefetch_related("actions")


def list_artifacts(*, task: Task) -> QuerySet[Artifact]:
    return task.artifacts.select_related("step", "action")


def events_after(*, task_id: Any, after: int = 0, until: int | None = None) -> QuerySet[TaskEvent]:
    qs = TaskEvent.objects.filter(task_id=task_id, seq__gt=after)
    if until is not None:
        qs = qs.filter(seq__lt=until)
    return qs.order_by("seq")
