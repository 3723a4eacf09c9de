"""The writer: stores the journal's lines in the database, many at a time, exactly once.

One process of an instance writes at a time (it holds `writer.lock` in the journal folder; when it
dies the kernel releases the lock and another worker takes over within a second). It reads every
journal file from where the database says it stopped, and stores a batch of lines in one
transaction together with the new position, so a crash between the two is impossible: each line is
stored once. A database that is slow, locked or down only delays the batch, which is tried again
until it goes; nothing is dropped. A line the database refuses on its own (bad data) is set aside
in `rejected.jsonl` with the reason, without holding up the others. A database whose schema is not
this release's (`ivr.store.migrate`) holds every line back, as a database that is down does, until
someone runs `ivr db upgrade`: the writer never changes the schema itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BindParameter,
    Column,
    Connection,
    Engine,
    Integer,
    Row,
    String,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from ivr.engine.events import from_data
from ivr.engine.instants import iso
from ivr.engine.outcomes import IN_PROGRESS, SEN_LIMIT, SEN_WINDOW, Event, Summary, alert_due, summarise
from ivr.engine.phonebook import ResponseTimes
from ivr.store import cpu, journal, migrate
from ivr.store.callbacks import settle_callbacks
from ivr.store.counters import Counters
from ivr.store.database import insert_for, refresh_statistics
from ivr.store.schema import (
    SUMMARY_COLUMNS,
    alerts,
    answer_bucket,
    answer_counts,
    call_counts,
    calls,
    events,
    journal_progress,
)

logger = logging.getLogger("ivr.calllog")

LOCK_FILE = "writer.lock"
STATUS_FILE = "writer.json"
BATCH_LINES = 500
BATCH_BYTES = 1 << 20
# How often the writer looks for new lines. Webhooks do not wake it: under load a batch is what
# arrived in this time (tens of lines in one transaction), not each line alone, which cost every
# line a transaction and the accepting worker a thread switch.
POLL_S = 0.05
# While the database fails: the first pause, doubled up to the last.
BACKOFF_S = (0.1, 5.0)
# A worker that is not the writer tries to become it this often (the writer may have died).
ELECT_S = 1.0
# The status file is rewritten at most this often while all goes well.
STATUS_EVERY_S = 1.0
INT_MAX = 2**31 - 1
# How many calls' timelines the writer keeps: more than are under way at once under load, so a call's
# next batch finds its timeline here instead of reading it back (4 kB a call of 8 events, so some MB).
TIMELINES_KEPT = 2000
# A writer on idle CPU (`ivr writer`, once caught up) holds its batches back while every core is busy,
# for at most this long since it was last caught up: a burst of calls is answered without the
# database server (which runs at normal priority) taking CPU from the webhooks, and the call log,
# with the alerts it raises, is never further behind than this for it.
HOLD_S = 10.0
# A writer refreshes the database's planner statistics once caught up after it starts, then at most
# this often (`database.refresh_statistics`): the log's shape changes over days, not seconds.
STATISTICS_EVERY_S = 3600.0


def transient(exc: BaseException) -> bool:
    """A failure of the database or the way to it (try the same batch again), not of the data."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | DisconnectionError)


@dataclass(frozen=True)
class Status:
    """What the writer last saw, shared with the instance's other workers through a small file."""

    ok: bool = True
    last_error: str | None = None
    last_error_at: str | None = None
    last_stored_at: str | None = None
    pending_bytes: int = 0
    rejected: int = 0
    # Why the database's schema keeps the lines back (`SchemaNotReady`); None once it is this release's.
    schema_problem: str | None = None


class SchemaNotReady(Exception):
    """The database is not at this release's schema: the lines wait, as for a database that is down."""


