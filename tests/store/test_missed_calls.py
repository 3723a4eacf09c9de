"""The Now page's missed L1 calls of the last day, each with whether its alert went out."""

from __future__ import annotations

from datetime import timedelta

from conftest import NOW, answered_call, utc, voicemail_call

from ivr.store.alert_queue import DeliveryState, DestinationDelivery
from ivr.store.missed_calls import missed_l1_calls

LEASE = timedelta(seconds=60)


def test_only_missed_l1_calls_of_the_stretch_are_listed_newest_first(store):
    since = utc("2026-11-30T09:00Z")
    voicemail_call(store, "CA-old", since - timedelta(minutes=1))
    voicemail_call(store, "CA-l2", utc("2026-12-01T08:00Z"), severity=2)
    answered_call(store, sid="CA-answered", at=utc("2026-12-01T08:10Z"))
    voicemail_call(store, "CA-1", utc("2026-11-30T09:00Z"))
    voicemail_call(store, "CA-2", utc("2026-12-01T08:30Z"))
    found = missed_l1_calls(store, since)
    assert [m.call.sid for m in found] == ["CA-2", "CA-1"]
    # Not yet claimed by any sweep: due, so pending.
    assert found[0].alert is not None and found[0].alert.state is DeliveryState.PENDING


def test_an_alert_sent_to_one_destination_and_refused_by_another_shows_both(store):
    voicemail_call(store, "CA-1", utc("2026-12-01T08:30Z"))
    claim = store.alerts.claim("CA-1", NOW, LEASE)
    assert claim is not None
    store.alerts.delivered(claim, {"sms:+14155550199": {"sent_at": "2026-12-01T09:02:00Z"},
                                   "webhook": {"refused": "webhook answered 400"}})
    store.alerts.release(claim, NOW, None, None)
    [missed] = missed_l1_calls(store, utc("2026-12-01T00:00Z"))
    assert missed.alert is not None and missed.alert.state is DeliveryState.FAILED
    assert missed.alert.destinations == (DestinationDelivery("sms:+14155550199", utc("2026-12-01T09:02Z"), None),
                                         DestinationDelivery("webhook", None, "webhook answered 400"))
