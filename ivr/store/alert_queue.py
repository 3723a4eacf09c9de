"""The alert queue: each L1 call's alert as the `alerts` table holds it, taken by one worker at a
time for a lease, whatever the number of workers and instances (`ivr.outside.alerts` sends them)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, func, or_, select, update

from ivr.engine.handoffs import DIGEST_PREFIX
from ivr.store.database import dialect_insert
from ivr.store.schema import alerts, notices

# The keys of alerts about the service rather than a call (a CallSid never has this form).
NOTICE_PREFIX = "notice:"
# The `notices` row (never alerted) that holds the call log's first start: digests are owed from it.
DIGESTS_OWED_FROM = "digests-owed-from"
# Before any instant an alert is due at.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def owe_digests_from(engine: Engine, at: datetime) -> None:
    """Mark `at`, a service's first start on this call log, as the instant digests are owed from,
    unless marked already: a new install owes no digest of a handoff before it existed, while a
    restart after an outage still owes those of its look-back."""
    with engine.begin() as conn:
        conn.execute(
            dialect_insert(conn, notices).values(key=DIGESTS_OWED_FROM, text="handoff digests owed from here",
                                                 noticed_at=at)
            .on_conflict_do_nothing(index_elements=["key"])
        )


@dataclass(frozen=True)
class AlertState:
    """An L1 call's alert as the `alerts` table has it; `attempts` is the round a claim began."""

    sid: str
    due_at: datetime | None
    leased_until: datetime | None
    attempts: int
    done: dict[str, Any]
    last_error: str | None
    finished_at: datetime | None


class DeliveryState(StrEnum):
    """Where an alert's delivery stands, as ops reads it."""

    NOT_NEEDED = "not-needed"  # nothing to tell (the call was answered), or nobody to tell
    PENDING = "pending"  # due (or soon due) and not sent yet
    RETRYING = "retrying"  # a round failed for some destination; another round is due
    SENT = "sent"  # every destination took it
    FAILED = "failed"  # finished with a destination that refused it or kept failing


@dataclass(frozen=True)
class DestinationDelivery:
    """One destination that needs nothing more: it took the alert at `sent_at`, or `refused` it for good."""

    destination: str  # "sms:+14155550199" or "webhook"
    sent_at: datetime | None
    refused: str | None


@dataclass(frozen=True)
class AlertDelivery:
    """An L1 call's alert as ops sees it: its state, the destinations done, and the last error of a
    destination still failing (retried, or given up on after the last round)."""

    sid: str
    state: DeliveryState
    due_at: datetime | None
    rounds: int
    destinations: tuple[DestinationDelivery, ...]
    last_error: str | None
    finished_at: datetime | None


def delivery(alert: AlertState) -> AlertDelivery:
    destinations = tuple(
        DestinationDelivery(name, _instant(result.get("sent_at")), result.get("refused"))
        for name, result in sorted(alert.done.items())
    )
    if alert.finished_at is not None:
        failed = alert.last_error is not None or any(d.refused is not None for d in destinations)
        state = DeliveryState.FAILED if failed else DeliveryState.SENT if destinations else DeliveryState.NOT_NEEDED
    elif alert.due_at is None:
        state = DeliveryState.NOT_NEEDED
    else:
        state = DeliveryState.RETRYING if alert.last_error is not None else DeliveryState.PENDING
    return AlertDelivery(alert.sid, state, alert.due_at, alert.attempts, destinations, alert.last_error,
                         alert.finished_at)


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class AlertTrouble:
    """Whether delivery of one kind of alert (the handoff digests, or every other) is failing now,
    from every worker's alerts in the database: alerts due `overdue_after` ago and still not sent,
    alerts whose last round failed and are retried, and whether the latest alert finished in the
    recent past did not reach every destination."""

    overdue: int
    retrying: int
    last_finished_failed: bool


