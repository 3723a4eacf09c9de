"""Callbacks in the call log: opened, joined and closed by the writer in the transaction that stores
the events deciding them (`settle_callbacks`), so each happens once whatever the number of workers and
instances; read and closed by hand through `Callbacks`.

A callback still open at its due time alerts ops once ("overdue"): it has a row in the alert queue
(`ivr.store.alert_queue`) under `alert_key(id)`, due at the callback's due time and cleared when it
closes, so the alert sweep's leases deliver it exactly as they deliver a missed call's alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Integer, Row, Text, and_, bindparam, func, or_, select, text, update

from ivr.engine.callbacks import (
    Callback,
    Closed,
    HistoryStep,
    State,
    Step,
    closed_how,
    customer_key,
    due_at,
    opens_callback,
    reached_at,
    reached_keys,
    tier_of,
)
from ivr.engine.events import Outbound
from ivr.engine.outcomes import Event, Outcome, Summary
from ivr.engine.phonebook import ResponseTimes, is_e164, sen_digits
from ivr.store.database import dialect_insert
from ivr.store.schema import alerts, callback_steps, callbacks, calls, events

ALERT_PREFIX = "callback:"
# Answered calls that began this long before a missed call cannot have reached its customer after
# it began: a call rings at most 12 candidates for at most 600 s each, two hours.
LONGEST_ANSWER = timedelta(hours=3)
# The longest note kept with a callback closed by hand.
NOTE_LENGTH = 500


def alert_key(callback_id: int) -> str:
    """The alert queue's key of a callback's overdue alert."""
    return f"{ALERT_PREFIX}{callback_id}"


def alerted_callback(key: str) -> int | None:
    """The callback whose overdue alert `key` is; None for a call's alert."""
    number = key.removeprefix(ALERT_PREFIX)
    return int(number) if number != key and number.isdigit() else None


# --- in the writer's transaction -------------------------------------------------------------------


def settle_callbacks(conn: Connection, summaries: Sequence[Summary], timelines: Mapping[str, list[Event]],
           times: ResponseTimes) -> None:
    """Open or join a callback for each newly missed L1 call, then close the callbacks the answered
    calls reached. Per customer one decision at a time, across writers (`_hold`)."""
    missed = sorted((s for s in summaries if opens_callback(s)), key=lambda s: (s.started_at, s.sid))
    answered = sorted((s for s in summaries if reached_at(s) is not None), key=lambda s: (reached_at(s), s.sid))
    keys = {customer_key(s.sen, s.caller) for s in missed} | {k for s in answered for k in reached_keys(s)}
    _hold(conn, (k for k in keys if k is not None))
    # In the order they happened, whatever order the batch holds them in: a miss opens or joins, an
    # answer closes what the misses before it opened, and a miss after that answer opens a new one.
    steps = sorted([(call.started_at, 0, call) for call in missed] + [(reached, 1, call) for call in answered
                                                                   if (reached := reached_at(call)) is not None],
                   key=lambda step: (step[0], step[1], step[2].sid))
    closing_later = {call.sid for call in answered}  # answers of this batch not taken in yet
    settling = _Settling(conn, missed)
    for _, is_answer, call in steps:
        if is_answer:
            closing_later.discard(call.sid)
            settling.flush()
            _close_reached(conn, call, closed_how(timelines[call.sid]))
        else:
            settling.open_or_join(call, tier_of(timelines[call.sid]), times, frozenset(closing_later))
    settling.flush()


def _hold(conn: Connection, keys: Iterable[str]) -> None:
    """Hold each customer's key until the transaction ends, all in one statement (a round trip per
    key was most of a batch's time behind a slow link). PostgreSQL only: SQLite has one writer at a
    time, and this transaction holds it already."""
    if conn.dialect.name != "postgresql":
        return
    locks = sorted({int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
                    for key in keys})
    if locks:
        # Taken in the order of the locks, so writers never deadlock: PostgreSQL evaluates the select
        # list after the sort (since 9.6). Were one to happen all the same, PostgreSQL ends it with an
        # OperationalError, which the writer takes for transient (`writer.transient`): it stores the batch again.
        conn.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:locks AS bigint[])) AS k ORDER BY k"),
                     {"locks": locks})


@dataclass
class _Joining:
    """A callback that calls of this transaction open or join, written once (`_Settling.flush`): one
    stored already, or one a call opened here (`new`: inserted with the joins folded in)."""

    id: int | None  # of a new one, once written
    due_at: datetime  # as stored, or as opened
    earliest: datetime
    last_call_at: datetime
    calls: int = 0  # joined here
    voicemail_url: str | None = None
    new: bool = False


