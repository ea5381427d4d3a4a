"""Masking secrets out of HAR and trace files, finding ffmpeg and the trace viewer (no browser needed)."""

from __future__ import annotations

import base64
import html
import json
import zipfile
from pathlib import Path
from urllib.parse import quote, quote_plus

from agent_core.recording import (
    MASK,
    Masker,
    find_ffmpeg,
    mask_har,
    mask_recordings,
    mask_trace,
    secret_strings,
    trace_viewer_dir,
)

SECRET = 'p@ss "word" & <co>/é\\1'


def test_secret_strings_are_the_payloads_long_enough_strings():
    payload = {"user": "ada", "pw": "hunter22", "nested": [{"card": "4111 1111"}, "hunter22", 12345, True, None], "k": "abcd"}
    assert secret_strings(payload) == ["4111 1111", "hunter22", "abcd"]
    assert secret_strings("whole-string") == ["whole-string"]
    assert secret_strings(None) == [] and secret_strings({"a": "abc"}) == []


def test_every_spelling_of_a_secret_is_masked():
    masker = Masker.for_secrets([SECRET])
    assert masker is not None
    spellings = [
        SECRET,
        quote(SECRET),
        quote(SECRET, safe=""),
        quote(SECRET, safe="").lower(),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(SECRET)[1:-1])[1:-1],  # JSON inside a JSON string
        html.escape(SECRET),
        SECRET.replace("<", "\\u003c").replace(">", "\\u003e"),
    ]
    for spelling in spellings:
        text = f"before {spelling} after"
        assert masker.text(text) == (f"before {MASK} after", 1), spelling
        assert masker.bytes(text.encode()) == (f"before {MASK} after".encode(), 1), spelling
    assert masker.text("p@ss word") == ("p@ss word", 0)
    assert Masker.for_secrets([]) is None


def test_json_lines_stay_valid_when_a_secret_ends_in_a_backslash(tmp_path):
    secret = 'ab":"c\\'
    line = json.dumps({"params": {"value": secret}, "sha1": "ab"}) + "\n" + json.dumps({"other": 1})
    trace = tmp_path / "trace.zip"
    with zipfile.ZipFile(trace, "w") as z:
        z.writestr("trace.trace", line)
    assert mask_trace(trace, Masker.for_secrets([secret])) == 1
    lines = zipfile.ZipFile(trace).read("trace.trace").decode().splitlines()
    assert json.loads(lines[0]) == {"params": {"value": MASK}, "sha1": "ab"}
    assert json.loads(lines[1]) == {"other": 1}


def _har(entries):
    return {"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}}


def test_har_masks_urls_headers_cookies_bodies_and_textual_base64_bodies(tmp_path):
    secret = "hunter22"
    png_with_lookalike = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 8
    png_b64 = base64.b64encode(png_with_lookalike).decode()
    masker = Masker.for_secrets([secret, png_b64[4:12]])  # a "secret" that matches base64 text by chance
    entry = {
        "request": {
            "method": "POST",
            "url": f"https://x.test/login?pw={secret}",
            "queryString": [{"name": "pw", "value": secret}],
            "headers": [{"name": "Cookie", "value": f"s={secret}"}],
            "cookies": [{"name": "s", "value": secret}],
            "postData": {"mimeType": "application/json", "text": json.dumps({"password": secret})},
        },
        "response": {
            "status": 200,
            "content": {"mimeType": "text/html", "encoding": "base64", "text": base64.b64encode(f"<p>{secret}</p>".encode()).decode()},
        },
    }
    image = {"request": {"method": "GET", "url": "https://x.test/a.png"}, "response": {"status": 200, "content": {"mimeType": "image/png", "encoding": "base64", "text": png_b64}}}
    path = tmp_path / "network.har"
    path.write_text(json.dumps(_har([entry, image])))
    assert mask_har(path, masker) == 6
    raw = path.read_text()
    assert secret not in raw
    har = json.loads(raw)
    first = har["log"]["entries"][0]
    assert first["request"]["url"] == f"https://x.test/login?pw={MASK}"
    assert first["request"]["postData"]["text"] == json.dumps({"password": MASK})
    assert base64.b64decode(first["response"]["content"]["text"]) == f"<p>{MASK}</p>".encode()
    assert har["log"]["entries"][1]["response"]["content"]["text"] == png_b64  # binary bodies are left alone


def test_trace_text_entries_are_masked_and_binaries_and_references_kept(tmp_path):
    secret = "hunter22"
    jpeg = b"\xff\xd8\xff\xe0" + b"hunter22" + b"\x00\x01"
    trace = tmp_path / "trace.zip"
    with zipfile.ZipFile(trace, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("trace.trace", json.dumps({"type": "before", "params": {"value": secret}}) + "\n")
        z.writestr("trace.network", json.dumps({"snapshot": {"request": {"url": f"https://x.test/?q={secret}"}, "response": {"content": {"_sha1": "abc.html"}}}}) + "\n")
        z.writestr("resources/abc.html", f"<input value='{secret}'>")
        z.writestr("resources/def.dat", f"pw={quote_plus(secret)}")
        z.writestr("resources/shot.jpeg", jpeg)
    assert mask_trace(trace, Masker.for_secrets([secret])) == 4
    with zipfile.ZipFile(trace) as z:
        assert z.testzip() is None
        assert secret.encode() not in z.read("trace.trace") + z.read("trace.network") + z.read("resources/abc.html") + z.read("resources/def.dat")
        assert json.loads(z.read("trace.network"))["snapshot"]["response"]["content"]["_sha1"] == "abc.html"
        assert z.read("resources/shot.jpeg") == jpeg  # screenshots are not masked
        assert z.getinfo("trace.trace").compress_type == zipfile.ZIP_DEFLATED


def test_mask_recordings_drops_what_it_cannot_mask_and_keeps_the_rest(tmp_path):
    video, har, trace = tmp_path / "v.webm", tmp_path / "n.har", tmp_path / "t.zip"
    video.write_bytes(b"\x1a\x45\xdf\xa3hunter22")
    har.write_text("{not json hunter22")
    with zipfile.ZipFile(trace, "w") as z:
        z.writestr("trace.trace", '{"v": "hunter22"}\n')
    recordings = {"video": video, "har": har, "trace": trace}
    kept = mask_recordings(recordings, ["hunter22"])
    assert kept == {"video": video, "trace": trace}
    assert b"hunter22" not in zipfile.ZipFile(trace).read("trace.trace")
    assert mask_recordings(recordings, []) == recordings  # nothing secret: untouched


def test_find_ffmpeg_follows_playwright(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    assert find_ffmpeg() is None
    binary = tmp_path / "ffmpeg-1011" / "ffmpeg-linux"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert find_ffmpeg() == str(binary)
    monkeypatch.delenv("PLAYWRIGHT_BROWSERS_PATH")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert find_ffmpeg() is None


def test_the_installed_playwright_ships_a_trace_viewer():
    viewer = trace_viewer_dir()
    assert viewer is not None
    assert (viewer / "index.html").is_file() and (viewer / "sw.bundle.js").is_file()
    assert isinstance(viewer, Path)