class RecentTimelines:
    """The whole timelines, in (at, id) order, of the calls this writer stored most recently, as it
    stored them. A timeline is the call's only while its length is the `event_count` of the call's
    row, read locked in the transaction that uses it: another writer (instance) may have added events
    since, and events are only ever added, so the same number is the same events."""

    def __init__(self, size: int = TIMELINES_KEPT):
        self._size = size
        self._kept: OrderedDict[str, list[Event]] = OrderedDict()

    def of(self, sid: str, event_count: int) -> list[Event] | None:
        """The call's timeline if it still holds `event_count` events (never to be changed in place)."""
        timeline = self._kept.get(sid)
        if timeline is None or len(timeline) != event_count:
            return None
        self._kept.move_to_end(sid)
        return timeline

    def keep(self, timelines: Mapping[str, list[Event]]) -> None:
        """Once the transaction that stored them has committed: kept before, a rolled back one would
        leave timelines ahead of the database, which a later count could match."""
        for sid, timeline in timelines.items():
            self._kept[sid] = timeline
            self._kept.move_to_end(sid)
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)


class Writer:
    """Stores the journal folder's lines in `engine`'s call log, from this process when elected."""

    def __init__(
        self,
        engine: Engine,
        folder: Path,
        *,
        clock: Callable[[], datetime],
        alert_settle: timedelta,
        counters: Counters,
        stored: Callable[[list[Summary]], None],
        response_times: Callable[[], ResponseTimes] = ResponseTimes,
    ):
        self.engine = engine
        self._response_times = response_times
        # Whether to hold the next batch back now (for up to HOLD_S): when this thread runs on idle
        # CPU only and the machine's cores are all busy.
        self._yielding = _busy_on_idle_priority()
        self._caught_up_at = time.monotonic()
        self.folder = folder
        self._clock = clock
        self._settle = alert_settle
        self._counters = counters
        self._stored = stored
        self._lock = threading.Lock()  # one batch at a time in this process
        self._lock_fd: int | None = None
        self._stored_to: dict[str, int] | None = None
        self._status = Status()
        self._status_written = 0.0
        self._schema_ready = False  # checked again until it is, then trusted (schemas only move forward)
        self._recent = RecentTimelines()
        self._stop = threading.Condition()  # wakes a waiting writer to stop
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._analysed_at: float | None = None

    # --- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        """Write from a thread of this process whenever it holds the writer lock."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ivr-calllog-writer", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0, *, store_rest: bool = False) -> None:
        """Stop, and let another process take over; as the writer, or with `store_rest`, store
        what is left first (up to `timeout`)."""
        with self._stop:
            self._stopped = True
            self._stop.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        # With no time left, not even one batch: its database may take its whole connect time-out to answer.
        if timeout > 0 and (store_rest or self._lock_fd is not None):
            with contextlib.suppress(Exception):
                self.catch_up(timeout)
        with self._lock:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _run(self) -> None:
        pause = BACKOFF_S[0]
        while True:
            with self._stop:
                if self._stopped:
                    return
            wait = POLL_S
            try:
                if not self.elect():
                    wait = ELECT_S
                elif self._holding():
                    self._note_held()
                else:
                    shipped = self.ship()
                    if shipped == BATCH_LINES:
                        wait = 0.0
                    elif shipped == 0:
                        self._caught_up_at = time.monotonic()
                        self._refresh_statistics()
                pause = BACKOFF_S[0]
            except Exception as exc:  # noqa: BLE001 - the thread outlives any outage; the lines wait
                self._failed(exc)
                wait, pause = pause, min(pause * 2, BACKOFF_S[1])
            if wait:
                with self._stop:
                    self._stop.wait_for(lambda: self._stopped, wait)

    def _refresh_statistics(self) -> None:
        if self._analysed_at is not None and time.monotonic() - self._analysed_at < STATISTICS_EVERY_S:
            return
        self._analysed_at = time.monotonic()
        try:
            refresh_statistics(self.engine)
        except Exception as exc:  # noqa: BLE001 - stale statistics slow a page; they lose no event
            logger.warning("could not refresh the database's statistics, trying again in an hour: %s", exc)

    def _holding(self) -> bool:
        return time.monotonic() - self._caught_up_at < HOLD_S and self._yielding()

    def _note_held(self) -> None:
        """Keep the status's pending bytes true while batches are held back: health shows what waits."""
        with self._lock:
            if time.monotonic() - self._status_written <= STATUS_EVERY_S:
                return
            names = journal.files(self.folder)
            self._status = replace(self._status, pending_bytes=self._pending(names, self._positions(names)))
            self._write_status()

    # --- writing ----------------------------------------------------------------------------

    def elect(self) -> bool:
        """Whether this process is the instance's writer (taking the lock if it is free)."""
        with self._lock:
            if self._lock_fd is not None:
                return True
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._lock_fd = fd
            self._stored_to = None  # read again from the database: another writer moved it on
            return True

    def catch_up(self, timeout: float) -> bool:
        """Store everything journaled so far, if this process is (or can become) the writer;
        False when it is not, or the database failed, or `timeout` passed first."""
        deadline = time.monotonic() + timeout
        if not self.elect():
            return False
        try:
            while self.ship():
                if time.monotonic() > deadline:
                    return False
        except Exception as exc:  # noqa: BLE001 - the caller reads what is there
            self._failed(exc)
            return False
        return True

    def ship(self) -> int:
        """Store one batch; the number of journal lines it took (0: nothing new). Raises on a
        database failure, having stored nothing of the batch."""
        with self._lock:
            self._check_schema()
            names = journal.files(self.folder)
            stored_to = self._positions(names)
            batch: list[journal.Line | journal.Unreadable] = []
            budget = BATCH_BYTES
            for name in names:
                start = stored_to.get(name, 0)
                for item in journal.read(self.folder / name, start, budget):
                    batch.append(item)
                    budget -= item.end - start
                    start = item.end
                    if len(batch) >= BATCH_LINES:
                        break
                if len(batch) >= BATCH_LINES or budget <= 0:
                    break
            if not batch:
                self._forget_finished(names, stored_to)
                self._note_ok(names, stored_to, stored=False)
                return 0
            summaries = self._store(batch)
            for item in batch:
                stored_to[item.file] = max(stored_to.get(item.file, 0), item.end)
            self._note_ok(names, stored_to, stored=True)
        if summaries:
            self._stored(summaries)
        return len(batch)

    def _check_schema(self) -> None:
        if self._schema_ready:
            return
        with self.engine.connect() as conn:
            state = migrate.schema_state(conn)
        if not state.storable:
            raise SchemaNotReady(state.problem)
        self._schema_ready = True

    def _positions(self, names: Sequence[str]) -> dict[str, int]:
        if self._stored_to is None:
            with self.engine.connect() as conn:
                rows = conn.execute(select(journal_progress.c.name, journal_progress.c.stored_to)).all()
            self._stored_to = {name: int(position) for name, position in rows}
        return self._stored_to

    def _store(self, batch: list[journal.Line | journal.Unreadable]) -> list[Summary]:
        lines: list[journal.Line] = []
        refused: list[journal.Line | journal.Unreadable] = []
        for item in batch:
            if isinstance(item, journal.Line) and _storable(item):
                lines.append(item)
            else:
                refused.append(item)
        try:
            with self.engine.begin() as conn:
                stored = store_lines(conn, lines, self._settle, self._response_times(), self._recent)
                _advance(conn, _ends(batch))
        except Exception as exc:
            if transient(exc):
                raise
            # The data, not the database: store the lines one by one, and set aside what fails.
            logger.warning("a batch of %d call events failed (%s); storing them one by one", len(lines), exc)
            return self._one_by_one(batch)
        self._recent.keep(stored.timelines)
        for item in refused:
            self._reject(item, _why(item))
        return stored.summaries

    def _one_by_one(self, batch: list[journal.Line | journal.Unreadable]) -> list[Summary]:
        summaries: list[Summary] = []
        for item in batch:
            reason = _why(item) if not (isinstance(item, journal.Line) and _storable(item)) else None
            if reason is None:
                assert isinstance(item, journal.Line)
                try:
                    with self.engine.begin() as conn:
                        stored = store_lines(conn, [item], self._settle, self._response_times(), self._recent)
                        _advance(conn, {item.file: item.end})
                    self._recent.keep(stored.timelines)
                    summaries += stored.summaries
                    continue
                except Exception as exc:
                    if transient(exc):
                        raise
                    reason = f"{type(exc).__name__}: {exc}"
            self._reject(item, reason)
            with self.engine.begin() as conn:
                _advance(conn, {item.file: item.end})
        return summaries

    def _reject(self, item: journal.Line | journal.Unreadable, reason: str) -> None:
        text = item.text if isinstance(item, journal.Unreadable) else json.dumps(
            {"sid": item.sid, "kind": item.kind, "key": item.key, "at": item.at.isoformat(), "data": item.data},
            default=str, ensure_ascii=False)
        logger.error("call event set aside in %s: %s", self.folder / journal.REJECTED, reason)
        journal.set_aside(self.folder, text, reason)
        self._status = Status(**{**self._status.__dict__, "rejected": self._status.rejected + 1})

    def _forget_finished(self, names: Sequence[str], stored_to: dict[str, int]) -> None:
        """Delete the files of processes that are gone, once all of them is stored."""
        for name in names:
            path = self.folder / name
            # Finished first, then the size: a file nobody holds never grows again, while its owner
            # may append a last line and die between a look at the size and the look at the lock.
            if not journal.finished(path):
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            start = stored_to.get(name, 0)
            if start < size:
                # All that is left of a finished file is a line its owner died writing: set it aside.
                with open(path, "rb") as file:
                    file.seek(start)
                    rest = file.read()
                if b"\n" in rest:
                    continue
                self._reject(journal.Unreadable(name, size, rest.decode("utf-8", "replace"), "an unfinished line"),
                             "not a call event: the line its worker was writing when it died")
            path.unlink(missing_ok=True)
            with self.engine.begin() as conn:
                conn.execute(delete(journal_progress).where(journal_progress.c.name == name))
            stored_to.pop(name, None)

    # --- status -------------------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        self._counters.calllog_failures.inc()
        if error != self._status.last_error:  # once per outage, not every retry
            logger.error("call log database failed, events wait in the journal: %s", error)
        pending = self._pending(journal.files(self.folder), self._stored_to or {})
        self._status = Status(False, error, iso(self._clock()), self._status.last_stored_at, pending,
                              self._status.rejected, str(exc) if isinstance(exc, SchemaNotReady) else None)
        self._stored_to = None  # a rolled-back batch: read positions again
        self._write_status()

    def _pending(self, names: Sequence[str], stored_to: dict[str, int]) -> int:
        """Bytes of journal not stored yet."""
        pending = 0
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                pending += max(0, (self.folder / name).stat().st_size - stored_to.get(name, 0))
        return pending

    def _note_ok(self, names: Sequence[str], stored_to: dict[str, int], stored: bool) -> None:
        pending = self._pending(names, stored_to)
        was_ok = self._status.ok
        self._status = Status(True, self._status.last_error, self._status.last_error_at,
                              iso(self._clock()) if stored else self._status.last_stored_at, pending,
                              self._status.rejected)
        if not was_ok or time.monotonic() - self._status_written > STATUS_EVERY_S:
            self._write_status()

    def _write_status(self) -> None:
        self._status_written = time.monotonic()
        journal.share(self.folder, STATUS_FILE, self._status.__dict__)

    def status(self) -> Status:
        """The writer's last status, whichever process of the instance writes."""
        if self._lock_fd is not None:
            return self._status
        try:
            return Status(**journal.shared(self.folder, STATUS_FILE))
        except (OSError, ValueError, TypeError):
            return Status()