class _Settling:
    """One transaction's missed calls, opening or joining their customers' callbacks in the order
    given: decided in memory and written together, a few statements for them all, before anything
    else this transaction does to the callbacks (`flush`), so the result is the same as one call at
    a time. Read once for all the calls: which of them are in a callback already, their customers'
    open callbacks (again after a flush), and the answers that reached them (`_Answers`)."""

    def __init__(self, conn: Connection, missed: Sequence[Summary]):
        self._conn = conn
        self._missed = missed
        call_sids = [call.sid for call in missed]
        self._members: dict[str, int | _Joining] = {row.call_sid: row.callback_id for row in conn.execute(
            select(callback_steps.c.call_sid, callback_steps.c.callback_id).where(
                callback_steps.c.call_sid.in_(call_sids), callback_steps.c.step.in_([Step.OPENED, Step.JOINED]))
        )} if call_sids else {}
        self._joining: dict[str, _Joining] | None = None  # the open callbacks by key, read when first needed
        self._opened: list[tuple[_Joining, dict[str, Any]]] = []  # with their rows as they opened
        self._steps: list[tuple[_Joining, dict[str, Any]]] = []  # in the order taken, as one at a time adds them
        self._answers: _Answers | None = None

    def open_or_join(self, call: Summary, tier: str | None, times: ResponseTimes,
                     closing_later: frozenset[str] = frozenset()) -> None:
        member = self._members.get(call.sid)
        if member is not None:
            # A call already counted; a recording that came later is the callback's newest voicemail.
            if call.voicemail_url:
                self.flush()  # a callback opened here has its id once written
                callback_id = member if isinstance(member, int) else member.id
                self._conn.execute(
                    update(callbacks).where(callbacks.c.id == callback_id).values(voicemail_url=call.voicemail_url))
            return
        due = due_at(call, tier, times)
        if due is None:
            return
        key = customer_key(call.sen, call.caller)
        joining = None if key is None else self._open_callbacks().get(key)
        if joining is None:
            self._open(call, key, tier, due, closing_later)
            return
        self._members[call.sid] = joining
        joining.earliest = min(joining.earliest, due)
        joining.last_call_at = max(joining.last_call_at, call.started_at)
        joining.calls += 1
        joining.voicemail_url = call.voicemail_url or joining.voicemail_url
        self._steps.append((joining, {"at": call.started_at, "step": Step.JOINED.value, "call_sid": call.sid}))

    def _open(self, call: Summary, key: str | None, tier: str | None, due: datetime,
              closing_later: frozenset[str]) -> None:
        """A new callback for `call`, closed at once when an answer stored already reached its customer."""
        opened = _Joining(None, due, due, call.started_at, voicemail_url=call.voicemail_url, new=True)
        row: dict[str, Any] = {
            "key": key, "open_key": key, "sen": call.sen, "customer": call.customer, "caller": call.caller,
            "line": call.line, "tier": tier, "severity": call.severity, "opened_at": call.started_at,
            "first_call": call.sid, "closed_at": None, "closed_how": None, "closed_by_call": None}
        self._opened.append((opened, row))
        self._members[call.sid] = opened
        self._steps.append((opened, {"at": call.started_at, "step": Step.OPENED.value, "call_sid": call.sid}))
        if self._answers is None:
            self._answers = _Answers(self._conn, self._missed)
        if (reached := self._answers.reached_since(call, closing_later)) is not None:
            at, how, by_call = reached
            row.update(open_key=None, closed_at=at, closed_how=how.value, closed_by_call=by_call)
            self._steps.append((opened, {"at": at, "step": Step.CLOSED.value, "call_sid": by_call}))
        elif key is not None:
            self._open_callbacks()[key] = opened

    def _open_callbacks(self) -> dict[str, _Joining]:
        """The open callbacks of the missed calls' customers by key, with what this transaction did to
        them since they were read."""
        if self._joining is None:
            keys = {key for call in self._missed if (key := customer_key(call.sen, call.caller)) is not None}
            found = self._conn.execute(
                select(callbacks.c.id, callbacks.c.open_key, callbacks.c.due_at, callbacks.c.last_call_at)
                .where(callbacks.c.open_key.in_(keys))).all() if keys else []
            self._joining = {row.open_key: _Joining(row.id, row.due_at, row.due_at, row.last_call_at) for row in found}
        return self._joining

    def flush(self) -> None:
        """Write what was decided so far; what this transaction reads of the callbacks next is as stored."""
        conn = self._conn
        if self._opened:
            ids = conn.execute(callbacks.insert().returning(callbacks.c.id, sort_by_parameter_order=True), [
                {**row, "due_at": opened.earliest, "last_call_at": opened.last_call_at, "calls": 1 + opened.calls,
                 "voicemail_url": opened.voicemail_url} for opened, row in self._opened]).scalars().all()
            for (opened, _), callback_id in zip(self._opened, ids, strict=True):
                opened.id = callback_id
        stored = [joining for joining in (self._joining or {}).values() if not joining.new]
        if joined := [joining for joining in stored if joining.calls]:
            conn.execute(update(callbacks).where(callbacks.c.id == bindparam("joined_id")).values(
                due_at=bindparam("earliest", type_=callbacks.c.due_at.type),
                last_call_at=bindparam("last_call", type_=callbacks.c.last_call_at.type),
                calls=callbacks.c.calls + bindparam("joins", type_=Integer),
                voicemail_url=func.coalesce(bindparam("newest_voicemail", type_=Text), callbacks.c.voicemail_url),
            ), [{"joined_id": joining.id, "earliest": joining.earliest, "last_call": joining.last_call_at,
                 "joins": joining.calls, "newest_voicemail": joining.voicemail_url} for joining in joined])
        # A callback closed as it opened has nothing left to tell ops.
        dues = [(opened, None if row["closed_at"] else opened.earliest) for opened, row in self._opened]
        dues += [(joining, joining.earliest) for joining in stored if joining.earliest != joining.due_at]
        _alerts(conn, [(joining.id, due) for joining, due in dues if joining.id is not None])
        if self._steps:
            conn.execute(callback_steps.insert(),
                         [{"callback_id": joining.id, **step} for joining, step in self._steps])
        self._joining = None
        self._opened.clear()
        self._steps.clear()


