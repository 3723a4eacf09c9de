"""A TCP proxy to PostgreSQL that fails on demand, for tests/web/test_no_loss.py; run in a process of
its own by `webload.DbProxy` (stdlib only, so it starts at once).

    python tests/web/dbproxy.py HOST PORT

prints the loopback port it listens on, then reads one command a line from stdin and answers each
with one line: `refuse`, `accept`, `cut NUMBER EVERY`, `counts` (JSON). It ends with stdin.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
from collections.abc import Callable

# SO_LINGER on with 0 s: closing the socket sends a reset, not an orderly end.
ABORT = struct.pack("ii", 1, 0)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, ABORT)
    sock.close()


class DbProxy:
    """A TCP proxy to PostgreSQL on a loopback port of its own. `refuse()` resets every open
    connection and every new one until `accept()`; `cut_commits(n)` drops the connection of n of the
    next transactions: alternately before the server sees the COMMIT (the server
    rolls back) and after the server committed but before the client hears so (a commit the client
    cannot know about)."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # so close() is seen
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._refusing = False
        self._cuts_left = self._every = self._commits = 0
        self.cut_before = 0  # transactions whose COMMIT never reached the server
        self.cut_after = 0  # transactions committed whose answer never reached the client
        self.reset = 0  # connections reset by refuse() and while refusing
        self._links: set[_Link] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="db-proxy", daemon=True)
        self._thread.start()

    def refuse(self) -> None:
        with self._lock:
            self._refusing = True
            links, self._links = self._links, set()
            self.reset += len(links)
        for link in links:
            link.cut()

    def accept(self) -> None:
        with self._lock:
            self._refusing = False

    def cut_commits(self, number: int, every: int = 2) -> None:
        """Cut the next `number` transactions, one in `every` (so the writer's retries go through)."""
        with self._lock:
            self._cuts_left, self._every, self._commits = number, every, 0

    @property
    def cuts(self) -> int:
        with self._lock:
            return self.cut_before + self.cut_after

    def close(self) -> None:
        self._closed = True
        self._thread.join(5)
        self._listener.close()
        self.refuse()

    def _serve(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            with self._lock:
                refusing = self._refusing
                if refusing:
                    self.reset += 1
            if refusing:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            link = _Link(self, client, server)
            with self._lock:
                self._links.add(link)
            link.start()

    def _take_cut(self) -> str | None:
        """Whether the COMMIT just seen is to be cut: "before" or "after", in turn."""
        with self._lock:
            self._commits += 1
            if self._cuts_left <= 0 or self._commits % self._every:
                return None
            self._cuts_left -= 1
            if self.cut_before <= self.cut_after:
                self.cut_before += 1
                return "before"
            self.cut_after += 1
            return "after"

    def _gone(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)


class _Link:
    def __init__(self, proxy: DbProxy, client: socket.socket, server: socket.socket):
        self.proxy, self.client, self.server = proxy, client, server
        self._cut = threading.Event()
        self._drop_answer = threading.Event()

    def start(self) -> None:
        for target in (self._upstream, self._downstream):
            threading.Thread(target=target, name="db-proxy-link", daemon=True).start()

    def cut(self) -> None:
        if self._cut.is_set():
            return
        self._cut.set()
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, ABORT)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the other direction's recv
        self.proxy._gone(self)

    def _pump(self, source: socket.socket, target: socket.socket, inspect: Callable[[bytes], bool]) -> None:
        try:
            while not self._cut.is_set():
                data = source.recv(65536)
                if not data or not inspect(data):
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            self.cut()
            source.close()

    def _upstream(self) -> None:
        def inspect(data: bytes) -> bool:
            # A COMMIT: a simple query ('Q', its length, "COMMIT\0"), as psycopg sends it. (Which
            # statements came before cannot be told: psycopg sends a prepared statement's name only.)
            if b"Q\x00\x00\x00\x0bCOMMIT\x00" in data:
                how = self.proxy._take_cut()
                if how == "before":
                    return False
                if how == "after":
                    self._drop_answer.set()
            return True

        self._pump(self.client, self.server, inspect)

    def _downstream(self) -> None:
        self._pump(self.server, self.client, lambda data: not self._drop_answer.is_set())


def main() -> None:
    proxy = DbProxy((sys.argv[1], int(sys.argv[2])))
    print(proxy.port, flush=True)
    for line in sys.stdin:
        command, *numbers = line.split()
        if command == "refuse":
            proxy.refuse()
        elif command == "accept":
            proxy.accept()
        elif command == "cut":
            proxy.cut_commits(int(numbers[0]), int(numbers[1]))
        elif command == "counts":
            with proxy._lock:
                print(json.dumps({"cut_before": proxy.cut_before, "cut_after": proxy.cut_after,
                                  "reset": proxy.reset}), flush=True)
            continue
        print("ok", flush=True)
    proxy.close()


if __name__ == "__main__":
    main()
