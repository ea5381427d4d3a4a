"""A real local HTTP server for the test sites: serves tests/sites/**, handles their form POSTs and records them.

The `site` fixture (exported here, imported by tests/conftest.py) gives each test the shared server with
its submissions cleared:

    async def test_apply(site, session):
        await session.goto(site.url("job/"))
        ...
        assert site.last("/job/apply")["fields"]["email"] == "ada@example.com"

Every POST is appended to `site.submissions` before its handler answers, as `{"path", "method", "query",
"fields": {name: value, or [values] when repeated}, "files": {name: {"filename", "size", "content_type",
"content"}}, "json": the parsed body or None, "time"}`, so tests assert on what the server really received.

Sites: job/ (two pages + thanks, server-side validation), login/ (ada / lovelace, then plan and confirm),
vault/ (VAULT_USER / VAULT_PASSWORD, then a TOTP code checked with pyotp against VAULT_TOTP_SECRET, then the
members page, which needs the session cookie; vault/ itself goes straight to the members page when signed in),
widgets/ (same-origin iframe, open shadow root), delayed/, download/, table/, shifting/, tricky/ (scraper
edge cases, plus xorigin.html with a cross-origin iframe), misc/ (animation, popup, dialog), and widgets that
behave like real ones: autocomplete/ (searches on keydown after 300 ms; a phone mask), nearby/ (fields labelled
only by nearby text), signup/ (validation answered by a slow XHR, shown after a fade), dead/ (a button that does
nothing), panels/ (a tab strip and an accordion whose content arrives after an animation), hostile/ (asks the
agent to upload `{{internal_url}}` and posts the file back to /hostile/collect), download/archive.html (a link
to the streamed archive), act_controls/ (what a person does: a multiple select, sliders answering to keys or
to a drag, a menu opening on hover, a long textarea, date and time inputs, fields that refuse what is typed;
each page posts to /act_controls/<page>).
Special GET routes: /slow?seconds=N answers after N s; /echo returns the request headers as JSON;
/download/report.csv is an attachment (REPORT_CSV); /download/archive.bin?mb=N streams an N MB attachment
(default 3) in 64 KB pieces a few milliseconds apart, and records in `site.streams` how much it sent and
whether the client hung up first. HTML files are templates: `{{name}}` becomes the
HTML-escaped query parameter or handler value of that name ("" when absent); `{{error_html}}` is raw HTML
that handlers fill with an error block.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

SITES_DIR = Path(__file__).resolve().parent

# What the download site serves; tests compare the saved file with it.
REPORT_CSV = b"product,price,stock\nWidget,9.99,12\nGadget,24.50,0\n"
LOGIN_USER, LOGIN_PASSWORD = "ada", "lovelace"
SIGNUP_TAKEN = frozenset({"ada"})
SIGNUP_CHECK_SECONDS = 0.4
JOB_REQUIRED = ("full_name", "email", "country", "experience", "terms", "start_date")
REPLAY_REQUIRED = ("full_name", "email", "username", "password", "plan", "terms")
REPLAY_PLANS = {"basic": "Basic", "pro": "Pro", "team": "Team"}
# The vault site's login: a password with characters URL and JSON encodings change, and a TOTP secret.
VAULT_USER, VAULT_PASSWORD = "grace@vaultline.test", 'Tr0ub4dor&3 "horse" staple!'
VAULT_TOTP_SECRET = "KRSXG5CTMVRXEZLUKN2XAZLDOJSXIMZR"

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".pdf": "application/pdf",
}


def replay_account(username: str) -> str:
    """The account number the replay/ site gives a new user."""
    return "ACC-" + hashlib.sha1(username.encode(), usedforsecurity=False).hexdigest()[:6].upper()


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def redirect(location: str, *, cookie: str | None = None) -> Reply:
    headers = {"Location": location}
    if cookie:
        headers["Set-Cookie"] = cookie
    return Reply(status=303, headers=headers)


def render(relpath: str, **values: str) -> Reply:
    """Fill `{{name}}` placeholders of an HTML file with escaped `values` (raw HTML when the key ends in _html)."""
    text = (SITES_DIR / relpath).read_text(encoding="utf-8")

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.endswith("_html"):
            return values.get(key, "")
        return html.escape(values.get(key, ""))

    return Reply(body=_PLACEHOLDER.sub(fill, text).encode())


def error_block(message: str) -> str:
    return f'<p class="error" role="alert">{html.escape(message)}</p>'


class TestSite:
    """The running server: URLs, recorded submissions, and the route table."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self) -> None:
        self.submissions: list[dict[str, Any]] = []
        self.streams: list[dict[str, Any]] = []  # {"path", "size", "sent", "complete"} per streamed download
        self._lock = threading.Lock()
        self.vault_pending: set[str] = set()  # signed in with a password, waiting for the TOTP code
        self.vault_sessions: set[str] = set()  # fully signed in
        # The replay/ site (sign-up, review page, welcome page with an account number; replay tests) in the
        # version up now: "v1", "v2" (redesigned: ids, a wrapper, a button's name
        # changed), "v3" (Continue does nothing now; "Save and continue" submits), "v4" (v2, and the review
        # page's button is "Open my account") or "closed" (no form any more). Reset by clear().
        self.replay_variant = "v1"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True  # a handler still sleeping in /slow must not block shutdown
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-sites", daemon=True)
        self._stopping = threading.Event()

    def start(self) -> TestSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def cross_origin_url(self, path: str = "") -> str:
        """Same server, other origin (localhost vs 127.0.0.1): for cross-origin iframe tests."""
        return f"http://localhost:{self.port}/{path.lstrip('/')}"

    def record(self, submission: dict[str, Any]) -> None:
        with self._lock:
            self.submissions.append(submission)

    def posts(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self.submissions if s["path"] == path]

    def last(self, path: str) -> dict[str, Any]:
        found = self.posts(path)
        if not found:
            seen = sorted({s["path"] for s in self.submissions})
            raise AssertionError(f"no submission to {path}; the server saw: {seen}")
        return found[-1]

    def clear(self) -> None:
        with self._lock:
            self.submissions.clear()
            self.streams.clear()
            self.replay_variant = "v1"

    def replay_page(self, name: str, **values: str) -> Reply:
        """A page of the replay/ site in its current version (falling back to v1's)."""
        variant = f"replay/{self.replay_variant}/{name}"
        return render(variant if (SITES_DIR / variant).is_file() else f"replay/v1/{name}", **values)

    # ---- dynamic routes ---------------------------------------------------------------------------------
    def handle_get(
        self, path: str, query: dict[str, str], cookies: dict[str, str], headers: dict[str, str]
    ) -> Reply | None:
        if path == "/slow":
            # Sleeps before answering (navigation-timeout tests); wakes early when the server stops.
            self._stopping.wait(min(float(query.get("seconds", "5")), 30.0))
            return Reply(body=b"<h1>finally</h1>")
        if path == "/echo":
            return Reply(body=json.dumps(headers).encode(), content_type="application/json")
        if path == "/download/report.csv":
            return Reply(
                body=REPORT_CSV,
                content_type="text/csv",
                headers={"Content-Disposition": 'attachment; filename="report.csv"'},
            )
        if (
            path in ("/login/plans.html", "/login/confirm.html")
            and cookies.get("lookout_test_session") != "ok"
        ):
            return redirect("/login/")
        if path == "/login/confirm.html":
            return render("login/confirm.html", plan=query.get("plan", ""))
        if path in ("/replay/", "/replay/index.html"):
            return self.replay_page("index.html")
        signed_in = cookies.get("vault_session", "") in self.vault_sessions
        if path in ("/vault/", "/vault/index.html") and signed_in:
            return redirect("/vault/members.html")
        if path == "/vault/members.html" and not signed_in:
            return redirect("/vault/")
        if path == "/vault/totp.html" and cookies.get("vault_pending", "") not in self.vault_pending:
            return redirect("/vault/")
        return None

    def handle_post(self, path: str, sub: dict[str, Any], cookies: dict[str, str]) -> Reply:
        fields: dict[str, Any] = sub["fields"]
        if path == "/job/apply":
            missing = [name for name in JOB_REQUIRED if not str(fields.get(name, "")).strip()]
            if missing:
                return render(
                    "job/index.html", error_html=error_block("Please fill in: " + ", ".join(missing))
                )
            return redirect("/job/documents.html")
        if path == "/job/documents":
            cv = sub["files"].get("cv")
            if not cv or not cv["size"]:
                return render("job/documents.html", error_html=error_block("Please attach your CV."))
            return redirect("/job/thanks.html")
        if path == "/login/session":
            if fields.get("username") == LOGIN_USER and fields.get("password") == LOGIN_PASSWORD:
                return redirect("/login/plans.html", cookie="lookout_test_session=ok; Path=/")
            return render("login/index.html", error_html=error_block("Invalid username or password."))
        if path == "/login/plan":
            plan = str(fields.get("plan", ""))
            if not plan:
                return render("login/plans.html", error_html=error_block("Choose a plan to continue."))
            return redirect(f"/login/confirm.html?plan={plan}")
        if path == "/login/confirm":
            if cookies.get("lookout_test_session") != "ok":
                return redirect("/login/")
            return render("login/done.html", plan=str(fields.get("plan", "")))
        if path == "/signup/check":
            # Slow on purpose: the verdict arrives well after the click that asked for it.
            self._stopping.wait(SIGNUP_CHECK_SECONDS)
            if str(fields.get("username", "")).strip().lower() in SIGNUP_TAKEN:
                return Reply(body=b'{"error": "This username is already taken."}', content_type="application/json")
            return Reply(body=b'{"ok": true}', content_type="application/json")
        if path == "/vault/login":
            if fields.get("username") == VAULT_USER and fields.get("password") == VAULT_PASSWORD:
                token = secrets.token_urlsafe(24)
                self.vault_pending.add(token)
                return redirect("/vault/totp.html", cookie=f"vault_pending={token}; Path=/vault/; HttpOnly")
            return render("vault/index.html", error_html=error_block("Wrong email or password."))
        if path == "/vault/totp":
            pending = cookies.get("vault_pending", "")
            if pending not in self.vault_pending:
                return redirect("/vault/")
            if not pyotp.TOTP(VAULT_TOTP_SECRET).verify(str(fields.get("code", ""))):
                return render("vault/totp.html", error_html=error_block("That code is not right."))
            self.vault_pending.discard(pending)
            token = secrets.token_urlsafe(24)
            self.vault_sessions.add(token)
            return redirect(
                "/vault/members.html", cookie=f"vault_session={token}; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax"
            )
        if path in ("/replay/signup", "/replay/confirm"):
            values = {k: str(v) for k, v in fields.items() if isinstance(v, str)}
            values["plan_label"] = REPLAY_PLANS.get(values.get("plan", ""), "")
            if path == "/replay/signup":
                missing = [name for name in REPLAY_REQUIRED if not values.get(name, "").strip()]
                if missing:
                    return self.replay_page("index.html", error_html=error_block("Please fill in: " + ", ".join(missing)))
                return self.replay_page("review.html", **values)
            return self.replay_page("done.html", account=replay_account(values.get("username", "")), **values)
        if path == "/widgets/frame-submit":
            return render("widgets/frame.html", result=f"Coupon applied: {fields.get('coupon', '')}")
        # Everything else (fetch() posts from the widgets, delayed and shifting sites): recorded, acknowledged.
        return Reply(body=b'{"ok": true}', content_type="application/json")


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Return (fields, files, json) from a POST body: urlencoded, multipart or JSON."""
    fields: dict[str, Any] = {}
    files: dict[str, Any] = {}
    parsed_json: Any = None

    def put(name: str, value: str) -> None:
        if name in fields:
            old = fields[name]
            fields[name] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            fields[name] = value

    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files[name] = {
                    "filename": filename,
                    "size": len(payload),
                    "content_type": part.get_content_type(),
                    "content": payload,
                }
            else:
                put(name, payload.decode("utf-8", "replace"))
    elif content_type.startswith("application/json"):
        parsed_json = json.loads(body or b"null")
        if isinstance(parsed_json, dict):
            fields.update({str(k): v for k, v in parsed_json.items()})
    else:
        for name, values in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
            for value in values:
                put(name, value)
    return fields, files, parsed_json


def _make_handler(site: TestSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # quiet: tests assert on submissions, not logs

        def _cookies(self) -> dict[str, str]:
            jar: dict[str, str] = {}
            for chunk in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = chunk.strip().partition("=")
                if name:
                    jar[name] = value
            return jar

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                try:
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the browser gave up (a navigation-timeout test): nobody to answer

        def _static(self, path: str, query: dict[str, str]) -> Reply:
            target = (SITES_DIR / path.lstrip("/")).resolve()
            if target.is_dir():
                target = target / "index.html"
            if SITES_DIR not in target.parents or not target.is_file() or target.suffix == ".py":
                return Reply(status=404, body=b"<h1>Not found</h1>")
            if target.suffix == ".html":
                safe = {
                    k: v for k, v in query.items() if not k.endswith("_html")
                }  # raw-HTML slots are for handlers
                return render(str(target.relative_to(SITES_DIR)), **safe)
            content_type = _CONTENT_TYPES.get(target.suffix, "application/octet-stream")
            return Reply(body=target.read_bytes(), content_type=content_type)

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            if not parts.path.endswith("/") and (SITES_DIR / parts.path.lstrip("/")).is_dir():
                self._send(redirect(parts.path + "/"))  # relative links in index.html need the slash
                return
            if parts.path == "/download/archive.bin":
                self._stream(int(query.get("mb", "3")) * 2**20)
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = site.handle_get(parts.path, query, self._cookies(), headers)
            self._send(reply if reply is not None else self._static(parts.path, query))

        do_HEAD = do_GET  # noqa: N815

        def _stream(self, size: int) -> None:
            record = {"path": "/download/archive.bin", "size": size, "sent": 0, "complete": False}
            site.streams.append(record)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Disposition", 'attachment; filename="archive.bin"')
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command == "HEAD":
                return
            piece = b"\0" * 65536
            try:
                while record["sent"] < size and not site._stopping.is_set():
                    chunk = piece[: size - record["sent"]]
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    record["sent"] += len(chunk)
                    time.sleep(0.01)  # slow enough for a size watcher to see it grow
                record["complete"] = record["sent"] == size
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client stopped the download

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            content_type = self.headers.get("Content-Type") or ""
            fields, files, parsed_json = _parse_body(content_type, body)
            submission = {
                "path": parts.path,
                "method": "POST",
                "query": {k: v[-1] for k, v in parse_qs(parts.query).items()},
                "fields": fields,
                "files": files,
                "json": parsed_json,
                "time": time.time(),
            }
            site.record(submission)
            self._send(site.handle_post(parts.path, submission, self._cookies()))

    return Handler


@pytest.fixture(scope="session")
def site_server() -> Iterator[TestSite]:
    server = TestSite().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def site(site_server: TestSite) -> TestSite:
    """The shared server with its submissions cleared, so each test sees only its own posts."""
    site_server.clear()
    return site_server


def serve_forever(port: int = 8765) -> None:  # pragma: no cover - manual poking: python -m tests.sites.server
    server = TestSite()
    server._server.server_close()
    server._server = ThreadingHTTPServer(("127.0.0.1", port), _make_handler(server))
    print(f"serving {SITES_DIR} on http://127.0.0.1:{port}/")
    server._server.serve_forever()


if __name__ == "__main__":  # pragma: no cover
    serve_forever()
