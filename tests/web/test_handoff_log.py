"""A handed-over call in the call log: its steps on the call page, its outcome in both stores."""

from __future__ import annotations

from datetime import timedelta

from conftest import answered_call, utc

from ivr.engine.events import HandoffAsked, HandoffDial, Joined, Left, Screened, Severity, Started, Status
from ivr.engine.outcomes import Outcome
from ivr.web.services import services_of

AMSTERDAM, SF = "+31205550101", "+14155550101"
A_LEG, B_LEG = "CA" + "b" * 32, "CA" + "c" * 32


def handed_over(store, sid: str, at) -> None:
    """An L1 call Amsterdam took and handed to San Francisco one minute before its shift ended."""
    answered_call(store, sid=sid, at=at)
    steps = [
        HandoffAsked(attempt=1, by=AMSTERDAM, team="san_francisco"),
        Screened(number=SF, accepted=True, dial_call_sid=B_LEG),
        Joined(number=SF, leg=B_LEG, team="san_francisco"),
        HandoffDial(attempt=1, team="san_francisco", numbers=(SF,), status="completed", joined=True),
        Left(number=AMSTERDAM, leg=A_LEG),
    ]
    for second, step in enumerate(steps, start=60):
        store.record(sid, step, at + timedelta(seconds=second))


def test_the_call_page_shows_each_step_of_the_handoff(app, ops_auth):
    log = services_of(app).calllog
    handed_over(log, "CA001", utc("2026-12-01T17:58Z"))
    page = app.test_client().get("/ops/calls/CA001", headers=ops_auth).get_data(as_text=True)
    # In ops' words (`ivr.engine.narrative`): team labels, not keys.
    for shown in (
        f"{AMSTERDAM} asked to bring in San Francisco Priority Support",
        f"{SF} of San Francisco Priority Support is in the call",
        f"Handoff to San Francisco Priority Support: {SF} rang, and a colleague joined",
        f"{AMSTERDAM} left the call",
    ):
        assert shown in page, shown


def test_a_call_an_engineer_joined_is_answered_even_without_a_screening_or_dial_result(store):
    # A colleague in the room (a handoff) counts as answered, whatever else is missing.
    at = utc("2026-12-01T17:58Z")
    store.record("CA002", Started(to="+31205550100", caller="+14155551234"), at)
    store.record("CA002", Severity(severity=1), at + timedelta(seconds=5))
    store.record("CA002", Joined(number=SF, leg=B_LEG, team="san_francisco"), at + timedelta(seconds=30))
    store.record("CA002", Status(call_status="completed", duration=400), at + timedelta(seconds=400))
    call = store.call("CA002")
    assert call.outcome is Outcome.ANSWERED and call.answer_seconds == 30.0
    assert not call.missed_l1
