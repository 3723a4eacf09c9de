"""Where customers come from outside the phonebook: a CSV file, or a licensing service over HTTP.

Each is a `Source` (`ivr.engine.entitlement`): the verdict stays a pure function of the record
and the instant; these adapters only find the record, count lookups and failures, and raise
`SourceUnavailable` when they cannot tell. `Sources` picks the one the phonebook in force names.
Nothing here knows about Flask.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import requests

from ivr.config import default
from ivr.engine.entitlement import Failure, PhonebookSource, Source, SourceUnavailable
from ivr.engine.instants import iso
from ivr.engine.phonebook import (
    DEFAULT_CACHE_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    Customer,
    CustomerIndex,
    EntitlementSettings,
    Phonebook,
    sen_digits,
)
from ivr.engine.phonebook_loader import read_customer
from ivr.outside.customers_csv import load_customers_csv
from ivr.outside.deadline import DeadlineAdapter, run_within
from ivr.store.counters import Counters
from ivr.store.reloading import WatchedFile

V = TypeVar("V")

# The name operators filter on (README: "logger `ivr.entitlements`"), kept when the module moved.
log = logging.getLogger("ivr.entitlements")


# Why a licensing lookup failed open without asking the API: the breaker is open (the last lookups
# failed), or this process has spent its time budget waiting on the API. Counted beside the
# failures' reasons (ivr_entitlement_failures_total{reason}).
CIRCUIT_OPEN = "circuit_open"
NO_BUDGET = "budget"
FAILED_FAST = (CIRCUIT_OPEN, NO_BUDGET)


class SourceStats:
    """Lookups, cache hits and failures of one kind of source ('file', 'url') in `counters`, kept
    across reloads, for /metrics and /healthz."""

    def __init__(self, kind: str, counters: Counters | None = None):
        self.kind = kind
        self.counters = counters or Counters.create()
        # Every series exists from the start at 0, so the first failure shows as a rise.
        self._lookups = self.counters.entitlement_lookups.labels(kind)
        self._cache_hits = self.counters.entitlement_cache_hits.labels(kind)
        self._failures = {reason: self.counters.entitlement_failures.labels(kind, reason.value) for reason in Failure}
        if kind == "url":
            for why in FAILED_FAST:
                self.counters.entitlement_failures.labels(kind, why)

    def looked_up(self, *, cached: bool) -> None:
        self._lookups.inc()
        if cached:
            self._cache_hits.inc()

    def failed(self, source: str, reason: Failure, detail: str) -> SourceUnavailable:
        """Count and log a failure; returns the exception for the caller to raise."""
        self._failures[reason].inc()
        log.warning("entitlement source %s failed (%s): %s", source, reason.value, detail)
        return SourceUnavailable(reason, detail)

    def failed_fast(self, source: str, why: str, reason: Failure, detail: str) -> SourceUnavailable:
        """Count and log a lookup refused without asking the source (`why`: one of FAILED_FAST);
        returns the exception, with the reason of the failures behind it, for the caller to raise."""
        self.counters.entitlement_failures.labels(self.kind, why).inc()
        log.warning("entitlement source %s not asked (%s): %s", source, why, detail)
        return SourceUnavailable(reason, detail)

    def fast_failures(self) -> dict[str, int]:
        """Lookups refused without asking the source, by why (in multiprocess mode, of every worker)."""
        totals = self.counters.totals()
        return {why: totals.count("ivr_entitlement_failures_total", source=self.kind, reason=why)
                for why in FAILED_FAST}

    def snapshot(self) -> dict:
        """The counts so far (in multiprocess mode, of every worker)."""
        totals = self.counters.totals()
        return {
            "lookups": totals.count("ivr_entitlement_lookups_total", source=self.kind),
            "cache_hits": totals.count("ivr_entitlement_cache_hits_total", source=self.kind),
            "failures": {
                reason.value: totals.count("ivr_entitlement_failures_total", source=self.kind, reason=reason.value)
                for reason in Failure
            },
        }


# --- a CSV file ----------------------------------------------------------------------------


class FileSource:
    """Customers from a CSV file, re-read when the file changes. A broken edit is refused and the
    last good data stays in force; until some version has loaded, every lookup is a failure.
    The file is looked at on every lookup: a `stat` is cheap next to a call."""

    def __init__(self, path: Path, stats: SourceStats | None = None):
        self.stats = stats or SourceStats("file")
        self._file = WatchedFile(path, load_customers_csv, what="entitlements file", log=log, interval=0)

    @property
    def path(self) -> Path:
        return self._file.path

    def by_sen(self, sen: str) -> Customer | None:
        return self._current().by_sen(sen)

    def by_admin(self, number: str) -> tuple[Customer, ...]:
        return self._current().by_admin(number)

    def state(self) -> dict[str, object]:
        index = self._file.current()
        return {
            "source": "file",
            "file": str(self.path),
            "customers": len(index or ()),
            # The modification time of the version in force, which says which edit it is.
            "loaded_version": None if index is None or self._file.version is None else iso(self._file.version),
            "last_error": self._file.last_error,
            **self.stats.snapshot(),
        }

    def _current(self) -> CustomerIndex:
        index = self._file.current()
        self.stats.looked_up(cached=False)
        if index is None:
            raise self.stats.failed(str(self.path), Failure.NO_DATA, self._file.last_error or "not loaded")
        return index


# --- a licensing service -----------------------------------------------------------------

CACHE_ENTRIES = 10_000
# Consecutive failures count towards opening the breaker while each comes within this long of the last.
FAILURE_WINDOW_SECONDS = 60.0
# The wait budget refills at this many seconds per second: in the long run a worker spends at most a
# quarter of its time waiting on a slow API, whatever the traffic.
BUDGET_REFILL = 0.25
# Below this much budget a lookup is not worth starting.
SHORTEST_WAIT = 0.05
# What the waiting webhook gives the lookup's thread past its deadline to report how it ended (the
# socket is cut at the deadline, so it ends at once); only a stall no socket sees (a name lookup)
# is abandoned.
REPORT_GRACE = 0.05


class TtlCache:
    """Answers kept for `seconds` by an injected monotonic clock; the oldest go first when full."""

    def __init__(self, seconds: float, clock: Callable[[], float]):
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._items: dict[object, tuple[float, object]] = {}

    def get(self, key: object) -> tuple[bool, object]:
        """(True, value) while the answer is fresh, else (False, None)."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return False, None
            if item[0] <= self.clock():
                del self._items[key]
                return False, None
            return True, item[1]

    def put(self, key: object, value: object) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            self._items.pop(key, None)
            while len(self._items) >= CACHE_ENTRIES:
                del self._items[next(iter(self._items))]
            self._items[key] = (self.clock() + self.seconds, value)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    """A circuit breaker shared by every thread of a process. Closed, lookups go to the API; after
    `failures` consecutive failures to answer (time-outs, refused connections, error statuses; a
    malformed record is an answer) (each within FAILURE_WINDOW_SECONDS of the one before) it opens,
    and for `cool_down` seconds every lookup fails open at once, without asking. Then it is
    half-open: one lookup (the probe) goes through while the others still fail at once; the probe's
    success closes it, its failure opens it for another cool-down."""

    def __init__(self, failures: int, cool_down: float, clock: Callable[[], float] = time.monotonic):
        self.failures = failures
        self.cool_down = cool_down
        self.clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._last_failure: float | None = None
        self._last_reason = Failure.TIMEOUT
        self._retry_at = 0.0
        self._opened = 0

    def admit(self) -> bool:
        """Whether a lookup may ask the API now; the caller then reports `succeeded`, `failed` or `withdrew`."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.OPEN and self.clock() >= self._retry_at:
                self._state = BreakerState.HALF_OPEN  # this lookup is the probe
                return True
            return False

    def succeeded(self) -> None:
        with self._lock:
            if self._state is not BreakerState.CLOSED:
                log.warning("licensing API answered again: lookups go to it again")
            self._state = BreakerState.CLOSED
            self._consecutive = 0
            self._last_failure = None

    def failed(self, reason: Failure) -> None:
        with self._lock:
            now = self.clock()
            self._last_reason = reason
            if self._last_failure is None or now - self._last_failure > FAILURE_WINDOW_SECONDS:
                self._consecutive = 0
            self._consecutive += 1
            self._last_failure = now
            if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED and self._consecutive >= self.failures
            ):
                self._state = BreakerState.OPEN
                self._retry_at = now + self.cool_down
                self._opened += 1
                log.warning("licensing API failed %d time(s) in a row (last: %s): lookups fail open at once "
                            "for %g s, then one is let through", self._consecutive, reason.value, self.cool_down)

    def withdrew(self) -> None:
        """An admitted lookup that did not ask after all: a probe's turn goes to the next lookup."""
        with self._lock:
            if self._state is BreakerState.HALF_OPEN:
                self._state = BreakerState.OPEN

    @property
    def last_reason(self) -> Failure:
        """The reason of the last failure, given with each lookup refused while open."""
        return self._last_reason

    def retry_in(self) -> float:
        with self._lock:
            return max(0.0, self._retry_at - self.clock()) if self._state is BreakerState.OPEN else 0.0

    def state(self) -> dict[str, object]:
        """This process's breaker, for /healthz."""
        retry_in = self.retry_in()
        with self._lock:
            return {
                "state": self._state.value,
                "consecutive_failures": self._consecutive,
                "opened": self._opened,
                "retry_in_seconds": round(retry_in, 3),
            }


