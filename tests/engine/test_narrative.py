"""A call's timeline in ops' words: one line per event, team labels rather than keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import utc

from ivr.engine import events
from ivr.engine.narrative import TimelineLine, timeline_lines
from ivr.engine.outcomes import Event

AT = utc("2026-12-01T09:00Z")


def told(sample, *records):
    timeline = [Event("CA1", r.key, AT + timedelta(seconds=n), r) for n, r in enumerate(records)]
    return [line.text for line in timeline_lines(timeline, sample)]


SF = ("+14155550101",)


@pytest.mark.parametrize(("record", "text"), [
    (events.Started(to="+14155550100", caller="+14155551234", caller_name="ACME"),
     "Call from +14155551234 (ACME) on the United States & Canada line"),
    (events.Started(to="+15005550006", caller=None), "Call from an unknown number on +15005550006"),
    (events.Recognised(sen="SEN-1234567", customer="Acme Corporation"),
     "Caller ID recognised: an admin of Acme Corporation (SEN-1234567)"),
    (events.SenEntered(attempt=1, sen="1234567"), "SEN try 1: 1234567"),
    (events.SenEntered(attempt=2, miss="length"), "SEN try 2: too few or too many digits for a SEN"),
    (events.SenEntered(attempt=3, miss="unknown", sen="7654321"), "SEN try 3: a SEN nobody holds"),
    (events.Entitlement(sen="SEN-2345678", customer="Globex", verdict="expired"),
     "SEN-2345678 (Globex): maintenance expired"),
    (events.Entitlement(sen="1234567", verdict="unverified"),
     "1234567: could not be checked (the customer source did not answer): level 1 goes on"),
    (events.Severity(severity=1), "The caller chose severity 1"),
    (events.Routed(action="connect", candidates=("amsterdam", "select", "fallback")),
     "Ringing Amsterdam Priority Support, then Global Select Support, then the fallback (duty manager)"),
    (events.Routed(action="connect", candidates=("select", "gone_team"), weekend=True),
     "Ringing Global Select Support, then gone_team (the weekend)"),
    (events.Routed(action="connect", candidates=()), "Nobody on duty and no fallback: straight to voicemail"),
    (events.Routed(action="deflect", reason="severity 3 is never put through by phone"),
     "Not put through by phone: severity 3 is never put through by phone"),
    (events.Deflected(reason="tier"), "Deflected: plan without phone support (select)"),
    (events.Sms(reason="expired", to="+61491570156"), "Texted the way forward to +61491570156"),
    (events.Dial(attempt=1, team="san_francisco", numbers=SF, status="completed", duration=0),
     "San Francisco Priority Support: +14155550101: voicemail picked up and nobody pressed 1"),
    (events.Dial(attempt=1, team="san_francisco", numbers=SF, status="no-answer"),
     "San Francisco Priority Support: +14155550101: rang, nobody answered"),
    (events.Dial(attempt=2, team="fallback", numbers=("+14155550142",), status="busy"),
     "the fallback (duty manager): +14155550142: busy"),
    (events.Dial(attempt=1, team="amsterdam", numbers=("+31205550101", "+31205550102"), status="canceled"),
     "Amsterdam Priority Support: +31205550101, +31205550102: the caller hung up while it rang"),
    (events.Dial(attempt=1, team="amsterdam", numbers=("+31205550101", "+31205550102"), status="completed",
                 duration=180, bridged=True),
     "Amsterdam Priority Support: an engineer took the call; they talked 180 s"),
    (events.Dial(attempt=1, team="san_francisco", numbers=SF, status="completed", duration=60, accepted_by=SF[0],
                 bridged=True),
     "San Francisco Priority Support: +14155550101 took the call; they talked 60 s"),
    (events.Screened(number="+14155550101", accepted=True), "+14155550101 pressed 1 and took the call"),
    (events.Screened(number="+14155550101", accepted=False),
     "+14155550101 answered and pressed another key: not put through"),
    (events.Voicemail(recording_url="https://api.twilio.com/RE1", duration=9, status="completed"),
     "The caller left a voicemail (9 s)"),
    (events.Voicemail(status="absent"), "No voicemail left (recording absent)"),
    (events.Status(call_status="completed", duration=313), "The call ended after 313 s"),
    (events.Status(call_status="canceled"), "The caller hung up before the call was answered"),
    (events.Status(call_status="in-progress"), "The call is in progress"),
    (events.Error(step="voice.severity", message="KeyError: 'x'"),
     "Our service failed at voice.severity (KeyError: 'x'): the caller was rescued"),
    (events.Unrecognised("conference", {"room": "r1"}), "conference: {'room': 'r1'}"),
    (events.HandoffAsked(attempt=1, by="+31205550101", team="san_francisco"),
     "+31205550101 asked to bring in San Francisco Priority Support"),
    (events.HandoffAsked(attempt=1, by="+31205550101", team="amsterdam", own_team=True),
     "+31205550101 asked to bring in Amsterdam Priority Support (another number of their own team)"),
    (events.HandoffAsked(attempt=2, by="+31205550101"),
     "+31205550101 asked for a handoff: nobody else is on duty to bring in"),
    (events.HandoffDial(attempt=1, ring=1, team="san_francisco", numbers=SF, status="completed", joined=True),
     "Handoff to San Francisco Priority Support: +14155550101 rang, and a colleague joined"),
    (events.HandoffDial(attempt=1, ring=1, team="san_francisco", numbers=SF, status="no-answer"),
     "Handoff to San Francisco Priority Support: +14155550101: rang, nobody answered"),
    (events.Joined(number="+14155550101", leg="CA2", team="san_francisco"),
     "+14155550101 of San Francisco Priority Support is in the call"),
    (events.Left(number="+31205550101", leg="CA3"), "+31205550101 left the call"),
    (events.Outbound(callback=7, engineer="+14155550101", who="ops"),
     "Call back for callback #7 by ops: ringing the engineer at +14155550101 first"),
], ids=lambda value: getattr(value, "kind", None) if not isinstance(value, str) else None)
def test_each_event_reads_as_one_line_in_ops_words(sample, record, text):
    assert told(sample, record) == [text]


def test_a_deflection_names_the_severity_the_caller_chose(sample):
    assert told(sample, events.Severity(severity=2), events.Deflected(reason="weekend"))[-1] == (
        "Deflected: L2 is taken in the business week only: it was the weekend")


def test_each_line_keeps_its_event_s_instant(sample):
    timeline = [Event("CA1", "started", AT, events.Started(to="+14155550100"))]
    assert timeline_lines(timeline, sample) == (
        TimelineLine(AT, "Call from an unknown number on the United States & Canada line"),
    )
