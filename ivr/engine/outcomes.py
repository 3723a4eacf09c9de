"""What happened on a call: a summary derived from its timeline of events.

A pure function of the events, whatever order they arrived in (Twilio repeats and reorders
callbacks), so the summary can be recomputed from scratch after every event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple, TypeVar

from ivr.engine.events import (
    CallEvent,
    Deflected,
    Dial,
    Entitlement,
    Error,
    Joined,
    Recognised,
    Routed,
    Screened,
    SenEntered,
    Severity,
    Started,
    Status,
    Voicemail,
)
from ivr.engine.instants import iso


class Outcome(StrEnum):
    ANSWERED = "answered"
    VOICEMAIL = "voicemail"
    ABANDONED = "abandoned"
    DEFLECTED = "deflected"
    FAILED = "failed"


# Outcome filters in the ops console and CLI also accept "in-progress": no outcome yet.
IN_PROGRESS = "in-progress"
OUTCOME_FILTERS = (*(o.value for o in Outcome), IN_PROGRESS)

# An L1 call with no outcome and no event for this long is over without its final status callback
# (our service was down when Twilio sent it): nobody is known to have answered, so ops hears of it.
SILENT_AFTER = timedelta(minutes=15)

# The reason of a call ended because its number gave too many unknown SENs within SEN_WINDOW; ops
# hears of the first such call from a number in that time (`ivr.store.writer`).
SEN_LIMIT = "sen-limit"
SEN_WINDOW = timedelta(hours=1)
# The `miss` of a SenEntered event for a well-formed SEN nobody holds (`caller_input.Miss.UNKNOWN`):
# what counts towards that limit.
UNKNOWN_SEN = "unknown"

# The reason a call flow records for a severity put through only in the business week, asked at
# the weekend (a severity never put through by phone records "severity").
WEEKEND_SEVERITY = "weekend"

# Why a call was deflected, in ops' words, by the reason its `Deflected` event records (the call
# flow's `Deflect.reason`: an entitlement verdict or a step's own reason). "{level}" is the severity.
DEFLECTION_REASONS = {
    "unknown": "unknown SEN",
    "expired": "maintenance expired",
    "tier": "plan without phone support (select)",
    "unverified": "SEN could not be checked: only L1 is put through",
    "no-sen": "no SEN given",
    "no-severity": "no severity given",
    "severity": "{level} is not taken by phone",
    WEEKEND_SEVERITY: "{level} is taken in the business week only: it was the weekend",
    SEN_LIMIT: "too many unknown SENs from this number",
}


def deflection_words(reason: str | None, severity: int | None) -> str:
    """A deflection's recorded reason in ops' words (DEFLECTION_REASONS); an unknown one as stored."""
    words = DEFLECTION_REASONS.get(reason or "", reason or "reason not recorded")
    return words.format(level=f"L{severity}" if severity else "the severity")


# Final CallStatus values from the status callback that mean Twilio could not carry the call.
_CALL_FAILED = frozenset({"failed"})


@dataclass(frozen=True)
class Event:
    """One stored event of a call: its record, when it happened, and the key it is stored under."""

    call_sid: str
    key: str
    at: datetime
    record: CallEvent

    @property
    def kind(self) -> str:
        return self.record.kind


class StoredEvent(NamedTuple):
    """One stored event as the ops API shows it: the record's stored form (`stored_form`) rather
    than the record, for pages of thousands of events. A tuple: the cheapest record to make."""

    at: datetime
    kind: str
    key: str
    data: dict[str, object]


@dataclass(frozen=True)
class Summary:
    """A call at a glance. Its fields are the one list of them: the call log's `calls` table has a
    column for each (a test checks), and the ops API and CSV show them (`call_json`)."""

    sid: str
    started_at: datetime
    line: str | None = None
    region: str | None = None
    caller: str | None = None
    caller_name: str | None = None
    sen: str | None = None
    customer: str | None = None
    severity: int | None = None
    outcome: Outcome | None = None
    team: str | None = None
    answer_seconds: float | None = None
    duration: int | None = None
    voicemail_url: str | None = None
    no_candidates: bool = False
    reason: str | None = None

    @property
    def missed_l1(self) -> bool:
        """An L1 caller who never reached a person: the calls ops must hear about at once."""
        if self.severity != 1 or self.outcome is None:
            return False
        if self.outcome in (Outcome.VOICEMAIL, Outcome.ABANDONED, Outcome.FAILED):
            return True
        return self.no_candidates and self.outcome is not Outcome.ANSWERED

    @property
    def deflection(self) -> str | None:
        """Why a deflected call was not put through, in ops' words; None for any other call. A reason
        this version does not know (a newer one stored it) is shown as stored."""
        if self.outcome is not Outcome.DEFLECTED:
            return None
        return deflection_words(self.reason, self.severity)

    @property
    def sen_limited(self) -> bool:
        """Ended because its number gave too many unknown SENs (someone may be guessing them)."""
        return self.reason == SEN_LIMIT

    @property
    def unfinished_l1(self) -> bool:
        """An L1 call with no outcome yet: still going, or its final callback never came."""
        return self.severity == 1 and self.outcome is None


def alert_due(call: Summary, now: datetime, settle: timedelta) -> datetime | None:
    """When the alert for an L1 call falls due, `now` being when its latest event was stored: at
    once for a voicemail, after `settle` for another missed call (a recording may be on its way),
    SILENT_AFTER from now for a call still in progress (each new event puts that off); None when
    there is nothing to tell ops."""
    if call.unfinished_l1:
        return now + SILENT_AFTER
    if not call.missed_l1:
        return None
    return now if call.outcome is Outcome.VOICEMAIL else now + settle


R = TypeVar("R")


def _answered(
    dials: list[tuple[datetime, Dial]], screened: list[tuple[datetime, Screened]], joined: list[tuple[datetime, Joined]]
) -> tuple[str | None, datetime] | None:
    """(team, moment of acceptance) when an engineer took the call, else None. Any engineer who
    accepted counts: one who pressed 1, or one in the call's conference room (a handoff's too)."""
    accepted: dict[str, datetime] = {}
    pressed = [(at, s.number) for at, s in screened if s.accepted]
    for at, number in [*pressed, *((at, j.number) for at, j in joined)]:
        if number:
            accepted[number] = min(at, accepted.get(number, at))
    for at, dial in dials:
        rang = set(dial.numbers) | {dial.accepted_by}
        moments = [moment for number, moment in accepted.items() if number in rang]
        if moments:
            return dial.team, min(moments)
        if dial.accepted_by or dial.bridged:
            # Without its screening event, the bridge began `duration` seconds before the dial ended.
            return dial.team, at - timedelta(seconds=dial.duration or 0)
    if accepted:
        # Put through, but no dial result names the team yet (it comes when the talk ends) or ever
        # (an emergency dial after a fault rings the fallback without a dial event).
        return None, min(accepted.values())
    return None


def summarise(sid: str, events: Iterable[Event]) -> Summary:
    """The call's summary; events may come in any order and any number of times."""
    ordered = sorted(events, key=lambda e: (e.at, e.key))
    if not ordered:
        raise ValueError(f"call {sid} has no events")

    def every(kind: type[R]) -> list[tuple[datetime, R]]:
        return [(e.at, e.record) for e in ordered if isinstance(e.record, kind)]

    def last(kind: type[R]) -> R | None:
        found = every(kind)
        return found[-1][1] if found else None

    started_events = every(Started)
    started_at = started_events[0][0] if started_events else ordered[0].at
    started = last(Started) or Started()
    # Who is calling: the entitlement check's word, else the caller ID's, else the SEN as typed.
    sen_entered, recognised, entitled = last(SenEntered), last(Recognised), last(Entitlement)
    identity = entitled or recognised or sen_entered
    customer = (entitled or recognised or Recognised()).customer
    verdict = entitled.verdict if entitled else None
    routed = last(Routed) or Routed()
    # The call is over once a final status came (`in-progress` may come before it, or late, after it).
    finals = [record for _, record in every(Status) if record.final]
    status = finals[-1] if finals else None
    voicemail = last(Voicemail) or Voicemail()
    # Twilio reports a recording with no audio ("absent") or a failed one: no message was left.
    left_message = bool(voicemail.recording_url) and voicemail.status in (None, "completed")
    dials = sorted(every(Dial), key=lambda e: e[1].attempt)
    answered = _answered(dials, every(Screened), every(Joined))
    deflected = (
        bool(every(Deflected))
        or routed.action == "deflect"
        # An unverified SEN is not a refusal: level 1 calls go on (other severities are deflected
        # with their own event).
        or verdict not in (None, "ok", "unverified")
    )
    no_candidates = routed.action == "connect" and not routed.candidates

    team = answer_seconds = None
    if answered is not None:
        outcome: Outcome | None = Outcome.ANSWERED
        team, accepted_at = answered
        answer_seconds = round(max(0.0, (accepted_at - started_at).total_seconds()), 1)
    elif left_message:
        outcome = Outcome.VOICEMAIL
    elif deflected:
        outcome = Outcome.DEFLECTED
    elif status is not None and (status.call_status in _CALL_FAILED or every(Error)):
        outcome = Outcome.FAILED
    elif status is not None:
        outcome = Outcome.ABANDONED
    else:
        outcome = None

    return Summary(
        sid=sid,
        started_at=started_at,
        line=started.to or started.line,
        region=started.region,
        caller=started.caller,
        caller_name=started.caller_name,
        sen=identity.sen if identity else None,
        customer=customer,
        severity=(last(Severity) or Severity()).severity,
        outcome=outcome,
        team=team,
        answer_seconds=answer_seconds,
        duration=status.duration if status else None,
        voicemail_url=voicemail.recording_url if left_message else None,
        no_candidates=no_candidates,
        reason=(last(Deflected) or Deflected()).reason or routed.reason,
    )


