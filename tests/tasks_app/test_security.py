"""Safe by default: security headers and the Content-Security-Policy, error pages that reveal nothing,
login throttling, and templates without inline script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-for-tests-123"


def csp(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


# ---- headers ----------------------------------------------------------------------------------


def test_dashboard_pages_carry_the_security_headers(client, operator, org):
    client.force_login(operator)
    task = TaskFactory(organization=org)
    for path in ("/", reverse("task-new"), reverse("task-detail", args=[task.pk]), reverse("login")):
        response = client.get(path, HTTP_HOST="127.0.0.1:8000")
        assert response.status_code == 200, path
        policy = csp(response)
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]  # nothing inline
        assert policy["img-src"] == ["'self'", "data:", "blob:"]
        assert policy["connect-src"] == ["'self'", "ws://127.0.0.1:8000", "wss://127.0.0.1:8000"]
        assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_frameable_views_say_so_in_their_policy(client, operator, org):
    from django.core.files.base import ContentFile

    from tasks_app.models import Artifact

    client.force_login(operator)
    task = TaskFactory(organization=org)
    image = Artifact.objects.create(
        task=task, kind="screenshot_action", name="shot.png", file=ContentFile(b"\x89PNG\r\n\x1a\n", name="shot.png"),
        content_type="image/png", size=8,
    )
    response = client.get(reverse("artifact-file", args=[task.pk, image.pk]))
    assert response["X-Frame-Options"] == "SAMEORIGIN" and csp(response)["frame-ancestors"] == ["'self'"]
    assert "sandbox" in csp(response)  # captured pages keep their own, stricter policy


def test_policy_follows_x_frame_options():
    from django.http import HttpResponse
    from django.middleware.clickjacking import XFrameOptionsMiddleware
    from django.test import RequestFactory
    from django.views.decorators.clickjacking import xframe_options_sameorigin

    from tasks_app.security import ContentSecurityPolicyMiddleware

    framed = ContentSecurityPolicyMiddleware(XFrameOptionsMiddleware(xframe_options_sameorigin(lambda r: HttpResponse())))
    plain = ContentSecurityPolicyMiddleware(XFrameOptionsMiddleware(lambda r: HttpResponse()))
    request = RequestFactory().get("/", HTTP_HOST="localhost")
    assert csp(framed(request))["frame-ancestors"] == ["'self'"]
    assert csp(plain(request))["frame-ancestors"] == ["'none'"]


def test_swagger_docs_page_allows_only_its_inline_style(client):
    policy = csp(client.get("/api/v1/docs/"))
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"] and policy["script-src"] == ["'self'"]


def test_templates_have_no_inline_script_or_style():
    for template in (ROOT / "templates").rglob("*.html"):
        html = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), template  # inline <script> blocks
        assert not re.search(r"\son[a-z]+\s*=", html), template  # inline event handlers
        assert not re.search(r"<style|\sstyle=", html), template


# ---- error pages ------------------------------------------------------------------------------


def assert_reveals_nothing(html: str) -> None:
    for secret in ("urlpatterns", "project.urls", "Traceback", "settings", "DEBUG", "task-detail", "api/v1"):
        assert secret not in html, secret


def test_404_is_friendly_and_reveals_nothing(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and 'href="/"' in html
    assert_reveals_nothing(html)


def test_500_is_friendly_and_reveals_nothing(operator, settings, monkeypatch):
    from tasks_app.views import tasks as task_views

    settings.DEBUG = False

    def boom(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(task_views.task_selectors, "task_page_list", boom)
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    response = client.get("/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "secret internals" not in html
    assert_reveals_nothing(html)


def test_400_and_403_pages(operator, settings):
    settings.DEBUG = False
    bad_host = Client().get("/", HTTP_HOST="evil.example.test")
    assert bad_host.status_code == 400 and "Bad request" in bad_host.content.decode()
    assert "evil.example.test" not in bad_host.content.decode()
    csrf = Client(enforce_csrf_checks=True).post(reverse("login"), {"username": "x", "password": "y"})
    assert csrf.status_code == 403 and "This form has expired" in csrf.content.decode()
    assert_reveals_nothing(csrf.content.decode())


def test_api_errors_stay_json(api_client_for_errors):
    response = api_client_for_errors.get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.fixture
def api_client_for_errors(settings):
    settings.DEBUG = False
    return Client()


# ---- login throttling ------------------------------------------------------------------------


def login(client: Client, username: str, password: str, path: str = "/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR="203.0.113.7")


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_sixth_attempt_after_five_failures_is_refused_even_with_the_right_password(org_admin, path):
    client = Client()
    for _ in range(4):
        response = login(client, org_admin.username, "wrong", path)
        assert response.status_code == 200  # the form again, with its error
    fifth = login(client, org_admin.username, "wrong", path)  # the fifth failure, answered with the lockout
    assert fifth.status_code == 429
    refused = login(client, org_admin.username, PASSWORD, path)
    assert refused.status_code == 429
    html = refused.content.decode()
    assert "Too many failed logins" in html and "15 minutes" in html
    assert "_auth_user_id" not in client.session
    # per account: another address is refused too
    other = Client().post(path, {"username": org_admin.username, "password": PASSWORD}, REMOTE_ADDR="198.51.100.9")
    assert other.status_code == 429


def test_failures_from_one_address_lock_out_that_address(operator, org_admin):
    client = Client()
    for n in range(5):
        assert login(client, f"nobody-{n}", "wrong").status_code == (200 if n < 4 else 429)
    assert login(client, operator.username, PASSWORD).status_code == 429  # per address
    elsewhere = Client().post("/login/", {"username": operator.username, "password": PASSWORD}, REMOTE_ADDR="198.51.100.9")
    assert elsewhere.status_code == 302  # the account itself is fine


def test_success_resets_the_count_and_cool_off_is_configurable(operator, settings):
    client = Client()
    for _ in range(4):
        login(client, operator.username, "wrong")
    assert login(client, operator.username, PASSWORD).status_code == 302
    client.post("/logout/")
    for _ in range(4):
        assert login(client, operator.username, "wrong").status_code == 200
    assert login(client, operator.username, PASSWORD).status_code == 302


def test_api_keys_are_not_throttled_by_login_failures(operator, org):
    from tasks_app import services

    _, raw = services.create_api_key(organization=org, name="k", role="operator")
    client = Client()
    for _ in range(6):
        login(client, operator.username, "wrong")
    response = Client(HTTP_X_API_KEY=raw, REMOTE_ADDR="203.0.113.7").get("/api/v1/tasks/")
    assert response.status_code == 200
