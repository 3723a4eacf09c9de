"""What happened on a call: a summary derived from its timeline of events.

A pure function of the events, whatever order they arrived in (Twilio repeats and reorders
callbacks), so the summary can be recomputed from scratch after every event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


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

# Final CallStatus values from the status callback that mean Twilio could not carry the call.
_CALL_FAILED = frozenset({"failed"})


@dataclass(frozen=True)
class Event:
    call_sid: str
    key: str
    kind: str
    at: datetime
    data: Mapping


@dataclass(frozen=True)
class Summary:
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


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]  # any stored value; int() may refuse it
    except (TypeError, ValueError):
        return None


def _answered(dials: list[Event], screened: list[Event]) -> tuple[str | None, datetime] | None:
    """(team, moment of acceptance) when an engineer took the call, else None."""
    accepted: dict[str, datetime] = {}
    for event in screened:
        number = event.data.get("number")
        if event.data.get("accepted") and number:
            accepted[number] = min(event.at, accepted.get(number, event.at))
    for dial in dials:
        data = dial.data
        rang = set(data.get("numbers") or ()) | {data.get("accepted_by")}
        moments = [at for number, at in accepted.items() if number in rang]
        if moments:
            return data.get("team"), min(moments)
        if data.get("accepted_by") or data.get("bridged"):
            # Without its screening event, the bridge began `duration` seconds before the dial ended.
            return data.get("team"), dial.at - timedelta(seconds=_int(data.get("duration")) or 0)
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
    by_kind: dict[str, list[Event]] = {}
    for event in ordered:
        by_kind.setdefault(event.kind, []).append(event)

    def last(kind: str) -> Mapping:
        found = by_kind.get(kind)
        return found[-1].data if found else {}

    started_events = by_kind.get("started")
    started_at = started_events[0].at if started_events else ordered[0].at
    started = last("started")
    identity = {**last("sen_entered"), **last("recognised"), **last("entitlement")}
    routed = last("routed")
    status = last("status")
    voicemail = last("voicemail")
    # Twilio reports a recording with no audio ("absent") or a failed one: no message was left.
    left_message = voicemail.get("recording_url") and voicemail.get("status") in (None, "completed")
    dials = sorted(by_kind.get("dial", []), key=lambda e: _int(e.data.get("attempt")) or 0)
    answered = _answered(dials, by_kind.get("screened", []))
    deflected = (
        "deflected" in by_kind
        or routed.get("action") == "deflect"
        # An unverified SEN is not a refusal: level 1 calls go on (other severities are deflected
        # with their own event).
        or identity.get("verdict") not in (None, "ok", "unverified")
    )
    no_candidates = routed.get("action") == "connect" and not routed.get("candidates")

    team = answer_seconds = None
    if answered is not None:
        outcome: Outcome | None = Outcome.ANSWERED
        team, accepted_at = answered
        answer_seconds = round(max(0.0, (accepted_at - started_at).total_seconds()), 1)
    elif left_message:
        outcome = Outcome.VOICEMAIL
    elif deflected:
        outcome = Outcome.DEFLECTED
    elif status.get("call_status") in _CALL_FAILED or (status and "error" in by_kind):
        outcome = Outcome.FAILED
    elif status:
        outcome = Outcome.ABANDONED
    else:
        outcome = None

    severity = _int(last("severity").get("severity"))
    return Summary(
        sid=sid,
        started_at=started_at,
        line=started.get("to") or started.get("line"),
        region=started.get("region"),
        caller=started.get("from"),
        caller_name=started.get("caller_name"),
        sen=identity.get("sen"),
        customer=identity.get("customer"),
        severity=severity,
        outcome=outcome,
        team=team,
        answer_seconds=answer_seconds,
        duration=_int(status.get("duration")),
        voicemail_url=voicemail.get("recording_url") if left_message else None,
        no_candidates=no_candidates,
        reason=last("deflected").get("reason") or routed.get("reason"),
    )
