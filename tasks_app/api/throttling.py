"""Request rate limits per API key and per dashboard user, counted in Django's cache (Redis in production)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from tasks_app.models import ApiKey


class ApiRateThrottle(SimpleRateThrottle):
    """settings.LOOKOUT_API_RATE (e.g. "120/min") per API key, or per user for session callers.
    Unauthenticated requests are refused before throttling, so they are not counted here."""

    scope = "api"
    cache_format = "lookout:throttle:%(scope)s:%(ident)s"

    def get_rate(self) -> str | None:
        # Read at request time (DRF's THROTTLE_RATES is frozen at import), so settings overrides apply.
        return settings.LOOKOUT_API_RATE or None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}
