"""Who may do what: an actor's role in an organization, the organizations a user belongs to, and the
checks every face (pages, API, websockets, admin) applies before it reads or controls a task."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from tasks_app.errors import NotFoundError, PermissionDeniedError
from tasks_app.models import ApiKey, Membership, Organization, Task

# Who is acting: a dashboard/admin user, an API key, or None for the system (worker, sweeper).
Actor = User | AnonymousUser | ApiKey | None
Visitor = User | AnonymousUser

CONTROL_ROLES = frozenset({Membership.Role.ADMIN, Membership.Role.OPERATOR})


def role_of(*, organization: Organization, actor: Actor) -> str | None:
    """The actor's role in the organization; "system" for None; None when not a member."""
    if actor is None:
        return "system"
    if isinstance(actor, ApiKey):
        return actor.role if actor.organization_id == organization.pk and actor.is_active else None
    if not actor.is_authenticated:
        return None
    if actor.is_superuser:
        return Membership.Role.ADMIN
    assert isinstance(actor, User)
    return Membership.objects.filter(user=actor, organization=organization).values_list("role", flat=True).first()


def can_control(*, organization: Organization, actor: Actor) -> bool:
    return role_of(organization=organization, actor=actor) in (*CONTROL_ROLES, "system")


def ensure_can_control(*, organization: Organization, actor: Actor) -> None:
    """NotFoundError for outsiders (other organizations' ids stay unknown), PermissionDeniedError for viewers."""
    role = role_of(organization=organization, actor=actor)
    if role is None:
        raise NotFoundError("task not found")
    if role == Membership.Role.VIEWER:
        raise PermissionDeniedError("viewers cannot control runs; ask an organization admin for the operator role")


def ensure_admin(*, organization: Organization, actor: Actor) -> None:
    """Organization admins only (an admin's session or an admin-role key)."""
    if role_of(organization=organization, actor=actor) != Membership.Role.ADMIN:
        raise PermissionDeniedError("only organization admins can do this")


def actor_label(actor: Actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, ApiKey):
        return f"api key {actor.name}"
    return str(getattr(actor, "username", "") or "user")


def organizations_for(*, user: Visitor) -> QuerySet[Organization]:
    """The organizations a user may work in (all of them for a superuser)."""
    if not user.is_authenticated:
        return Organization.objects.none()
    if user.is_superuser:
        return Organization.objects.all()
    assert isinstance(user, User)
    return Organization.objects.filter(memberships__user=user).distinct()


def task_for_user(*, user: Visitor | None, task_id: Any) -> Task | None:
    """The task if the user is a member of its organization (or a superuser), else None. Used by the
    pages and by the websockets, on connect and for the life of the socket."""
    if user is None or not user.is_authenticated:
        return None
    qs = Task.objects.select_related("organization").filter(pk=task_id)
    if not user.is_superuser:
        assert isinstance(user, User)
        qs = qs.filter(organization__memberships__user=user)
    try:
        return qs.first()
    except (ValueError, TypeError, ValidationError):
        return None
