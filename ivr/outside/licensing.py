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
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import requests

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
from ivr.store.counters import Counters
from ivr.store.reloading import WatchedFile

V = TypeVar("V")

# The name operators filter on (README: "logger `ivr.entitlements`"), kept when the module moved.
log = logging.getLogger("ivr.entitlements")


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

    def looked_up(self, *, cached: bool) -> None:
        self._lookups.inc()
        if cached:
            self._cache_hits.inc()

    def failed(self, source: str, reason: Failure, detail: str) -> SourceUnavailable:
        """Count and log a failure; returns the exception for the caller to raise."""
        self._failures[reason].inc()
        log.warning("entitlement source %s failed (%s): %s", source, reason.value, detail)
        return SourceUnavailable(reason, detail)

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

# Enough for a few webhooks waiting at once; a lookup that outlives its deadline keeps its
# worker only until requests' own time-out ends it.
LOOKUP_WORKERS = 4
CACHE_ENTRIES = 10_000


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
    cached for cache_seconds; failures are not, so the next call tries again. A lookup never
    takes longer than timeout_seconds: it runs on a worker thread and is abandoned at the
    deadline, because requests' own timeout applies to each socket read, not to the whole reply.
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
    ):
        self.url = url
        self.admin_lookup = admin_lookup
        self.timeout_seconds = timeout_seconds
        self.stats = stats or SourceStats("url")
        self._cache = TtlCache(cache_seconds, clock)
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session = requests.Session()
        self._workers = ThreadPoolExecutor(LOOKUP_WORKERS, thread_name_prefix="licensing")

    def by_sen(self, sen: str) -> Customer | None:
        digits = sen_digits(sen)
        return self._cached(("sen", digits), lambda: self._fetch_sen(digits))

    def by_admin(self, number: str) -> tuple[Customer, ...]:
        if not self.admin_lookup:
            return ()
        return self._cached(("admin", number), lambda: self._fetch_admin(number))

    def state(self) -> dict[str, object]:
        return {"source": "url", "url": self.url, **self.stats.snapshot()}

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    def _cached(self, key: tuple[str, str], fetch: Callable[[], V]) -> V:
        hit, value = self._cache.get(key)
        self.stats.looked_up(cached=hit)
        if not hit:
            value = fetch()
            self._cache.put(key, value)
        return cast(V, value)  # what fetch returned for this key

    def _fetch_sen(self, digits: str) -> Customer | None:
        url = self.url.format(sen=digits)
        response = self._get(url, None)
        if response is None:
            return None
        customer = self._customer(url, self._json(url, response))
        if customer.sen_digits != digits:
            raise self.stats.failed(url, Failure.MALFORMED, f"answered for SEN {customer.sen}")
        return customer

    def _fetch_admin(self, number: str) -> tuple[Customer, ...]:
        url = admin_url(self.url)
        response = self._get(url, {"admin": number})
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

    def _get(self, url: str, params: dict | None) -> requests.Response | None:
        """The 200 response, None for 404; anything else raises SourceUnavailable."""
        future = self._workers.submit(
            self._session.get, url, params=params, headers=self._headers, timeout=self.timeout_seconds
        )
        try:
            response = future.result(timeout=self.timeout_seconds)
        except (FutureTimeout, requests.Timeout):
            # Frees the worker slot when the lookup is still queued behind slow ones.
            future.cancel()
            raise self.stats.failed(url, Failure.TIMEOUT, f"no answer within {self.timeout_seconds:g} s") from None
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

    def __init__(self, token: str | None = None, counters: Counters | None = None):
        self.token = token
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
        )
