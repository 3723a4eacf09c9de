"""The call log: every call's timeline of events, a summary row per call for the console, each L1
call's alert (`ivr.store.alert_queue`) and running counts for /metrics.

`CallLog.record` is the webhooks' event sink: it appends the event to this process's journal
(`ivr.store.journal`) and returns, so a webhook never waits on the database; the writer
(`ivr.store.writer`) stores the journal in the database in batches, exactly once, whatever the
database does meanwhile. The embedded default is SQLite in the instance folder (WAL, so several
gunicorn workers share it); `DATABASE_URL` selects PostgreSQL, which several instances share.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, Select, and_, func, or_, select

from ivr.engine.events import CallEvent, EventSink, SenEntered, from_data, stored_form
from ivr.engine.outcomes import IN_PROGRESS, UNKNOWN_SEN, Event, Outcome, StoredEvent, Summary
from ivr.engine.phonebook import ResponseTimes
from ivr.store import migrate
from ivr.store.alert_queue import AlertQueue
from ivr.store.callbacks import Callbacks
from ivr.store.counters import Counters
from ivr.store.database import database_url, make_engine
from ivr.store.journal import Journal, finished
from ivr.store.logsink import LogSink
from ivr.store.migrate import SchemaState, Upgraded
from ivr.store.schema import (
    ANSWER_BUCKETS,
    SUMMARY_COLUMNS,
    answer_counts,
    call_counts,
    calls,
    events,
)
from ivr.store.writer import LOCK_FILE, Writer

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
JOURNAL_FOLDER = "journal"
# A read waits at most this long for this process's own accepted events to be stored first.
READ_CATCH_UP_S = 2.0
# A process that leaves the writing to a writer process reports the call log failing once no process
# has held writer.lock for this long (the master starts a writer at once, and again when one dies).
WRITER_MISSING_S = 10.0


def journal_folder(configured: str | None, instance_path: str) -> Path:
    """Where the instance's journal is: IVR_JOURNAL_DIR, else `journal` in the instance folder."""
    return Path(configured) if configured else Path(instance_path) / JOURNAL_FOLDER


class StoreUnavailable(Exception):
    """The call log cannot be read now."""


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


