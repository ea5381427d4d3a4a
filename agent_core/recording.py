"""Run recordings after the browser closes: masking the task's secrets out of the HAR and the trace, finding
the ffmpeg Playwright records video with, and the trace viewer files the playwright package ships.

Masking covers text only. Screenshots inside the trace, video frames and binary resources are left as
they are: a secret the page showed on screen stays visible there (see README: Recordings).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MASK = "[masked]"
MIN_SECRET_LENGTH = 4  # shorter values ("ada", "FR", "yes") would mask half the page for no gain

# Zip entries of a trace that are always text; others are sniffed (UTF-8 without NUL bytes).
_JSON_LINES_SUFFIXES = (".trace", ".network", ".stacks")
_TEXT_SUFFIXES = (".html", ".htm", ".css", ".js", ".mjs", ".json", ".txt", ".xml", ".svg", ".csv", ".dat")
_BINARY_SUFFIXES = (".jpeg", ".jpg", ".png", ".gif", ".webp", ".webm", ".woff", ".woff2", ".ttf", ".ico", ".wasm", ".zip")
# Keys whose values name other entries of the recording (resources/<sha1>): masking them would break links.
_REFERENCE_KEYS = frozenset({"sha1", "_sha1", "_file"})
_TEXT_MIME = re.compile(r"^(text/|application/(json|[\w.+-]*\+json|javascript|ecmascript|xml|[\w.+-]*\+xml|x-www-form-urlencoded|graphql))")


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


# ---- HAR and trace --------------------------------------------------------------------------


class _Verbatim:
    """A string Masker.json_value leaves alone (it only walks str, list and dict)."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    @staticmethod
    def unwrap(obj: Any) -> str:
        if isinstance(obj, _Verbatim):
            return obj.value
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _is_text(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mask_har_content(content: dict[str, Any], masker: Masker) -> int:
    """Base64 bodies are decoded, masked and encoded again when they are text; others stay untouched."""
    if content.get("encoding") != "base64" or not isinstance(content.get("text"), str):
        return 0
    try:
        raw = base64.b64decode(content["text"], validate=False)
    except ValueError:
        return 0
    if not (_TEXT_MIME.match(str(content.get("mimeType") or "")) or _is_text(raw)):
        return 0
    masked, n = masker.bytes(raw)
    if n:
        content["text"] = base64.b64encode(masked).decode("ascii")
    return n


def mask_har(path: Path, masker: Masker) -> int:
    """Rewrite the HAR at `path` with every secret masked: URLs, query strings, headers, cookies, request
    bodies and textual response bodies (base64 ones decoded first). Returns the number of replacements.
    Raises (OSError, ValueError) when the file cannot be read or is not JSON; the caller must then not keep it."""
    har = json.loads(path.read_bytes())
    total = 0
    entries = har.get("log", {}).get("entries", []) if isinstance(har, dict) else []
    # Base64 bodies are masked decoded, and kept out of the string walk: a short secret could match
    # base64 text by chance and corrupt an image.
    for entry in entries:
        content = (entry.get("response") or {}).get("content")
        if isinstance(content, dict) and content.get("encoding") == "base64" and isinstance(content.get("text"), str):
            total += _mask_har_content(content, masker)
            content["text"] = _Verbatim(content["text"])
    har, n = masker.json_value(har)
    total += n
    if total:
        _write_atomically(path, json.dumps(har, ensure_ascii=False, default=_Verbatim.unwrap).encode("utf-8"))
    return total


def _mask_json_lines(data: bytes, masker: Masker) -> tuple[bytes, int]:
    """Trace event lines: only lines with a hit are decoded, masked as JSON (so escapes stay valid) and
    written back compactly; the rest are kept byte for byte."""
    total = 0
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if not masker.bytes_pattern.search(line):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            lines[i], n = masker.bytes(line)
        else:
            value, n = masker.json_value(value)
            lines[i] = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        total += n
    return b"\n".join(lines), total


def _mask_trace_entry(name: str, data: bytes, masker: Masker) -> tuple[bytes, int]:
    lower = name.lower()
    if lower.endswith(_JSON_LINES_SUFFIXES):
        return _mask_json_lines(data, masker)
    if lower.endswith(_BINARY_SUFFIXES):
        return data, 0
    if lower.endswith(_TEXT_SUFFIXES) or _is_text(data):
        if lower.endswith(".json") or lower.endswith(".har"):
            try:
                value, n = masker.json_value(json.loads(data))
            except ValueError:
                return masker.bytes(data)
            return (json.dumps(value, ensure_ascii=False).encode("utf-8") if n else data), n
        return masker.bytes(data)
    return data, 0


def mask_trace(path: Path, masker: Masker) -> int:
    """Rewrite the trace zip at `path` with every secret masked in its text entries (the .trace and
    .network event logs, text resources such as HTML, CSS, scripts and posted bodies). Screenshots and
    other binary entries are copied unchanged. Returns the number of replacements. Raises (OSError,
    zipfile.BadZipFile, ...) when the zip cannot be rewritten; the caller must then not keep it."""
    total = 0
    fd, tmp_name = tempfile.mkstemp(prefix=".masking-", suffix=".zip", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp, "w") as target:
            for info in source.infolist():
                data = source.read(info)
                masked, n = _mask_trace_entry(info.filename, data, masker)
                total += n
                copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                copy.compress_type = info.compress_type
                copy.external_attr = info.external_attr
                target.writestr(copy, masked)
        if total:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return total


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=".masking-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def mask_recordings(recordings: Mapping[str, Path], secrets: Sequence[str]) -> dict[str, Path]:
    """Mask `secrets` in the HAR and trace of `recordings` ({"video", "har", "trace", ...} as returned by
    BrowserSession.close()), in place. Returns the recordings that are safe to keep: one that could not
    be masked is logged and left out (never kept in clear), the others go on. Videos pass unchanged.
    Blocking (file I/O and regexes): call it in a thread from async code."""
    masker = Masker.for_secrets(secrets)
    if masker is None:
        return dict(recordings)
    kept: dict[str, Path] = {}
    for name, path in recordings.items():
        maskers = {"har": mask_har, "trace": mask_trace}
        mask = maskers.get(name)
        if mask is None:
            kept[name] = path
            continue
        try:
            count = mask(Path(path), masker)
        except Exception:  # noqa: BLE001 - one recording's failure must not cost the others
            log.exception("could not mask secrets in the %s recording; dropping it rather than keep it in clear", name)
            continue
        if count:
            log.info("masked %d secret occurrence(s) in the %s recording", count, name)
        kept[name] = path
    return kept


# ---- video and the trace viewer ---------------------------------------------------------------


def find_ffmpeg() -> str | None:
    """The ffmpeg Playwright will record video with, or None when there is none (videos then fail).

    Mirrors BrowserManager: with $PLAYWRIGHT_BROWSERS_PATH set, only Playwright's own ffmpeg build under
    it counts; otherwise Playwright's downloaded build or the system ffmpeg on PATH (which the manager
    hands to Playwright)."""
    browsers_path = os.environ.get("PLAYWRIGHT_BROWSERS_PATH", "").strip()
    if browsers_path and browsers_path != "0":
        roots = [Path(browsers_path)]
    else:
        roots = [Path.home() / ".cache" / "ms-playwright"]
    for root in roots:
        for candidate in sorted(root.glob("ffmpeg-*/ffmpeg-*")):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    if browsers_path:
        return None
    return shutil.which("ffmpeg")


def trace_viewer_dir() -> Path | None:
    """The folder of Playwright's own trace viewer (index.html, sw.bundle.js, ...) inside the installed
    playwright package, or None if this build does not ship it."""
    try:
        import playwright
    except ImportError:  # pragma: no cover - agent_core needs playwright anyway
        return None
    lib = Path(playwright.__file__).parent / "driver" / "package" / "lib"
    for candidate in (lib / "vite" / "traceViewer", lib / "webpack" / "traceViewer"):
        if (candidate / "index.html").is_file() and (candidate / "sw.bundle.js").is_file():
            return candidate
    for index in sorted(lib.glob("**/traceViewer/index.html")):
        return index.parent
    return None
