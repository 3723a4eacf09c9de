"""The call log: every call's timeline of events, a summary row per call for the console, and
each L1 call's alert state (what `ivr.outside.alerts` sends, and when).

SQLAlchemy Core behind the small `CallLog` interface. The embedded default is SQLite in the
instance folder (WAL, so several gunicorn workers share it); `DATABASE_URL` selects PostgreSQL
for several instances. `CallLog.record` is the webhooks' event sink: it never raises and never
waits long (a writer thread stores the event while the webhook waits at most `RECORD_WAIT_S`);
when the database is down, locked or unreachable the event goes to the log as JSON and
`health()` says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    Row,
    Select,
    String,
    Table,
    Text,
    TypeDecorator,
    and_,
    case,
    create_engine,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from ivr.engine.events import LogSink
from ivr.engine.instants import iso
from ivr.engine.outcomes import IN_PROGRESS, Event, Outcome, Summary, alert_due, summarise
from ivr.store.counters import Counters

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

SQLITE_FILE = "calllog.sqlite3"
# A webhook waits at most this long for its event to be stored (a store takes a few ms), then
# answers the caller and logs the event, while the writer finishes or fails on its own.
RECORD_WAIT_S = 0.25
# The writer's own patience with a locked, dead or unreachable database.
BUSY_TIMEOUT_MS = 1000
CONNECT_TIMEOUT_S = 2
STATEMENT_TIMEOUT_MS = 2000
# Unacknowledged data on a connection whose server vanished: give up after this, not minutes.
TCP_USER_TIMEOUT_MS = 3000
# After a failure, events go straight to the log for a while instead of waiting on a dead database.
RETRY_AFTER_S = 5.0
PAGE_SIZE = 50


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("call log instants must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

events = Table(
    "call_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_sid", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    Index("call_events_once", "call_sid", "key", unique=True),
)

calls = Table(
    "calls",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("line", String(32)),
    Column("region", String(32)),
    Column("caller", String(64)),
    Column("caller_name", Text),
    Column("sen", String(32)),
    Column("customer", Text),
    Column("severity", Integer),
    Column("outcome", String(16)),
    Column("team", String(64)),
    Column("answer_seconds", Float),
    Column("duration", Integer),
    Column("voicemail_url", Text),
    Column("no_candidates", Boolean, nullable=False, default=False),
    Column("reason", Text),
    Column("event_count", Integer, nullable=False, default=0),
    # The newest page, unfiltered or filtered by one column, is an index range scan.
    Index("calls_newest", "started_at", "sid"),
    Index("calls_by_outcome", "outcome", "started_at", "sid"),
    Index("calls_by_severity", "severity", "started_at", "sid"),
    Index("calls_by_line", "line", "started_at", "sid"),
    Index("calls_by_customer", "customer", "started_at", "sid"),
    Index("calls_by_sen", "sen", "started_at", "sid"),
    Index("calls_outcome_severity", "outcome", "severity"),
)

# One row per L1 call: the state of its alert, shared by every worker and instance, so an alert
# survives the worker that noticed it. `due_at` is when a worker should next take it (NULL: nothing
# to do, now or ever); a worker holds it until `leased_until` while it sends; `attempts` counts
# the rounds begun, and fences a round's writes against a worker whose lease ran out; `done`
# maps each destination that needs nothing more to {"sent_at": ...} or {"refused": reason}.
alerts = Table(
    "alerts",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("due_at", UTCDateTime),
    Column("leased_until", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("done", JSON, nullable=False, default=dict),
    Column("last_error", Text),
    Column("finished_at", UTCDateTime),
    # The sweep reads the due alerts only: a range at the start of this index (NULLs never match).
    Index("alerts_due", "due_at"),
)

_SUMMARY_COLUMNS = tuple(f.name for f in fields(Summary))


def database_url(configured: str | None, instance_path: str) -> str:
    """The SQLAlchemy URL: DATABASE_URL as Heroku writes it, else SQLite in the instance folder."""
    if not configured:
        return f"sqlite:///{os.path.join(instance_path, SQLITE_FILE)}"
    for prefix in ("postgres://", "postgresql://"):
        if configured.startswith(prefix):
            return "postgresql+psycopg://" + configured[len(prefix):]
    return configured


def make_engine(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    dumps = lambda value: json.dumps(value, default=str)  # noqa: E731 - data may hold instants
    if make_url(url).get_backend_name() == "sqlite":
        path = make_url(url).database
        if path and path != ":memory:":
            _private_file(os.path.abspath(path))
        engine = create_engine(
            url,
            json_serializer=dumps,
            # A failed statement's error (logged, shown in /healthz) never carries callers' numbers.
            hide_parameters=True,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.close()

        return engine
    return create_engine(
        url,
        json_serializer=dumps,
        hide_parameters=True,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={BUSY_TIMEOUT_MS}",
        },
    )


def _private_file(path: str) -> None:
    """The SQLite file, readable by this user only (0600) in a folder of its own (0700, when made
    here): it holds callers' numbers. SQLite gives the -wal and -shm files the database file's
    mode; a log made by an older version is tightened too."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        with contextlib.suppress(FileNotFoundError, PermissionError):  # someone else's file: theirs to set
            os.chmod(name, 0o600)


