"""Run recordings after the browser closes: masking the task's secrets out of the HAR and the trace, finding
the ffmpeg Playwright records video with, and the trace viewer files the playwright package ships.

Masking covers text only. Screenshots inside the trace, video frames and binary resources are left as
they are: a secret the page showed on screen stays visible there (see README: Recordings).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent_core.masking import MASK, MIN_SECRET_LENGTH, Masker, is_text, secret_strings

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "Masker",
    "find_ffmpeg",
    "mask_har",
    "mask_recordings",
    "mask_trace",
    "secret_strings",
    "trace_viewer_dir",
]

log = logging.getLogger(__name__)


# Zip entries of a trace that are always text; others are sniffed (UTF-8 without NUL bytes).
_JSON_LINES_SUFFIXES = (".trace", ".network", ".stacks")
_TEXT_SUFFIXES = (".html", ".htm", ".css", ".js", ".mjs", ".json", ".txt", ".xml", ".svg", ".csv", ".dat")
_BINARY_SUFFIXES = (".jpeg", ".jpg", ".png", ".gif", ".webp", ".webm", ".woff", ".woff2", ".ttf", ".ico", ".wasm", ".zip")
_TEXT_MIME = re.compile(r"^(text/|application/(json|[\w.+-]*\+json|javascript|ecmascript|xml|[\w.+-]*\+xml|x-www-form-urlencoded|graphql))")


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


def _mask_har_content(content: dict[str, Any], masker: Masker) -> int:
    """Base64 bodies are decoded, masked and encoded again when they are text; others stay untouched."""
    if content.get("encoding") != "base64" or not isinstance(content.get("text"), str):
        return 0
    try:
        raw = base64.b64decode(content["text"], validate=False)
    except ValueError:
        return 0
    if not (_TEXT_MIME.match(str(content.get("mimeType") or "")) or is_text(raw)):
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
    if lower.endswith(_TEXT_SUFFIXES) or is_text(data):
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


def mask_recordings(recordings: Mapping[str, Path], secrets: Sequence[str] | Masker | None) -> dict[str, Path]:
    """Mask `secrets` (strings, or a ready Masker) in the HAR and trace of `recordings` ({"video", "har",
    "trace", ...} as returned by BrowserSession.close()), in place. Returns the recordings that are safe to
    keep: one that could not be masked is logged and left out (never kept in clear), the others go on.
    Videos pass unchanged. Blocking (file I/O and regexes): call it in a thread from async code."""
    masker = secrets if isinstance(secrets, Masker) or secrets is None else Masker.for_secrets(secrets)
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
