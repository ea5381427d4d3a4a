"""Credentials in the dashboard and Django admin: organization admins add, change and delete them without
ever seeing a value again; operators pick them (and saved logins) on the new-task form; viewers see that a
task uses credentials and its secret payload keys as •••."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tasks_app import services
from tasks_app.crypto import decrypt_text
from tasks_app.models import BrowserProfile, Credential, Task
from tasks_app.services.credentials import save_profile_state

pytestmark = pytest.mark.django_db

PASSWORD, TOTP = "s3cret-Pass phrase", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def acme(org, org_admin):
    return services.create_credential(organization=org, by=org_admin, name="acme", username="ada@acme.test",
                                      password=PASSWORD, totp_secret=TOTP, sites=["acme.test"])


def test_admin_adds_changes_and_deletes_a_credential_in_the_dashboard(client, org_admin, org):
    client.force_login(org_admin)
    assert b"Credentials</a>" in client.get("/").content  # in the navigation, for admins
    response = client.post(reverse("credential-new"), {"name": "acme", "username": "ada@acme.test",
                                                       "password": PASSWORD, "totp_secret": TOTP,
                                                       "sites": "acme.test, https://login.acme.test"})
    assert response.status_code == 302, response.content.decode()[:2000]
    cred = Credential.objects.get(organization=org, name="acme")
    assert cred.sites == ["acme.test", "https://login.acme.test"] and decrypt_text(cred.password_encrypted) == PASSWORD
    listing = client.get(reverse("credential-list")).content.decode()
    assert "acme" in listing and PASSWORD not in listing and TOTP not in listing and "ada@acme.test" not in listing
    edit = client.get(reverse("credential-edit", args=[cred.pk])).content.decode()
    assert PASSWORD not in edit and TOTP not in edit and "ada@acme.test" not in edit and "Set; leave empty" in edit
    # An empty secret field keeps the stored value; clearing the TOTP secret is explicit.
    client.post(reverse("credential-edit", args=[cred.pk]),
                {"name": "acme", "sites": "acme.test", "password": "", "clear_totp": "on"})
    cred.refresh_from_db()
    assert decrypt_text(cred.password_encrypted) == PASSWORD and not cred.has_totp
    bad = client.post(reverse("credential-edit", args=[cred.pk]), {"name": "acme", "sites": "ftp://x"})
    assert bad.status_code == 400 and "is not a site" in bad.content.decode()
    client.post(reverse("credential-delete", args=[cred.pk]))
    assert not Credential.objects.filter(pk=cred.pk).exists()


def test_admin_deletes_a_saved_login(client, org_admin, org):
    profile = save_profile_state(organization=org, name="acme-login", state={"cookies": []}).profile
    client.force_login(org_admin)
    response = client.post(reverse("profile-delete", args=[profile.pk]), follow=True)
    assert "Saved login acme-login deleted." in response.content.decode()
    assert not BrowserProfile.objects.filter(pk=profile.pk).exists()


def test_operators_and_viewers_cannot_manage_credentials(client, operator, viewer, acme):
    for user in (operator, viewer):
        client.force_login(user)
        assert b"Credentials</a>" not in client.get("/").content
        assert client.get(reverse("credential-list")).status_code == 403
        assert client.post(reverse("credential-new"), {"name": "x", "password": "y", "sites": "x.test"}).status_code == 403
        assert client.post(reverse("credential-delete", args=[acme.pk])).status_code == 403
    assert Credential.objects.filter(pk=acme.pk).exists() and not Credential.objects.filter(name="x").exists()


def test_another_organizations_credential_is_404(client, org_admin, other_org, outsider):
    theirs = services.create_credential(organization=other_org, by=outsider, name="theirs", password="pw-pw-pw",
                                        sites=["x.test"])
    profile = save_profile_state(organization=other_org, name="theirs", state={"cookies": []}).profile
    client.force_login(org_admin)
    assert client.get(reverse("credential-edit", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("credential-delete", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("profile-delete", args=[profile.pk])).status_code == 404
    assert "theirs" not in client.get(reverse("credential-list")).content.decode()


def test_operator_picks_credentials_and_a_saved_login_on_the_new_task_form(client, operator, org, acme, settings):
    settings.LOOKOUT_RUNNER = "inprocess"
    save_profile_state(organization=org, name="acme-login", state={"cookies": []})
    client.force_login(operator)
    form = client.get(reverse("task-new")).content.decode()
    assert 'value="acme"' in form and '<option value="acme-login">' in form and PASSWORD not in form
    response = client.post(reverse("task-new"), {
        "url": "https://acme.test/", "navigation_goal": "log in", "engine": "dom", "max_steps": 5,
        "credentials": ["acme"], "navigation_payload": '{"card": "4111-2222", "name": "Ada"}',
        "secret_payload_keys": "card", "profile": "acme-login", "save_profile": "on",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    task = Task.objects.get(organization=org)
    assert task.credentials == ["acme"] and task.secret_payload_keys == ["card"] and task.profile == "acme-login"
    assert task.navigation_payload == {"card": Task.SECRET_SHOWN, "name": "Ada"} and task.save_profile
    again = client.get(reverse("task-new") + f"?from={task.pk}").content.decode()
    assert "4111-2222" not in again and "•••" in again  # Run again: the secret must be typed anew
    refused = client.post(reverse("task-new"), {
        "url": "https://acme.test/", "navigation_goal": "log in", "engine": "dom", "max_steps": 5,
        "navigation_payload": '{"card": "•••"}', "secret_payload_keys": "card"})
    assert refused.status_code == 400 and "type the secret value of" in refused.content.decode().lower()


def test_a_viewer_sees_that_a_task_uses_credentials_never_their_values(client, viewer, operator, org, acme):
    task = services.create_task(organization=org, created_by=operator, dispatch=False, url="https://acme.test/",
                                navigation_goal="log in", credentials=["acme"],
                                navigation_payload={"card": "4111-2222"}, secret_payload_keys=["card"])
    client.force_login(viewer)
    page = client.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert "Credentials" in page and "acme" in page and "Secret payload keys" in page
    for secret in (PASSWORD, TOTP, "ada@acme.test", "4111-2222"):
        assert secret not in page


def test_django_admin_manages_credentials_write_only_and_lists_profiles(client, org_admin, org, other_org):
    client.force_login(org_admin)
    add = reverse("admin:tasks_app_credential_add")
    response = client.post(add, {"organization": org.pk, "name": "portal", "password": PASSWORD,
                                 "totp_secret": TOTP, "sites_text": "portal.test", "notes": ""})
    assert response.status_code == 302, response.content.decode()[:3000]
    cred = Credential.objects.get(name="portal")
    assert decrypt_text(cred.password_encrypted) == PASSWORD and cred.created_by == org_admin
    change = client.get(reverse("admin:tasks_app_credential_change", args=[cred.pk])).content.decode()
    assert PASSWORD not in change and TOTP not in change and "Set. Stored encrypted" in change
    bad = client.post(add, {"organization": org.pk, "name": "bad name", "password": "x", "sites_text": "x.test"})
    assert bad.status_code == 200 and "letters, digits" in bad.content.decode()
    listing = client.get(reverse("admin:tasks_app_credential_changelist")).content.decode()
    assert "portal" in listing and PASSWORD not in listing
    theirs = services.create_credential(organization=other_org, by=_admin_of(other_org),
                                        name="theirs", password="pw-pw-pw", sites=["x.test"])
    assert client.get(reverse("admin:tasks_app_credential_change", args=[theirs.pk])).status_code == 404
    profile = save_profile_state(organization=org, name="portal", state={"cookies": [{"name": "a", "value": "b", "domain": "portal.test"}]}).profile
    profiles = client.get(reverse("admin:tasks_app_browserprofile_changelist")).content.decode()
    assert "portal.test" in profiles
    client.post(reverse("admin:tasks_app_browserprofile_delete", args=[profile.pk]), {"post": "yes"})
    assert not BrowserProfile.objects.filter(pk=profile.pk).exists()


def _admin_of(organization):
    from tests.factories import MembershipFactory

    return MembershipFactory(organization=organization, role="admin").user


def test_rotate_encryption_key_command(acme, settings, capsys):
    from cryptography.fernet import Fernet
    from django.core.management import CommandError, call_command

    old = list(settings.LOOKOUT_ENCRYPTION_KEYS)
    settings.LOOKOUT_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *old]
    call_command("rotate_encryption_key")
    out = capsys.readouterr().out
    assert "Re-encrypted 1 credential(s)" in out and "remove them" in out
    settings.LOOKOUT_ENCRYPTION_KEYS = settings.LOOKOUT_ENCRYPTION_KEYS[:1]
    acme.refresh_from_db()
    assert decrypt_text(acme.password_encrypted) == PASSWORD
    settings.LOOKOUT_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # a key that opens nothing stored
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_encryption_key")
