"""Credentials and saved logins through the API: organization admins only, scoped to their organization
(other organizations' ids are 404), secrets write-only; tasks name them and show no secret to anyone."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import close_old_connections

from tasks_app import services
from tasks_app.crypto import decrypt_json, decrypt_text
from tasks_app.models import BrowserProfile, Credential, Membership, Task
from tasks_app.services.credentials import rotate_encryption, save_profile_state
from tests.tasks_app.api.conftest import key_client, post

pytestmark = pytest.mark.django_db

PASSWORD, TOTP = "correct horse battery staple", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SECRETS = ("ada@acme.test", PASSWORD, TOTP)


def create(client, **fields):
    body = {"name": "acme", "username": "ada@acme.test", "password": PASSWORD, "totp_secret": TOTP,
            "sites": ["acme.test"], "notes": "the portal", **fields}
    return post(client, "/api/v1/credentials/", body)


def assert_no_secret(response):
    text = response.content.decode()
    for secret in SECRETS:
        assert secret not in text, secret


def test_admin_creates_lists_reads_changes_and_deletes_a_credential_without_ever_seeing_a_secret(admin_api, org):
    response = create(admin_api)
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created == {
        **created, "name": "acme", "has_username": True, "has_password": True, "has_totp": True,
        "sites": ["acme.test"], "notes": "the portal", "last_used_at": None,
        "placeholders": ["{{acme.username}}", "{{acme.password}}", "{{acme.totp}}"],
    }
    assert_no_secret(response)
    stored = Credential.objects.get(pk=created["id"])
    assert stored.organization == org and PASSWORD not in stored.password_encrypted  # encrypted at rest
    assert decrypt_text(stored.password_encrypted) == PASSWORD

    for response in (admin_api.get("/api/v1/credentials/"), admin_api.get(f"/api/v1/credentials/{stored.pk}/")):
        assert response.status_code == 200
        assert_no_secret(response)

    changed = admin_api.patch(f"/api/v1/credentials/{stored.pk}/", {"password": "new-pass-word", "totp_secret": ""},
                              content_type="application/json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["has_totp"] is False and changed.json()["has_password"] is True
    assert "new-pass-word" not in changed.content.decode()
    stored.refresh_from_db()
    assert decrypt_text(stored.password_encrypted) == "new-pass-word"
    assert decrypt_text(stored.username_encrypted) == "ada@acme.test"  # not given: unchanged

    assert admin_api.delete(f"/api/v1/credentials/{stored.pk}/").status_code == 204
    assert not Credential.objects.filter(pk=stored.pk).exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "acme portal"}, "name"),
        ({"name": "payload"}, "name"),
        ({"sites": []}, "sites"),
        ({"sites": ["ftp://acme.test"]}, "sites"),
        ({"totp_secret": "not base32!"}, "totp_secret"),
        ({"username": "", "password": "", "totp_secret": ""}, "password"),
        ({"secret": "x"}, "secret"),
    ],
)
def test_bad_credentials_name_the_field(admin_api, fields, field):
    response = create(admin_api, **fields)
    assert response.status_code == 400 and response.json()["extra"]["field"] == field, response.json()


def test_names_are_unique_per_organization(admin_api, outsider_api):
    assert create(admin_api).status_code == 201
    again = create(admin_api)
    assert again.status_code == 400 and again.json()["extra"]["field"] == "name"
    assert create(outsider_api).status_code == 201  # another organization may use the name


def test_other_organizations_ids_are_404(admin_api, outsider_api, other_org, org_admin):
    theirs = create(outsider_api).json()["id"]
    profile = save_profile_state(organization=other_org, name="theirs", state={"cookies": [], "origins": []}).profile
    for response in (
        admin_api.get(f"/api/v1/credentials/{theirs}/"),
        admin_api.patch(f"/api/v1/credentials/{theirs}/", {"notes": "mine"}, content_type="application/json"),
        admin_api.delete(f"/api/v1/credentials/{theirs}/"),
        admin_api.get(f"/api/v1/profiles/{profile.pk}/"),
        admin_api.delete(f"/api/v1/profiles/{profile.pk}/"),
        admin_api.get("/api/v1/credentials/not-a-number/"),
    ):
        assert response.status_code == 404, response.content
    assert theirs not in [c["id"] for c in admin_api.get("/api/v1/credentials/").json()]
    assert admin_api.get("/api/v1/profiles/").json() == []
    assert Credential.objects.filter(pk=theirs, notes="the portal").exists()
    assert BrowserProfile.objects.filter(pk=profile.pk).exists()


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.OPERATOR])
def test_viewer_and_operator_keys_cannot_create_or_read_them(make_key, admin_api, org, role):
    cred = create(admin_api).json()["id"]
    profile = save_profile_state(organization=org, name="acme", state={"cookies": [], "origins": []}).profile
    client = key_client(make_key(role)[1])
    for response in (
        client.get("/api/v1/credentials/"),
        create(client, name="sneaky"),
        client.get(f"/api/v1/credentials/{cred}/"),
        client.patch(f"/api/v1/credentials/{cred}/", {"password": "x"}, content_type="application/json"),
        client.delete(f"/api/v1/credentials/{cred}/"),
        client.get("/api/v1/profiles/"),
        client.get(f"/api/v1/profiles/{profile.pk}/"),
        client.delete(f"/api/v1/profiles/{profile.pk}/"),
    ):
        assert response.status_code == 403, response.content
        assert_no_secret(response)
    assert Credential.objects.filter(pk=cred).exists() and not Credential.objects.filter(name="sneaky").exists()


def test_profiles_are_listed_with_sites_and_deletable(admin_api, org, django_assert_num_queries):
    state = {"cookies": [{"name": "sid", "value": "s3cr3t-session-token-value", "domain": ".acme.test", "path": "/"}],
             "origins": [{"origin": "https://app.acme.test", "localStorage": [{"name": "k", "value": "v"}]}]}
    saved = save_profile_state(organization=org, name="acme", state=state)
    assert saved.created and decrypt_json(saved.profile.state_encrypted) == state
    with django_assert_num_queries(3):  # the key, its last use, the profiles
        listed = admin_api.get("/api/v1/profiles/")
    assert listed.json() == [{**listed.json()[0], "name": "acme", "sites": ["acme.test", "app.acme.test"], "cookie_count": 1}]
    assert "s3cr3t-session-token-value" not in listed.content.decode()
    assert admin_api.delete(f"/api/v1/profiles/{saved.profile.pk}/").status_code == 204
    assert not BrowserProfile.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_runs_saving_one_profile_at_once_leave_one_whole_state(org, postgres):
    """Last writer wins, atomically: the stored state is one of the two, complete, never a mix or a duplicate."""
    states = [{"cookies": [{"name": f"c{n}", "value": f"value-{n}-" * 20, "domain": "acme.test"}] * 50, "origins": []}
              for n in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def save(state):
        try:
            barrier.wait()
            save_profile_state(organization=org, name="shared", state=state)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            close_old_connections()

    for _ in range(3):
        threads = [threading.Thread(target=save, args=(state,)) for state in states]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        barrier.reset()
    assert not errors
    assert BrowserProfile.objects.filter(organization=org, name="shared").count() == 1
    assert decrypt_json(BrowserProfile.objects.get(organization=org, name="shared").state_encrypted) in states


def test_tasks_name_credentials_and_show_secret_payload_keys_as_dots(admin_api, api, viewer_api, org):
    create(admin_api)
    body = {"url": "https://acme.test/", "navigation_goal": "log in", "credentials": ["acme"],
            "navigation_payload": {"card": "4111-2222-3333-4444", "name": "Ada"}, "secret_payload_keys": ["card"],
            "profile": "acme", "save_profile": True}
    response = post(api, "/api/v1/tasks/", body)
    assert response.status_code == 201, response.json()
    task = response.json()
    assert task["credentials"] == ["acme"] and task["secret_payload_keys"] == ["card"]
    assert task["navigation_payload"] == {"card": "•••", "name": "Ada"}
    assert task["profile"] == "acme" and task["save_profile"] is True
    stored = Task.objects.get(pk=task["id"])
    assert "4111-2222-3333-4444" not in json.dumps(stored.navigation_payload) + stored.secret_payload
    assert decrypt_json(stored.secret_payload) == {"card": "4111-2222-3333-4444"}
    seen = viewer_api.get(f"/api/v1/tasks/{task['id']}/")
    assert seen.status_code == 200 and seen.json()["credentials"] == ["acme"]
    assert "4111-2222-3333-4444" not in seen.content.decode() and "•••" in seen.content.decode()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"credentials": ["nope"]}, "credentials"),
        ({"secret_payload_keys": ["card"]}, "secret_payload_keys"),
        ({"navigation_payload": {"a": "b"}, "secret_payload_keys": ["card"]}, "secret_payload_keys"),
        ({"navigation_payload": {"card": "•••"}, "secret_payload_keys": ["card"]}, "navigation_payload"),
        ({"profile": "nope"}, "profile"),
        ({"save_profile": True}, "profile"),
        ({"profile": "bad name", "save_profile": True}, "profile"),
    ],
)
def test_bad_secret_fields_on_tasks_name_the_field(api, fields, field):
    response = post(api, "/api/v1/tasks/", {"url": "https://acme.test/", "navigation_goal": "x", **fields})
    assert response.status_code == 400 and response.json()["extra"]["field"] == field, response.json()


def test_a_retry_keeps_the_secret_payload_and_rotation_re_encrypts_everything(admin_api, org, operator, settings):
    from cryptography.fernet import Fernet

    create(admin_api)
    task = services.create_task(organization=org, created_by=operator, dispatch=False, url="https://acme.test/",
                                navigation_goal="x", navigation_payload={"card": "4111-2222"}, secret_payload_keys=["card"])
    save_profile_state(organization=org, name="acme", state={"cookies": [], "origins": []})
    Task.objects.filter(pk=task.pk).update(status=Task.Status.FAILED)
    retry = services.retry_task(task=Task.objects.select_related("organization").get(pk=task.pk), by=operator)
    assert retry.navigation_payload == {"card": "•••"} and decrypt_json(retry.secret_payload) == {"card": "4111-2222"}

    old_keys = list(settings.LOOKOUT_ENCRYPTION_KEYS)
    settings.LOOKOUT_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *old_keys]  # new first, old still decrypts
    assert rotate_encryption() == type(rotate_encryption())(credentials=1, profiles=1, tasks=2)
    settings.LOOKOUT_ENCRYPTION_KEYS = settings.LOOKOUT_ENCRYPTION_KEYS[:1]  # the old key is gone
    assert decrypt_text(Credential.objects.get(organization=org).password_encrypted) == PASSWORD
    assert decrypt_json(Task.objects.get(pk=retry.pk).secret_payload) == {"card": "4111-2222"}