_SUMMARY_FIELDS = tuple(f.name for f in fields(Summary))
# The ops API, `ivr calls --json` and the CSV show every summary field but these, under its own
# name but for these.
_NOT_SHOWN = frozenset({"region", "no_candidates"})
_SHOWN_AS = {"caller": "from"}
# (field, shown as) of each shown summary field, in order.
_SHOWN = tuple((name, _SHOWN_AS.get(name, name)) for name in _SUMMARY_FIELDS if name not in _NOT_SHOWN)
# Shown after the fields: derived from them, never stored.
_DERIVED = ("deflection",)
SHOWN_FIELDS = (*(shown_as for _name, shown_as in _SHOWN), *_DERIVED)


def call_json(call: Summary, timeline: list[StoredEvent] | None = None) -> dict[str, object]:
    """One call as the ops API and `ivr calls --json` show it: the SHOWN_FIELDS, and its events
    unless `timeline` is None (a handoff's digest lists calls without their events)."""
    shown: dict[str, object] = {shown_as: getattr(call, name) for name, shown_as in _SHOWN}
    shown["started_at"] = iso(call.started_at)
    shown["outcome"] = call.outcome.value if call.outcome else IN_PROGRESS
    for name in _DERIVED:
        shown[name] = getattr(call, name)
    if timeline is not None:
        shown["events"] = [
            {"at": iso(e.at), "kind": e.kind, "key": e.key, "data": e.data} for e in timeline
        ]
    return shown
