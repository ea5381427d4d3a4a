"""The one helper that reads Lookout's configuration from the environment."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from pathlib import Path

import environ  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()


class ConfigError(ImproperlyConfigured):
    """A setting is missing or inconsistent; the message is one line an operator can act on."""


def persistent_secret(path: Path, make: Callable[[], str] = lambda: secrets.token_urlsafe(50)) -> str:
    """A random secret kept in a file under var/, created on first use with `make` (embedded mode only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def fernet_key() -> str:
    """A new Fernet key: 32 random bytes, URL-safe base64 (what cryptography's Fernet.generate_key makes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")
