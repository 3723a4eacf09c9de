"""Calls placed through the real webhooks with the simulator, then read back from the ops console."""

from __future__ import annotations

import base64
import json
import logging
import time
from urllib.parse import parse_qs

import responses
from click.testing import CliRunner
from conftest import OPS_PASSWORD, TWILIO_ACCOUNT, TWILIO_TOKEN, is_digest, make_app, utc
from sqlalchemy import inspect
from twilio.request_validator import RequestValidator

from ivr.cli import simulate
from ivr.cli.commands import main
from ivr.web.services import services_of

US_LINE = "+14155550100"
NL_LINE = "+31205550100"
ACME_ADMIN = "+14155551234"
SF_FIRST = "+14155550101"
WEEKDAY = utc("2026-12-01T16:00Z")  # San Francisco and Amsterdam on duty
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json"
WEBHOOK = "https://hooks.example.com/services/T000/B000/priority-support"


def service(tmp_path, at=WEEKDAY, **config):
    app = make_app(tmp_path, CLOCK=lambda: at, **config)
    return app, simulate.Simulator(simulate.InProcess(app), TWILIO_TOKEN, TWILIO_ACCOUNT)


def _basic():
    return {"Authorization": "Basic " + base64.b64encode(f"ops:{OPS_PASSWORD}".encode()).decode()}


def api(app, path):
    reply = app.test_client().get(path, headers=_basic())
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_json()


def signed_post(app, path, form):
    url = f"{simulate.IN_PROCESS_BASE}{path}"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    return app.test_client().post(path, data=form, headers={"X-Twilio-Signature": signature})


def test_an_answered_l1_call_is_on_record_with_who_answered(tmp_path):
    app, phone = service(tmp_path)
    phone.call(US_LINE, ACME_ADMIN, ["1"], [SF_FIRST])
    [call] = api(app, "/ops/api/calls")["calls"]
    assert {k: call[k] for k in ("line", "from", "sen", "customer", "severity", "outcome", "team")} == {
        "line": US_LINE, "from": ACME_ADMIN, "sen": "SEN-1234567", "customer": "Acme Corporation",
        "severity": 1, "outcome": "answered", "team": "san_francisco"}
    assert call["started_at"] == "2026-12-01T16:00:00Z" and call["answer_seconds"] == 0.0
    kinds = [e["kind"] for e in call["events"]]
    assert kinds[:3] == ["started", "recognised", "entitlement"]
    assert {"severity", "routed", "screened", "dial", "status"} <= set(kinds)
    assert api(app, f"/ops/api/calls/{call['sid']}")["events"] == call["events"]
    assert api(app, f"/ops/api/calls/{call['sid']}")["alert"]["state"] == "not-needed"
    health = app.test_client().get("/healthz", headers=_basic()).get_json()
    assert health["calllog"]["ok"] and health["calllog"]["failures"] == 0
    # The digest of the 08:00 handoff went to the sample's example addresses, which refuse it; that
    # is the only trouble.
    assert health["problems"] and all(p.startswith("digests: ") for p in health["problems"])


def test_a_missed_l1_call_leaves_a_voicemail_alerts_ops_once_and_repeats_change_nothing(tmp_path):
    app, phone = service(tmp_path)
    with responses.RequestsMock() as twilio_and_slack:
        twilio_and_slack.add(responses.POST, MESSAGES, status=201, json={"sid": "SM1", "status": "queued"})
        twilio_and_slack.add(responses.POST, WEBHOOK, status=200, body="ok")
        turns = phone.call(US_LINE, ACME_ADMIN, ["1"], [])
        [call] = api(app, "/ops/api/calls?outcome=voicemail")["calls"]
        # Twilio repeats the final status callback; nothing changes and nobody is alerted twice.
        status = {"CallSid": call["sid"], "AccountSid": TWILIO_ACCOUNT, "From": ACME_ADMIN, "To": US_LINE,
                  "CallStatus": "completed", "CallDuration": "90", "Direction": "inbound"}
        assert signed_post(app, "/voice/status", status).status_code == 204
        assert services_of(app).alerts.drain(10)
        # The call's own alert (the digest of the 08:00 handoff went to ops too).
        texts = [c for c in twilio_and_slack.calls if c.request.url == MESSAGES]
        sms = [c for c in texts if parse_qs(c.request.body)["Body"][0].startswith("Missed L1 call")]
        posts = [c for c in twilio_and_slack.calls if c.request.url == WEBHOOK
                 and json.loads(c.request.body)["text"].startswith("Missed L1 call")]
    recording = next(t.what for t in turns if t.who == "recording")
    assert len(sms) == 1 and len(posts) == 1
    body = parse_qs(sms[0].request.body)["Body"][0]
    assert body.startswith("Missed L1 call: Acme Corporation (SEN-1234567) on the United States & Canada line "
                           "+14155550100 at 2026-12-01T16:00:00Z")
    assert f"Voicemail: {recording}" in body
    assert json.loads(posts[0].request.body)["text"].startswith("Missed L1 call: Acme Corporation")
    again = api(app, f"/ops/api/calls/{call['sid']}")
    assert again["events"] == call["events"] and again["voicemail_url"] == recording
    metrics = app.test_client().get("/metrics", headers=_basic()).get_data(as_text=True)
    assert 'ivr_calls{outcome="voicemail",severity="1"} 1.0' in metrics
    assert f'ivr_alerts_sent_total{{channel="sms"}} {float(len(texts))}' in metrics
    assert 'ivr_webhook_seconds_count{endpoint="/voice"} 1.0' in metrics


