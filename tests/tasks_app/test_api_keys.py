"""API keys are shown once, stored hashed, revocable and resolve to their organization."""

import hashlib

import pytest

from tasks_app import services
from tasks_app.errors import InvalidRequestError
from tasks_app.models import ApiKey


@pytest.mark.django_db
def test_key_is_stored_only_as_a_hash(org, org_admin):
    key, raw = services.create_api_key(organization=org, name="ci", created_by=org_admin)
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw.startswith("lk_") and len(raw) > 30
    assert stored.hashed_key == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {getattr(stored, f.attname) for f in ApiKey._meta.fields if isinstance(getattr(stored, f.attname), str)}
    assert stored.prefix == raw[:10]


@pytest.mark.django_db
def test_resolve_and_revoke(org):
    key, raw = services.create_api_key(organization=org, name="ci")
    resolved = services.resolve_api_key(raw)
    assert resolved.pk == key.pk and resolved.organization == org and resolved.last_used_at is not None
    assert services.resolve_api_key(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert services.resolve_api_key("") is None and services.resolve_api_key("Bearer x") is None
    services.revoke_api_key(api_key=key)
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    services.revoke_api_key(api_key=key)
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first
    assert services.resolve_api_key(raw) is None


@pytest.mark.django_db
def test_keys_need_a_name_and_known_role(org):
    with pytest.raises(InvalidRequestError):
        services.create_api_key(organization=org, name="  ")
    with pytest.raises(InvalidRequestError):
        services.create_api_key(organization=org, name="x", role="god")
