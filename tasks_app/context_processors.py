"""Template context every page gets: the current organization, the user's organizations, model config state."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def lookout(request: HttpRequest) -> dict[str, Any]:
    from tasks_app.views.base import current_organization

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"model_configured": bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)}
    from tasks_app.access import organizations_for, role_of
    from tasks_app.models import Membership

    org = current_organization(request)
    return {
        "current_org": org,
        "is_org_admin": org is not None and role_of(organization=org, actor=user) == Membership.Role.ADMIN,
        "user_orgs": list(organizations_for(user=user)),
        "model_configured": bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL),
    }
