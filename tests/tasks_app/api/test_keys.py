"""API key management is for organization admins: list, create (secret shown once), revoke."""

from __future__ import annotations

import pytest
from django.test import Client

from tasks_app.models import ApiKey, Membership
from tests.tasks_app.api.conftest import key_client, post

pytestmark = pytest.mark.django_db


def test_admin_creates_lists_and_revokes_keys(admin_api, org):
    response = post(admin_api, "/api/v1/keys/", {"name": "CI", "role": "viewer"})
    assert response.status_code == 201, response.json()
    created = response.json()
    secret = created["key"]
    assert secret.startswith("lk_") and created["prefix"] == secret[:10]
    assert created["role"] == "viewer" and created["is_active"] and created["revoked_at"] is None
    stored = ApiKey.objects.get(pk=created["id"])
    assert stored.organization == org and secret not in stored.hashed_key

    listed = admin_api.get("/api/v1/keys/").json()
    assert created["id"] in [k["id"] for k in listed]
    assert all("key" not in k and "hashed_key" not in k for k in listed)  # the secret is never shown again

    new_client = key_client(secret)
    assert new_client.get("/api/v1/tasks/").status_code == 200
    revoked = post(admin_api, f"/api/v1/keys/{created['id']}/revoke/").json()
    assert revoked["is_active"] is False and revoked["revoked_at"]
    assert new_client.get("/api/v1/tasks/").status_code == 401
    again = post(admin_api, f"/api/v1/keys/{created['id']}/revoke/").json()  # harmless
    assert again["revoked_at"] == revoked["revoked_at"]


def test_default_role_is_operator_and_bad_input_names_the_field(admin_api):
    assert post(admin_api, "/api/v1/keys/", {"name": "bot"}).json()["role"] == "operator"
    for body, field in (({"name": " "}, "name"), ({}, "name"), ({"name": "x", "role": "god"}, "role")):
        response = post(admin_api, "/api/v1/keys/", body)
        assert response.status_code == 400 and response.json()["extra"]["field"] == field, body


def test_admin_session_records_the_creator(org_admin):
    client = Client()
    client.force_login(org_admin)
    created = post(client, "/api/v1/keys/", {"name": "from the dashboard"}).json()
    assert created["created_by"] == org_admin.username


@pytest.mark.parametrize("role", [Membership.Role.OPERATOR, Membership.Role.VIEWER])
def test_operators_and_viewers_get_403(make_key, org, role):
    _, raw = make_key(role)
    client = key_client(raw)
    target, _ = make_key()
    for response in (
        client.get("/api/v1/keys/"),
        post(client, "/api/v1/keys/", {"name": "sneaky", "role": "admin"}),
        post(client, f"/api/v1/keys/{target.pk}/revoke/"),
    ):
        assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    target.refresh_from_db()
    assert target.is_active and not ApiKey.objects.filter(name="sneaky").exists()


def test_operator_session_gets_403(operator):
    client = Client()
    client.force_login(operator)
    assert client.get("/api/v1/keys/").status_code == 403