class _Answers:
    """The answered calls that may have reached the customers of some missed calls, read in one query
    (no call changes while a transaction settles callbacks) and matched as `_close_reached` matches:
    by the SEN, or without one by the number."""

    def __init__(self, conn: Connection, missed: Sequence[Summary]):
        self._by_sen: dict[str, list[Row[Any]]] = {}
        self._by_caller: dict[str, list[Row[Any]]] = {}
        sens = {sen for call in missed for sen in _sen_spellings(call)}
        callers = {call.caller for call in missed if not _sen_spellings(call) and is_e164(call.caller)}
        if not sens and not callers:
            return
        outbound = select(events.c.id).where(events.c.call_sid == calls.c.sid, events.c.kind == Outbound.kind).exists()
        for row in conn.execute(
            select(calls.c.sid, calls.c.sen, calls.c.caller, calls.c.started_at, calls.c.answer_seconds,
                   outbound.label("outbound")).where(
                or_(calls.c.sen.in_(sens), calls.c.caller.in_(callers)), calls.c.outcome == Outcome.ANSWERED.value,
                calls.c.started_at >= min(call.started_at for call in missed) - LONGEST_ANSWER)
        ):
            if row.sen in sens:
                self._by_sen.setdefault(row.sen, []).append(row)
            if row.caller in callers:
                self._by_caller.setdefault(row.caller, []).append(row)

    def reached_since(self, call: Summary, closing_later: frozenset[str]) -> tuple[datetime, Closed, str] | None:
        """The first call that reached this missed call's customer after it began, if the call log
        already holds one: stored before the miss (the writer takes journal files in turn, so after an
        outage a later answer can come first), other than the calls in `closing_later`."""
        found: list[Row[Any]]
        if sens := _sen_spellings(call):
            found = [row for sen in sens for row in self._by_sen.get(sen, [])]
        elif is_e164(call.caller):
            found = self._by_caller.get(call.caller, [])
        else:
            return None
        reached = sorted((row.started_at + timedelta(seconds=row.answer_seconds or 0), row.sid, row.outbound)
                         for row in found if row.sid != call.sid and row.sid not in closing_later
                         and row.started_at >= call.started_at - LONGEST_ANSWER)
        return next(((at, Closed.CALLED_BACK if outbound else Closed.ANSWERED, sid)
                     for at, sid, outbound in reached if at >= call.started_at), None)


