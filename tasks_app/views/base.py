"""Resolving the organization a page works in: the session's choice among the user's organizations."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from tasks_app.access import organizations_for
from tasks_app.models import Organization

SESSION_KEY = "lookout_org_id"


def current_organization(request: HttpRequest) -> Organization | None:
    cached = getattr(request, "_lookout_org", None)
    if cached is not None:
        return cached
    orgs = organizations_for(user=request.user)
    wanted = request.session.get(SESSION_KEY)
    org = (orgs.filter(pk=wanted).first() if wanted else None) or orgs.order_by("id").first()
    request._lookout_org = org  # type: ignore[attr-defined]
    return org


@login_required
@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("organization") or ""
    org = organizations_for(user=request.user).filter(pk=wanted).first() if wanted.isdigit() else None
    if org is not None:
        request.session[SESSION_KEY] = org.pk
    nxt = request.POST.get("next") or "/"
    return HttpResponseRedirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else "/")
