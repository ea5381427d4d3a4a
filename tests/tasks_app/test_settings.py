"""Misconfigurations stop start-up with one clear line; embedded defaults work with nothing set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FERNET_KEY = "u6m0J0cPqJjZ8mXh0c2l3y7mO9m2r3X1bS5e0k4QyQc="
# What a fresh machine does not have set (the suite sets some of these for itself).
EMBEDDED_UNSET = (
    "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "LOOKOUT_RUNNER", "LOOKOUT_PRODUCTION",
    "LOOKOUT_ENCRYPTION_KEY",
)


def manage(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in EMBEDDED_UNSET}
    clean.update({"LOOKOUT_VAR_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOOKOUT_PRODUCTION": "1"}, "SECRET_KEY must be set in production"),
        ({"DATABASE_URL": "postgres://u@127.0.0.1:5432/lookout"}, "SECRET_KEY must be set in production"),
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"}, "SECURE_PROXY_SSL_HEADER must be a header name"),
        ({"LOOKOUT_PRODUCTION": "1", "SECRET_KEY": "x" * 50}, "LOOKOUT_ENCRYPTION_KEY must be set in production"),
        ({"LOOKOUT_ENCRYPTION_KEY": "not-a-key"}, "key 1 is not a Fernet key"),
        ({"LOOKOUT_ENCRYPTION_KEY": FERNET_KEY + ",oops"}, "key 2 is not a Fernet key"),
        ({"LOOKOUT_ENCRYPTION_KEY": " , "}, "LOOKOUT_ENCRYPTION_KEY holds no key"),
        ({"DATABASE_URL": "nonsense://x"}, "DATABASE_URL is not a database URL"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL must start with redis://"),
        ({"LOOKOUT_RUNNER": "threads"}, "LOOKOUT_RUNNER must be"),
        ({"LOOKOUT_RUNNER": "celery"}, "LOOKOUT_RUNNER=celery needs REDIS_URL"),
        ({"CSRF_TRUSTED_ORIGINS": "lookout.example.com"}, "need a scheme"),
        ({"DATABASE_URL": "postgres://u@127.0.0.1:5432/lookout", "SECRET_KEY": "x" * 50, "LOOKOUT_ENCRYPTION_KEY": FERNET_KEY,
          "LOOKOUT_DB_POOL_SIZE": "-1"}, "LOOKOUT_DB_POOL_SIZE must be 0 (no pool) or more"),
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


def settings_of(tmp_path, names, **env):
    """The named settings as Django sees them under this environment (nothing else set)."""
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: str(getattr(s, n, None)) for n in {list(names)!r}}}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in EMBEDDED_UNSET}
    clean.update(LOOKOUT_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="project.settings.base", **env)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout)


def test_debug_is_off_unless_asked_for(tmp_path):
    names = ("DEBUG", "LOOKOUT_PRODUCTION", "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER")
    assert settings_of(tmp_path, names) == {
        "DEBUG": "False", "LOOKOUT_PRODUCTION": "False", "SESSION_COOKIE_SECURE": "False",
        "SECURE_HSTS_SECONDS": "0", "SECURE_PROXY_SSL_HEADER": "None",
    }
    assert settings_of(tmp_path, ["DEBUG"], DEBUG="1") == {"DEBUG": "True"}
    assert (tmp_path / "secret_key").exists()  # DEBUG off and no SECRET_KEY: generated under var/, as before


def test_production_needs_its_secret_and_gets_secure_cookies(tmp_path):
    got = settings_of(
        tmp_path, ("LOOKOUT_PRODUCTION", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS"),
        LOOKOUT_PRODUCTION="1", SECRET_KEY="k" * 50, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto", SECURE_HSTS_SECONDS="31536000",
        LOOKOUT_ENCRYPTION_KEY=FERNET_KEY,
    )
    assert got == {
        "LOOKOUT_PRODUCTION": "True", "SESSION_COOKIE_SECURE": "True", "CSRF_COOKIE_SECURE": "True",
        "SECURE_PROXY_SSL_HEADER": "('HTTP_X_FORWARDED_PROTO', 'https')", "SECURE_HSTS_SECONDS": "31536000",
    }
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "encryption_key").exists()


def test_models_default_to_the_engines_defaults(tmp_path):
    assert settings_of(tmp_path, ["LOOKOUT_MODELS"]) == {"LOOKOUT_MODELS": "['gpt-4o', 'computer-use-preview']"}
    got = settings_of(tmp_path, ["LOOKOUT_MODELS"], LOOKOUT_MODELS="gpt-4.1, o3")
    assert got == {"LOOKOUT_MODELS": "['gpt-4.1', 'o3']"}


def test_production_settings_pick_redis_and_celery(tmp_path):
    code = (
        "import django, os; django.setup(); from django.conf import settings as s; "
        "print(s.CHANNEL_LAYERS['default']['BACKEND'], s.LOOKOUT_RUNNER, s.CELERY_BROKER_URL, s.DATABASES['default']['ENGINE'], "
        "s.DATABASES['default']['OPTIONS']['pool']['max_size'])"
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
        "8",  # each process reuses up to 8 PostgreSQL connections (LOOKOUT_DB_POOL_SIZE)
    ]
