"""A missed L1 call reaches ops at once by SMS and webhook, once, whatever fails on the way, whichever
worker dies on the way."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import requests
import responses
from conftest import NOW, SETTLE, answered_call, calls_alerts, utc
from slow_http import SlowServer, slow_server
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from ivr.config import default
from ivr.engine.events import (
    Dial,
    Entitlement,
    Error,
    Recognised,
    Routed,
    SenEntered,
    Severity,
    Started,
    Status,
    Voicemail,
)
from ivr.engine.outcomes import SILENT_AFTER, Outcome
from ivr.engine.phonebook import Alerts
from ivr.outside.alerts import BATCH, ROUND_PAUSE, Alerter
from ivr.store.alert_queue import AlertDelivery, DeliveryState, DestinationDelivery
from ivr.store.calllog import CallLog
from ivr.store.reloading import PhonebookNotice

ACCOUNT = "AC" + "0" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
WEBHOOK = "https://hooks.example.com/services/T000/B000/priority-support"
DIGESTS = "https://hooks.example.com/handoff-digests"
START = utc("2026-12-01T09:00:00Z")
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE123"


SETTLED = NOW + timedelta(seconds=10)  # past the call log's default settle time
LEASE = timedelta(seconds=default("IVR_ALERT_LEASE_SECONDS"))
# Long after every lease, still before the callback a missed call opens is due (30 min for a
# customer whose tier was not recorded): a sweep then finds nothing more to send.
LATER = START + timedelta(minutes=29)


def make_alerter(store, sample, account=ACCOUNT, token="token") -> Alerter:
    """A worker's alerter on `store`, whose clock it reads; it sends only when the test sweeps (no thread)."""
    return Alerter(store, lambda: sample, account, token, console_url="https://ivr.example.com",
                   backoff_seconds=0, lease_seconds=LEASE.total_seconds(),
                   sweep_seconds=default("IVR_ALERT_SWEEP_SECONDS"))


def worker_log(store, clock, journal):
    """Another worker's view of `store`'s database, with a journal of its own."""
    return CallLog(store.engine, journal=journal, clock=clock, alert_settle_seconds=SETTLE)


@pytest.fixture
def sample(sample):
    """The sample phonebook, every team's handoff digests to a webhook of their own (`DIGESTS`): a
    sweep here also sends the digests of the handoffs before it, and the sends this module counts
    are the calls' and the notices'."""
    return replace(sample, teams=tuple(replace(team, digest_webhook=DIGESTS) for team in sample.teams))


@pytest.fixture(autouse=True)
def digests_taken():
    """The digests' webhook takes them, so they count no failure (under `responses.activate`)."""
    responses.add(responses.POST, DIGESTS, status=200, body="ok")
    yield
    responses.reset()


@pytest.fixture
def alerter(sqlite_store, sample):
    return make_alerter(sqlite_store, sample)


def sweep(alerter, at=SETTLED) -> int:
    """Sweep at `at`: how many alerts were claimed, the handoffs' digests aside."""
    alerter.calllog.clock.now = at
    return len(calls_alerts(alerter.sweep(at)))


def sms_sent(reply=None):
    responses.add(responses.POST, MESSAGES, status=201, json=reply or {"sid": "SM1", "status": "queued"})


def webhook_ok():
    responses.add(responses.POST, WEBHOOK, status=200, body="ok")


def webhook_fails_a_round():
    """The webhook answers 503 to a round's three tries, then 200."""
    for _ in range(3):
        responses.add(responses.POST, WEBHOOK, status=503, body="unavailable")
    webhook_ok()


def voicemail_call(store, sid="CA900", customer="Acme Corporation"):
    """An L1 caller on the US line whom nobody answered, who left a voicemail."""
    at = START
    store.record(sid, Started(line="+14155550100", to="+14155550100", caller="+14155551234", region="amer", caller_name="<b>Wile E.</b>"), at)
    store.record(sid, Recognised(sen="SEN-1234567", customer=customer), at + timedelta(seconds=1))
    store.record(sid, Severity(severity=1), at + timedelta(seconds=5))
    store.record(sid, Routed(action="connect", reason="on duty: san_francisco", candidates=("san_francisco", "fallback"), weekend=False), at + timedelta(seconds=5))
    store.record(sid, Dial(attempt=1, team="san_francisco", numbers=("+14155550101",), status="no-answer", duration=0, accepted_by=None), at + timedelta(seconds=25))
    store.record(sid, Voicemail(recording_url=RECORDING, recording_sid="RE123", duration=40), at + timedelta(seconds=70))
    store.record(sid, Status(call_status="completed", duration=71), at + timedelta(seconds=71))


