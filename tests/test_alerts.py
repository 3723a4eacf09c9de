"""A missed L1 call reaches ops at once by SMS and webhook, once, whatever fails on the way."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import requests
import responses

from ivr.alerts import Alerter
from ivr.outcomes import Outcome

from conftest import answered_call, utc

ACCOUNT = "AC" + "0" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
WEBHOOK = "https://hooks.example.com/services/T000/B000/priority-support"
START = utc("2026-12-01T09:00:00Z")
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE123"


@pytest.fixture
def alerter(sqlite_store, sample):
    alerter = Alerter(sqlite_store, lambda: sample, ACCOUNT, "token", console_url="https://ivr.example.com",
                      settle_seconds=0, backoff_seconds=0)
    sqlite_store.subscribe(alerter.notice)
    return alerter


def sms_sent(reply=None):
    responses.add(responses.POST, MESSAGES, status=201, json=reply or {"sid": "SM1", "status": "queued"})


def webhook_ok():
    responses.add(responses.POST, WEBHOOK, status=200, body="ok")


def voicemail_call(store, sid="CA900", customer="Acme Corporation"):
    """An L1 caller on the US line whom nobody answered, who left a voicemail."""
    at = START
    store.record(sid, "started", {"line": "+14155550100", "to": "+14155550100", "from": "+14155551234",
                                  "region": "amer", "caller_name": "<b>Wile E.</b>"}, at)
    store.record(sid, "recognised", {"sen": "SEN-1234567", "customer": customer}, at + timedelta(seconds=1))
    store.record(sid, "severity", {"severity": 1}, at + timedelta(seconds=5))
    store.record(sid, "routed", {"action": "connect", "reason": "on duty: san_francisco",
                                 "candidates": ["san_francisco", "fallback"], "weekend": False},
                 at + timedelta(seconds=5))
    store.record(sid, "dial", {"attempt": 1, "team": "san_francisco", "numbers": ["+14155550101"],
                               "status": "no-answer", "duration": 0, "accepted_by": None},
                 at + timedelta(seconds=25), key="dial:1")
    store.record(sid, "voicemail", {"recording_url": RECORDING, "recording_sid": "RE123", "duration": 40},
                 at + timedelta(seconds=70), key="voicemail")
    store.record(sid, "status", {"call_status": "completed", "duration": 71}, at + timedelta(seconds=71),
                 key="status")


def sms_body(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


@responses.activate
def test_a_voicemail_from_an_l1_caller_texts_ops_and_posts_to_the_webhook_once(alerter, sqlite_store):
    sms_sent()
    webhook_ok()
    voicemail_call(sqlite_store)
    voicemail_call(sqlite_store)  # Twilio repeats its callbacks
    assert alerter.drain(10)
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
    assert alerter.health()["sms"]["sent"] == 1 and alerter.health()["webhook"]["sent"] == 1


@responses.activate
def test_an_l1_caller_who_hung_up_with_nobody_on_duty_is_an_alert(alerter, sqlite_store):
    sms_sent()
    webhook_ok()
    sqlite_store.record("CA901", "started", {"to": "+442079460100", "from": "+447700900123"}, START)
    sqlite_store.record("CA901", "sen_entered", {"sen": "1234567", "attempt": 1}, START, key="sen:1")
    sqlite_store.record("CA901", "severity", {"severity": 1}, START + timedelta(seconds=9))
    sqlite_store.record("CA901", "routed", {"action": "connect", "candidates": [], "weekend": True,
                                            "reason": "no team is on duty and there is no fallback"},
                        START + timedelta(seconds=9))
    sqlite_store.record("CA901", "status", {"call_status": "completed", "duration": 12},
                        START + timedelta(seconds=12), key="status")
    assert alerter.drain(10)
    text = sms_body(responses.calls[0])["Body"]
    assert "(1234567) on the United Kingdom line +442079460100" in text
    assert "No team was on duty. The caller hung up before anyone answered; no voicemail." in text


@responses.activate
def test_answered_deflected_and_non_l1_calls_raise_no_alert(alerter, sqlite_store):
    answered_call(sqlite_store, sid="CA902")
    sqlite_store.record("CA903", "entitlement", {"sen": "SEN-2345678", "verdict": "expired"}, START)
    sqlite_store.record("CA903", "status", {"call_status": "completed"}, START, key="status")
    sqlite_store.record("CA904", "severity", {"severity": 2}, START)
    sqlite_store.record("CA904", "status", {"call_status": "completed"}, START, key="status")
    assert alerter.drain(10)
    assert len(responses.calls) == 0 and alerter.health()["sms"]["sent"] == 0


@responses.activate
def test_a_twilio_error_reply_is_logged_and_counted_not_retried(alerter, sqlite_store):
    responses.add(responses.POST, MESSAGES, status=400, json={
        "code": 21211, "message": "The 'To' number +14155550199 is not a valid phone number.", "status": 400,
        "more_info": "https://www.twilio.com/docs/errors/21211"})
    webhook_ok()
    voicemail_call(sqlite_store)
    assert alerter.drain(10)
    assert len([c for c in responses.calls if c.request.url == MESSAGES]) == 1
    health = alerter.health()
    assert health["sms"]["failures"] == 1 and "21211" in health["sms"]["last_error"]
    assert health["webhook"]["sent"] == 1


@responses.activate
def test_twilio_server_errors_are_retried_until_the_sms_goes(alerter, sqlite_store):
    for _ in range(2):
        responses.add(responses.POST, MESSAGES, status=503, json={
            "code": 20503, "message": "Service unavailable", "status": 503})
    sms_sent()
    webhook_ok()
    voicemail_call(sqlite_store)
    assert alerter.drain(10)
    assert len([c for c in responses.calls if c.request.url == MESSAGES]) == 3
    assert alerter.health()["sms"] == {"sent": 1, "failures": 0, "last_error": None, "last_error_at": None}


@responses.activate
def test_webhook_and_twilio_time_outs_are_retried_then_counted(alerter, sqlite_store):
    for _ in range(3):
        responses.add(responses.POST, WEBHOOK, body=requests.exceptions.ReadTimeout("read timed out"))
        responses.add(responses.POST, MESSAGES, body=requests.exceptions.ConnectTimeout("connect timed out"))
    voicemail_call(sqlite_store)
    assert alerter.drain(10)
    assert len(responses.calls) == 6
    health = alerter.health()
    assert health["webhook"]["failures"] == 1 and "ReadTimeout" in health["webhook"]["last_error"]
    assert health["sms"]["failures"] == 1 and "ConnectTimeout" in health["sms"]["last_error"]
    # The call itself was recorded in full.
    assert sqlite_store.call("CA900").outcome is Outcome.VOICEMAIL


@responses.activate
def test_without_twilio_credentials_the_sms_failure_is_visible(sqlite_store, sample):
    webhook_ok()
    alerter = Alerter(sqlite_store, lambda: sample, None, None, settle_seconds=0, backoff_seconds=0)
    sqlite_store.subscribe(alerter.notice)
    voicemail_call(sqlite_store)
    assert alerter.drain(10)
    assert "TWILIO_ACCOUNT_SID" in alerter.health()["sms"]["last_error"]
    assert alerter.health()["webhook"]["sent"] == 1


@responses.activate
def test_an_l1_call_that_failed_before_anyone_answered_is_an_alert(alerter, sqlite_store):
    sms_sent()
    webhook_ok()
    sqlite_store.record("CA905", "started", {"to": "+14155550100", "from": "+14155551234"}, START)
    sqlite_store.record("CA905", "severity", {"severity": 1}, START + timedelta(seconds=5))
    sqlite_store.record("CA905", "error", {"message": "KeyError: 'x'", "step": "voice.severity"},
                        START + timedelta(seconds=5))
    sqlite_store.record("CA905", "status", {"call_status": "completed", "duration": 30},
                        START + timedelta(seconds=30), key="status")
    assert alerter.drain(10)
    assert sms_body(responses.calls[0])["Body"].endswith(
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
    assert alerter.drain(20)
    assert alerter.health()["sms"]["sent"] == 1 and alerter.health()["webhook"]["sent"] == 1
