"""Encryption at rest for credentials and saved logins: MultiFernet over LOOKOUT_ENCRYPTION_KEYS (the first
key encrypts, every key decrypts, so keys rotate without downtime; see `rotate_token`)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    """A stored secret none of the configured keys opens (a key was dropped too early, or the data is damaged)."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.LOOKOUT_ENCRYPTION_KEYS))


def encrypt_text(value: str) -> str:
    """A Fernet token (ASCII) for `value`; "" stays "" (nothing set)."""
    if not value:
        return ""
    return fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_text(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError(
            "a stored secret cannot be decrypted with LOOKOUT_ENCRYPTION_KEY (was the key that encrypted it removed?)"
        ) from exc


def encrypt_json(value: Any) -> str:
    return encrypt_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def decrypt_json(token: str) -> Any:
    text = decrypt_text(token)
    return json.loads(text) if text else None


def rotate_token(token: str) -> str:
    """The same secret encrypted with the first key (MultiFernet.rotate); "" stays "". Raises DecryptionError."""
    if not token:
        return ""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError("a stored secret cannot be decrypted with any key of LOOKOUT_ENCRYPTION_KEY") from exc
