"""A call's outcome follows from its events alone, whatever order they arrive in."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from conftest import utc

from ivr.engine import events
from ivr.engine.entitlement import Verdict
from ivr.engine.outcomes import DEFLECTION_REASONS, Event, Outcome, summarise

START = utc("2026-12-01T09:00:00Z")


def ev(seconds, record):
    return Event("CA1", record.key, START + timedelta(seconds=seconds), record)


RINGING_TOGETHER = [
    ev(0, events.Started(to="+31205550100", line="Netherlands", caller="+31612345678")),
    ev(6, events.Severity(severity=1)),
    ev(6, events.Routed(action="connect", candidates=("amsterdam", "select"), reason="on duty: amsterdam")),
    # Two phones rang together, so the dial result alone cannot say who took it.
    ev(200, events.Dial(attempt=1, team="amsterdam", numbers=("+31205550101", "+31205550102"), status="completed", duration=180, accepted_by=None, bridged=True)),
]


def test_a_bridged_dial_is_answered_timed_by_the_engineers_key_press():
    screened = ev(15, events.Screened(number="+31205550102", accepted=True, dial_call_sid="CA9"))
    for order in itertools.permutations([*RINGING_TOGETHER, screened]):
        call = summarise("CA1", order)
        assert (call.outcome, call.team, call.answer_seconds, call.line) == (
            Outcome.ANSWERED, "amsterdam", 15.0, "+31205550100")


def test_without_a_screening_event_the_answer_time_comes_from_the_bridge_duration():
    call = summarise("CA1", RINGING_TOGETHER)
    assert (call.outcome, call.answer_seconds) == (Outcome.ANSWERED, 20.0)


def test_an_engineer_who_declined_did_not_answer():
    declined = ev(15, events.Screened(number="+31205550102", accepted=False, dial_call_sid="CA9"))
    no_answer = ev(40, events.Dial(attempt=1, team="amsterdam", numbers=("+31205550101",), status="no-answer", duration=0, accepted_by=None, bridged=False))
    status = ev(45, events.Status(call_status="completed", duration=45))
    call = summarise("CA1", [*RINGING_TOGETHER[:3], declined, no_answer, status])
    assert call.outcome is Outcome.ABANDONED and call.team is None and call.missed_l1


def test_an_error_before_the_call_ended_unanswered_is_a_failure():
    call = summarise("CA1", [ev(0, events.Started()), ev(3, events.Error(message="boom")),
                             ev(9, events.Status(call_status="completed"))])
    assert call.outcome is Outcome.FAILED


def test_a_severity_the_phonebook_does_not_connect_is_deflected():
    call = summarise("CA1", [ev(0, events.Started()), ev(5, events.Severity(severity=3)),
                             ev(5, events.Routed(action="deflect", candidates=(), reason="severity 3 is not connected")),
                             ev(20, events.Status(call_status="completed"))])
    assert (call.outcome, call.reason, call.missed_l1) == (Outcome.DEFLECTED, "severity 3 is not connected", False)


def test_an_unverified_level_1_call_nobody_took_is_a_missed_l1_not_a_deflection():
    call = summarise("CA1", [
        ev(0, events.Started(to="+14155550100", caller="+12025550143")),
        ev(5, events.SenEntered(sen="1234567", attempt=1, miss=None)),
        ev(5, events.Entitlement(sen="1234567", customer=None, verdict="unverified")),
        ev(9, events.Severity(severity=1)),
        ev(9, events.Routed(action="connect", candidates=("san_francisco", "fallback"), reason="on duty")),
        ev(60, events.Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="no-answer", duration=0, accepted_by=None, bridged=False)),
        ev(62, events.Status(call_status="completed", duration=62)),
    ])
    assert call.outcome is Outcome.ABANDONED and call.missed_l1
    assert call.sen == "1234567"


def test_a_call_put_through_is_answered_before_its_dial_result_arrives():
    # The engineer pressed 1; the dial's result comes only when the talk ends, maybe after the status.
    accepted = ev(15, events.Screened(number="+31205550102", accepted=True, dial_call_sid="CA9"))
    status = ev(200, events.Status(call_status="completed", duration=200))
    call = summarise("CA1", [*RINGING_TOGETHER[:3], accepted, status])
    assert (call.outcome, call.team, call.answer_seconds, call.missed_l1) == (Outcome.ANSWERED, None, 15.0, False)
    assert summarise("CA1", [*RINGING_TOGETHER, accepted, status]).team == "amsterdam"


def test_an_emergency_dial_after_a_fault_that_an_engineer_took_is_answered():
    call = summarise("CA1", [ev(0, events.Started()), ev(5, events.Severity(severity=1)),
                             ev(6, events.Error(message="boom")),
                             ev(20, events.Screened(number="+14155550142", accepted=True, dial_call_sid="CA9")),
                             ev(90, events.Status(call_status="completed"))])
    assert (call.outcome, call.answer_seconds) == (Outcome.ANSWERED, 20.0)


def test_a_failed_level_1_call_nobody_took_is_a_missed_l1():
    call = summarise("CA1", [ev(0, events.Started()), ev(5, events.Severity(severity=1)),
                             ev(6, events.Error(message="boom")),
                             ev(30, events.Status(call_status="completed"))])
    assert call.outcome is Outcome.FAILED and call.missed_l1


def test_a_recording_without_audio_is_no_voicemail():
    call = summarise("CA1", [*RINGING_TOGETHER[:3],
                             ev(40, events.Voicemail(recording_url="https://api.twilio.com/RE1", status="absent")),
                             ev(41, events.Status(call_status="completed"))])
    assert (call.outcome, call.voicemail_url, call.missed_l1) == (Outcome.ABANDONED, None, True)


def test_the_final_status_decides_whichever_order_the_callbacks_come_in():
    started = [ev(0, events.Started(to="+31205550100", caller="+31612345678")), ev(6, events.Severity(severity=1))]
    in_progress = ev(7, events.Status(call_status="in-progress", duration=1))
    completed = ev(95, events.Status(call_status="completed", duration=95))
    assert summarise("CA1", [*started, in_progress]).outcome is None  # still going: not abandoned
    for order in itertools.permutations([in_progress, completed]):
        call = summarise("CA1", [*started, *order])
        assert (call.outcome, call.duration) == (Outcome.ABANDONED, 95)
    late = ev(96, events.Status(call_status="in-progress", duration=2))
    assert summarise("CA1", [*started, completed, late]).duration == 95


@pytest.mark.parametrize(("severity", "reason", "words"), [
    (None, "expired", "maintenance expired"),
    (None, "tier", "plan without phone support (select)"),
    (None, "unknown", "unknown SEN"),
    (None, "no-sen", "no SEN given"),
    (None, "sen-limit", "too many unknown SENs from this number"),
    (2, "unverified", "SEN could not be checked: only L1 is put through"),
    (None, "no-severity", "no severity given"),
    (3, "severity", "L3 is not taken by phone"),
    (2, "weekend", "L2 is taken in the business week only: it was the weekend"),
    (None, "a-newer-reason", "a-newer-reason"),
    (None, None, "reason not recorded"),
])
def test_a_deflected_call_says_why_in_ops_words(severity, reason, words):
    timeline = [ev(0, events.Started(to="+14155550100"))]
    if severity:
        timeline.append(ev(5, events.Severity(severity=severity)))
    timeline.append(ev(6, events.Deflected(reason=reason)))
    assert summarise("CA1", timeline).deflection == words


def test_every_refusal_the_call_flow_records_has_words():
    refused = {v.value for v in Verdict if v is not Verdict.OK}
    assert refused | {"no-sen", "no-severity", "severity", "weekend", "sen-limit"} <= set(DEFLECTION_REASONS)


def test_a_call_that_was_not_deflected_has_no_deflection():
    assert summarise("CA1", RINGING_TOGETHER).deflection is None