def _busy_on_idle_priority() -> Callable[[], bool]:
    cores = cpu.Cores()
    return lambda: cpu.on_idle_priority() and cores.busy()


# --- one transaction ------------------------------------------------------------------------------


def _storable(line: journal.Line) -> bool:
    return _why(line) == ""


def _length(column: Column[Any]) -> int:
    assert isinstance(column.type, String) and column.type.length
    return column.type.length


# The longest CallSid, key and kind the events table takes, looked up once rather than for every line.
_SID_LENGTH, _KEY_LENGTH, _KIND_LENGTH = (_length(c) for c in (events.c.call_sid, events.c.key, events.c.kind))


def _why(item: journal.Line | journal.Unreadable) -> str:
    """Why a journal line cannot be stored at all ("" if it can)."""
    if isinstance(item, journal.Unreadable):
        return f"not a call event: {item.error}"
    for name, value, length in (("CallSid", item.sid, _SID_LENGTH), ("key", item.key, _KEY_LENGTH),
                                ("kind", item.kind, _KIND_LENGTH)):
        if not value or len(value) > length:
            return f"{name} must be 1 to {length} characters: {value[:80]!r}"
    return ""


def _ends(batch: Iterable[journal.Line | journal.Unreadable]) -> dict[str, int]:
    ends: dict[str, int] = {}
    for item in batch:
        ends[item.file] = max(ends.get(item.file, 0), item.end)
    return ends