def _sen_spellings(call: Summary) -> set[str]:
    """The ways the call log may hold this call's SEN; none without one."""
    digits = sen_digits(call.sen) if call.sen else ""
    return {call.sen, digits, f"SEN-{digits}"} if call.sen and digits else set()


def _close_reached(conn: Connection, call: Summary, how: Closed) -> None:
    """Close the customer's open callbacks whose missed calls all began before an engineer took
    this call."""
    reached = reached_at(call)
    assert reached is not None
    for (callback_id,) in conn.execute(
        select(callbacks.c.id).where(callbacks.c.open_key.in_(reached_keys(call)), callbacks.c.last_call_at <= reached)
    ).all():
        _close(conn, callback_id, reached, how, call_sid=call.sid)


def _close(conn: Connection, callback_id: int, at: datetime, how: Closed, call_sid: str | None = None, *,
           who: str | None = None, note: str | None = None) -> bool:
    closed = conn.execute(
        update(callbacks).where(callbacks.c.id == callback_id, callbacks.c.closed_at.is_(None)).values(
            open_key=None, closed_at=at, closed_how=how.value, closed_by_call=call_sid, closed_by=who, note=note)
    ).rowcount == 1
    if closed:
        _step(conn, callback_id, at, Step.CLOSED, call_sid=call_sid, who=who, note=note)
        # Nothing left to tell ops (a round under way finds the callback closed and sends nothing).
        conn.execute(update(alerts).where(alerts.c.sid == alert_key(callback_id), alerts.c.finished_at.is_(None))
                     .values(due_at=None))
    return closed


def _step(conn: Connection, callback_id: int, at: datetime, step: Step, **details: Any) -> None:
    conn.execute(callback_steps.insert().values(callback_id=callback_id, at=at, step=step.value, **details))


def _alerts(conn: Connection, dues: Sequence[tuple[int, datetime | None]]) -> None:
    """Callbacks' overdue alerts, each due at its callback's due time (earlier when a later call
    brought it forward; none for a closed one): one statement for them all."""
    if not dues:
        return
    insert = dialect_insert(conn, alerts)
    conn.execute(insert.on_conflict_do_update(
        index_elements=["sid"], set_={"due_at": insert.excluded.due_at}, where=alerts.c.finished_at.is_(None),
    ), [{"sid": alert_key(callback_id), "due_at": due, "attempts": 0, "done": {}} for callback_id, due in dues])


# --- reading, and closing by hand ---------------------------------------------------------------


@dataclass(frozen=True)
class CallbackFilter:
    """`state` one of State's values (`open` includes the overdue); a window on when they opened."""

    state: State | None = None
    since: datetime | None = None
    until: datetime | None = None


