"""Password guessing, slowed down: after a few wrong passwords from one client address, and after
many from everyone together (a botnet spreads its guesses over many addresses), every further
attempt is refused for a wait that doubles with each failure, up to a ceiling.

The counts live in the worker's memory: each gunicorn worker (and each instance) counts on its
own, so a client gets at most `WEB_CONCURRENCY` times the allowance. That is still a few guesses a
minute instead of hundreds a second. A right password clears its client's count.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """`free` failures cost nothing; the next waits `first` seconds, each later one twice the one
    before, at most `longest`; a record quiet for `forget` seconds starts again from zero."""

    free: int
    first: float
    longest: float
    forget: float

    def wait(self, failures: int) -> float:
        if failures <= self.free:
            return 0.0
        return min(self.longest, self.first * 2.0 ** min(failures - self.free - 1, 64))


# One client: 5 tries, then 1 s, 2 s, 4 s ... up to 15 minutes between guesses.
PER_CLIENT = Backoff(free=5, first=1.0, longest=15 * 60.0, forget=3600.0)
# Everyone together: 100 wrong passwords, then the same doubling up to a minute between guesses.
OVERALL = Backoff(free=100, first=1.0, longest=60.0, forget=600.0)
# Clients remembered at most (the oldest are forgotten first).
MAX_CLIENTS = 10_000


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


class LoginThrottle:
    """Wrong passwords by client address, and overall; `retry_after` says how long to wait."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        per_client: Backoff = PER_CLIENT,
        overall: Backoff = OVERALL,
        max_clients: int = MAX_CLIENTS,
    ):
        self.clock = clock
        self.per_client = per_client
        self.overall = overall
        self.max_clients = max_clients
        self._lock = threading.Lock()
        self._clients: dict[str, _Failures] = {}
        self._everyone = _Failures()

    def retry_after(self, client: str) -> int:
        """Whole seconds before `client` may try a password (0: now)."""
        now = self.clock()
        with self._lock:
            left = max(
                _left(self._clients.get(client), self.per_client, now),
                _left(self._everyone, self.overall, now),
            )
        return math.ceil(left)

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            record = self._clients.pop(client, None)
            if record is None or now - record.last > self.per_client.forget:
                record = _Failures()
            record.count += 1
            record.last = now
            self._clients[client] = record  # last in the dict: the most recent
            while len(self._clients) > self.max_clients:
                del self._clients[next(iter(self._clients))]
            if now - self._everyone.last > self.overall.forget:
                self._everyone = _Failures()
            self._everyone.count += 1
            self._everyone.last = now

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)


def _left(record: _Failures | None, backoff: Backoff, now: float) -> float:
    if record is None or now - record.last > backoff.forget:
        return 0.0
    return max(0.0, record.last + backoff.wait(record.count) - now)