@dataclass(frozen=True)
class _Statements:
    """The writer's statements for one backend, built once: SQLAlchemy then neither builds them nor
    computes their cache keys again for every batch."""

    advance: Any
    new_calls: Any
    summaries_before: Any
    new_events: Any
    timelines: Any
    summary_update: Any
    call_counts: Any
    answer_counts: Any
    alerts: Any


@functools.cache
def _statements(dialect: str) -> _Statements:
    progress, counts, answers, alert = (insert_for(dialect, table)
                                        for table in (journal_progress, call_counts, answer_counts, alerts))
    sids: BindParameter[list[str]] = bindparam("sids", expanding=True)
    return _Statements(
        advance=progress.on_conflict_do_update(index_elements=["name"],
                                               set_={"stored_to": progress.excluded.stored_to}),
        new_calls=insert_for(dialect, calls).on_conflict_do_nothing(index_elements=["sid"]),
        # Each call's summary row, locked (PostgreSQL) so concurrent writers of one call (several
        # instances) recompute it one after the other; its values before this batch, for the counts,
        # and its number of events, which says whether the timeline the writer keeps is still the call's.
        summaries_before=select(calls.c.sid, calls.c.outcome, calls.c.severity, calls.c.answer_seconds,
                                calls.c.event_count)
        .where(calls.c.sid.in_(sids)).order_by(calls.c.sid).with_for_update(),
        new_events=insert_for(dialect, events).on_conflict_do_nothing(index_elements=["call_sid", "key"])
        .returning(events.c.call_sid, events.c.key, events.c.id),
        timelines=select(events).where(events.c.call_sid.in_(sids)).order_by(events.c.at, events.c.id),
        summary_update=update(calls).where(calls.c.sid == bindparam("the_sid")).values(
            {name: bindparam(name) for name in (*SUMMARY_COLUMNS[1:], "event_count")}),
        call_counts=counts.on_conflict_do_update(
            index_elements=["outcome", "severity"], set_={"calls": call_counts.c.calls + counts.excluded.calls}),
        answer_counts=answers.on_conflict_do_update(index_elements=["bucket"], set_={
            "calls": answer_counts.c.calls + answers.excluded.calls,
            "seconds": answer_counts.c.seconds + answers.excluded.seconds,
        }),
        # In the events' own transaction: once the event is stored, so is its alert.
        alerts=alert.on_conflict_do_update(
            index_elements=["sid"], set_={"due_at": alert.excluded.due_at}, where=alerts.c.finished_at.is_(None)),
    )