def test_an_expired_customer_is_deflected_and_raises_no_alert(tmp_path):
    app, phone = service(tmp_path)
    phone.call(NL_LINE, "+31600000000", ["2345678#"], [])
    [call] = api(app, "/ops/api/calls")["calls"]
    assert (call["outcome"], call["customer"], call["severity"]) == ("deflected", "Globex", None)
    assert services_of(app).alerts.drain(10)
    assert services_of(app).alerts.health()["sms"]["sent"] == 0


def test_a_caller_name_carrying_html_reaches_the_console_escaped(tmp_path):
    app, _ = service(tmp_path)
    form = {"CallSid": "CA" + "e" * 32, "AccountSid": TWILIO_ACCOUNT, "From": "+14155550000", "To": US_LINE,
            "CallStatus": "ringing", "Direction": "inbound", "CallerName": "<img src=x onerror=alert(1)>"}
    assert signed_post(app, "/voice", form).status_code == 200
    page = app.test_client().get("/ops/calls", headers=_basic()).get_data(as_text=True)
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_with_the_database_down_the_call_still_connects_and_health_says_so(tmp_path, caplog):
    _healthy, healthy_phone = service(tmp_path / "up")
    expected = healthy_phone.call(US_LINE, ACME_ADMIN, ["1"], [SF_FIRST])
    down, phone = service(tmp_path / "down", DATABASE_URL="postgresql://postgres@127.0.0.1:1/calls")
    with caplog.at_level(logging.WARNING, logger="ivr"):
        turns = phone.call(US_LINE, ACME_ADMIN, ["1"], [SF_FIRST])
    assert turns == expected
    assert ("answers", SF_FIRST) in [(t.who, t.what) for t in turns]
    # The writer finds the database down at its next attempt (within a poll); the events wait.
    deadline = time.monotonic() + 10
    def waiting(reply):
        state = reply.get_json()
        return state["status"] == "degraded" and state["calllog"]["pending_bytes"] > 0

    while not waiting(health := down.test_client().get("/healthz", headers=_basic())):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert health.status_code == 200
    state = health.get_json()
    assert state["status"] == "degraded"
    assert state["calllog"]["ok"] is False and state["calllog"]["failures"] >= 1
    assert state["calllog"]["pending_bytes"] > 0
    metrics = down.test_client().get("/metrics", headers=_basic())
    assert metrics.status_code == 200 and "ivr_calllog_failures_total" in metrics.get_data(as_text=True)
    # Every event of the call waits in the journal for the database.
    journaled = [json.loads(line) for path in (tmp_path / "down" / "instance" / "journal").glob("events-*.jsonl")
                 for line in path.read_text().splitlines()]
    assert {e["kind"] for e in journaled} >= {"started", "recognised", "severity", "routed", "dial", "status"}


