"""A call's timeline in ops' words: each stored event as one line of text, with team labels rather
than the phonebook's keys, and what a dial result means ("voicemail picked up and nobody pressed
1") rather than Twilio's fields. A pure function of the events and the phonebook in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ivr.engine.events import (
    CallEvent,
    Deflected,
    Dial,
    Entitlement,
    Error,
    HandoffAsked,
    HandoffDial,
    Joined,
    Left,
    Outbound,
    Recognised,
    Routed,
    Screened,
    SenEntered,
    Severity,
    Sms,
    Started,
    Status,
    Unrecognised,
    Voicemail,
)
from ivr.engine.outcomes import Event, deflection_words
from ivr.engine.phonebook import FALLBACK_NAME, Phonebook
from ivr.engine.routing import candidate


@dataclass(frozen=True)
class TimelineLine:
    at: datetime
    text: str


# Why a SEN try was not accepted (`caller_input.Miss`).
_MISSES = {
    "empty": "nothing typed or said",
    "unclear": "not digits",
    "length": "too few or too many digits for a SEN",
    "unknown": "a SEN nobody holds",
}
# What the customer list said of a SEN (`entitlement.Verdict`).
_VERDICTS = {
    "ok": "entitled",
    "unverified": "could not be checked (the customer source did not answer): level 1 goes on",
    "unknown": "nobody holds this SEN",
    "expired": "maintenance expired",
    "tier": "plan without phone support",
}
# A dial that ended without an engineer taking the call (Twilio's DialCallStatus).
_DIAL_ENDS = {
    # The leg was answered but the whisper ended without a 1: an engineer's voicemail, as a rule.
    "completed": "voicemail picked up and nobody pressed 1",
    "no-answer": "rang, nobody answered",
    "busy": "busy",
    "failed": "could not be reached",
    "canceled": "the caller hung up while it rang",
}
# The call's final status (Twilio's CallStatus), but `completed`, which says how long it lasted.
_CALL_ENDS = {
    "busy": "The call ended: busy",
    "no-answer": "The call ended: no answer",
    "failed": "Twilio could not carry the call",
    "canceled": "The caller hung up before the call was answered",
    "in-progress": "The call is in progress",
    "ringing": "The call is ringing",
    "queued": "The call is queued",
}


def _who(phonebook: Phonebook, name: str | None) -> str:
    """A candidate as ops knows it: the team's label, or the fallback's; the key of a team gone since."""
    if not name:
        return "an unnamed team"
    if name == FALLBACK_NAME:
        fallback = phonebook.fallback
        return f"the fallback ({fallback.label})" if fallback else "the fallback"
    found = candidate(phonebook, name)
    return found.spoken_name if found else name


def _numbers(numbers: Iterable[str]) -> str:
    return ", ".join(numbers) or "no number"


def _routed(phonebook: Phonebook, routed: Routed) -> str:
    if routed.action == "deflect":
        return f"Not put through by phone: {routed.reason}" if routed.reason else "Not put through by phone"
    weekend = " (the weekend)" if routed.weekend else ""
    if not routed.candidates:
        return f"Nobody on duty and no fallback: straight to voicemail{weekend}"
    return "Ringing " + ", then ".join(_who(phonebook, name) for name in routed.candidates) + weekend


def _dial(phonebook: Phonebook, dial: Dial) -> str:
    team = _who(phonebook, dial.team)
    if dial.bridged or dial.accepted_by:
        talked = f"; they talked {dial.duration} s" if dial.duration else ""
        return f"{team}: {dial.accepted_by or 'an engineer'} took the call{talked}"
    if dial.status is None:
        return f"{team}: rang {_numbers(dial.numbers)}"
    ended = _DIAL_ENDS.get(dial.status, f"ended ({dial.status})")
    return f"{team}: {_numbers(dial.numbers)}: {ended}"


def _line(phonebook: Phonebook, record: CallEvent, severity: int | None) -> str:
    match record:
        case Started():
            line = phonebook.line(record.to) if record.to else None
            name = f" ({record.caller_name})" if record.caller_name else ""
            on = f"the {line.label} line" if line else (record.to or "an unknown number")
            return f"Call from {record.caller or 'an unknown number'}{name} on {on}"
        case Recognised():
            return f"Caller ID recognised: an admin of {record.customer or 'a customer'} ({record.sen or 'no SEN'})"
        case SenEntered():
            if record.miss:
                return f"SEN try {record.attempt}: {_MISSES.get(record.miss, record.miss)}"
            return f"SEN try {record.attempt}: {record.sen}"
        case Entitlement():
            who = f"{record.sen or 'the SEN'}" + (f" ({record.customer})" if record.customer else "")
            return f"{who}: {_VERDICTS.get(record.verdict or '', record.verdict or 'no verdict')}"
        case Severity():
            return f"The caller chose severity {record.severity}"
        case Routed():
            return _routed(phonebook, record)
        case Deflected():
            return f"Deflected: {deflection_words(record.reason, severity)}"
        case Sms():
            return f"Texted the way forward to {record.to or 'the caller'}"
        case Dial():
            return _dial(phonebook, record)
        case Screened():
            if record.accepted:
                return f"{record.number} pressed 1 and took the call"
            return f"{record.number} answered and pressed another key: not put through"
        case Voicemail():
            if record.recording_url and record.status in (None, "completed"):
                return f"The caller left a voicemail ({record.duration or 0} s)"
            return f"No voicemail left (recording {record.status or 'empty'})"
        case Status():
            if record.call_status == "completed":
                return f"The call ended after {record.duration or 0} s"
            return _CALL_ENDS.get(record.call_status or "", f"Call status {record.call_status}")
        case Joined():
            team = f" of {_who(phonebook, record.team)}" if record.team else ""
            return f"{record.number or 'An engineer'}{team} is in the call"
        case Left():
            return f"{record.number or 'An engineer'} left the call"
        case HandoffAsked():
            by = record.by or "The engineer"
            if record.team is None:
                return f"{by} asked for a handoff: nobody else is on duty to bring in"
            own = " (another number of their own team)" if record.own_team else ""
            return f"{by} asked to bring in {_who(phonebook, record.team)}{own}"
        case HandoffDial():
            team = _who(phonebook, record.team)
            if record.joined:
                return f"Handoff to {team}: {_numbers(record.numbers)} rang, and a colleague joined"
            if record.status is None:
                return f"Handoff to {team}: rang {_numbers(record.numbers)}"
            return f"Handoff to {team}: {_numbers(record.numbers)}: {_DIAL_ENDS.get(record.status, record.status)}"
        case Outbound():
            by = f" by {record.who}" if record.who else ""
            of = f" for callback #{record.callback}" if record.callback is not None else ""
            return f"Call back{of}{by}: ringing the engineer at {record.engineer or 'an unknown number'} first"
        case Error():
            return f"Our service failed at {record.step or 'a step'} ({record.message}): the caller was rescued"
        case Unrecognised():
            return f"{record.kind}: {dict(record.data)}"


def timeline_lines(events: Iterable[Event], phonebook: Phonebook) -> tuple[TimelineLine, ...]:
    """One line of text per event, in the order given (the call log's: by time)."""
    lines = []
    severity: int | None = None
    for event in events:
        if isinstance(event.record, Severity):
            severity = event.record.severity
        lines.append(TimelineLine(event.at, _line(phonebook, event.record, severity)))
    return tuple(lines)