def _advance(conn: Connection, ends: dict[str, int]) -> None:
    if ends:
        conn.execute(_statements(conn.dialect.name).advance,
                     [{"name": name, "stored_to": end} for name, end in ends.items()])


def clean(value: Any) -> Any:
    """Data any database takes: no NUL characters (PostgreSQL refuses them in text)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {clean(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


@dataclass(frozen=True)
class Stored:
    """What one transaction stored: the new summaries, and the whole timeline of each of their calls."""

    summaries: list[Summary]
    timelines: dict[str, list[Event]]


def _stored_data(line: journal.Line) -> dict[str, Any]:
    """The line's data as the events table takes it."""
    cleaned: dict[str, Any] = clean(line.data) if line.nul else line.data
    return cleaned


def store_lines(conn: Connection, lines: Sequence[journal.Line], settle: timedelta,
                response_times: ResponseTimes | None = None, recent: RecentTimelines | None = None) -> Stored:
    """Store the events of `lines` (repeats of a call's key are ignored), recompute the summary of
    every call that got a new event, its alert, its callback (`response_times` by default the
    offering's) and the counts. An alert falls due by when its call's latest event was accepted,
    however late it is stored. The timelines `recent` still holds are not read back; the caller
    keeps the new ones there once the transaction has committed."""
    fresh: dict[tuple[str, str], journal.Line] = {}
    for line in lines:
        fresh.setdefault((line.sid, line.key), line)
    if not fresh:
        return Stored([], {})
    started: dict[str, datetime] = {}
    accepted: dict[str, datetime] = {}
    for line in fresh.values():
        started[line.sid] = min(started.get(line.sid, line.at), line.at)
        accepted[line.sid] = max(accepted.get(line.sid, line.accepted), line.accepted)
    sids = sorted(started)
    statements = _statements(conn.dialect.name)
    conn.execute(statements.new_calls, [{"sid": sid, "started_at": started[sid]} for sid in sids])
    locked = conn.execute(statements.summaries_before, {"sids": sids}).all()
    before = {row.sid: row for row in locked if row.event_count}  # a row made by this batch was never counted
    inserted = conn.execute(statements.new_events, [
        {"call_sid": line.sid, "key": line.key, "kind": line.kind, "at": line.at, "data": _stored_data(line)}
        for line in fresh.values()]).all()
    changed = sorted({row.call_sid for row in inserted})
    if not changed:
        return Stored([], {})
    counted = {row.sid: row.event_count for row in locked}
    timelines = _timelines(conn, changed, counted, inserted, fresh, recent)
    summaries = [summarise(sid, timelines[sid]) for sid in changed]
    conn.execute(statements.summary_update,
                 [{"the_sid": s.sid, **_row(s), "event_count": len(timelines[s.sid])} for s in summaries])
    _count(conn, [(before.get(s.sid), s) for s in summaries])
    due = [(s.sid, alert_due(s, accepted[s.sid], settle)) for s in summaries if s.severity == 1]
    due += [(s.sid, accepted[s.sid]) for s in _first_sen_limits(conn, summaries)]
    if due:
        conn.execute(statements.alerts, [{"sid": sid, "due_at": at, "attempts": 0, "done": {}} for sid, at in due])
    settle_callbacks(conn, summaries, timelines, response_times or ResponseTimes())
    return Stored(summaries, timelines)