class WaitBudget:
    """Seconds a process may spend waiting on the API, shared by its threads: at most `seconds` at
    once, refilled at BUDGET_REFILL per second. A lookup waits at most what is left, so a run of
    slow answers cannot queue a sync worker's webhooks behind one another. 0: no budget."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._left = seconds
        self._at = clock()

    def left(self) -> float:
        if self.seconds <= 0:
            return float("inf")
        with self._lock:
            self._refill()
            return self._left

    def spend(self, seconds: float) -> None:
        with self._lock:
            self._refill()
            self._left = max(0.0, self._left - seconds)

    def _refill(self) -> None:
        now = self.clock()
        self._left = min(self.seconds, self._left + (now - self._at) * BUDGET_REFILL)
        self._at = now


def admin_url(url: str) -> str:
    """The reverse-lookup address: the SEN address cut before the path segment holding {sen},
    with its query (an API key, say) kept: 'https://licensing.example.com/sen/{sen}' ->
    'https://licensing.example.com/sen'."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    cut = next(i for i, segment in enumerate(segments) if "{sen}" in segment)
    return urlunsplit((parts.scheme, parts.netloc, "/".join(segments[:cut]), parts.query, ""))


class UrlSource:
    """Customers from a licensing service over HTTP.

    GET url (with {sen} replaced by the SEN's digits) answers 200 with a JSON customer record or
    404 for an unknown SEN. With admin_lookup, GET admin_url(url)?admin=+E164 answers 200 with a
    JSON array of customer records (empty or 404 for none). Answers, including "unknown", are
    cached for cache_seconds; failures are not, so the next call tries again.

    A lookup never waits longer than timeout_seconds in all, however the API trickles its reply:
    the connection is cut at the deadline (`ivr.outside.deadline`), so nothing keeps reading it
    and later lookups never queue behind it. It waits less when the process's wait budget is low,
    and not at all while the breaker is open; every such lookup fails open like any failure.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        admin_lookup: bool = False,
        clock: Callable[[], float] = time.monotonic,
        stats: SourceStats | None = None,
        breaker: Breaker | None = None,
        budget: WaitBudget | None = None,
    ):
        self.url = url
        self.admin_lookup = admin_lookup
        self.timeout_seconds = timeout_seconds
        self.stats = stats or SourceStats("url")
        self.breaker = breaker or Breaker(default("IVR_LICENSING_FAILURES"), default("IVR_LICENSING_COOL_DOWN_SECONDS"))
        self.budget = budget or WaitBudget(default("IVR_LICENSING_BUDGET_SECONDS"))
        self._cache = TtlCache(cache_seconds, clock)
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session = requests.Session()
        adapter = DeadlineAdapter(timeout_seconds)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def by_sen(self, sen: str) -> Customer | None:
        digits = sen_digits(sen)
        return self._cached(("sen", digits), lambda wait: self._fetch_sen(digits, wait))

    def by_admin(self, number: str) -> tuple[Customer, ...]:
        if not self.admin_lookup:
            return ()
        return self._cached(("admin", number), lambda wait: self._fetch_admin(number, wait))

    def state(self) -> dict[str, object]:
        return {
            "source": "url",
            "url": self.url,
            **self.stats.snapshot(),
            "failed_fast": self.stats.fast_failures(),
            "breaker": self.breaker.state(),
            "budget_left_seconds": round(self.budget.left(), 3) if self.budget.seconds > 0 else None,
        }

    def close(self) -> None:
        self._session.close()

    def _cached(self, key: tuple[str, str], fetch: Callable[[float], V]) -> V:
        hit, value = self._cache.get(key)
        self.stats.looked_up(cached=hit)
        if not hit:
            value = self._guarded(fetch)
            self._cache.put(key, value)
        return cast(V, value)  # what fetch returned for this key

    def _guarded(self, fetch: Callable[[float], V]) -> V:
        """`fetch(wait)` when the breaker and the budget allow it, with the seconds it may wait; its
        outcome told to the breaker."""
        if not self.breaker.admit():
            raise self.stats.failed_fast(
                self.url, CIRCUIT_OPEN, self.breaker.last_reason,
                f"the last lookups failed; the next one goes through in {self.breaker.retry_in():.1f} s",
            )
        wait = min(self.timeout_seconds, self.budget.left())
        if wait < SHORTEST_WAIT:
            self.breaker.withdrew()
            raise self.stats.failed_fast(self.url, NO_BUDGET, Failure.TIMEOUT,
                                         "this worker has spent its time budget waiting on the licensing API")
        start = time.monotonic()
        try:
            value = fetch(wait)
        except SourceUnavailable as failure:
            if failure.reason is Failure.MALFORMED:
                # The API answered, in time: one customer's bad record must not cut off every caller.
                self.breaker.succeeded()
            else:
                self.breaker.failed(failure.reason)
            raise
        finally:
            self.budget.spend(time.monotonic() - start)
        self.breaker.succeeded()
        return value

    def _fetch_sen(self, digits: str, wait: float) -> Customer | None:
        url = self.url.format(sen=digits)
        response = self._get(url, None, wait)
        if response is None:
            return None
        customer = self._customer(url, self._json(url, response))
        if customer.sen_digits != digits:
            raise self.stats.failed(url, Failure.MALFORMED, f"answered for SEN {customer.sen}")
        return customer

    def _fetch_admin(self, number: str, wait: float) -> tuple[Customer, ...]:
        url = admin_url(self.url)
        response = self._get(url, {"admin": number}, wait)
        if response is None:
            return ()
        records = self._json(url, response)
        if not isinstance(records, list):
            raise self.stats.failed(url, Failure.MALFORMED, "the admin lookup must answer a JSON array")
        customers = tuple(self._customer(url, record) for record in records)
        # A recognised caller's SEN is looked up again for the engineer's whisper: answer it from here.
        for customer in customers:
            self._cache.put(("sen", customer.sen_digits), customer)
        return customers

    def _get(self, url: str, params: dict | None, wait: float) -> requests.Response | None:
        """The 200 response, None for 404; anything else raises SourceUnavailable. The request runs
        on a thread of its own, so even a stall that no socket sees (a name lookup) cannot hold the
        webhook past its deadline; the answer is read here, on the webhook's thread."""
        try:
            response = run_within(
                wait,
                lambda: self._session.get(url, params=params, headers=self._headers, timeout=self.timeout_seconds),
                grace=REPORT_GRACE, name="licensing",
            )
        except requests.Timeout:
            raise self.stats.failed(url, Failure.TIMEOUT, f"no complete answer within {wait:.2g} s") from None
        except requests.RequestException as exc:
            raise self.stats.failed(url, Failure.CONNECTION, str(exc)) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self.stats.failed(url, Failure.STATUS, f"HTTP {response.status_code}")
        return response

    def _json(self, url: str, response: requests.Response) -> object:
        try:
            return response.json()
        except ValueError as exc:
            raise self.stats.failed(url, Failure.MALFORMED, f"not JSON: {exc}") from None

    def _customer(self, url: str, record: object) -> Customer:
        if not isinstance(record, dict):
            raise self.stats.failed(url, Failure.MALFORMED, "a customer record must be a JSON object")
        customer, problems = read_customer(record)
        if customer is None:
            raise self.stats.failed(url, Failure.MALFORMED, "; ".join(f"{p.path}: {p.message}" for p in problems))
        return customer


