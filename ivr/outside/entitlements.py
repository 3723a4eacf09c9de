"""Who may call: the entitlement check for a SEN at an instant, and where customers come from.

The verdict is a pure function of the customer record and the instant; where the record comes
from (the phonebook, a CSV file, a licensing service) is a `Source`. A source that cannot answer
raises `SourceUnavailable`, which is not the same as "no such SEN": the call flow fails open for
level 1 calls (`Verdict.UNVERIFIED`). Nothing here knows about Flask.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import requests

from ivr.engine.hours import did_you_mean
from ivr.engine.instants import iso
from ivr.engine.phonebook import (
    DEFAULT_CACHE_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    PHONE_TIERS,
    Customer,
    CustomerIndex,
    EntitlementSettings,
    Phonebook,
    PhonebookError,
    Problem,
    is_e164,
    sen_digits,
)
from ivr.engine.phonebook_loader import CUSTOMER_KEYS, read_customer, read_text
from ivr.store.counters import Counters
from ivr.store.reloading import WatchedFile

V = TypeVar("V")

log = logging.getLogger(__name__)


class Verdict(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    TIER = "tier"
    # The source could not answer (time-out, error, bad data): neither allowed nor refused.
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Entitlement:
    verdict: Verdict
    customer: Customer | None

    @property
    def may_call(self) -> bool:
        return self.verdict is Verdict.OK


def entitlement(customer: Customer | None, at: datetime) -> Entitlement:
    if customer is None:
        return Entitlement(Verdict.UNKNOWN, None)
    if not customer.maintained_at(at):
        return Entitlement(Verdict.EXPIRED, customer)
    if customer.tier not in PHONE_TIERS:
        return Entitlement(Verdict.TIER, customer)
    return Entitlement(Verdict.OK, customer)


class Failure(StrEnum):
    """Why a source could not answer; the label of the failure counter."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    STATUS = "status"
    MALFORMED = "malformed"
    NO_DATA = "no_data"


class SourceUnavailable(Exception):
    def __init__(self, reason: Failure, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class Source(Protocol):
    """Customer records by SEN and by admin phone number; raises SourceUnavailable when it cannot tell.
    `state()` says where the records come from and how lookups went, for /healthz."""

    def by_sen(self, sen: str) -> Customer | None: ...

    def by_admin(self, number: str) -> tuple[Customer, ...]: ...

    def state(self) -> dict: ...


def check(source: Source, sen: str, at: datetime) -> Entitlement:
    """The verdict for the SEN a caller typed, UNVERIFIED when the source cannot answer."""
    try:
        customer = source.by_sen(sen)
    except SourceUnavailable:
        return Entitlement(Verdict.UNVERIFIED, None)
    return entitlement(customer, at)


def recognise(source: Source, number: str) -> Customer | None:
    """The customer whose admin is calling from `number`, when exactly one is; None otherwise,
    including when the source cannot tell (the caller is then asked for the SEN)."""
    if not is_e164(number):
        # 'anonymous', 'unknown': no admin has that number, so no source is asked.
        return None
    try:
        customers = source.by_admin(number)
    except SourceUnavailable:
        return None
    return customers[0] if len(customers) == 1 else None


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


@dataclass(frozen=True)
class PhonebookSource:
    """Customers listed in the phonebook's [[customers]]."""

    phonebook: Phonebook

    def by_sen(self, sen: str) -> Customer | None:
        return self.phonebook.customer_by_sen(sen)

    def by_admin(self, number: str) -> tuple[Customer, ...]:
        return self.phonebook.customers_by_admin(number)

    def state(self) -> dict:
        return {"source": "phonebook", "customers": len(self.phonebook.customers)}


# --- a CSV file ----------------------------------------------------------------------------

CSV_REQUIRED = ("sen", "name", "tier", "maintenance_until")


def parse_customers_csv(text: str) -> tuple[tuple[Customer, ...], list[Problem]]:
    """Customers from CSV text with a header row (sen,name,tier,maintenance_until,admins; admins
    separated by spaces). Every bad row is reported with its line number as the problem's path."""
    reader = csv.DictReader(io.StringIO(text), restkey="")
    header = reader.fieldnames or []
    problems = [
        Problem("line 1", f"column {column!r} is missing") for column in CSV_REQUIRED if column not in header
    ]
    for column in header:
        if column not in CUSTOMER_KEYS:
            suggestion = did_you_mean(column, CUSTOMER_KEYS) or f" (known: {', '.join(CUSTOMER_KEYS)})"
            problems.append(Problem("line 1", f"unknown column {column!r}{suggestion}"))
    if problems:
        return (), problems
    customers: list[Customer] = []
    seen: dict[str, int] = {}
    for row in reader:
        # line_num counts physical lines (blank lines too); a quoted field spanning lines
        # reports the row's last line.
        line = reader.line_num
        where = f"line {line}"
        if "" in row:
            problems.append(Problem(where, f"has {len(header) + len(row[''])} cells, the header {len(header)}"))
            continue
        record = {key: value.strip() for key, value in row.items() if value is not None and value.strip()}
        record["admins"] = record.get("admins", "").split()
        customer, bad = read_customer(record)
        problems.extend(Problem(where, f"{p.path}: {p.message}") for p in bad)
        if customer is None:
            continue
        if customer.sen_digits in seen:
            problems.append(Problem(where, f"sen: {customer.sen} is already used on line {seen[customer.sen_digits]}"))
            continue
        seen[customer.sen_digits] = line
        customers.append(customer)
    return tuple(customers), problems


def read_customers_csv(path: Path) -> tuple[tuple[Customer, ...], list[Problem]]:
    try:
        # utf-8-sig: spreadsheets often start their CSV exports with a byte-order mark.
        text = read_text(path, "utf-8-sig")
    except PhonebookError as error:
        return (), error.problems
    return parse_customers_csv(text)


class CustomersFileError(PhonebookError):
    """A CSV file with bad rows, refused as a whole; its text, for /healthz, names the first."""

    def __str__(self) -> str:
        return f"{len(self.problems)} problem(s), first: {self.problems[0]}"


def load_customers_csv(path: Path) -> CustomerIndex:
    customers, problems = read_customers_csv(path)
    if problems:
        raise CustomersFileError(str(path), problems)
    return CustomerIndex(customers)


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

    def state(self) -> dict:
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

    def state(self) -> dict:
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


def check_source(phonebook: Phonebook) -> list[Problem]:
    """What `ivr check` adds for [entitlements]: every bad row of the CSV file, with its line number.
    A licensing service is not called by a check."""
    settings = phonebook.entitlements
    if settings is None or settings.file is None:
        return []
    return read_customers_csv(settings.file)[1]

