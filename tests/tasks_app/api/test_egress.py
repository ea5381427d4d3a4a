"""A task URL the egress policy refuses is a 400 naming the field and the rule."""

from __future__ import annotations

import pytest

from tests.tasks_app.api.conftest import post

pytestmark = pytest.mark.django_db


def test_refused_task_url_is_a_400_naming_the_rule(api, settings):
    settings.LOOKOUT_ALLOWED_NETWORKS = ""
    response = post(api, "/api/v1/tasks/", {"url": "http://0x7f000001:8000/admin/", "navigation_goal": "Look"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["extra"]["field"] == "url"
    assert body["message"] == "url is blocked by the egress policy: 127.0.0.1 is a loopback address"
