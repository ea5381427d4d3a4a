"""Who is calling the API and for which organization: an `x-api-key` header or the dashboard session."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from tasks_app.access import Actor, organizations_for
from tasks_app.errors import NotFoundError, PermissionDeniedError
from tasks_app.models import ApiKey, Organization
from tasks_app.services import resolve_api_key
from tasks_app.views.base import current_organization

API_KEY_HEADER = "x-api-key"
ORG_HEADER = "x-lookout-org"
ORG_PARAM = "org"


class ApiKeyAuthentication(BaseAuthentication):
    """`x-api-key: lk_…` authenticates as the key: request.auth is the ApiKey (request.user stays
    anonymous; the key acts in its organization with its own role). A present but unknown or revoked
    key is a 401, even if the request also carries a session."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiKey] | None:
        raw = request.headers.get(API_KEY_HEADER)
        if raw is None:
            return None
        key = resolve_api_key(raw.strip())
        if key is None:
            raise AuthenticationFailed("invalid or revoked API key")
        return AnonymousUser(), key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return f'ApiKey realm="lookout", header="{API_KEY_HEADER}"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": API_KEY_HEADER,
            "description": "An organization API key (`lk_…`), created by an organization admin.",
        }


class IsOrgCaller(BasePermission):
    """An API key or a logged-in user; which organization they may act in is settled by `caller_of`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey) or bool(request.user and request.user.is_authenticated)


def caller_of(request: Request) -> tuple[Actor, Organization]:
    """The actor to hand the services as `by=` and the organization every query is scoped to.

    An API key acts in its own organization. A session user acts in the organization named by `?org=<slug>`
    or the `x-lookout-org` header (404 unless they belong to it), else the one chosen in the dashboard,
    else their first."""
    if isinstance(request.auth, ApiKey):
        return request.auth, request.auth.organization
    user = request.user
    slug = request.query_params.get(ORG_PARAM) or request.headers.get(ORG_HEADER)
    if slug:
        organization = organizations_for(user=user).filter(slug=slug).first()
        if organization is None:
            raise NotFoundError("organization not found", extra={"org": slug})
    else:
        organization = current_organization(request._request)
    if organization is None:
        raise PermissionDeniedError("you are not a member of any organization")
    return user, organization
