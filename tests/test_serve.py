"""The embedded mode end to end: migrate, bootstrap and daphne on a fresh var/ dir (nothing configured, so
DEBUG off) serve the login page, the static files and friendly error pages."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fresh_embedded_instance_serves_and_logs_in(tmp_path):
    unset = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "LOOKOUT_RUNNER", "LOOKOUT_PRODUCTION")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    port = free_port()
    env.update(LOOKOUT_VAR_DIR=str(tmp_path), PORT=str(port))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    boot = subprocess.run([sys.executable, "manage.py", "bootstrap"], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=60)
    password = re.search(r"with password: (\S+)", boot.stdout).group(1)
    assert (tmp_path / "lookout.sqlite3").exists()
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(base + "/", follow_redirects=True, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "daphne did not start"
                time.sleep(0.2)
        assert response.status_code == 200 and "Log in to Lookout" in response.text
        assert "default-src 'self'" in response.headers["content-security-policy"]
        # DEBUG is off and nothing was collected: whitenoise serves the app folders' files all the same
        for asset in ("/static/css/lookout.css", "/static/js/task-detail.js", "/static/admin/css/base.css",
                      "/static/vendor/swagger-ui/swagger-ui-bundle.js"):
            assert httpx.get(base + asset).status_code == 200, asset
        missing = httpx.get(base + "/no-such-page/")
        assert missing.status_code == 404 and "Page not found" in missing.text and "urlpatterns" not in missing.text
        assert (tmp_path / "secret_key").exists()
        with httpx.Client(base_url=base, follow_redirects=True) as client:
            client.get("/login/")
            result = client.post(
                "/login/",
                data={"username": "admin", "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
                headers={"Referer": base + "/login/"},
            )
            assert result.status_code == 200 and "Welcome, admin" in result.text
    finally:
        server.terminate()
        server.wait(timeout=10)
