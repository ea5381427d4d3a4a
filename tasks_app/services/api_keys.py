"""API keys: generated once, stored as a SHA-256 hash, revocable, resolved to their organization."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import User
from django.utils import timezone

from tasks_app.errors import InvalidRequestError
from tasks_app.models import ApiKey, Membership, Organization

KEY_PREFIX = "lk_"


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_api_key(
    *,
    organization: Organization,
    name: str,
    created_by: User | None = None,
    role: str = Membership.Role.OPERATOR,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret. The secret is not stored and cannot be shown again."""
    if not name.strip():
        raise InvalidRequestError("an API key needs a name", field="name")
    if role not in Membership.Role.values:
        raise InvalidRequestError(f"unknown role {role!r}", field="role")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        organization=organization,
        name=name.strip(),
        prefix=raw[:10],
        hashed_key=hash_key(raw),
        role=role,
        created_by=created_by,
    )
    return key, raw


def revoke_api_key(*, api_key: ApiKey) -> ApiKey:
    """Safe to call twice: an already revoked key keeps its first revocation time."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def resolve_api_key(raw_key: str) -> ApiKey | None:
    """The active key for this secret, with its organization, or None. Records when it was last used."""
    if not raw_key or not raw_key.startswith(KEY_PREFIX):
        return None
    key = (
        ApiKey.objects.select_related("organization")
        .filter(hashed_key=hash_key(raw_key), revoked_at__isnull=True)
        .first()
    )
    if key is not None:
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
    return key
