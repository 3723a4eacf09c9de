"""The Now page's missed L1 calls of the last day, each with whether its alert went out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import NOW, answered_call, utc, voicemail_call

from ivr.store.alert_queue import AlertState
from ivr.store.missed_calls import AlertDelivery, Delivery, delivery, missed_l1_calls

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
    assert found[0].alert == AlertDelivery(Delivery.PENDING)


def test_an_alert_sent_to_one_destination_and_refused_by_another_is_partly_sent(store):
    voicemail_call(store, "CA-1", utc("2026-12-01T08:30Z"))
    claim = store.alerts.claim("CA-1", NOW, LEASE)
    assert claim is not None
    store.alerts.delivered(claim, {"sms:+14155550199": {"sent_at": "2026-12-01T09:02:00Z"},
                                   "webhook": {"refused": "webhook answered 400"}})
    store.alerts.release(claim, NOW, None, None)
    [missed] = missed_l1_calls(store, utc("2026-12-01T00:00Z"))
    assert missed.alert == AlertDelivery(Delivery.PARTLY_SENT, ("sms:+14155550199",), ("webhook: webhook answered 400",))


def state(done, finished=True, error=None):
    return AlertState(sid="CA1", due_at=None if finished else NOW, leased_until=None, attempts=1, done=done,
                      last_error=error, finished_at=NOW if finished else None)


SENT = {"sent_at": "2026-12-01T09:02:00Z"}


@pytest.mark.parametrize(("row", "expected"), [
    (None, AlertDelivery(Delivery.NONE)),
    (state({}, finished=False), AlertDelivery(Delivery.PENDING)),
    (state({"sms:+1": SENT}, finished=False, error="webhook: timed out"),
     AlertDelivery(Delivery.PENDING, ("sms:+1",), (), "webhook: timed out")),
    (state({"sms:+1": SENT, "webhook": SENT}), AlertDelivery(Delivery.SENT, ("sms:+1", "webhook"))),
    (state({"sms:+1": {"refused": "no credentials"}}), AlertDelivery(Delivery.FAILED, (), ("sms:+1: no credentials",))),
    (state({}, error="webhook: timed out"), AlertDelivery(Delivery.FAILED, (), (), "webhook: timed out")),
    (state({}), AlertDelivery(Delivery.NOBODY)),
], ids=["no row", "due", "retrying", "sent", "refused", "rounds ran out", "no destinations"])
def test_delivery_from_the_alerts_row(row, expected):
    assert delivery(row) == expected
