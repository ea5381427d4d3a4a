"""Login, logout, the home page, and first-run bootstrap."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from tasks_app.models import Membership, Organization
from tasks_app.services import bootstrap_first_run


@pytest.mark.django_db
def test_home_needs_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_login_and_logout(client, operator, org):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b"Log in to Lookout" in page.content
    bad = client.post(reverse("login"), {"username": operator.username, "password": "wrong"})
    assert b"didn't match" in bad.content
    ok = client.post(reverse("login"), {"username": operator.username, "password": "pw-for-tests-123"}, follow=True)
    assert ok.status_code == 200 and org.name.encode() in ok.content
    client.post(reverse("logout"))
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_model_banner_when_unconfigured(client, operator, settings):
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "", None
    client.force_login(operator)
    assert b"No model is configured" in client.get("/").content
    settings.OPENAI_API_KEY = "sk-test"
    assert b"No model is configured" not in client.get("/").content


@pytest.mark.django_db
def test_org_switcher_only_switches_to_own_orgs(client, operator, org, other_org):
    client.force_login(operator)
    client.post(reverse("switch-org"), {"organization": other_org.pk, "next": "/"})
    assert other_org.name.encode() not in client.get("/").content
    Membership.objects.create(user=operator, organization=other_org, role="viewer")
    client.post(reverse("switch-org"), {"organization": other_org.pk, "next": "//evil.test/"})
    page = client.get("/").content.decode()
    assert f"<strong>{other_org.name}</strong>" in page


@pytest.mark.django_db
def test_bootstrap_creates_admin_once(tmp_path, capsys, settings):
    settings.VAR_DIR = tmp_path
    first = bootstrap_first_run(var_dir=tmp_path)
    assert first.created and first.password_file.exists()
    password = first.password_file.read_text().strip()
    assert len(password) >= 16 and (first.password_file.stat().st_mode & 0o777) == 0o600
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    user = authenticate(RequestFactory().post("/login/"), username="admin", password=password)  # axes needs the request
    assert user is not None and user.is_superuser
    assert Membership.objects.get(user=user).role == "admin"
    again = bootstrap_first_run(var_dir=tmp_path)
    assert not again.created and Organization.objects.count() == 1
    call_command("bootstrap")
    assert "log in at http://127.0.0.1" in capsys.readouterr().out
