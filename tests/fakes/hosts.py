"""Small real HTTP servers on chosen loopback addresses (127.0.0.1, 127.0.0.2, ::1), for egress tests.

A request that reaches one is recorded in `server.hits`, so a test proves both sides: with the guard the
refused server saw nothing, and without it the same request would have arrived.

    with LoopbackServer("127.0.0.2") as target:
        ...
        assert target.paths() == []

Routes: `/redirect?to=URL[&status=302]` redirects; `/chain/N?to=URL` redirects N times through
/chain/N-1 ... then to URL (or to /ok); `/bytes/N[?chunked=1]` answers N bytes (without Content-Length
when chunked); `/ok` answers "ok from HOST"; `/ws` completes a WebSocket handshake and echoes text
frames; `server.pages[path] = html` serves a page. Anything else is a 404.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    host_header: str
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, family: int) -> None:
        self.address_family = family
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up mid-answer on purpose here (a size cap, a refused redirect)


def loopback_available(host: str) -> bool:
    """Whether a server can bind `host` here (::1 needs IPv6 on lo)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
        return True
    except OSError:
        return False


class LoopbackServer:
    """A recording HTTP server on `host` (a loopback address), on a free port, in its own thread."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.hits: list[Hit] = []
        self.pages: dict[str, str] = {}
        self._lock = threading.Lock()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = _Server((host, 0), _make_handler(self), family)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loopback-{host}",
            daemon=True,
        )

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + "/" + path.lstrip("/")

    def record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def paths(self) -> list[str]:
        with self._lock:
            return [hit.path for hit in self.hits]


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            headers = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            server.record(
                Hit(
                    self.command,
                    self.path,
                    self.headers.get("Host", ""),
                    {k.lower(): v for k, v in self.headers.items()},
                )
            )
            path = parts.path
            if path == "/redirect":
                status = int(query.get("status", "302"))
                self._reply(status, headers={"Location": query.get("to", "/ok")})
            elif path.startswith("/chain/"):
                left = int(path.rsplit("/", 1)[1])
                to = query.get("to", "/ok")
                target = to if left <= 1 else f"/chain/{left - 1}?" + parts.query
                self._reply(302, headers={"Location": target})
            elif path.startswith("/bytes/"):
                self._send_bytes(int(path.rsplit("/", 1)[1]), chunked=query.get("chunked") == "1")
            elif path == "/ok":
                self._reply(
                    200, f"ok from {server.host}".encode(), {"Content-Type": "text/plain; charset=utf-8"}
                )
            elif path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
                self._websocket()
            elif path in server.pages:
                self._reply(200, server.pages[path].encode())
            else:
                self._reply(404, b"<h1>Not found</h1>")

        do_POST = do_GET  # noqa: N815
        do_HEAD = do_GET  # noqa: N815

        def _send_bytes(self, size: int, *, chunked: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(size))
            self.end_headers()
            block = b"x" * 65536
            left = size
            try:
                while left > 0:
                    piece = block[: min(left, len(block))]
                    if chunked:
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    else:
                        self.wfile.write(piece)
                    left -= len(piece)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading at its cap

        def _websocket(self) -> None:
            accept = base64.b64encode(
                hashlib.sha1((self.headers["Sec-WebSocket-Key"] + _WS_GUID).encode()).digest()
            ).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.close_connection = True
            try:
                while True:  # echo text frames until the client goes away
                    head = self.rfile.read(2)
                    if len(head) < 2:
                        return
                    opcode, length = head[0] & 0x0F, head[1] & 0x7F
                    if length == 126:
                        length = int.from_bytes(self.rfile.read(2), "big")
                    mask = self.rfile.read(4)
                    data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
                    if opcode == 8:
                        return
                    if opcode == 1:
                        self.wfile.write(bytes([0x81, len(data)]) + data if len(data) < 126 else b"")
                        self.wfile.flush()
            except (OSError, ValueError):
                return

    return Handler


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """A recording server on 127.0.0.1."""
    with LoopbackServer("127.0.0.1") as server:
        yield server


@pytest.fixture
def loopback2() -> Iterator[LoopbackServer]:
    """A recording server on 127.0.0.2: the "internal" host the policy refuses in these tests."""
    with LoopbackServer("127.0.0.2") as server:
        yield server
