"""Misconfigurations stop start-up with one clear line; embedded defaults work with nothing set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FERNET_KEY = "u6m0J0cPqJjZ8mXh0c2l3y7mO9m2r3X1bS5e0k4QyQc="


def manage(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "LOOKOUT_RUNNER", "LOOKOUT_ENCRYPTION_KEY")}
    clean.update({"LOOKOUT_VAR_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "0"}, "SECRET_KEY must be set when DEBUG=0"),
        ({"DEBUG": "0", "SECRET_KEY": "x" * 50}, "LOOKOUT_ENCRYPTION_KEY must be set when DEBUG=0"),
        ({"LOOKOUT_ENCRYPTION_KEY": "not-a-key"}, "key 1 is not a Fernet key"),
        ({"LOOKOUT_ENCRYPTION_KEY": FERNET_KEY + ",oops"}, "key 2 is not a Fernet key"),
        ({"LOOKOUT_ENCRYPTION_KEY": " , "}, "LOOKOUT_ENCRYPTION_KEY holds no key"),
        ({"DATABASE_URL": "nonsense://x"}, "DATABASE_URL is not a database URL"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL must start with redis://"),
        ({"LOOKOUT_RUNNER": "threads"}, "LOOKOUT_RUNNER must be"),
        ({"LOOKOUT_RUNNER": "celery"}, "LOOKOUT_RUNNER=celery needs REDIS_URL"),
        ({"CSRF_TRUSTED_ORIGINS": "lookout.example.com"}, "need a scheme"),
    ],
)
def test_misconfiguration_is_one_line(tmp_path, env, message):
    result = manage(tmp_path, **env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lookout: configuration error:") and message in lines[0]


def test_embedded_defaults_need_nothing(tmp_path):
    result = manage(tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").exists()  # generated once, never hard-coded
    assert (tmp_path / "encryption_key").exists() and oct((tmp_path / "encryption_key").stat().st_mode)[-3:] == "600"
    assert manage(tmp_path).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert manage(tmp_path).returncode == 0 and (tmp_path / "secret_key").read_text() == key


def test_production_settings_pick_redis_and_celery(tmp_path):
    code = (
        "import django, os; django.setup(); from django.conf import settings as s; "
        "print(s.CHANNEL_LAYERS['default']['BACKEND'], s.LOOKOUT_RUNNER, s.CELERY_BROKER_URL, s.DATABASES['default']['ENGINE'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env.update(
        LOOKOUT_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="project.settings.base",
        REDIS_URL="redis://127.0.0.1:6379/3",
        DATABASE_URL="postgres://u@127.0.0.1:5432/lookout",
        SECRET_KEY="x" * 50,
        LOOKOUT_ENCRYPTION_KEY=FERNET_KEY,
        DEBUG="0",
    )
    env.pop("LOOKOUT_RUNNER", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "channels_redis.pubsub.RedisPubSubChannelLayer",
        "celery",
        "redis://127.0.0.1:6379/3",
        "django.db.backends.postgresql",
    ]