class Callbacks:
    """The callbacks of a call log; `caught_up` is called before a read, so it shows what this
    process has accepted."""

    def __init__(self, engine: Engine, caught_up: Callable[[], object],
                 response_times: Callable[[], ResponseTimes] = ResponseTimes):
        self.engine = engine
        self._caught_up = caught_up
        self._response_times = response_times

    def find(self, at: datetime, where: CallbackFilter = CallbackFilter(), limit: int = 100,
             after: int | None = None) -> list[Callback]:
        """Open ones soonest due first; closed ones (and all, with no state) newest first. `after`, a
        callback's id, pages on: the ones listed after it in this order."""
        self._caught_up()
        query = select(callbacks)
        if where.state is State.CLOSED:
            query = query.where(callbacks.c.closed_at.is_not(None))
            column, newest_first = callbacks.c.closed_at, True
        elif where.state is not None:
            query = query.where(callbacks.c.closed_at.is_(None))
            column, newest_first = callbacks.c.due_at, False
            if where.state is State.OVERDUE:
                query = query.where(callbacks.c.due_at <= at)
        else:
            column, newest_first = callbacks.c.opened_at, True
        if newest_first:
            query = query.order_by(column.desc(), callbacks.c.id.desc())
        else:
            query = query.order_by(column, callbacks.c.id)
        if after is not None:
            # Keyset paging on (column, id): stable while callbacks open and close between pages.
            last = select(column).where(callbacks.c.id == after).scalar_subquery()
            if newest_first:
                query = query.where(or_(column < last, and_(column == last, callbacks.c.id < after)))
            else:
                query = query.where(or_(column > last, and_(column == last, callbacks.c.id > after)))
        if where.since:
            query = query.where(callbacks.c.opened_at >= where.since)
        if where.until:
            query = query.where(callbacks.c.opened_at < where.until)
        with self.engine.connect() as conn:
            return [_callback(row) for row in conn.execute(query.limit(limit))]

    def open_at(self, at: datetime, limit: int) -> list[Callback]:
        """The callbacks open at `at`, soonest due first: opened before it, and not closed by then
        (closed later, or still open now)."""
        self._caught_up()
        query = (select(callbacks)
                 .where(callbacks.c.opened_at < at, or_(callbacks.c.closed_at.is_(None), callbacks.c.closed_at > at))
                 .order_by(callbacks.c.due_at, callbacks.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [_callback(row) for row in conn.execute(query)]

    def get(self, callback_id: int) -> Callback | None:
        self._caught_up()
        with self.engine.connect() as conn:
            row = conn.execute(select(callbacks).where(callbacks.c.id == callback_id)).first()
        return None if row is None else _callback(row)

    def history(self, callback_id: int) -> list[HistoryStep]:
        self._caught_up()
        query = (select(callback_steps).where(callback_steps.c.callback_id == callback_id)
                 .order_by(callback_steps.c.at, callback_steps.c.id))
        with self.engine.connect() as conn:
            return [HistoryStep(row.at, Step(row.step), row.call_sid, row.who, row.note) for row in conn.execute(query)]

    def of_call(self, call_sid: str) -> list[int]:
        """The callbacks a call opened, joined or closed."""
        self._caught_up()
        query = select(callback_steps.c.callback_id).where(callback_steps.c.call_sid == call_sid).distinct()
        with self.engine.connect() as conn:
            return sorted(conn.execute(query).scalars())

    def latest_of_calls(self, call_sids: Sequence[str]) -> dict[str, Callback]:
        """The newest callback each of these calls opened, joined or closed, by call (one query for
        a page of calls; a call without one is left out)."""
        if not call_sids:
            return {}
        self._caught_up()
        query = (select(callback_steps.c.call_sid.label("step_call"), callbacks)
                 .join(callbacks, callbacks.c.id == callback_steps.c.callback_id)
                 .where(callback_steps.c.call_sid.in_(call_sids))
                 .order_by(callbacks.c.id))
        with self.engine.connect() as conn:
            return {row.step_call: _callback(row, "step_call") for row in conn.execute(query)}

    def counts(self, at: datetime) -> tuple[int, int]:
        """(open, overdue) at `at`; the open include the overdue. Read through the due index."""
        self._caught_up()
        still_open = callbacks.c.closed_at.is_(None)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).where(still_open)).scalar_one()
            late = conn.execute(select(func.count()).where(and_(still_open, callbacks.c.due_at <= at))).scalar_one()
        return int(total), int(late)

    def close(self, callback_id: int, at: datetime, who: str, note: str) -> bool:
        """Close by hand, noting who and why; False when it was closed already (or never was)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(callbacks.c.key).where(callbacks.c.id == callback_id)).first()
            if row is None:
                return False
            if row.key is not None:
                _hold(conn, [row.key])  # not while a writer joins a missed call to it
            return _close(conn, callback_id, at, Closed.BY_HAND, who=who, note=note[:NOTE_LENGTH])

    def open_unfinished(self, call: Summary, timeline: Sequence[Event]) -> None:
        """Open or join the customer's callback for an L1 call whose final status never came (the
        alert sweep, when that call's silence falls due): nobody can say the customer reached anyone.
        Once a call, as for a missed one; its final status, if it comes after all, closes the callback
        when the call was answered (`settle_callbacks`)."""
        key = customer_key(call.sen, call.caller)
        with self.engine.begin() as conn:
            _hold(conn, [key] if key else [])
            settling = _Settling(conn, [call])
            settling.open_or_join(call, tier_of(timeline), self._response_times())
            settling.flush()

    def called(self, callback_id: int, at: datetime, who: str, call_sid: str, engineer: str) -> None:
        """Note in its history that `who` placed a call back (`call_sid`), ringing `engineer` first."""
        with self.engine.begin() as conn:
            _step(conn, callback_id, at, Step.CALLED, call_sid=call_sid, who=who, note=f"ringing {engineer} first")


def _callback(row: Row[Any], *extra: str) -> Callback:
    """The callback a row of `callbacks` holds (beside the `extra` columns a query added)."""
    values = dict(row._mapping)
    for column in ("open_key", *extra):
        values.pop(column)
    values["closed_how"] = Closed(row.closed_how) if row.closed_how else None
    return Callback(**values)