# --- choosing the source -------------------------------------------------------------------


class Sources:
    """The source the current phonebook names. One instance per configuration is kept across
    phonebook reloads (its cache and loaded file survive an unrelated edit); the counts are kept
    in `counters`, one SourceStats per kind of source."""

    def __init__(
        self,
        token: str | None = None,
        counters: Counters | None = None,
        *,
        breaker_failures: int = default("IVR_LICENSING_FAILURES"),
        cool_down_seconds: float = default("IVR_LICENSING_COOL_DOWN_SECONDS"),
        budget_seconds: float = default("IVR_LICENSING_BUDGET_SECONDS"),
    ):
        self.token = token
        self.breaker_failures = breaker_failures
        self.cool_down_seconds = cool_down_seconds
        self.budget_seconds = budget_seconds
        counters = counters or Counters.create()
        self.stats = {kind: SourceStats(kind, counters) for kind in ("file", "url")}
        self._lock = threading.Lock()
        self._settings: EntitlementSettings | None = None
        self._source: FileSource | UrlSource | None = None

    def for_phonebook(self, phonebook: Phonebook) -> Source:
        settings = phonebook.entitlements
        if settings is None:
            return PhonebookSource(phonebook)
        with self._lock:
            if self._source is None or settings != self._settings:
                # The old source is not closed: a webhook may still be using it; it goes with
                # its last reference.
                self._source = self._build(settings)
                self._settings = settings
            return self._source

    def _build(self, settings: EntitlementSettings) -> FileSource | UrlSource:
        if settings.file is not None:
            return FileSource(settings.file, self.stats["file"])
        assert settings.url is not None  # the loader requires a file or a url
        return UrlSource(
            settings.url,
            token=self.token,
            timeout_seconds=settings.timeout_seconds,
            cache_seconds=settings.cache_seconds,
            admin_lookup=settings.admin_lookup,
            stats=self.stats["url"],
            breaker=Breaker(self.breaker_failures, self.cool_down_seconds),
            budget=WaitBudget(self.budget_seconds),
        )