@dataclass(frozen=True)
class CallFilter:
    outcome: str | None = None
    severity: int | None = None
    line: str | None = None
    customer: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class CallPage:
    calls: tuple[Summary, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class AlertState:
    """An L1 call's alert as the `alerts` table has it; `attempts` is the round a claim began."""

    sid: str
    due_at: datetime | None
    leased_until: datetime | None
    attempts: int
    done: dict
    last_error: str | None
    finished_at: datetime | None


def _takeable(now: datetime) -> tuple:
    """An alert a worker may take at `now`: due, and not held by a live lease."""
    return alerts.c.due_at <= now, or_(alerts.c.leased_until.is_(None), alerts.c.leased_until <= now)


def due_alerts_query(now: datetime, limit: int) -> Select[Any]:
    """The sweep's query: a range of the index on due_at, whatever the number of calls on record."""
    return select(alerts.c.sid).where(*_takeable(now)).order_by(alerts.c.due_at).limit(limit)


def _cursor(summary: Summary) -> str:
    return f"{summary.started_at.astimezone(UTC).isoformat()}~{summary.sid}"


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    moment, sep, sid = cursor.partition("~")
    try:
        at = datetime.fromisoformat(moment)
        at.astimezone(UTC)  # OverflowError for 0001-01-01T00:00+01:00, whose UTC is not a datetime
    except (ValueError, OverflowError):
        at = None
    if not sep or not sid or at is None or at.tzinfo is None:
        raise ValueError(f"{cursor!r} is not a page cursor from this call log")
    return at, sid


class _Write:
    """One event on its way to the database, handed from a webhook to the writer thread."""

    def __init__(self, sid: str, kind: str, key: str, data: dict, at: datetime):
        self.event = (sid, kind, key, data, at)
        self.finished = threading.Event()
        self.settled = False  # the writer has the result; under CallLog._lock
        self.abandoned = False  # the webhook stopped waiting and logged the event; under CallLog._lock


def _insert(engine: Engine, table: Table) -> postgresql.Insert | sqlite.Insert:
    return (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(table)


class CallLog:
    """Store of call events and summaries; implements the webhooks' EventSink protocol."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        counters: Counters | None = None,
        alert_settle_seconds: float,
    ):
        self.engine = engine
        self.alert_settle = timedelta(seconds=alert_settle_seconds)
        self._clock = clock
        self.counters = counters or Counters.create()
        # The record of last resort when the database fails: the event as a JSON line on stdout.
        self.fallback = LogSink(logging.WARNING)
        self._listeners: list[Callable[[Summary], None]] = []
        self._lock = threading.Lock()
        self._ready = False
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._last_stored_at: datetime | None = None
        # Whether an event was stored after the last failure (by order, whatever the clock says).
        self._stored_since_error = True
        self._down_until = 0.0
        self._writes: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    @property
    def clock(self) -> Callable[[], datetime]:
        """The clock of the alerts (due times, leases) and of health, fixed at construction: the
        Alerter reads this one, so an alert is never due by one clock and claimed by another. In
        the service it is the wall clock every worker shares, never a call's pinned clock (the
        simulator's)."""
        return self._clock

    @classmethod
    def from_settings(
        cls, configured_url: str | None, instance_path: str, *, clock: Callable[[], datetime],
        alert_settle_seconds: float, counters: Counters | None = None,
    ) -> CallLog:
        return cls(make_engine(database_url(configured_url, instance_path)), clock=clock, counters=counters,
                   alert_settle_seconds=alert_settle_seconds)

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None and writer.is_alive():
            self._writes.put(None)
            writer.join(RECORD_WAIT_S)
        self.engine.dispose()

    def create_tables(self) -> None:
        """Create missing tables and indexes (idempotent; safe while others run it too)."""
        metadata.create_all(self.engine, checkfirst=True)
        self._ready = True

    def subscribe(self, listener: Callable[[Summary], None]) -> None:
        """Call `listener(summary)` after each new event is stored (not for repeats)."""
        self._listeners.append(listener)

    # --- writing ----------------------------------------------------------------------

    def record(self, call_sid: str, kind: str, data: dict, at: datetime, key: str | None = None) -> None:
        """Store one event; repeats of (call_sid, key) are ignored. Never raises, never waits long."""
        key = key or kind
        if time.monotonic() < self._down_until:
            self.note_failure(None, backoff=False)
            self._log_instead(call_sid, kind, key, data, at, "database unavailable, retrying shortly")
            return
        write = _Write(call_sid, kind, key, data, at)
        self._start_writer()
        self._writes.put(write)
        if write.finished.wait(RECORD_WAIT_S):
            return
        with self._lock:
            write.abandoned = not write.settled
        if write.abandoned:
            error = f"the database did not answer within {RECORD_WAIT_S:g} s"
            self.note_failure(error)
            self._log_instead(call_sid, kind, key, data, at, error)
        else:
            write.finished.wait()  # the writer has the result and is a moment from done

    def _start_writer(self) -> None:
        with self._lock:
            # Started on first use, so it lives in the process (gunicorn worker) that records.
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_events, name="ivr-calllog", daemon=True)
                self._writer.start()

    def _write_events(self) -> None:
        while (write := self._writes.get()) is not None:
            sid, kind, key, data, at = write.event
            summary = error = None
            try:
                summary = self._store(sid, kind, key, data, at)
            except Exception as exc:  # noqa: BLE001 - nothing may break a call
                error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                write.settled = True
                abandoned = write.abandoned
                if error is None:
                    self._last_stored_at = self._clock()
                    self._stored_since_error = True
            if error is not None and abandoned:
                # On the log already and counted; only the reason is news.
                with self._lock:
                    self._last_error, self._last_error_at = error, self._clock()
                    self._stored_since_error = False
            elif error is not None:
                self.note_failure(error)
                self._log_instead(sid, kind, key, data, at, error)
            elif summary is not None:
                self._tell_listeners(summary)
            write.finished.set()

    def _tell_listeners(self, summary: Summary) -> None:
        for listener in self._listeners:
            try:
                listener(summary)
            except Exception:  # a listener's bug must not reach the call
                logger.exception("call log listener failed for %s", summary.sid)

    def _store(self, sid: str, kind: str, key: str, data: dict, at: datetime) -> Summary | None:
        if not self._ready:
            self.create_tables()
        with self.engine.begin() as conn:
            # The summary row is created first and locked, so concurrent events of one call
            # (several workers) recompute the summary one after the other.
            conn.execute(
                _insert(self.engine, calls)
                .values(sid=sid, started_at=at)
                .on_conflict_do_nothing(index_elements=["sid"])
            )
            conn.execute(select(calls.c.sid).where(calls.c.sid == sid).with_for_update())
            inserted = conn.execute(
                _insert(self.engine, events)
                .values(call_sid=sid, key=key, kind=kind, at=at, data=data)
                .on_conflict_do_nothing(index_elements=["call_sid", "key"])
                .returning(events.c.id)
            ).first()
            if inserted is None:
                return None
            timeline = [_event(row) for row in conn.execute(select(events).where(events.c.call_sid == sid))]
            summary = summarise(sid, timeline)
            values = {name: getattr(summary, name) for name in _SUMMARY_COLUMNS if name != "sid"}
            values["outcome"] = summary.outcome.value if summary.outcome else None
            conn.execute(update(calls).where(calls.c.sid == sid).values(event_count=len(timeline), **values))
            if summary.severity == 1:
                # In the event's own transaction: once the event is stored, so is its alert.
                due = alert_due(summary, self._clock(), self.alert_settle)
                conn.execute(
                    _insert(self.engine, alerts)
                    .values(sid=sid, due_at=due)
                    .on_conflict_do_update(
                        index_elements=["sid"], set_={"due_at": due}, where=alerts.c.finished_at.is_(None)
                    )
                )
        return summary

    def note_failure(self, error: str | None, backoff: bool = True) -> None:
        """Count an event the database could not store for `health()` (with `error`: the
        reason, else the last one stands); with `backoff`, rest the database a while."""
        self.counters.calllog_failures.inc()
        with self._lock:
            if error is not None:
                self._last_error = error
                self._last_error_at = self._clock()
            self._stored_since_error = False
            if backoff:
                self._down_until = time.monotonic() + RETRY_AFTER_S

    def _log_instead(self, sid: str, kind: str, key: str, data: dict, at: datetime, error: str) -> None:
        logger.warning("call %s: %s event not stored (%s); logged on ivr.events instead", sid, kind, error)
        self.fallback.record(sid, kind, data, at, key)

    # --- alerts ---------------------------------------------------------------------------

    def due_alerts(self, now: datetime, limit: int) -> list[str]:
        """Calls whose alert a worker may take at `now`, longest due first."""
        with self.engine.connect() as conn:
            return list(conn.execute(due_alerts_query(now, limit)).scalars())

    def claim_alert(self, sid: str, now: datetime, lease: timedelta) -> AlertState | None:
        """Hold a due alert until `now + lease` and begin a round; None when it is not due or
        another worker holds it (one winner however many try at once, across instances)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                update(alerts)
                .where(alerts.c.sid == sid, *_takeable(now))
                .values(leased_until=now + lease, attempts=alerts.c.attempts + 1)
                .returning(*alerts.c)
            ).first()
        return None if row is None else AlertState(**row._mapping)

    def alert_delivered(self, claim: AlertState, done: dict) -> bool:
        """Note the destinations that need nothing more, at once (a crash now cannot send them
        again); False when the claim's lease ran out and another round began."""
        with self.engine.begin() as conn:
            return conn.execute(
                update(alerts).where(alerts.c.sid == claim.sid, alerts.c.attempts == claim.attempts).values(done=done)
            ).rowcount == 1

    def release_alert(self, claim: AlertState, now: datetime, retry_at: datetime | None, error: str | None) -> None:
        """End a round: due again at `retry_at`, or (None) finished for good."""
        values = {"leased_until": None, "due_at": retry_at, "last_error": error}
        if retry_at is None:
            values["finished_at"] = now
        with self.engine.begin() as conn:
            conn.execute(
                update(alerts).where(alerts.c.sid == claim.sid, alerts.c.attempts == claim.attempts).values(**values)
            )

    def alert(self, sid: str) -> AlertState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts).where(alerts.c.sid == sid)).first()
        return None if row is None else AlertState(**row._mapping)

    # --- reading ----------------------------------------------------------------------

    def calls(self, where: CallFilter = CallFilter(), limit: int = PAGE_SIZE, before: str | None = None) -> CallPage:
        """Most recent first; `before` is the `next_cursor` of the previous page."""
        query = select(calls).where(*_conditions(where))
        if before:
            at, sid = _parse_cursor(before)
            query = query.where(or_(calls.c.started_at < at, and_(calls.c.started_at == at, calls.c.sid < sid)))
        query = query.order_by(calls.c.started_at.desc(), calls.c.sid.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = [_summary(row) for row in conn.execute(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        return CallPage(tuple(rows), _cursor(rows[-1]) if more else None)

    def call(self, sid: str) -> Summary | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(calls).where(calls.c.sid == sid)).first()
        return None if row is None else _summary(row)

    def timelines(self, sids: Iterable[str]) -> dict[str, list[Event]]:
        """Each call's events in order, for the given calls."""
        sids = list(sids)
        found: dict[str, list[Event]] = {sid: [] for sid in sids}
        if not sids:
            return found
        query = select(events).where(events.c.call_sid.in_(sids)).order_by(events.c.at, events.c.id)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                found[row.call_sid].append(_event(row))
        return found

    def outcome_counts(self) -> list[tuple[str, int | None, int]]:
        """(outcome, severity, number of calls); outcome `in-progress` for calls not over yet."""
        query = select(calls.c.outcome, calls.c.severity, func.count()).group_by(calls.c.outcome, calls.c.severity)
        with self.engine.connect() as conn:
            return [(outcome or IN_PROGRESS, severity, count) for outcome, severity, count in conn.execute(query)]

    def answer_histogram(self, bounds: tuple[float, ...]) -> tuple[list[int], int, float]:
        """Cumulative counts of answered calls with answer_seconds <= each bound, the count, the sum."""
        answered = calls.c.answer_seconds
        columns = [func.coalesce(func.sum(case((answered <= b, 1), else_=0)), 0) for b in bounds]
        query = select(*columns, func.count(answered), func.coalesce(func.sum(answered), 0.0)).where(
            answered.is_not(None)
        )
        with self.engine.connect() as conn:
            *buckets, count, total = conn.execute(query).one()
        return [int(b) for b in buckets], int(count), float(total)

    def health(self) -> dict:
        """This process's view of the database; `failures` counts (in multiprocess mode) every worker's."""
        failures = self.counters.totals().count("ivr_calllog_failures_total")
        with self._lock:
            return {
                "backend": self.engine.dialect.name,
                "database": self.engine.url.render_as_string(hide_password=True),
                "ok": self._stored_since_error,
                "failures": failures,
                "last_error": self._last_error,
                "last_error_at": self._last_error_at and iso(self._last_error_at),
                "last_stored_at": self._last_stored_at and iso(self._last_stored_at),
            }


def call_json(call: Summary, timeline: list[Event]) -> dict:
    """One call as the ops API and `ivr calls --json` show it."""
    return {
        "sid": call.sid,
        "started_at": iso(call.started_at),
        "line": call.line,
        "from": call.caller,
        "caller_name": call.caller_name,
        "sen": call.sen,
        "customer": call.customer,
        "severity": call.severity,
        "outcome": call.outcome.value if call.outcome else IN_PROGRESS,
        "team": call.team,
        "answer_seconds": call.answer_seconds,
        "duration": call.duration,
        "voicemail_url": call.voicemail_url,
        "reason": call.reason,
        "events": [
            {"at": iso(e.at), "kind": e.kind, "key": e.key, "data": dict(e.data)} for e in timeline
        ],
    }


def _conditions(where: CallFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.outcome == IN_PROGRESS:
        conditions.append(calls.c.outcome.is_(None))
    elif where.outcome:
        conditions.append(calls.c.outcome == Outcome(where.outcome).value)
    if where.severity is not None:
        conditions.append(calls.c.severity == where.severity)
    if where.line:
        conditions.append(calls.c.line == where.line)
    if where.customer:
        conditions.append(or_(calls.c.customer == where.customer, calls.c.sen == where.customer))
    if where.since:
        conditions.append(calls.c.started_at >= where.since)
    if where.until:
        conditions.append(calls.c.started_at < where.until)
    return conditions


def _event(row: Row[Any]) -> Event:
    return Event(row.call_sid, row.key, row.kind, row.at, row.data)


def _summary(row: Row[Any]) -> Summary:
    values = {name: getattr(row, name) for name in _SUMMARY_COLUMNS}
    values["outcome"] = Outcome(row.outcome) if row.outcome else None
    return Summary(**values)


def day_range(day: str) -> tuple[datetime, datetime]:
    """A UTC calendar day 'YYYY-MM-DD' as [start, end); ValueError for anything else, and for
    9999-12-31, whose end no datetime holds."""
    start = datetime.combine(datetime.strptime(day, "%Y-%m-%d").date(), datetime.min.time(), UTC)
    if start.date() == date.max:
        raise ValueError(f"{day!r} is the last day of the calendar: its end is out of range")
    return start, start + timedelta(days=1)
