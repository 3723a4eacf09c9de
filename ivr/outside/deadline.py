"""Outbound HTTP that ends by a total deadline: licensing lookups, alerts, texts.

requests' `timeout` bounds the connect and each socket read, never the whole exchange: a server
that sends one byte a second never trips a read time-out and holds the caller for as long as it
likes. `DeadlineAdapter` ends every request it sends by a total deadline: a watchdog thread shuts
the connection's socket down at the deadline, which wakes a blocked read at once, and the request
raises `DeadlineExceeded` (a `requests.Timeout`). The connection is then dropped, never reused, and
the thread that sent the request is free again: nothing is left reading a trickle in the background.

`deadline(seconds)` shortens the deadline of the requests a thread sends inside the block (a round
of alerts with little lease left, a lookup with little time budget left); `run_within` bounds what
no socket time-out covers (a name lookup, a stalled test double) by abandoning a thread.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager

T = TypeVar("T")


class DeadlineExceeded(requests.exceptions.Timeout):
    """No complete answer (headers and body) within the total deadline."""


_local = threading.local()


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Requests this thread sends inside the block end `seconds` from now at the latest (or at the
    adapter's own deadline, when that comes first)."""
    outer: float | None = getattr(_local, "until", None)
    until = time.monotonic() + seconds
    _local.until = until if outer is None else min(outer, until)
    try:
        yield
    finally:
        _local.until = outer


class _Exchange:
    """One request under way: its deadline, and the connection to cut when the deadline passes."""

    def __init__(self, until: float):
        self.until = until
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._finished = False

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _cut(sock)

    def expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._expired = True
            for sock in self._sockets:
                _cut(sock)

    def finish(self) -> bool:
        """No more cutting; whether the deadline passed first."""
        with self._lock:
            self._finished = True
            return self._expired


def _cut(sock: socket.socket) -> None:
    # shutdown, not close: it wakes a read blocked in another thread at once (close may not), and
    # the socket's owner still closes it. Called as the plain socket's so TLS state is left alone.
    with suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _attach(connection: Any) -> None:
    # The socket itself is kept: http.client lets go of it (sock = None) once the response owns it.
    exchange: _Exchange | None = getattr(_local, "exchange", None)
    sock = getattr(connection, "sock", None)
    if exchange is not None and sock is not None:
        exchange.attach(sock)


class _Watchdog:
    """One thread per process that expires exchanges at their deadline; started on first use, so
    after gunicorn forks."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._due: list[tuple[float, int, _Exchange]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, exchange: _Exchange) -> None:
        with self._changed:
            heapq.heappush(self._due, (exchange.until, next(self._order), exchange))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadline", daemon=True)
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while True:
                    if not self._due:
                        self._changed.wait()
                        continue
                    wait = self._due[0][0] - time.monotonic()
                    if wait <= 0:
                        exchange = heapq.heappop(self._due)[2]
                        break
                    self._changed.wait(wait)
            # Finished exchanges stay queued until their deadline; expiring one does nothing.
            exchange.expire()


_WATCHDOG = _Watchdog()


class _HTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _attach(self)  # cut at once if the deadline passed while connecting


class _HTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _attach(self)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls: type[HTTPConnection] = _HTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _attach(connection)
        return connection


class _HTTPSPool(_HTTPPool, HTTPSConnectionPool):
    """The HTTPS pool's own behaviour, with _HTTPPool's attaching of every connection it hands out."""

    ConnectionCls = _HTTPSConnection


_POOLS: dict[str, type] = {"http": _HTTPPool, "https": _HTTPSPool}


def _within(timeout: Any, left: float) -> Any:
    """requests' timeout (None, seconds, or (connect, read)) with no part beyond `left`."""
    if isinstance(timeout, tuple):
        return tuple(left if part is None else min(part, left) for part in timeout)
    return left if timeout is None else min(timeout, left)


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose every request, body included, ends within `seconds` (or the thread's
    `deadline(...)`, when sooner) or raises DeadlineExceeded. The body is always read here, so
    `stream=True` gives no more time."""

    def __init__(self, seconds: float, **kwargs: Any):
        self.seconds = seconds
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:  # a SOCKS proxy keeps its own pools (and only run_within)
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: bool | str = True, cert: Any = None, proxies: Mapping[str, str] | None = None,
             ) -> requests.Response:
        start = time.monotonic()
        outer: float | None = getattr(_local, "until", None)
        until = start + self.seconds if outer is None else min(start + self.seconds, outer)
        if until <= start:
            raise DeadlineExceeded("no time left to send the request", request=request)
        exchange = _Exchange(until)
        _local.exchange = exchange
        _WATCHDOG.watch(exchange)
        try:
            response = super().send(request, stream=True, timeout=_within(timeout, until - start), verify=verify,
                                    cert=cert, proxies=proxies)
            _ = response.content  # the whole body, within the deadline
        except requests.RequestException:
            if exchange.finish():
                raise self._late(request, until - start) from None
            raise
        finally:
            _local.exchange = None
        # A cut connection can also read as a short body without an error: whatever came, it came late.
        if exchange.finish():
            raise self._late(request, until - start)
        return response

    @staticmethod
    def _late(request: requests.PreparedRequest, seconds: float) -> DeadlineExceeded:
        return DeadlineExceeded(f"no complete answer within {seconds:.2g} s", request=request)


def deadline_session(seconds: float) -> requests.Session:
    """A Session whose every request ends within `seconds`."""
    session = requests.Session()
    adapter = DeadlineAdapter(seconds)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def run_within(seconds: float, work: Callable[[], T], *, grace: float = 0.0, name: str = "deadline") -> T:
    """`work()` on a fresh thread whose requests end within `seconds`: its result or exception.
    DeadlineExceeded when it has not reported `grace` seconds later, the thread then abandoned (a
    fresh one each time, so an abandoned one never queues later work)."""
    outcome: Future[T] = Future()

    def run() -> None:
        try:
            with deadline(seconds):
                outcome.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        return outcome.result(timeout=seconds + grace)
    except FutureTimeout:
        raise DeadlineExceeded(f"no complete answer within {seconds:.2g} s") from None
