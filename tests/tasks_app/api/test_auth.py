"""Who may call the API: keys (revoked or unknown -> 401), sessions (CSRF, organization choice), and
organization scoping: another organization's ids are 404 on every endpoint."""

from __future__ import annotations

import pytest
from django.test import Client

from tasks_app import services
from tasks_app.models import Membership, Task
from tests.factories import MembershipFactory, OrganizationFactory, TaskFactory
from tests.tasks_app.api.conftest import key_client, post, task_with_run

pytestmark = pytest.mark.django_db


def test_no_credentials_is_401(client):
    response = client.get("/api/v1/tasks/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert "x-api-key" in response["WWW-Authenticate"]


def test_revoked_and_unknown_keys_are_401(make_key, org):
    key, raw = make_key()
    assert key_client(raw).get("/api/v1/tasks/").status_code == 200
    services.revoke_api_key(api_key=key)
    for attempt in (raw, "lk_" + "x" * 43, "", "Bearer something"):
        response = key_client(attempt).get("/api/v1/tasks/")
        assert response.status_code == 401, attempt
        assert response.json() == {"code": "not_authenticated", "message": "invalid or revoked API key", "extra": {}}


def test_a_bad_key_is_401_even_with_a_session(make_key, operator):
    client = Client(HTTP_X_API_KEY="lk_unknown")
    client.force_login(operator)
    assert client.get("/api/v1/tasks/").status_code == 401


def test_session_reads_and_writes_with_csrf(operator, org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    task = TaskFactory(organization=org, status=Task.Status.RUNNING)
    assert client.get("/api/v1/tasks/").json()["results"][0]["id"] == str(task.pk)
    refused = post(client, f"/api/v1/tasks/{task.pk}/pause/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied" and "CSRF" in refused.json()["message"]
    client.get("/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = post(client, f"/api/v1/tasks/{task.pk}/pause/", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["status"] == "paused"
    created = post(client, "/api/v1/tasks/", {"url": "https://example.test/", "navigation_goal": "x"},
                   HTTP_X_CSRFTOKEN=token).json()
    assert created["created_by"] == operator.username


def test_session_picks_the_organization(operator, org):
    second = OrganizationFactory(slug="second")
    MembershipFactory(user=operator, organization=second, role=Membership.Role.VIEWER)
    mine, theirs = TaskFactory(organization=org), TaskFactory(organization=second)
    client = Client()
    client.force_login(operator)

    def ids(**extra: str) -> list[str]:
        return [t["id"] for t in client.get("/api/v1/tasks/", **extra).json()["results"]]

    assert ids() == [str(mine.pk)]  # first organization
    assert client.get("/api/v1/tasks/?org=second").json()["results"][0]["id"] == str(theirs.pk)
    assert ids(HTTP_X_LOOKOUT_ORG="second") == [str(theirs.pk)]
    # the role follows the organization: a viewer in `second`
    running = TaskFactory(organization=second, status=Task.Status.RUNNING)
    assert post(client, f"/api/v1/tasks/{running.pk}/pause/?org=second").status_code == 403
    # an organization the user is not in looks like one that does not exist
    OrganizationFactory(slug="elsewhere")
    response = client.get("/api/v1/tasks/?org=elsewhere")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_user_without_organization_is_403(db):
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory())
    response = client.get("/api/v1/tasks/")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def _endpoints(task: Task) -> list[tuple[str, str]]:
    artifact = task.artifacts.first()
    base = f"/api/v1/tasks/{task.pk}"
    return [
        ("get", f"{base}/"),
        ("get", f"{base}/steps/"),
        ("get", f"{base}/actions/"),
        ("get", f"{base}/artifacts/"),
        ("get", f"{base}/artifacts/{artifact.pk}/content"),
        ("get", f"{base}/events/"),
        *[("post", f"{base}/{action}/") for action in
          ("pause", "resume", "terminate", "cancel", "retry", "retry-step", "approve", "deny")],
        ("get", f"/v1/runs/{task.pk}"),
        ("post", f"/v1/runs/{task.pk}/cancel"),
        ("get", f"/v1/runs/{task.pk}/artifacts"),
    ]


def test_other_organizations_ids_are_404_everywhere(outsider_api, org):
    task = task_with_run(org, status=Task.Status.RUNNING)
    for method, path in _endpoints(task):
        response = post(outsider_api, path) if method == "post" else outsider_api.get(path)
        assert response.status_code == 404, (method, path, response.content)
        assert response.json()["code"] == "not_found", path
    assert outsider_api.get("/api/v1/tasks/").json()["results"] == []
    assert outsider_api.get("/v1/runs").json() == []
    task.refresh_from_db()
    assert task.status == Task.Status.RUNNING and task.retries.count() == 0


def test_session_users_of_other_organizations_get_404_too(outsider, org):
    task = task_with_run(org, status=Task.Status.RUNNING)
    client = Client()
    client.force_login(outsider)
    for method, path in _endpoints(task):
        if method == "get":
            assert client.get(path).status_code == 404, path


def test_other_organizations_keys_are_404(admin_api, other_org):
    key, _ = services.create_api_key(organization=other_org, name="theirs")
    response = post(admin_api, f"/api/v1/keys/{key.pk}/revoke/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    key.refresh_from_db()
    assert key.is_active
