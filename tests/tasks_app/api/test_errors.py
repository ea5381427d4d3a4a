"""One error format everywhere on the API paths, including unknown URLs, crashes and rate limits."""

from __future__ import annotations

import pytest
from django.test import Client

from tasks_app.api import tasks as task_views
from tests.tasks_app.api.conftest import key_client, post

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message", "extra"} and body["code"] == code and body["message"]
    return body


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    "path", ["/api/v1/nope/", "/api/nothing", "/v1/runs/not-a-uuid", "/v1/whatever", "/api/v1/tasks/not-a-uuid/"]
)
def test_unknown_api_paths_are_json_404(api, settings, debug, path):
    settings.DEBUG = debug  # Django's technical 404 page in debug, its plain one otherwise: both replaced
    assert_error(api.get(path), 404, "not_found")
    assert_error(Client().post(path), 404, "not_found")


def test_unknown_objects_are_json_404(api):
    body = assert_error(api.get("/api/v1/tasks/00000000-0000-0000-0000-000000000000/"), 404, "not_found")
    assert body["message"] == "task not found"


def test_other_paths_keep_their_html_pages(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "application/json" not in response["Content-Type"]


@pytest.mark.parametrize("debug", [True, False])
def test_a_crash_is_a_json_500_without_details(api, settings, monkeypatch, debug):
    settings.DEBUG = debug  # the technical 500 page in debug, handler500's page otherwise: both replaced

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(task_views.task_selectors, "filter_tasks", boom)
    client = key_client(api.defaults["HTTP_X_API_KEY"], raise_request_exception=False)
    body = assert_error(client.get("/api/v1/tasks/"), 500, "server_error")
    assert "secret" not in body["message"]


def test_method_not_allowed(api):
    assert_error(api.delete("/api/v1/tasks/"), 405, "method_not_allowed")


def test_throttled_is_429_with_retry_after(make_key, settings, operator):
    settings.LOOKOUT_API_RATE = "3/min"
    _, raw = make_key()
    client = key_client(raw)
    for _ in range(3):
        assert client.get("/api/v1/tasks/").status_code == 200
    response = client.get("/api/v1/tasks/")
    body = assert_error(response, 429, "throttled")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60 and body["extra"] == {"retry_after": retry_after}
    # counted per key: another key and a session user are not affected
    _, other = make_key()
    assert key_client(other).get("/api/v1/tasks/").status_code == 200
    session = Client()
    session.force_login(operator)
    from django.core.cache import cache

    cache.delete(f"lookout:throttle:api:user-{operator.pk}")
    assert session.get("/api/v1/tasks/").status_code == 200


def test_throttling_uses_the_redis_cache_when_configured(make_key, settings, redis_url):
    from django.core.cache import cache

    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    settings.LOOKOUT_API_RATE = "1/min"
    key, raw = make_key()
    client = key_client(raw)
    assert client.get("/api/v1/tasks/").status_code == 200
    assert client.get("/api/v1/tasks/").status_code == 429
    assert cache.get(f"lookout:throttle:api:key-{key.pk}")  # the history lives in Redis


def test_validation_errors_from_nested_input(api):
    body = assert_error(post(api, "/api/v1/tasks/", {"url": "https://example.test/", "navigation_goal": "x",
                                                      "error_code_mapping": {"a": ["x"]}}), 400, "invalid")
    assert body["extra"]["field"] == "error_code_mapping.a"
    assert body["message"].startswith("error_code_mapping.a: ")
