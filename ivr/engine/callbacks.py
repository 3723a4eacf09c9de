"""Callbacks: a missed L1 call owes its customer a call back within the response time of the
customer's tier and the call's severity (`ResponseTimes`, the phonebook's or the offering's).

Which call opens one, which joins one already open (the same SEN, or the same calling number for a
call without a SEN), and which answered call closes one are pure functions of call summaries; the
call log (`ivr.store.callbacks`) applies them as it stores each call's events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ivr.engine.events import Entitlement, Outbound, Recognised
from ivr.engine.instants import iso
from ivr.engine.outcomes import Event, Outcome, Summary
from ivr.engine.phonebook import ResponseTimes, is_e164, sen_digits


class State(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    CLOSED = "closed"


# What the console, its API and `ivr callbacks` list: `open` includes the overdue.
CALLBACK_FILTERS = ("open", "overdue", "closed", "all")


# How a callback was closed.
class Closed(StrEnum):
    # The customer called again and an engineer took the call.
    ANSWERED = "answered"
    # Someone on the console closed it (a callback done by e-mail or a ticket), with a note.
    BY_HAND = "by-hand"
    # The console's call back reached the customer.
    CALLED_BACK = "called-back"


# The steps of a callback's history.
class Step(StrEnum):
    OPENED = "opened"
    JOINED = "joined"
    # Someone on the console placed a call back (its CallSid; the note names the engineer's number).
    CALLED = "called"
    CLOSED = "closed"


def customer_key(sen: str | None, caller: str | None) -> str | None:
    """Who a callback is owed to: the SEN's digits, else the calling number; None for a caller
    with neither (an `anonymous` caller ID is nobody to call back, and joins nothing)."""
    if sen and sen_digits(sen):
        return f"sen:{sen_digits(sen)}"
    if is_e164(caller):
        return f"from:{caller}"
    return None


def reached_keys(call: Summary) -> tuple[str, ...]:
    """The callbacks an answered call reaches: its SEN's, and its calling number's (a customer who
    first called without a SEN)."""
    keys = (customer_key(call.sen, None), customer_key(None, call.caller))
    return tuple(key for key in keys if key is not None)


def closed_how(timeline: Iterable[Event]) -> Closed:
    """How an answered call closes a callback: our call back, or the customer calling again."""
    return Closed.CALLED_BACK if any(isinstance(e.record, Outbound) for e in timeline) else Closed.ANSWERED


def opens_callback(call: Summary) -> bool:
    """Every missed L1 call opens a callback, or joins the customer's open one."""
    return call.missed_l1


def tier_of(timeline: Iterable[Event]) -> str | None:
    """The customer's tier as the call's entitlement check (else its caller-ID recognition) found it;
    None when neither said (the SEN could not be checked)."""
    tiers = {type(e.record): e.record.tier for e in timeline if isinstance(e.record, Entitlement | Recognised)}
    return tiers.get(Entitlement) or tiers.get(Recognised)


def due_at(call: Summary, tier: str | None, times: ResponseTimes) -> datetime | None:
    """When the customer of a missed call must have been called back: the response time from the
    moment the call began; None when its severity has none."""
    if call.severity is None:
        return None
    within = times.within(tier, call.severity)
    return None if within is None else call.started_at + within


def reached_at(call: Summary) -> datetime | None:
    """When an engineer took the call (None for a call nobody took): a callback whose missed calls
    all began before this moment is closed by it."""
    if call.outcome is not Outcome.ANSWERED or call.answer_seconds is None:
        return None
    return call.started_at + timedelta(seconds=call.answer_seconds)


@dataclass(frozen=True)
class Callback:
    """A callback owed to a customer: opened by a missed call at `opened_at`, due at `due_at`;
    `last_call_at` is when the latest missed call that joined it began."""

    id: int
    key: str | None
    sen: str | None
    customer: str | None
    caller: str | None
    line: str | None
    tier: str | None
    severity: int
    opened_at: datetime
    due_at: datetime
    last_call_at: datetime
    first_call: str
    calls: int = 1
    voicemail_url: str | None = None
    closed_at: datetime | None = None
    closed_how: Closed | None = None
    closed_by_call: str | None = None
    closed_by: str | None = None
    note: str | None = None

    def state(self, at: datetime) -> State:
        """Its state at `at`: closed from `closed_at` on (a handoff's digest asks of an instant before)."""
        if self.closed_at is not None and self.closed_at <= at:
            return State.CLOSED
        return State.OVERDUE if at >= self.due_at else State.OPEN


@dataclass(frozen=True)
class HistoryStep:
    """One step of a callback: a missed call opened or joined it, or it was closed (by a call, or
    by someone on the console, with a note)."""

    at: datetime
    step: Step
    call_sid: str | None = None
    who: str | None = None
    note: str | None = None


def callback_json(callback: Callback, at: datetime) -> dict[str, object]:
    """A callback as the ops API and `ivr callbacks --json` show it at `at`: `due_in_seconds` while
    open (negative: overdue by that much)."""
    state = callback.state(at)
    return {
        "id": callback.id,
        "state": state.value,
        "sen": callback.sen,
        "customer": callback.customer,
        "from": callback.caller,
        "line": callback.line,
        "tier": callback.tier,
        "severity": callback.severity,
        "opened_at": iso(callback.opened_at),
        "due_at": iso(callback.due_at),
        "due_in_seconds": None if state is State.CLOSED else int((callback.due_at - at).total_seconds()),
        "first_call": callback.first_call,
        "calls": callback.calls,
        "voicemail_url": callback.voicemail_url,
        "closed_at": None if callback.closed_at is None else iso(callback.closed_at),
        "closed_how": None if callback.closed_how is None else callback.closed_how.value,
        "closed_by_call": callback.closed_by_call,
        "closed_by": callback.closed_by,
        "note": callback.note,
    }


def history_json(step: HistoryStep) -> dict[str, object]:
    return {"at": iso(step.at), "step": step.step.value, "call": step.call_sid, "who": step.who, "note": step.note}


def span(delta: timedelta) -> str:
    """A due time's distance as people read it: '45 min', '2 h 05 min', '3 d 4 h'."""
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // 1440} d {minutes % 1440 // 60} h"


def when_text(callback: Callback, at: datetime) -> str:
    """'due in 25 min', 'overdue by 1 h 05 min', or how and when it was closed."""
    state = callback.state(at)
    if state is State.OPEN:
        return f"due in {span(callback.due_at - at)}"
    if state is State.OVERDUE:
        return f"overdue by {span(at - callback.due_at)}"
    assert callback.closed_at is not None and callback.closed_how is not None
    by = callback.closed_by_call or callback.closed_by or ""
    return f"closed {iso(callback.closed_at)} {callback.closed_how.value} {by}".rstrip()
