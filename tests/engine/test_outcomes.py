"""A call's outcome follows from its events alone, whatever order they arrive in."""

from __future__ import annotations

import itertools
from datetime import timedelta

from conftest import utc

from ivr.engine.outcomes import Event, Outcome, summarise

START = utc("2026-12-01T09:00:00Z")


def ev(kind, seconds, key=None, **data):
    return Event("CA1", key or kind, kind, START + timedelta(seconds=seconds), data)


RINGING_TOGETHER = [
    ev("started", 0, to="+31205550100", line="Netherlands", **{"from": "+31612345678"}),
    ev("severity", 6, severity=1),
    ev("routed", 6, action="connect", candidates=["amsterdam", "select"], reason="on duty: amsterdam"),
    # Two phones rang together, so the dial result alone cannot say who took it.
    ev("dial", 200, key="dial:1", attempt=1, team="amsterdam", numbers=["+31205550101", "+31205550102"],
       status="completed", duration=180, accepted_by=None, bridged=True),
]


def test_a_bridged_dial_is_answered_timed_by_the_engineers_key_press():
    screened = ev("screened", 15, key="screened:CA9", number="+31205550102", accepted=True)
    for order in itertools.permutations([*RINGING_TOGETHER, screened]):
        call = summarise("CA1", order)
        assert (call.outcome, call.team, call.answer_seconds, call.line) == (
            Outcome.ANSWERED, "amsterdam", 15.0, "+31205550100")


def test_without_a_screening_event_the_answer_time_comes_from_the_bridge_duration():
    call = summarise("CA1", RINGING_TOGETHER)
    assert (call.outcome, call.answer_seconds) == (Outcome.ANSWERED, 20.0)


def test_an_engineer_who_declined_did_not_answer():
    declined = ev("screened", 15, key="screened:CA9", number="+31205550102", accepted=False)
    no_answer = ev("dial", 40, key="dial:1", attempt=1, team="amsterdam", numbers=["+31205550101"],
                   status="no-answer", duration=0, accepted_by=None, bridged=False)
    status = ev("status", 45, key="status", call_status="completed", duration=45)
    call = summarise("CA1", [*RINGING_TOGETHER[:3], declined, no_answer, status])
    assert call.outcome is Outcome.ABANDONED and call.team is None and call.missed_l1


def test_an_error_before_the_call_ended_unanswered_is_a_failure():
    call = summarise("CA1", [ev("started", 0), ev("error", 3, message="boom"),
                             ev("status", 9, key="status", call_status="completed")])
    assert call.outcome is Outcome.FAILED


def test_a_severity_the_phonebook_does_not_connect_is_deflected():
    call = summarise("CA1", [ev("started", 0), ev("severity", 5, severity=3),
                             ev("routed", 5, action="deflect", candidates=[], reason="severity 3 is not connected"),
                             ev("status", 20, key="status", call_status="completed")])
    assert (call.outcome, call.reason, call.missed_l1) == (Outcome.DEFLECTED, "severity 3 is not connected", False)


def test_an_unverified_level_1_call_nobody_took_is_a_missed_l1_not_a_deflection():
    call = summarise("CA1", [
        ev("started", 0, to="+14155550100", **{"from": "+12025550143"}),
        ev("sen_entered", 5, key="sen:1", sen="1234567", attempt=1, miss=None),
        ev("entitlement", 5, sen="1234567", customer=None, verdict="unverified"),
        ev("severity", 9, severity=1),
        ev("routed", 9, action="connect", candidates=["san_francisco", "fallback"], reason="on duty"),
        ev("dial", 60, key="dial:1", attempt=1, team="san_francisco", numbers=["+14155550101"],
           status="no-answer", duration=0, accepted_by=None, bridged=False),
        ev("status", 62, key="status", call_status="completed", duration=62),
    ])
    assert call.outcome is Outcome.ABANDONED and call.missed_l1
    assert call.sen == "1234567"


def test_a_call_put_through_is_answered_before_its_dial_result_arrives():
    # The engineer pressed 1; the dial's result comes only when the talk ends, maybe after the status.
    accepted = ev("screened", 15, key="screened:CA9", number="+31205550102", accepted=True)
    status = ev("status", 200, key="status", call_status="completed", duration=200)
    call = summarise("CA1", [*RINGING_TOGETHER[:3], accepted, status])
    assert (call.outcome, call.team, call.answer_seconds, call.missed_l1) == (Outcome.ANSWERED, None, 15.0, False)
    assert summarise("CA1", [*RINGING_TOGETHER, accepted, status]).team == "amsterdam"


def test_an_emergency_dial_after_a_fault_that_an_engineer_took_is_answered():
    call = summarise("CA1", [ev("started", 0), ev("severity", 5, severity=1), ev("error", 6, message="boom"),
                             ev("screened", 20, key="screened:CA9", number="+14155550142", accepted=True),
                             ev("status", 90, key="status", call_status="completed")])
    assert (call.outcome, call.answer_seconds) == (Outcome.ANSWERED, 20.0)


def test_a_failed_level_1_call_nobody_took_is_a_missed_l1():
    call = summarise("CA1", [ev("started", 0), ev("severity", 5, severity=1), ev("error", 6, message="boom"),
                             ev("status", 30, key="status", call_status="completed")])
    assert call.outcome is Outcome.FAILED and call.missed_l1


def test_a_recording_without_audio_is_no_voicemail():
    call = summarise("CA1", [*RINGING_TOGETHER[:3],
                             ev("voicemail", 40, recording_url="https://api.twilio.com/RE1", status="absent"),
                             ev("status", 41, key="status", call_status="completed")])
    assert (call.outcome, call.voicemail_url, call.missed_l1) == (Outcome.ABANDONED, None, True)