def _takeable(now: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """An alert a worker may take at `now`: due, and not held by a live lease."""
    return alerts.c.due_at <= now, or_(alerts.c.leased_until.is_(None), alerts.c.leased_until <= now)


def due_alerts_query(now: datetime, limit: int) -> Select[Any]:
    """The sweep's query: a range of the index on due_at, whatever the number of calls on record."""
    return select(alerts.c.sid).where(*_takeable(now)).order_by(alerts.c.due_at).limit(limit)


def trouble_queries(now: datetime, overdue_after: timedelta, recent: timedelta,
                    digests: bool) -> tuple[Select[Any], Select[Any], Select[Any]]:
    """Health's reads of the alerts (`AlertQueue.trouble`): the overdue, the retrying and the latest
    finished of one kind, each a range of an index however many alerts are on record."""
    digest = alerts.c.sid.startswith(DIGEST_PREFIX, autoescape=True)
    kind = digest if digests else ~digest
    # `due_at IS NOT NULL` as a range: SQLite's planner would scan the table for the former.
    pending = alerts.c.due_at >= _EARLIEST
    return (
        select(func.count()).where(alerts.c.due_at <= now - overdue_after, kind),
        select(func.count()).where(pending, alerts.c.last_error.is_not(None), kind),
        select(alerts).where(alerts.c.finished_at >= now - recent, kind).order_by(alerts.c.finished_at.desc()).limit(1),
    )


class AlertQueue:
    """`caught_up` is called before a read, so the queue shows what this process has accepted."""

    def __init__(self, engine: Engine, caught_up: Callable[[], object]):
        self.engine = engine
        self._caught_up = caught_up

    def due(self, now: datetime, limit: int) -> list[str]:
        """Calls whose alert a worker may take at `now`, longest due first."""
        self._caught_up()
        with self.engine.connect() as conn:
            return list(conn.execute(due_alerts_query(now, limit)).scalars())

    def claim(self, sid: str, now: datetime, lease: timedelta) -> AlertState | None:
        """Hold a due alert until `now + lease` and begin a round; None when it is not due or
        another worker holds it (one winner however many try at once, across instances)."""
        self._caught_up()
        with self.engine.begin() as conn:
            row = conn.execute(
                update(alerts)
                .where(alerts.c.sid == sid, *_takeable(now))
                .values(leased_until=now + lease, attempts=alerts.c.attempts + 1)
                .returning(*alerts.c)
            ).first()
        return None if row is None else AlertState(**row._mapping)

    def delivered(self, claim: AlertState, done: dict[str, Any]) -> bool:
        """Note the destinations that need nothing more, at once (a crash now cannot send them
        again); False when the claim's lease ran out and another round began."""
        with self.engine.begin() as conn:
            return conn.execute(
                update(alerts).where(alerts.c.sid == claim.sid, alerts.c.attempts == claim.attempts).values(done=done)
            ).rowcount == 1

    def release(self, claim: AlertState, now: datetime, retry_at: datetime | None, error: str | None) -> None:
        """End a round: due again at `retry_at`, or (None) finished for good."""
        values: dict[str, Any] = {"leased_until": None, "due_at": retry_at, "last_error": error}
        if retry_at is None:
            values["finished_at"] = now
        with self.engine.begin() as conn:
            conn.execute(
                update(alerts).where(alerts.c.sid == claim.sid, alerts.c.attempts == claim.attempts).values(**values)
            )

    def trouble(self, now: datetime, overdue_after: timedelta, recent: timedelta, digests: bool) -> AlertTrouble:
        """The trouble of the handoff digests (`digests`), or of the other alerts: a digest going to a
        team's own webhook says nothing of ops' destinations, nor the reverse. Read as is, without
        storing this process's journal first: health must answer at once."""
        overdue_query, retrying_query, latest_query = trouble_queries(now, overdue_after, recent, digests)
        with self.engine.connect() as conn:
            overdue = conn.execute(overdue_query).scalar_one()
            retrying = conn.execute(retrying_query).scalar_one()
            latest = conn.execute(latest_query).first()
        failed = latest is not None and delivery(AlertState(**latest._mapping)).state is DeliveryState.FAILED
        return AlertTrouble(int(overdue), int(retrying), failed)

    def add_notice(self, key: str, text: str, at: datetime) -> bool:
        """Alert ops of `text` once, however many workers and instances add the same `key`: the
        notice and its alert (due at `at`) in one transaction; False when `key` was there already."""
        assert key.startswith(NOTICE_PREFIX), key
        with self.engine.begin() as conn:
            added = conn.execute(
                dialect_insert(conn, notices).values(key=key, text=text, noticed_at=at)
                .on_conflict_do_nothing(index_elements=["key"]).returning(notices.c.key)
            ).first()
            if added is not None:
                conn.execute(dialect_insert(conn, alerts).values(sid=key, due_at=at, attempts=0, done={}))
        return added is not None

    def add_due(self, keys: Iterable[tuple[str, datetime]]) -> int:
        """Alert rows (key, due at) added unless there already (a handoff's digests, scheduled by
        every worker's sweep: one row, so one delivery, whatever the number of workers and
        instances); how many were new."""
        added = 0
        with self.engine.begin() as conn:
            for key, at in keys:
                added += conn.execute(
                    dialect_insert(conn, alerts).values(sid=key, due_at=at, attempts=0, done={})
                    .on_conflict_do_nothing(index_elements=["sid"]).returning(alerts.c.sid)
                ).first() is not None
        return added

    def digests_owed_from(self) -> datetime | None:
        """The call log's first start (`owe_digests_from`); None when no service marked it."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(notices.c.noticed_at).where(notices.c.key == DIGESTS_OWED_FROM)
            ).scalar_one_or_none()

    def notice(self, key: str) -> str | None:
        """The text of notice `key`; None when there is no such notice (a call's alert)."""
        if not key.startswith(NOTICE_PREFIX):
            return None
        with self.engine.connect() as conn:
            return conn.execute(select(notices.c.text).where(notices.c.key == key)).scalar_one_or_none()

    def delivery(self, sid: str) -> AlertDelivery | None:
        """The delivery of call `sid`'s alert; None when the call has none (not an L1 call)."""
        return self.deliveries([sid]).get(sid)

    def deliveries(self, sids: Iterable[str]) -> dict[str, AlertDelivery]:
        """The delivery of each of these calls' alerts, by call (a call without one is left out):
        for a page of calls in one query."""
        sids = list(sids)
        if not sids:
            return {}
        self._caught_up()
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.sid.in_(sids))).all()
        return {row.sid: delivery(AlertState(**row._mapping)) for row in rows}

    def get(self, sid: str) -> AlertState | None:
        self._caught_up()
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts).where(alerts.c.sid == sid)).first()
        return None if row is None else AlertState(**row._mapping)
