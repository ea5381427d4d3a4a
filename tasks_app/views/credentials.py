"""Dashboard pages for organization admins: the credentials and saved logins of the current organization
(list, add, change, delete). Secret values are never rendered; only whether each is set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tasks_app import services
from tasks_app.access import role_of
from tasks_app.errors import InvalidRequestError, NotFoundError
from tasks_app.forms import CredentialForm
from tasks_app.models import Membership, Organization
from tasks_app.selectors import credentials as selectors
from tasks_app.views.base import current_organization

ADMINS_ONLY = "Only organization admins manage credentials and saved logins."


def _admin_org(request: HttpRequest) -> Organization | None:
    org = current_organization(request)
    if org is None or role_of(organization=org, actor=request.user) != Membership.Role.ADMIN:
        return None
    return org


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "tasks_app/forbidden.html", {"message": ADMINS_ONLY}, status=403)


@login_required
def credential_list(request: HttpRequest) -> HttpResponse:
    org = _admin_org(request)
    if org is None:
        return _forbidden(request)
    return render(
        request,
        "tasks_app/credentials.html",
        {
            "org": org,
            "credentials": selectors.list_credentials(organization=org),
            "profiles": selectors.list_profiles(organization=org),
        },
    )


@login_required
def credential_edit(request: HttpRequest, credential_id: int | None = None) -> HttpResponse:
    org = _admin_org(request)
    if org is None:
        return _forbidden(request)
    credential = None
    if credential_id is not None:
        try:
            credential = selectors.get_credential(organization=org, credential_id=credential_id)
        except NotFoundError as exc:
            raise Http404("credential not found") from exc
    form = CredentialForm(request.POST or None, credential=credential)
    if request.method == "POST" and form.is_valid():
        try:
            if credential is None:
                saved = services.create_credential(organization=org, by=request.user, **form.changes())
            else:
                saved = services.update_credential(credential=credential, by=request.user, **form.changes())
        except InvalidRequestError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Credential {saved.name} saved.")
            return redirect("credential-list")
    status = 400 if request.method == "POST" else 200
    return render(request, "tasks_app/credential_form.html", {"org": org, "form": form, "credential": credential}, status=status)


def _delete(request: HttpRequest, *, find: Callable[[Any], Any], delete: Callable[..., None], noun: str) -> HttpResponse:
    """An organization admin deletes one of the organization's credentials or saved logins."""
    org = _admin_org(request)
    if org is None:
        return _forbidden(request)
    try:
        item = find(org)
    except NotFoundError as exc:
        raise Http404(f"{noun.lower()} not found") from exc
    delete(item, by=request.user)
    messages.success(request, f"{noun} {item.name} deleted.")
    return redirect("credential-list")


@login_required
@require_POST
def credential_delete(request: HttpRequest, credential_id: int) -> HttpResponse:
    return _delete(
        request, noun="Credential",
        find=lambda org: selectors.get_credential(organization=org, credential_id=credential_id),
        delete=lambda credential, by: services.delete_credential(credential=credential, by=by),
    )


@login_required
@require_POST
def profile_delete(request: HttpRequest, profile_id: int) -> HttpResponse:
    return _delete(
        request, noun="Saved login",
        find=lambda org: selectors.get_profile(organization=org, profile_id=profile_id),
        delete=lambda profile, by: services.delete_profile(profile=profile, by=by),
    )
