"""The alert queue: each L1 call's alert as the `alerts` table holds it, taken by one worker at a
time for a lease, whatever the number of workers and instances (`ivr.outside.alerts` sends them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, or_, select, update

from ivr.store.schema import alerts


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


def _takeable(now: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """An alert a worker may take at `now`: due, and not held by a live lease."""
    return alerts.c.due_at <= now, or_(alerts.c.leased_until.is_(None), alerts.c.leased_until <= now)


def due_alerts_query(now: datetime, limit: int) -> Select[Any]:
    """The sweep's query: a range of the index on due_at, whatever the number of calls on record."""
    return select(alerts.c.sid).where(*_takeable(now)).order_by(alerts.c.due_at).limit(limit)


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

    def get(self, sid: str) -> AlertState | None:
        self._caught_up()
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts).where(alerts.c.sid == sid)).first()
        return None if row is None else AlertState(**row._mapping)
