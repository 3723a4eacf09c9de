"""A real HTTP server on loopback that is slow in every way a server can be, for the tests of the
outbound deadlines (licensing lookups, alerts, texts): it counts the requests that reach it and
notices when a client gives up on it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serving import serving

ACME = {
    "sen": "SEN-1234567",
    "name": "Acme Corporation",
    "tier": "priority",
    "maintenance_until": "2099-12-31",
    "admins": ["+14155551234"],
}

# What the server does with each request:
#   ok            answers at once: the record for /sen/1234567, [] for an admin lookup, 404 otherwise;
#                 200 {"ok": true} to a POST
#   slow          the same after `delay` seconds
#   error         500 at once
#   late_headers  nothing for a long time, then the answer
#   trickle       the status line and headers at once, then the body one byte every `gap` seconds
#   trickle_head  the status line, then one header line every `gap` seconds
#   silent        reads the request and never answers
MODES = ("ok", "slow", "error", "late_headers", "trickle", "trickle_head", "silent")
LONG = 30.0


class SlowServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "ok"
        self.delay = 0.3
        self.gap = 0.1
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.hits: list[str] = []
        # Requests whose client hung up on a slow answer (the write failed), and when.
        self.cut: list[float] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def hit(self, path: str) -> None:
        with self._lock:
            self.hits.append(path)

    def was_cut(self) -> None:
        with self._lock:
            self.cut.append(time.monotonic())

    def wait_for(self, condition, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


class _Handler(BaseHTTPRequestHandler):
    server: SlowServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._serve()

    def _serve(self) -> None:
        server = self.server
        server.hit(self.path)
        body, status = self._answer()
        mode = server.mode
        if mode == "trickle":
            body = body.ljust(200)  # JSON may end in spaces: 200 bytes, one every `gap`
        try:
            if mode == "silent":
                server.stopping.wait(LONG)
                return
            if mode == "late_headers":
                server.stopping.wait(LONG)
            if mode == "slow":
                server.stopping.wait(server.delay)
            if mode == "error":
                body, status = b"", 500
            if mode == "trickle_head":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for n in range(int(LONG / server.gap)):
                    self.wfile.write(f"X-Slow-{n}: x\r\n".encode())
                    self.wfile.flush()
                    if server.stopping.wait(server.gap):
                        return
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if mode == "trickle":
                # Each byte well within any per-read time-out, the whole body far beyond any deadline.
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    if server.stopping.wait(server.gap):
                        return
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            server.was_cut()
            self.close_connection = True

    def _answer(self) -> tuple[bytes, int]:
        if self.command == "POST":
            return b'{"ok": true}', 200
        if "admin=" in self.path:
            return b"[]", 200
        if self.path.rstrip("/").endswith("/1234567"):
            return json.dumps(ACME).encode(), 200
        return b'{"error": "no such SEN"}', 404

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def slow_server() -> Iterator[SlowServer]:
    with serving(SlowServer(), "slow-server") as server:
        try:
            yield server
        finally:
            server.stopping.set()  # first: the handlers still waiting end, and the server can stop
