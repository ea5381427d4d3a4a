"""Organizations, memberships and the first-run bootstrap of `make run`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils.text import slugify

from tasks_app.models import Membership, Organization


def create_organization(*, name: str, slug: str | None = None, admin: User | None = None) -> Organization:
    org = Organization.objects.create(name=name, slug=slug or slugify(name)[:80] or "org")
    if admin is not None:
        Membership.objects.create(user=admin, organization=org, role=Membership.Role.ADMIN)
    return org


def add_member(*, organization: Organization, user: User, role: str = Membership.Role.OPERATOR) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    return membership


@dataclass(frozen=True)
class FirstRun:
    created: bool
    username: str
    password_file: Path
    organization: Organization


@transaction.atomic
def bootstrap_first_run(*, var_dir: Path, username: str = "admin") -> FirstRun:
    """On an empty database create an organization and a superuser with a generated password,
    written to var/admin_password (mode 600). Idempotent: later calls change nothing."""
    user_model = get_user_model()
    password_file = var_dir / "admin_password"
    if user_model.objects.exists():
        org = Organization.objects.order_by("id").first() or create_organization(name="Default", slug="default")
        return FirstRun(created=False, username=username, password_file=password_file, organization=org)
    password = secrets.token_urlsafe(16)
    user = user_model.objects.create_superuser(username=username, email="", password=password)
    org = Organization.objects.order_by("id").first() or create_organization(name="Default", slug="default")
    add_member(organization=org, user=user, role=Membership.Role.ADMIN)
    var_dir.mkdir(parents=True, exist_ok=True)
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return FirstRun(created=True, username=username, password_file=password_file, organization=org)


def grant_admin_site_access(*, user: User) -> None:
    """An organization admin may use Django admin (scoped to their organizations): make them staff."""
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