def _timelines(conn: Connection, changed: Sequence[str], counted: Mapping[str, int], inserted: Sequence[Row[Any]],
               fresh: Mapping[tuple[str, str], journal.Line], recent: RecentTimelines | None) -> dict[str, list[Event]]:
    """The whole timeline of each changed call, in (at, id) order: the one `recent` holds with the
    `inserted` events added, while it still has the number of events `counted` before them; else
    read back."""
    held = {} if recent is None else {sid: timeline for sid in changed
                                      if (timeline := recent.of(sid, counted[sid])) is not None}
    timelines: dict[str, list[Event]] = {sid: [] for sid in changed if sid not in held}
    if timelines:
        for row in conn.execute(_statements(conn.dialect.name).timelines, {"sids": list(timelines)}):
            timelines[row.call_sid].append(Event(row.call_sid, row.key, row.at, from_data(row.kind, row.data)))
    added: dict[str, list[Event]] = {sid: [] for sid in held}
    for new in sorted(inserted, key=lambda new: new.id):
        if new.call_sid in held:
            line = fresh[new.call_sid, new.key]
            # As the database gives it back: the instant in UTC, the data as stored.
            added[new.call_sid].append(Event(line.sid, line.key, line.at.astimezone(UTC),
                                             from_data(line.kind, _stored_data(line))))
    for sid, timeline in held.items():
        # The new events have larger ids than the call's stored ones (numbered after its row was
        # locked), so after those in id order and sorted stably by instant, the order is (at, id).
        timelines[sid] = sorted([*timeline, *added[sid]], key=lambda event: event.at)
    return timelines


