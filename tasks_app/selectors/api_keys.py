"""Read-only queries for an organization's API keys."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from tasks_app.errors import NotFoundError
from tasks_app.models import ApiKey, Organization


def list_api_keys(*, organization: Organization) -> QuerySet[ApiKey]:
    return organization.api_keys.select_related("created_by").order_by("-created_at", "-id")


def get_api_key(*, organization: Organization, key_id: Any) -> ApiKey:
    key = organization.api_keys.select_related("created_by").filter(pk=key_id).first()
    if key is None:
        raise NotFoundError("API key not found")
    return key
