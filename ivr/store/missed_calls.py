"""The missed L1 calls of a stretch of time, each with whether its alert went out (the alert
queue's own `delivery`, read in the same query): what the ops console's Now page shows first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ivr.engine.outcomes import Outcome, Summary
from ivr.store.alert_queue import AlertDelivery, AlertState, delivery
from ivr.store.calllog import CallLog, summary_of
from ivr.store.schema import alerts, calls

# More than this many missed L1 calls in a day is a page of its own (the Calls page has them all).
MISSED_SHOWN = 100


@dataclass(frozen=True)
class MissedCall:
    call: Summary
    alert: AlertDelivery | None  # None: no alert on record (the call log has not decided it yet)


def missed_l1_calls(calllog: CallLog, since: datetime) -> tuple[MissedCall, ...]:
    """L1 calls started since `since` that never reached a person (`Summary.missed_l1`), newest
    first, each with its alert's delivery."""
    calllog.caught_up()
    query = (
        select(calls, *(column.label(f"alert_{column.name}") for column in alerts.c))
        .select_from(calls.outerjoin(alerts, alerts.c.sid == calls.c.sid))
        .where(calls.c.severity == 1, calls.c.started_at >= since, calls.c.outcome.is_not(None),
               calls.c.outcome != Outcome.ANSWERED.value)
        .order_by(calls.c.started_at.desc(), calls.c.sid.desc())
        .limit(MISSED_SHOWN)
    )
    found = []
    with calllog.engine.connect() as conn:
        for row in conn.execute(query):
            call = summary_of(row)
            if not call.missed_l1:
                continue
            alert = None
            if row.alert_sid is not None:
                row_of_alert = {column.name: getattr(row, f"alert_{column.name}") for column in alerts.c}
                alert = delivery(AlertState(**row_of_alert))
            found.append(MissedCall(call, alert))
    return tuple(found)
