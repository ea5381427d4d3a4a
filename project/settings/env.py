"""The one helper that reads Lookout's configuration from the environment."""

from __future__ import annotations

import secrets
from pathlib import Path

import environ  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()


class ConfigError(ImproperlyConfigured):
    """A setting is missing or inconsistent; the message is one line an operator can act on."""


def persistent_secret(path: Path) -> str:
    """A random secret kept in a file under var/, created on first use (embedded mode only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()
