"""The one masking function of a run: every spelling of its secrets replaced with MASK, in text, bytes and
decoded JSON. Prompts, model requests and replies, events, action rows, artifacts, logs, HAR and trace all
go through a `Masker` (see `agent_core.secrets.Secrets`, which owns the run's secrets, and
`agent_core.recording`, which rewrites the HAR and the trace with it)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MASK = "[masked]"
MIN_SECRET_LENGTH = 4  # shorter values ("ada", "FR", "yes") would mask half the page for no gain

# Keys whose values name other entries of a recording (resources/<sha1>): masking them would break links.
_REFERENCE_KEYS = frozenset({"sha1", "_sha1", "_file"})
# Base64 data URLs are binary content (screenshots sent to the model, inline images): a short secret could
# match their text by chance and corrupt an image.
_DATA_URL = re.compile(r"^data:[\w.+/-]*(;[\w=.+-]+)*;base64,")


# ---- which strings are secret ----------------------------------------------------------------


def secret_strings(payload: Any, *, min_length: int = MIN_SECRET_LENGTH) -> list[str]:
    """Every string value in `payload` (dicts and lists, recursively) at least `min_length` long,
    without duplicates, longest first. Keys are not secrets; numbers and booleans are not masked."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= min_length:
                found.add(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(payload)
    return sorted(found, key=lambda s: (-len(s), s))


def _char_forms(ch: str) -> set[str]:
    """How one character of a secret can be spelled in a recording: as itself, percent-encoded (URLs,
    form bodies), JSON-escaped once or twice (JSON bodies, JSON inside a trace line), HTML-escaped."""
    forms = {ch}
    if not (ch.isascii() and ch.isalnum()):
        forms.add("".join(f"%{byte:02X}" for byte in ch.encode("utf-8")))
    if ch == " ":
        forms.update({"+", "%20"})
    once = json.dumps(ch)[1:-1]  # \" \\ \n \u00e9
    forms.update({once, json.dumps(once)[1:-1], json.dumps(ch, ensure_ascii=False)[1:-1]})
    if ch == "/":
        forms.add("\\/")
    if not (ch.isascii() and ch.isalnum()) and len(ch.encode("utf-16-le")) == 2:
        forms.add(f"\\u{ord(ch):04x}")  # what JavaScript encoders write for < > & '
    forms.add(html.escape(ch))
    if ch == '"':
        forms.add("&#34;")
    if ch == "'":
        forms.update({"&#39;", "&apos;"})
    return forms


def _form_regex(form: str) -> str:
    escaped = re.escape(form)
    # Percent escapes and \uXXXX are written in either case (%2f, %2F, \u00E9).
    return f"(?i:{escaped})" if form.startswith(("%", "\\u", "\\\\u")) else escaped


def _secret_regex(secret: str) -> str:
    parts = []
    for ch in secret:
        forms = sorted(_char_forms(ch), key=lambda f: (-len(f), f))
        parts.append(_form_regex(forms[0]) if len(forms) == 1 else "(?:" + "|".join(_form_regex(f) for f in forms) + ")")
    return "".join(parts)


@dataclass(frozen=True)
class Masker:
    """Replaces every spelling of the secrets (see `_char_forms`, mixed freely) with MASK, in text or bytes."""

    text_pattern: re.Pattern[str]
    bytes_pattern: re.Pattern[bytes]

    @classmethod
    def for_secrets(cls, secrets: Iterable[str]) -> Masker | None:
        """None when there is nothing to mask."""
        ordered = sorted({s for s in secrets if s}, key=lambda s: (-len(s), s))
        if not ordered:
            return None
        source = "|".join(_secret_regex(s) for s in ordered)
        return cls(re.compile(source), re.compile(source.encode("utf-8")))

    def text(self, value: str) -> tuple[str, int]:
        return self.text_pattern.subn(MASK, value)

    def bytes(self, value: bytes) -> tuple[bytes, int]:
        return self.bytes_pattern.subn(MASK.encode(), value)

    def json_value(self, value: Any) -> tuple[Any, int]:
        """A copy of decoded JSON with every string masked (keys included: header and cookie names are
        values in HAR, but a JSON body's keys may hold anything)."""
        if isinstance(value, str):
            if _DATA_URL.match(value):
                return value, 0
            return self.text(value)
        if isinstance(value, list):
            total = 0
            items = []
            for item in value:
                masked, n = self.json_value(item)
                items.append(masked)
                total += n
            return items, total
        if isinstance(value, dict):
            total = 0
            result = {}
            for key, item in value.items():
                if key in _REFERENCE_KEYS:  # content hashes naming other entries, not data
                    result[key] = item
                    continue
                new_key, n_key = self.text(key) if isinstance(key, str) else (key, 0)
                masked, n = self.json_value(item)
                result[new_key] = masked
                total += n + n_key
            return result, total
        return value, 0


def is_text(data: bytes) -> bool:
    """Whether a file's bytes are text worth masking: UTF-8, no NUL in the first 8 KiB."""
    if b"\x00" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