class CallLog:
    """Store of call events and summaries; implements the webhooks' EventSink protocol."""

    def __init__(
        self,
        engine: Engine,
        *,
        journal: Path,
        clock: Callable[[], datetime],
        alert_settle_seconds: float,
        counters: Counters | None = None,
        response_times: Callable[[], ResponseTimes] = ResponseTimes,
        writes: bool = True,
    ):
        self.engine = engine
        self._clock = clock
        # Whether this process may store the journal (when it holds writer.lock); not a gunicorn
        # worker whose master runs a writer process (IVR_WRITER=process), which only appends.
        self._writes = writes
        self.counters = counters or Counters.create()
        self._listeners: list[Callable[[Summary], None]] = []
        self.journal = Journal(journal)
        self.writer = Writer(engine, journal, clock=clock, alert_settle=timedelta(seconds=alert_settle_seconds),
                             counters=self.counters, stored=self._tell_listeners, response_times=response_times)
        self.alerts = AlertQueue(engine, self.caught_up)
        self.callbacks = Callbacks(engine, self.caught_up, response_times)
        # The record of last resort when the journal itself cannot be written (a full disk).
        self.fallback: EventSink = LogSink(logging.ERROR)
        self._journal_error: str | None = None
        self._writer_gone_since: float | None = None

    @property
    def writes(self) -> bool:
        """Whether this process stores the journal (whenever it holds writer.lock), or only appends to it."""
        return self._writes

    @property
    def clock(self) -> Callable[[], datetime]:
        """The clock of the alerts (due times, leases) and of health, fixed at construction: the
        Alerter reads this one, so an alert is never due by one clock and claimed by another. In
        the service it is the app's clock: the wall clock every worker shares (a test pins it)."""
        return self._clock

    @classmethod
    def from_settings(
        cls, configured_url: str | None, instance_path: str, *, clock: Callable[[], datetime],
        alert_settle_seconds: float, journal_dir: str | None = None, counters: Counters | None = None,
        response_times: Callable[[], ResponseTimes] = ResponseTimes, writes: bool = True,
    ) -> CallLog:
        return cls(make_engine(database_url(configured_url, instance_path)),
                   journal=journal_folder(journal_dir, instance_path), clock=clock, counters=counters,
                   alert_settle_seconds=alert_settle_seconds, response_times=response_times, writes=writes)

    def start(self) -> None:
        """Store the journal from a thread of this process whenever it is the instance's writer."""
        if self._writes:
            self.writer.start()

    def close(self) -> None:
        # What this process accepted is stored now if it can be, rather than left to the next writer.
        self.writer.close(store_rest=self._writes and self.journal.name is not None)
        self.journal.close()
        self.engine.dispose()

    def schema(self) -> SchemaState:
        """Where the database stands against this release's migrations."""
        return migrate.current(self.engine)

    def upgrade_schema(self) -> Upgraded:
        """Migrate the database to this release (`ivr db upgrade`; never a worker), and mark its first
        start now unless marked (`alert_queue.owe_digests_from`)."""
        return migrate.upgrade(self.engine, started_at=self.clock())

    def subscribe(self, listener: Callable[[Summary], None]) -> None:
        """Call `listener(summary)` after each new event is stored (in the process that stores it)."""
        self._listeners.append(listener)

    def _tell_listeners(self, summaries: list[Summary]) -> None:
        for summary in summaries:
            for listener in self._listeners:
                try:
                    listener(summary)
                except Exception:  # a listener's bug must not reach the call
                    logger.exception("call log listener failed for %s", summary.sid)

    # --- writing ----------------------------------------------------------------------

    def record(self, call_sid: str, event: CallEvent, at: datetime) -> None:
        """Accept one event: in the journal before this returns, in the database soon after;
        repeats of (call_sid, event.key) are ignored. Never raises, never waits on the database."""
        try:
            self.journal.append(call_sid, event, at, self._clock())
        except OSError as exc:
            # Nowhere durable to put it: say so loudly, and keep the event on the log.
            self._journal_error = f"{type(exc).__name__}: {exc}"
            self.counters.calllog_failures.inc()
            logger.error("call %s: %s event not journaled (%s); logged on ivr.events only", call_sid, event.kind, exc)
            self.fallback.record(call_sid, event, at)
            return
        self._journal_error = None

    def caught_up(self, timeout: float = READ_CATCH_UP_S) -> bool:
        """Store this process's accepted events now, if it can (it is the instance's writer, or
        none is alive), so what it reads next includes them. A process that accepted none (`ivr
        calls`), or that leaves the writing to a writer process, only reads."""
        return self._writes and self.journal.name is not None and self.writer.catch_up(timeout)

    # --- reading ----------------------------------------------------------------------

    def calls(self, where: CallFilter = CallFilter(), limit: int = PAGE_SIZE, before: str | None = None) -> CallPage:
        """Most recent first; `before` is the `next_cursor` of the previous page."""
        self.caught_up()
        with self.engine.connect() as conn:
            rows = [summary_of(row) for row in conn.execute(page_query(where, limit + 1, before))]
        more = len(rows) > limit
        rows = rows[:limit]
        return CallPage(tuple(rows), _cursor(rows[-1]) if more else None)

    def call(self, sid: str) -> Summary | None:
        self.caught_up()
        with self.engine.connect() as conn:
            row = conn.execute(select(calls).where(calls.c.sid == sid)).first()
        return None if row is None else summary_of(row)

    def timelines(self, sids: Iterable[str]) -> dict[str, list[Event]]:
        """Each call's events in order, for the given calls."""
        found: dict[str, list[Event]] = {sid: [] for sid in sids}
        for sid, at, kind, key, data in self._event_rows(found):
            found[sid].append(Event(sid, key, at, from_data(kind, data)))
        return found

    def stored_timelines(self, sids: Iterable[str]) -> dict[str, list[StoredEvent]]:
        """Each call's events in order, as stored: the ops API's pages of 500 calls show 4,000
        events, whose records would be made only to be written back to JSON."""
        found: dict[str, list[StoredEvent]] = {sid: [] for sid in sids}
        for sid, at, kind, key, data in self._event_rows(found):
            found[sid].append(StoredEvent(at, kind, key, stored_form(kind, data)))
        return found

    def _event_rows(self, sids: Collection[str]) -> Sequence[Row[str, datetime, str, str, Any]]:
        """(call, at, kind, key, data) of the calls' events, in order."""
        if not sids:
            return []
        self.caught_up()
        query = (select(events.c.call_sid, events.c.at, events.c.kind, events.c.key, events.c.data)
                 .where(events.c.call_sid.in_(sids)).order_by(events.c.at, events.c.id))
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def failed_sens(self, caller: str, since: datetime) -> int:
        """How many unknown SENs calls from `caller` started since `since` gave (well-formed numbers
        nobody holds: not time-outs or numbers of the wrong length). Read in the webhook, so it
        neither waits for this process's journal (the writer stores it within 50 ms) nor tries a
        database the writer finds failing (StoreUnavailable, at once)."""
        status = self.writer.status()
        if not status.ok:
            raise StoreUnavailable(f"the call log database is failing: {status.last_error}")
        query = (
            select(func.count())
            .select_from(events.join(calls, calls.c.sid == events.c.call_sid))
            .where(
                calls.c.caller == caller, calls.c.started_at >= since,
                events.c.kind == SenEntered.kind, events.c.data["miss"].as_string() == UNKNOWN_SEN,
            )
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def outcome_counts(self) -> list[tuple[str, int | None, int]]:
        """(outcome, severity, number of calls); outcome `in-progress` for calls not over yet.
        A few rows kept up to date by the writer, whatever the size of the log."""
        self.caught_up()
        counts = call_counts.c
        query = select(counts.outcome, counts.severity, counts.calls).where(counts.calls != 0)
        with self.engine.connect() as conn:
            return [(outcome, severity or None, int(number)) for outcome, severity, number in conn.execute(query)]

    def answer_histogram(self) -> tuple[list[int], int, float]:
        """Cumulative counts of answered calls with answer_seconds <= each of ANSWER_BUCKETS, the
        count, the sum."""
        self.caught_up()
        with self.engine.connect() as conn:
            rows = {int(b): (int(n), float(t)) for b, n, t in conn.execute(select(answer_counts))}
        cumulative, running = [], 0
        for bucket in range(len(ANSWER_BUCKETS)):
            running += rows.get(bucket, (0, 0.0))[0]
            cumulative.append(running)
        return cumulative, sum(n for n, _ in rows.values()), sum(t for _, t in rows.values())

    def health(self) -> dict[str, Any]:
        """The writer's view of the database (from whichever process writes); `failures` counts
        (in multiprocess mode) every worker's failed attempts."""
        status = self.writer.status()
        failures = self.counters.totals().count("ivr_calllog_failures_total")
        missing = self._writer_missing()
        return {
            "backend": self.engine.dialect.name,
            "database": self.engine.url.render_as_string(hide_password=True),
            "ok": status.ok and self._journal_error is None and missing is None,
            "failures": failures,
            "last_error": self._journal_error or missing or status.last_error,
            "last_error_at": status.last_error_at,
            "last_stored_at": status.last_stored_at,
            "pending_bytes": status.pending_bytes,
            "rejected": status.rejected,
            "schema": status.schema_problem,
            "writer": missing is None,
        }

    def _writer_missing(self) -> str | None:
        """Why nothing stores the journal, when this process leaves that to a writer process and none
        has held writer.lock for WRITER_MISSING_S (seen from this process's looks, one each health check)."""
        if self._writes or not finished(self.journal.folder / LOCK_FILE):
            self._writer_gone_since = None
            return None
        now = time.monotonic()
        if self._writer_gone_since is None:
            self._writer_gone_since = now
        if now - self._writer_gone_since < WRITER_MISSING_S:
            return None
        return f"no call-log writer for {now - self._writer_gone_since:.0f} s: events wait in the journal"


def page_query(where: CallFilter, limit: int, before: str | None = None) -> Select[Any]:
    """`limit` calls that match `where`, newest first, after the cursor `before`: a walk down one of
    the `calls` indexes, which end in (started_at, sid)."""
    query = select(calls).where(*_conditions(where))
    if before:
        at, sid = _parse_cursor(before)
        query = query.where(or_(calls.c.started_at < at, and_(calls.c.started_at == at, calls.c.sid < sid)))
    return query.order_by(calls.c.started_at.desc(), calls.c.sid.desc()).limit(limit)


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


def summary_of(row: Row[Any]) -> Summary:
    """The summary a `calls` row holds (the row may carry other columns too)."""
    values = {name: getattr(row, name) for name in SUMMARY_COLUMNS}
    values["outcome"] = Outcome(row.outcome) if row.outcome else None
    return Summary(**values)


def day_range(day: str) -> tuple[datetime, datetime]:
    """A UTC calendar day 'YYYY-MM-DD' as [start, end); ValueError for anything else, and for
    9999-12-31, whose end no datetime holds."""
    start = datetime.combine(datetime.strptime(day, "%Y-%m-%d").date(), datetime.min.time(), UTC)
    if start.date() == date.max:
        raise ValueError(f"{day!r} is the last day of the calendar: its end is out of range")
    return start, start + timedelta(days=1)