def posts_to(url):
    """The requests sent to `url`, in the order sent (destinations are sent side by side)."""
    return [c for c in responses.calls if c.request.url == url]


def sms_body(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


@responses.activate
def test_a_voicemail_from_an_l1_caller_texts_ops_and_posts_to_the_webhook_once(alerter, sqlite_store):
    sms_sent()
    webhook_ok()
    voicemail_call(sqlite_store)
    voicemail_call(sqlite_store)  # Twilio repeats its callbacks
    assert sweep(alerter, NOW) == 1  # a voicemail alerts at once
    assert sweep(alerter, LATER) == 0
    sms = [c for c in responses.calls if c.request.url == MESSAGES]
    posts = [c for c in responses.calls if c.request.url == WEBHOOK]
    assert len(sms) == 1 and len(posts) == 1
    body = sms_body(sms[0])
    assert (body["To"], body["From"]) == ("+14155550199", "+14155550100")
    assert body["Body"] == (
        "Missed L1 call: Acme Corporation (SEN-1234567) on the United States & Canada line +14155550100 "
        "at 2026-12-01T09:00:00Z, from +14155551234. "
        f"Voicemail: {RECORDING} Timeline: https://ivr.example.com/ops/calls/CA900"
    )
    # Slack-style text: the ampersand escaped, so nothing in it can become a link or a mention.
    assert json.loads(posts[0].request.body)["text"].startswith(
        "Missed L1 call: Acme Corporation (SEN-1234567) on the United States &amp; Canada line")
    assert alerter.health()["sms"]["sent"] == 1
    assert set(sqlite_store.alerts.get("CA900").done) == {"sms:+14155550199", "webhook"}


@responses.activate
def test_an_l1_caller_who_hung_up_with_nobody_on_duty_is_an_alert(alerter, sqlite_store):
    sms_sent()
    webhook_ok()
    sqlite_store.record("CA901", Started(to="+442079460100", caller="+447700900123"), START)
    sqlite_store.record("CA901", SenEntered(sen="1234567", attempt=1), START)
    sqlite_store.record("CA901", Severity(severity=1), START + timedelta(seconds=9))
    sqlite_store.record("CA901", Routed(action="connect", candidates=(), weekend=True, reason="no team is on duty and there is no fallback"), START + timedelta(seconds=9))
    sqlite_store.record("CA901", Status(call_status="completed", duration=12), START + timedelta(seconds=12))
    assert sweep(alerter) == 1
    text = sms_body(posts_to(MESSAGES)[0])["Body"]
    assert "(1234567) on the United Kingdom line +442079460100" in text
    assert "No team was on duty. The caller hung up before anyone answered; no voicemail." in text


@responses.activate
def test_answered_deflected_and_non_l1_calls_raise_no_alert(alerter, sqlite_store):
    answered_call(sqlite_store, sid="CA902")
    sqlite_store.record("CA903", Entitlement(sen="SEN-2345678", verdict="expired"), START)
    sqlite_store.record("CA903", Status(call_status="completed"), START)
    sqlite_store.record("CA904", Severity(severity=2), START)
    sqlite_store.record("CA904", Status(call_status="completed"), START)
    assert sweep(alerter) == 0
    assert posts_to(MESSAGES) == posts_to(WEBHOOK) == [] and alerter.health()["sms"]["sent"] == 0


@responses.activate
def test_a_twilio_error_reply_is_logged_and_counted_not_retried(alerter, sqlite_store):
    responses.add(responses.POST, MESSAGES, status=400, json={
        "code": 21211, "message": "The 'To' number +14155550199 is not a valid phone number.", "status": 400,
        "more_info": "https://www.twilio.com/docs/errors/21211"})
    webhook_ok()
    voicemail_call(sqlite_store)
    assert sweep(alerter) == 1
    assert len([c for c in responses.calls if c.request.url == MESSAGES]) == 1
    health = alerter.health()
    assert health["sms"]["failures"] == 1 and "21211" in health["sms"]["last_error"]
    assert "sent_at" in sqlite_store.alerts.get("CA900").done["webhook"]


@responses.activate
def test_twilio_server_errors_are_retried_until_the_sms_goes(alerter, sqlite_store):
    for _ in range(2):
        responses.add(responses.POST, MESSAGES, status=503, json={
            "code": 20503, "message": "Service unavailable", "status": 503})
    sms_sent()
    webhook_ok()
    voicemail_call(sqlite_store)
    assert sweep(alerter) == 1
    assert len([c for c in responses.calls if c.request.url == MESSAGES]) == 3
    assert alerter.health()["sms"] == {"sent": 1, "failures": 0, "last_error": None, "last_error_at": None}


@responses.activate
def test_webhook_and_twilio_time_outs_are_retried_then_counted(alerter, sqlite_store):
    for _ in range(3):
        responses.add(responses.POST, WEBHOOK, body=requests.exceptions.ReadTimeout("read timed out"))
        responses.add(responses.POST, MESSAGES, body=requests.exceptions.ConnectTimeout("connect timed out"))
    voicemail_call(sqlite_store)
    assert sweep(alerter) == 1
    assert len(posts_to(WEBHOOK)) == len(posts_to(MESSAGES)) == 3
    health = alerter.health()
    assert health["webhook"]["failures"] == 1 and "ReadTimeout" in health["webhook"]["last_error"]
    assert health["sms"]["failures"] == 1 and "ConnectTimeout" in health["sms"]["last_error"]
    # The call itself was recorded in full.
    assert sqlite_store.call("CA900").outcome is Outcome.VOICEMAIL


@responses.activate
def test_without_twilio_credentials_the_sms_failure_is_visible(sqlite_store, sample, clock):
    webhook_ok()
    alerter = make_alerter(sqlite_store, sample, account=None, token=None)
    voicemail_call(sqlite_store)
    assert sweep(alerter) == 1
    assert "TWILIO_ACCOUNT_SID" in alerter.health()["sms"]["last_error"]
    assert "sent_at" in sqlite_store.alerts.get("CA900").done["webhook"]


@responses.activate
def test_an_l1_call_that_failed_before_anyone_answered_is_an_alert(alerter, sqlite_store):
    sms_sent()
    webhook_ok()
    sqlite_store.record("CA905", Started(to="+14155550100", caller="+14155551234"), START)
    sqlite_store.record("CA905", Severity(severity=1), START + timedelta(seconds=5))
    sqlite_store.record("CA905", Error(message="KeyError: 'x'", step="voice.severity"), START + timedelta(seconds=5))
    sqlite_store.record("CA905", Status(call_status="completed", duration=30), START + timedelta(seconds=30))
    assert sweep(alerter) == 1
    assert sms_body(posts_to(MESSAGES)[0])["Body"].endswith(
        "from +14155551234. The call failed before anyone answered; no voicemail. "
        "Timeline: https://ivr.example.com/ops/calls/CA905")


@responses.activate
def test_a_slow_destination_does_not_hold_the_others(alerter, sqlite_store):
    posted = threading.Event()

    def slow_twilio(request):
        # Twilio answers only once the webhook has had its alert: sent one after the other, never.
        return (201, {}, json.dumps({"sid": "SM1", "status": "queued"})) if posted.wait(10) else (504, {}, "")

    def webhook(request):
        posted.set()
        return 200, {}, "ok"

    responses.add_callback(responses.POST, MESSAGES, callback=slow_twilio)
    responses.add_callback(responses.POST, WEBHOOK, callback=webhook)
    voicemail_call(sqlite_store)
    assert sweep(alerter) == 1
    assert alerter.health()["sms"]["sent"] == 1
    assert set(sqlite_store.alerts.get("CA900").done) == {"sms:+14155550199", "webhook"}


# --- durable delivery: the database, not a worker's memory, holds each alert --------------------


@responses.activate
def test_an_alert_claimed_by_a_worker_that_died_is_sent_by_another_after_the_lease(store, sample, clock, tmp_path):
    sms_sent()
    webhook_ok()
    voicemail_call(store)
    # A worker claimed the alert and died (a deploy, gunicorn's time-out kill) before sending.
    assert store.alerts.claim("CA900", NOW, LEASE) is not None
    survivor = make_alerter(worker_log(store, clock, tmp_path / "survivor"), sample)
    assert sweep(survivor, NOW + LEASE - timedelta(seconds=1)) == 0 and posts_to(MESSAGES) == posts_to(WEBHOOK) == []
    assert sweep(survivor, NOW + LEASE) == 1
    assert len(posts_to(MESSAGES)) == 1 and len(posts_to(WEBHOOK)) == 1
    state = store.alerts.get("CA900")
    assert state.attempts == 2 and state.due_at is None and state.finished_at == NOW + LEASE
    assert set(state.done) == {"sms:+14155550199", "webhook"}


@responses.activate
def test_two_workers_sweeping_one_database_send_each_alert_once(store, sample, clock, tmp_path):
    sms_sent()
    webhook_ok()
    voicemail_call(store)
    assert store.caught_up()  # the worker that answered the call stored it
    workers = [make_alerter(worker_log(store, clock, tmp_path / f"worker{n}"), sample) for n in range(2)]
    claimed = []
    sweeps = [threading.Thread(target=lambda w=w: claimed.append(len(calls_alerts(w.sweep(NOW))))) for w in workers]
    for thread in sweeps:
        thread.start()
    for thread in sweeps:
        thread.join()
    assert sorted(claimed) == [0, 1]
    # Long after every lease, neither takes it again.
    assert [sweep(w, LATER) for w in workers] == [0, 0]
    assert len(posts_to(MESSAGES)) == 1 and len(posts_to(WEBHOOK)) == 1


@responses.activate
def test_a_destination_that_failed_is_retried_in_a_later_round_and_the_others_are_not_sent_again(
        store, sample, clock):
    sms_sent()
    webhook_fails_a_round()
    alerter = make_alerter(store, sample)
    voicemail_call(store)
    assert sweep(alerter, NOW) == 1
    state = store.alerts.get("CA900")
    assert state.due_at == NOW + ROUND_PAUSE and state.finished_at is None
    assert list(state.done) == ["sms:+14155550199"] and "webhook answered 503" in state.last_error
    assert alerter.health()["webhook"]["failures"] == 1
    assert sweep(alerter, NOW + ROUND_PAUSE) == 1
    assert len(posts_to(MESSAGES)) == 1 and len(posts_to(WEBHOOK)) == 4
    state = store.alerts.get("CA900")
    assert state.finished_at == NOW + ROUND_PAUSE and state.last_error is None and state.attempts == 2


@responses.activate
def test_a_destination_noted_as_sent_before_the_worker_died_is_not_sent_again(store, sample, clock):
    webhook_ok()
    voicemail_call(store)
    claim = store.alerts.claim("CA900", NOW, LEASE)
    assert store.alerts.delivered(claim, {"sms:+14155550199": {"sent_at": "2026-12-01T09:02:01Z"}})
    assert sweep(make_alerter(store, sample), NOW + LEASE) == 1
    assert len(posts_to(MESSAGES)) == 0 and len(posts_to(WEBHOOK)) == 1


@responses.activate
def test_a_refused_destination_is_not_retried_and_a_round_that_lost_its_lease_writes_nothing(
        sqlite_store, sample, clock):
    responses.add(responses.POST, WEBHOOK, status=404, body="no_service")
    sms_sent()
    voicemail_call(sqlite_store)
    late = sqlite_store.alerts.claim("CA900", NOW, LEASE)
    assert sweep(make_alerter(sqlite_store, sample), NOW + LEASE) == 1
    state = sqlite_store.alerts.get("CA900")
    assert state.finished_at is not None and state.done["webhook"] == {"refused": "webhook answered 404: no_service"}
    # The first worker comes back to life after its lease: its writes are fenced off.
    assert sqlite_store.alerts.delivered(late, {}) is False
    sqlite_store.alerts.release(late, NOW + LEASE, NOW + 2 * LEASE, "late")
    assert sqlite_store.alerts.get("CA900") == state


@responses.activate
def test_an_l1_call_whose_final_callback_never_came_alerts_after_a_quarter_of_an_hour(store, sample, clock):
    sms_sent()
    webhook_ok()
    alerter = make_alerter(store, sample)
    store.record("CA910", Started(to="+14155550100", caller="+14155551234"), START)
    store.record("CA910", Severity(severity=1), START + timedelta(seconds=5))
    clock.now = NOW + timedelta(seconds=5)
    store.record("CA910", Routed(action="connect", reason="on duty: san_francisco", candidates=("san_francisco", "fallback")), START + timedelta(seconds=5))
    # The caller is ringing an engineer, then nothing: our service was down when Twilio sent the status.
    assert store.call("CA910").outcome is None
    assert sweep(alerter, NOW + timedelta(seconds=5) + SILENT_AFTER - timedelta(seconds=1)) == 0
    assert sweep(alerter, NOW + timedelta(seconds=5) + SILENT_AFTER) == 1
    assert sms_body(posts_to(MESSAGES)[0])["Body"].endswith(
        "from +14155551234. Twilio never told us how the call ended (nothing for 15 minutes); "
        "nobody is on record as having answered. Timeline: https://ivr.example.com/ops/calls/CA910")
    # The status callback turns up after all: the alert has gone, and goes nowhere again.
    store.record("CA910", Status(call_status="completed", duration=60), START + timedelta(seconds=60))
    assert sweep(alerter, LATER) == 0 and len(posts_to(MESSAGES)) == 1


@responses.activate
def test_an_l1_call_answered_after_all_is_not_alerted(store, sample, clock):
    alerter = make_alerter(store, sample)
    answered_call(store, sid="CA911")
    assert store.alerts.get("CA911").due_at is None
    assert sweep(alerter, NOW + timedelta(hours=1)) == 0 and posts_to(MESSAGES) == posts_to(WEBHOOK) == []


# --- a slow destination, for real: every try ends by its deadline, a round ends inside its lease, ---
# --- and nothing waits for a slow round -----------------------------------------------------------


def with_webhook(sample, url, sms=("+14155550199",)):
    return replace(sample, alerts=Alerts(sms=tuple(sms), webhook=url))


@contextmanager
def trickling_webhook(store, sample, *, gap: float, sweep_seconds: float,
                      send_seconds: float) -> Iterator[tuple[Alerter, SlowServer]]:
    """An alerter whose phonebook texts +14155550199 (Twilio answers) and posts to a local webhook that
    trickles its answer (`gap` s a byte); yields it with that server. Call under `responses.activate`."""
    responses.add_passthru(re.compile(r"http://127\.0\.0\.1"))
    sms_sent()
    with slow_server() as server:
        server.mode, server.gap = "trickle", gap
        book = with_webhook(sample, f"{server.base}/hook")
        yield Alerter(store, lambda: book, ACCOUNT, "token", backoff_seconds=0, lease_seconds=LEASE.total_seconds(),
                      sweep_seconds=sweep_seconds, send_seconds=send_seconds), server


@responses.activate
def test_a_trickling_webhook_is_cut_at_the_deadline_and_the_other_alerts_due_with_it_go_out(sqlite_store, sample):
    with trickling_webhook(sqlite_store, sample, gap=0.05, sweep_seconds=5, send_seconds=0.25) as (alerter, server):
        voicemail_call(sqlite_store, "CA900")
        voicemail_call(sqlite_store, "CA901")
        start = time.monotonic()
        assert sweep(alerter) == 2
        # Three tries of at most 0.25 s each, side by side with the texts; generous for a loaded machine.
        assert time.monotonic() - start < 3 * 0.25 + 1.5
        assert len(posts_to(MESSAGES)) == 2
        # (The server may count a try that was cut before it got to it a little late.)
        assert server.wait_for(lambda: len([hit for hit in server.hits if hit == "/hook"]) == 6), server.hits
        for sid in ("CA900", "CA901"):
            state = sqlite_store.alerts.get(sid)
            assert list(state.done) == ["sms:+14155550199"]
            assert state.due_at == SETTLED + ROUND_PAUSE and state.leased_until is None
            # Within what was left of the 0.25 s when the try began (a loaded machine starts it late).
            cut = re.search(r"DeadlineExceeded: no complete answer within ([\d.]+) s", state.last_error)
            assert cut and float(cut[1]) <= 0.25, state.last_error
        assert alerter.health()["webhook"]["failures"] == 2


@responses.activate
def test_a_slow_round_does_not_hold_back_the_next_due_alert(sqlite_store, sample):
    with trickling_webhook(sqlite_store, sample, gap=0.2, sweep_seconds=0.05, send_seconds=1.0) as (alerter, server):
        alerter.start()
        try:
            voicemail_call(sqlite_store, "CA900")
            assert server.wait_for(lambda: "/hook" in server.hits)
            voicemail_call(sqlite_store, "CA901")
            assert server.wait_for(lambda: "sms:+14155550199" in sqlite_store.alerts.get("CA901").done, timeout=2)
            # CA900's round is still trying its webhook (three tries of 1 s) while CA901's alert went out.
            assert sqlite_store.alerts.get("CA900").leased_until is not None
            assert len(posts_to(MESSAGES)) == 2
        finally:
            alerter.close()
            assert alerter.drain(10)


def test_two_workers_with_a_trickling_webhook_never_take_a_live_round_over(sqlite_store, sample, tmp_path):
    with slow_server() as server:
        server.mode, server.gap = "trickle", 0.2
        book = with_webhook(sample, f"{server.base}/hook", sms=())
        voicemail_call(sqlite_store)
        assert sqlite_store.caught_up()  # the worker that answered the call stored it
        began = time.monotonic()

        def ticking():  # the database's clock runs in real time from NOW: leases run out for real
            return NOW + timedelta(seconds=time.monotonic() - began)

        lease = 2.0
        workers = [Alerter(worker_log(sqlite_store, ticking, tmp_path / f"worker{n}"), lambda: book,
                           ACCOUNT, "token", backoff_seconds=0, lease_seconds=lease, sweep_seconds=5)
                   for n in range(2)]
        claimed = [0, 0]

        def keep_sweeping(n):
            while time.monotonic() - began < 1.5 * lease:
                claimed[n] += len(calls_alerts(workers[n].sweep(ticking())))
                time.sleep(0.05)

        sweeping = [threading.Thread(target=keep_sweeping, args=(n,), daemon=True) for n in range(2)]
        for thread in sweeping:
            thread.start()
        for thread in sweeping:
            thread.join(10)
        # Before: the first worker read the trickle past its lease and the second sent the alert again.
        assert not any(thread.is_alive() for thread in sweeping)
        assert sorted(claimed) == [0, 1]
        assert server.hits == ["/hook"]
        state = sqlite_store.alerts.get("CA900")
        assert state.attempts == 1 and state.leased_until is None
        assert "webhook" in state.last_error


# --- delivery state, per call and for health ----------------------------------------------------

RETRIED = "alerts: an alert failed to reach a destination and is being retried"
LAST_FAILED = "alerts: the last alert did not reach every destination"
OVERDUE = "alerts: an alert is more than 2 minutes past due and not sent"


@responses.activate
def test_an_alerts_delivery_is_pending_then_retrying_for_the_failing_destination_then_sent(store, sample, clock):
    sms_sent()
    webhook_fails_a_round()
    alerter = make_alerter(store, sample)
    voicemail_call(store)
    assert store.alerts.delivery("CA900") == AlertDelivery(
        "CA900", DeliveryState.PENDING, NOW, 0, (), None, None)
    assert alerter.problems(NOW) == []
    sweep(alerter, NOW)
    retrying = store.alerts.delivery("CA900")
    assert retrying.state is DeliveryState.RETRYING and retrying.rounds == 1
    assert retrying.destinations == (DestinationDelivery("sms:+14155550199", NOW, None),)
    assert retrying.last_error.startswith("webhook: webhook answered 503")
    assert alerter.problems(NOW) == [RETRIED]
    sweep(alerter, NOW + ROUND_PAUSE)
    assert store.alerts.delivery("CA900") == AlertDelivery(
        "CA900", DeliveryState.SENT, None, 2,
        (DestinationDelivery("sms:+14155550199", NOW, None), DestinationDelivery("webhook", NOW + ROUND_PAUSE, None)),
        None, NOW + ROUND_PAUSE)
    assert alerter.problems(NOW + ROUND_PAUSE) == []


@responses.activate
def test_delivery_is_failing_while_the_latest_alert_missed_a_destination_within_a_day(store, sample, clock):
    responses.add(responses.POST, WEBHOOK, status=404, body="no_service")
    sms_sent()
    alerter = make_alerter(store, sample)
    voicemail_call(store)
    sweep(alerter, NOW)
    failed = store.alerts.delivery("CA900")
    assert failed.state is DeliveryState.FAILED and failed.finished_at == NOW
    assert failed.destinations[1] == DestinationDelivery("webhook", None, "webhook answered 404: no_service")
    assert alerter.problems(NOW) == [LAST_FAILED]
    # (A day on, the missed call's callback is overdue too, and its alert was never swept here.)
    assert LAST_FAILED in alerter.problems(NOW + timedelta(hours=24))
    assert LAST_FAILED not in alerter.problems(NOW + timedelta(hours=24, seconds=1))
    # A later alert that reaches everyone ends it.
    sms_sent()
    webhook_ok()
    later = NOW + timedelta(hours=1)
    clock.now = later
    voicemail_call(store, sid="CA901")
    sweep(alerter, later)
    assert store.alerts.delivery("CA901").state is DeliveryState.SENT
    assert alerter.problems(later) == []


def test_an_alert_not_sent_two_minutes_after_it_fell_due_is_overdue(store, sample, clock):
    alerter = make_alerter(store, sample)
    voicemail_call(store)  # due at NOW, and no sweep takes it
    assert store.alerts.delivery("CA900").state is DeliveryState.PENDING  # stored (health reads it as it is)
    assert alerter.problems(NOW + timedelta(seconds=119)) == []
    assert alerter.problems(NOW + timedelta(minutes=2)) == [OVERDUE]


def test_sms_alerts_without_twilio_credentials_are_failing_from_the_start(sqlite_store, sample):
    alerter = make_alerter(sqlite_store, sample, account=None, token=None)
    assert alerter.problems(NOW, read_database=False) == [
        "alerts: SMS alerts need TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, which are not set: no alert is texted"]
    without_sms = replace(sample, alerts=Alerts(webhook=WEBHOOK))
    assert make_alerter(sqlite_store, without_sms, account=None, token=None).problems(NOW) == []


def test_an_answered_l1_call_needs_no_alert_and_other_calls_have_none(store):
    answered_call(store)
    voicemail_call(store)
    store.record("CA002", Severity(severity=3), START)
    assert store.alerts.delivery("CA001").state is DeliveryState.NOT_NEEDED
    assert store.alerts.delivery("CA002") is None
    # A page of calls at once.
    found = store.alerts.deliveries(["CA001", "CA002", "CA900"])
    assert {sid: d.state for sid, d in found.items()} == {"CA001": DeliveryState.NOT_NEEDED,
                                                          "CA900": DeliveryState.PENDING}
    assert store.alerts.deliveries([]) == {}


# --- a phonebook version refused, then accepted again --------------------------------------------

REFUSED = PhonebookNotice("notice:phonebook-refused:0123456789abcdef", True, "phonebook.toml",
                          ("error: teams.sydney.ring_seconds: 2 must be a whole number of seconds from 5 to 600",),
                          utc("2026-12-01T08:00Z"), NOW)
ACCEPTED = PhonebookNotice("notice:phonebook-accepted:0123456789abcdef:fedcba9876543210", False, "phonebook.toml",
                           (), None, NOW + timedelta(minutes=5))


@responses.activate
def test_a_refused_phonebook_is_alerted_once_however_many_workers_notice_it_and_again_when_fixed(
        store, sample, clock, tmp_path):
    for _ in range(2):
        sms_sent()
        webhook_ok()
    workers = [make_alerter(store, sample), make_alerter(worker_log(store, clock, tmp_path / "other"), sample)]
    for worker in workers:
        worker.phonebook_notice(REFUSED)
    assert [sweep(worker, NOW) for worker in workers] == [1, 0]
    [refused] = [sms_body(c)["Body"] for c in posts_to(MESSAGES)]
    assert refused == (
        "Phonebook edit refused at 2026-12-01T09:02:00Z: phonebook.toml: error: teams.sydney.ring_seconds: 2 must be "
        "a whole number of seconds from 5 to 600. Calls go on with the last good version (accepted "
        "2026-12-01T08:00:00Z). Fix the file (`ivr check` lists every problem).")
    # From the first published line (the sample sets no sms_from); the webhook gets the same text.
    assert sms_body(posts_to(MESSAGES)[0])["From"] == sample.lines[0].number
    assert json.loads(posts_to(WEBHOOK)[0].request.body)["text"] == refused
    assert store.alerts.delivery(REFUSED.key).state is DeliveryState.SENT
    # The same version seen again (a worker restarted on it) is not alerted again; its fix is.
    for worker in workers:
        worker.phonebook_notice(REFUSED)
        worker.phonebook_notice(ACCEPTED)
    later = ACCEPTED.at
    assert [sweep(worker, later) for worker in workers] == [1, 0]
    assert sms_body(posts_to(MESSAGES)[1])["Body"] == (
        "Phonebook accepted again: phonebook.toml is valid and in force since 2026-12-01T09:07:00Z; calls are "
        "routed by it.")
    assert len(posts_to(MESSAGES)) == 2 and len(posts_to(WEBHOOK)) == 2


def test_a_notice_heard_while_the_database_is_down_is_stored_at_a_later_sweep(sqlite_store, sample):
    alerter = make_alerter(sqlite_store, sample)
    alerter.phonebook_notice(REFUSED)
    with sqlite_store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE notices RENAME TO notices_away"))
    with pytest.raises(OperationalError):
        sweep(alerter, NOW)
    with sqlite_store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE notices_away RENAME TO notices"))
    assert sweep(alerter, NOW) == 1
    assert sqlite_store.alerts.delivery(REFUSED.key).rounds == 1


@responses.activate
def test_a_round_put_off_by_a_busy_database_says_so_in_one_line_and_goes_at_the_next_sweep(sqlite_store, sample,
                                                                                            caplog):
    # The call log's writer holds SQLite's write lock for a long batch (catching up after a burst):
    # the round cannot claim its alert. No traceback: no bug, and the alert is not lost.
    sms_sent()
    webhook_ok()
    alerter = make_alerter(sqlite_store, replace(sample, digests=replace(sample.digests, enabled=False)))
    voicemail_call(sqlite_store)
    assert sqlite_store.caught_up()
    holder = sqlite3.connect(sqlite_store.engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert sweep(alerter) == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    [put_off] = [r for r in caplog.records if "CA900" in r.getMessage()]
    assert put_off.levelname == "WARNING" and put_off.exc_info is None
    assert "this round is put off, the database failed: OperationalError" in put_off.getMessage()
    assert posts_to(MESSAGES) == posts_to(WEBHOOK) == []
    assert sweep(alerter) == 1
    assert len(posts_to(MESSAGES)) == 1 and len(posts_to(WEBHOOK)) == 1


@responses.activate
def test_sweeps_of_a_full_batch_keep_their_connections_open_for_the_next(store, sample, clock):
    """Each round claims its alert on a connection of its own, up to a batch at once: sweep after
    sweep reuses them rather than opening more and closing them (on PostgreSQL each is a server
    process forked and set up, on the cores the webhooks need)."""
    sms_sent()
    webhook_ok()
    sweeps = 4
    for n in range(sweeps * BATCH):
        voicemail_call(store, sid=f"CA{900 + n}")
    alerter = make_alerter(store, sample)
    opened: list[object] = []
    event.listen(store.engine, "connect", lambda *_: opened.append(None))
    claimed = [sweep(alerter) for _ in range(sweeps)]
    assert all(count > BATCH // 2 for count in claimed), claimed  # a batch of rounds at once, each time
    # At most one a round under way, the sweep's own and the journal's writer's: never new ones each sweep.
    assert len(opened) <= BATCH + 2, (len(opened), claimed)
