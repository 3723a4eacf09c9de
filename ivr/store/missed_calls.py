"""The missed L1 calls of a stretch of time, each with whether its alert went out: what the ops
console's Now page shows first.

The one place that reads an alert's delivery from the `alerts` table (`delivery`), so a richer
per-call delivery state can replace it here without touching the pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from ivr.engine.outcomes import Outcome, Summary
from ivr.store.alert_queue import AlertState
from ivr.store.calllog import CallLog, summary_of
from ivr.store.schema import alerts, calls

# More than this many missed L1 calls in a day is a page of its own (the Calls page has them all).
MISSED_SHOWN = 100


class Delivery(StrEnum):
    SENT = "sent"
    PARTLY_SENT = "partly sent"
    FAILED = "failed"
    PENDING = "pending"  # due, being sent, or due again after a failed round
    NOBODY = "nobody to alert"  # the phonebook has no [alerts]
    NONE = "no alert"  # no alert on record: answered after all, or the call log has not stored it yet


@dataclass(frozen=True)
class AlertDelivery:
    state: Delivery
    sent_to: tuple[str, ...] = ()
    # Each destination that refused the alert for good, with why; and the last round's error.
    refused: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class MissedCall:
    call: Summary
    alert: AlertDelivery


def delivery(state: AlertState | None) -> AlertDelivery:
    """Whether a call's alert went out, from its row in the `alerts` table."""
    if state is None:
        return AlertDelivery(Delivery.NONE)
    sent = tuple(sorted(d for d, result in state.done.items() if "sent_at" in result))
    refused = tuple(sorted(f"{d}: {result['refused']}" for d, result in state.done.items() if "refused" in result))
    if state.finished_at is None:
        return AlertDelivery(Delivery.PENDING, sent, refused, state.last_error)
    if refused or state.last_error:
        return AlertDelivery(Delivery.PARTLY_SENT if sent else Delivery.FAILED, sent, refused, state.last_error)
    return AlertDelivery(Delivery.SENT if sent else Delivery.NOBODY, sent)


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
            state = None
            if row.alert_sid is not None:
                state = AlertState(**{column.name: getattr(row, f"alert_{column.name}") for column in alerts.c})
            found.append(MissedCall(call, delivery(state)))
    return tuple(found)
