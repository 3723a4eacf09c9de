"""Servers the tests run in a thread of their own process (a slow API, an alert webhook, the
console for a browser), stopped as soon as their block ends."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from socketserver import BaseServer
from typing import TypeVar

Server = TypeVar("Server", bound=BaseServer)

# How often the serving thread looks for a stop: socketserver's own 0.5 s would add up to half a
# second to every test that stops a server.
STOP_POLL_SECONDS = 0.02


@contextlib.contextmanager
def serving(server: Server, name: str = "test-server") -> Iterator[Server]:
    """`server` answers in a daemon thread until the block ends; then it stops and closes its socket."""
    thread = threading.Thread(target=server.serve_forever, args=(STOP_POLL_SECONDS,), name=name, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