def _first_sen_limits(conn: Connection, summaries: Sequence[Summary]) -> list[Summary]:
    """The calls ended for too many unknown SENs that ops hears of: the first of each number
    within SEN_WINDOW (no call from that number ended so in the window before has an alert,
    this one included)."""
    first: list[Summary] = []
    for summary in sorted((s for s in summaries if s.sen_limited and s.severity != 1), key=lambda s: s.started_at):
        caller = _row(summary)["caller"]  # as the column holds it
        window = (summary.started_at - SEN_WINDOW, summary.started_at)
        alerted = conn.execute(
            select(alerts.c.sid).join(calls, calls.c.sid == alerts.c.sid).where(
                calls.c.caller.is_(None) if caller is None else calls.c.caller == caller,
                calls.c.reason == SEN_LIMIT, calls.c.started_at > window[0], calls.c.started_at <= window[1],
            ).limit(1)
        ).first()
        # Nor one of this batch (its alert not written yet).
        alerted_now = any(_row(s)["caller"] == caller and window[0] < s.started_at <= window[1] for s in first)
        if alerted is None and not alerted_now:
            first.append(summary)
    return first


def _row(summary: Summary) -> dict[str, Any]:
    """The summary as the `calls` columns take it: long text cut to the column, numbers in range."""
    values: dict[str, Any] = {}
    for name in SUMMARY_COLUMNS[1:]:
        value = getattr(summary, name)
        column_type = calls.c[name].type
        if name == "outcome":
            value = value.value if value else None
        elif isinstance(value, str):
            value = clean(value)
            if isinstance(column_type, String) and column_type.length and len(value) > column_type.length:
                value = value[: column_type.length - 1] + "…"
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        elif isinstance(column_type, Integer) and isinstance(value, int) and not isinstance(value, bool):
            value = max(-INT_MAX, min(INT_MAX, value))
        values[name] = value
    return values


def _count(conn: Connection, changes: Sequence[tuple[Any, Summary]]) -> None:
    """Move each changed call from its old (outcome, severity) and answer bucket to its new ones."""
    calls_delta: dict[tuple[str, int], int] = {}
    answers_delta: dict[int, tuple[int, float]] = {}

    def move(outcome: str | None, severity: int | None, answer: float | None, sign: int) -> None:
        key = (outcome or IN_PROGRESS, severity or 0)
        calls_delta[key] = calls_delta.get(key, 0) + sign
        if answer is not None and math.isfinite(answer):
            bucket = answer_bucket(answer)
            number, total = answers_delta.get(bucket, (0, 0.0))
            answers_delta[bucket] = (number + sign, total + sign * answer)

    for old, new in changes:
        if old is not None:
            move(old.outcome, old.severity, old.answer_seconds, -1)
        move(new.outcome.value if new.outcome else None, new.severity, new.answer_seconds, +1)
    # In key order, so two writers (two instances) take the rows' locks in the same order.
    statements = _statements(conn.dialect.name)
    if moved := [{"outcome": o, "severity": s, "calls": n} for (o, s), n in sorted(calls_delta.items()) if n]:
        conn.execute(statements.call_counts, moved)
    if answered := [{"bucket": b, "calls": n, "seconds": t} for b, (n, t) in sorted(answers_delta.items()) if n or t]:
        conn.execute(statements.answer_counts, answered)