def test_on_a_database_nobody_migrated_calls_connect_and_health_says_to_run_ivr_db_upgrade(tmp_path):
    app = make_app(tmp_path, CLOCK=lambda: WEEKDAY, migrate_first=False)
    phone = simulate.Simulator(simulate.InProcess(app), TWILIO_TOKEN, TWILIO_ACCOUNT)
    turns = phone.call(US_LINE, ACME_ADMIN, ["1"], [SF_FIRST])
    assert ("answers", SF_FIRST) in [(t.who, t.what) for t in turns]
    calllog = services_of(app).calllog
    assert calllog.caught_up() is False  # the writer holds the events back: it never makes tables
    assert app.test_client().get("/healthz").get_json() == {"status": "degraded", "problems": [
        "call log: the call log's database is empty: run `ivr db upgrade` (call events wait in the journal meanwhile)"]}
    held = app.test_client().get("/healthz", headers=_basic()).get_json()["calllog"]
    assert held["ok"] is False and held["pending_bytes"] > 0 and held["rejected"] == 0
    assert not inspect(calllog.engine).has_table("calls")

    # The operator runs `ivr db upgrade`; the running worker stores the call, with no restart.
    upgraded = CliRunner(env={"IVR_INSTANCE_PATH": str(tmp_path / "instance")}).invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert calllog.caught_up() is True
    # The call log is in order, and owes no digest of the handoffs before `ivr db upgrade` first made it.
    assert services_of(app).alerts.sweep(WEEKDAY) == []
    assert services_of(app).alerts.drain(10)
    assert app.test_client().get("/healthz").get_json() == {"status": "ok", "problems": []}
    [call] = api(app, "/ops/api/calls")["calls"]
    assert (call["outcome"], call["team"]) == ("answered", "san_francisco")


# --- SEN guessing: a limit per calling number, across calls, from the call log -------------------------

GUESSER = "+12025550143"
GUESSES = ["7654321#", "7654322#", "7654323#"]  # well-formed SENs nobody holds


def test_a_number_that_gave_ten_unknown_sens_within_the_hour_is_stopped_and_ops_hears_once(tmp_path):
    app, phone = service(tmp_path)
    calllog = services_of(app).calllog
    with responses.RequestsMock() as twilio_and_slack:
        twilio_and_slack.add(responses.POST, MESSAGES, status=201, json={"sid": "SM1", "status": "queued"})
        twilio_and_slack.add(responses.POST, WEBHOOK, status=200, body="ok")
        for _ in range(3):  # three tries a call, nine unknown SENs: each call ends as today
            turns = phone.call(US_LINE, GUESSER, GUESSES)
            assert "We could not find that support entitlement number." in " ".join(t.what for t in turns)
            assert calllog.caught_up()
        # The tenth unknown SEN ends the call at once, before its two other tries.
        tenth = phone.call(US_LINE, GUESSER, GUESSES)
        assert calllog.caught_up()
        # Within the hour, the number's next call ends at its first unknown SEN.
        next_call = phone.call(US_LINE, GUESSER, GUESSES)
        assert calllog.caught_up()
        # Another number, and an admin recognised by caller ID, are not affected.
        other = phone.call(US_LINE, "+12025550144", ["1234567#", "1"], [SF_FIRST])
        assert services_of(app).alerts.drain(10)
        sms = [c for c in twilio_and_slack.calls
               if c.request.url == MESSAGES and not is_digest(parse_qs(c.request.body)["Body"][0])]
    limit_text = ("We cannot take more support entitlement numbers from this phone now. "
                  "Please raise a request at support.example.com.")
    said = [t.what for t in tenth if t.who == "caller hears"]
    assert [t.what for t in tenth if t.who == "caller presses"] == ["7654321#"]
    assert said[-2:] == [limit_text, "Thank you for calling. Goodbye."]
    assert [t.what for t in next_call if t.who == "caller presses"] == ["7654321#"]
    assert [t.what for t in next_call if t.who == "caller hears"][-2:] == [limit_text, "Thank you for calling. Goodbye."]
    assert ("answers", SF_FIRST) in [(t.who, t.what) for t in other]
    calls = api(app, "/ops/api/calls?outcome=deflected")["calls"]
    assert sorted(c["reason"] for c in calls if c["from"] == GUESSER) == ["sen-limit"] * 2 + ["unknown"] * 3
    # Ops hears once for the number, not once a call.
    assert len(sms) == 1
    body = parse_qs(sms[0].request.body)["Body"][0]
    assert body.startswith(f"SEN guessing? Calls from {GUESSER} gave too many unknown SENs within 1 hour")


def test_with_the_call_log_unreadable_unknown_sens_are_not_limited(tmp_path, monkeypatch):
    app, phone = service(tmp_path, IVR_SEN_FAILURES_PER_HOUR=1)
    calllog = services_of(app).calllog

    def unreadable(caller, since):
        raise OSError("database down")

    monkeypatch.setattr(calllog, "failed_sens", unreadable)
    turns = phone.call(US_LINE, GUESSER, [GUESSES[0], "1234567#", "1"], [SF_FIRST])
    assert "We could not find SEN 7 6 5 4 3 2 1." in [t.what for t in turns]
    assert ("answers", SF_FIRST) in [(t.who, t.what) for t in turns]
