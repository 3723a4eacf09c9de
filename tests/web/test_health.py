"""GET /healthz: for anyone, up and ok or degraded with the reasons in words; with the ops password,
the phonebook, customer records, call log and alerts in detail, secrets redacted."""

from __future__ import annotations

import base64
import json
import threading
import time
from urllib.parse import parse_qs

import pytest
import responses
from calls import ACME_ADMIN, pinned_app
from conftest import OPS_PASSWORD, SAMPLE, TWILIO_ACCOUNT, TWILIO_TOKEN, is_digest, save, utc
from sqlalchemy import text

from ivr.cli import simulate
from ivr.web.services import services_of

SECRET_KEY = "SEKRET-licensing-key"
LICENSING = f"https://licensing.example.com/sen/{{sen}}?api_key={SECRET_KEY}"
US_LINE = "+14155550100"
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json"
WEBHOOK = "https://hooks.example.com/services/T000/B000/priority-support"


def basic(password: str = OPS_PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()}


def test_healthz_for_anyone_says_ok_and_nothing_else(tmp_path):
    response = pinned_app(tmp_path).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "problems": []}


def test_healthz_with_the_ops_password_reports_the_loaded_phonebook(tmp_path):
    response = pinned_app(tmp_path).test_client().get("/healthz", headers=basic())
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["problems"] == []
    assert body["phonebook"]["file"] == str(SAMPLE)
    assert body["phonebook"]["last_error"] is None
    assert body["phonebook"]["last_reload"] is None
    assert body["phonebook"]["counts"]["teams"] == 4


def test_healthz_details_need_the_right_password(tmp_path):
    client = pinned_app(tmp_path).test_client()
    assert client.get("/healthz?details").status_code == 401
    wrong = client.get("/healthz", headers=basic("guess"))
    assert wrong.status_code == 401 and "phonebook" not in wrong.get_json()


def test_healthz_details_are_refused_without_an_ops_password_configured(tmp_path):
    client = pinned_app(tmp_path, IVR_OPS_PASSWORD=None).test_client()
    assert client.get("/healthz", headers=basic()).status_code == 403
    assert client.get("/healthz").get_json() == {"status": "ok", "problems": []}


def test_healthz_shows_where_customers_come_from_and_a_broken_csv(tmp_path):
    (tmp_path / "customers.csv").write_text(
        "sen,name,tier,maintenance_until,admins\nSEN-1234567,Acme Corporation,gold,2027-06-30,\n"
    )
    book = tmp_path / "phonebook.toml"
    book.write_text(SAMPLE.read_text() + '\n[entitlements]\nfile = "customers.csv"\n')
    client = pinned_app(tmp_path, IVR_PHONEBOOK=str(book)).test_client()
    assert client.get("/healthz").get_json() == {
        "status": "degraded",
        "problems": ["customers file: no version could be loaded; customer lookups fail"],
    }
    body = client.get("/healthz", headers=basic()).get_json()
    assert body["status"] == "degraded"
    assert body["entitlements"] == {
        "source": "file",
        "file": str(tmp_path / "customers.csv"),
        "customers": 0,
        "loaded_version": None,
        "last_error": "1 problem(s), first: error: line 2: tier: 'gold' is not one of premier, priority, select",
        "lookups": 0,
        "cache_hits": 0,
        "failures": {"timeout": 0, "connection": 0, "status": 0, "malformed": 0, "no_data": 0},
    }


def test_healthz_with_phonebook_customers(tmp_path):
    body = pinned_app(tmp_path).test_client().get("/healthz", headers=basic()).get_json()
    assert body["entitlements"] == {"source": "phonebook", "customers": 3}


@pytest.fixture
def failing(tmp_path, capsys):
    """A service whose licensing URL carries an api_key and fails, and whose call log refuses every
    insert, after one call from Acme's admin: what /healthz and the log lines then show."""
    book = tmp_path / "phonebook.toml"
    book.write_text(SAMPLE.read_text() + f'\n[entitlements]\nurl = "{LICENSING}"\n')
    app = pinned_app(tmp_path, at=None, IVR_PHONEBOOK=str(book), EVENT_SINK=None,
                   CLOCK=lambda: utc("2026-12-01T20:00Z"))
    with services_of(app).calllog.engine.begin() as conn:
        conn.execute(text("DROP TABLE call_events"))
    phone = simulate.Simulator(simulate.InProcess(app), TWILIO_TOKEN, TWILIO_ACCOUNT)
    phone.call(US_LINE, ACME_ADMIN, ["1234567#", "1"], [])
    # The writer finds the table gone at its next attempt (within a poll); the events wait.
    deadline = time.monotonic() + 10
    while services_of(app).calllog.health()["ok"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield app, capsys.readouterr().out
    services_of(app).calllog.close()


def test_healthz_for_anyone_says_why_it_is_degraded_in_words_without_urls_errors_or_numbers(failing):
    app, _log = failing
    reply = app.test_client().get("/healthz")
    assert reply.get_json() == {
        "status": "degraded",
        "problems": ["call log: database unavailable (call events wait in the journal meanwhile)"],
    }
    shown = reply.get_data(as_text=True)
    for secret in (SECRET_KEY, "api_key", "licensing.example.com", "INSERT", ACME_ADMIN, "1234567"):
        assert secret not in shown


def test_healthz_details_hide_api_keys_and_sql_parameters(failing):
    app, _log = failing
    body = app.test_client().get("/healthz", headers=basic()).get_json()
    assert body["entitlements"]["url"] == "https://licensing.example.com/sen/{sen}?api_key=***"
    assert body["entitlements"]["failures"]["connection"] >= 1
    error = body["calllog"]["last_error"]
    assert "no such table: call_events" in error
    shown = str(body)
    assert SECRET_KEY not in shown and ACME_ADMIN not in shown and "[parameters:" not in shown


def test_no_log_line_shows_the_api_key_or_the_sql_parameters(failing):
    _app, log = failing
    assert "entitlement source https://licensing.example.com/sen/1234567?api_key=*** failed" in log
    assert "no such table: call_events" in log
    assert SECRET_KEY not in log and "[parameters:" not in log


def test_healthz_is_degraded_while_sms_alerts_have_no_twilio_credentials(tmp_path, caplog):
    # As the service runs: its calls go to the call log, which alerts.
    app = pinned_app(tmp_path, TWILIO_ACCOUNT_SID=None, EVENT_SINK=None)
    client = app.test_client()
    # The digest of the 18:00 handoff is texted (refused: no credentials) and posted to the
    # sample's example webhook (unreachable): it is retried.
    alerts = services_of(app).alerts
    alerts.sweep(services_of(app).calllog.clock())
    assert alerts.drain(10)
    assert client.get("/healthz").get_json() == {
        "status": "degraded",
        "problems": ["alerts: SMS alerts need TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, which are not set: "
                     "no alert is texted",
                     "digests: a handoff digest failed to reach a destination and is being retried"],
    }
    assert "[alerts] sms is set but TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not" in caplog.text
    services_of(app).calllog.close()


def test_healthz_is_degraded_while_an_alert_fails_and_is_retried(tmp_path):
    app = pinned_app(tmp_path, at=None, EVENT_SINK=None, CLOCK=lambda: utc("2026-12-01T20:00Z"))
    phone = simulate.Simulator(simulate.InProcess(app), TWILIO_TOKEN, TWILIO_ACCOUNT)
    # Nobody answers Acme's L1 call: an alert to the sample's destinations, which no test reaches.
    phone.call(US_LINE, ACME_ADMIN, ["1234567#", "1"], [])
    registry = services_of(app)
    registry.alerts.sweep(registry.calllog.clock())
    assert registry.alerts.drain(10)
    [missed] = registry.calllog.calls().calls
    assert registry.calllog.alerts.delivery(missed.sid).state.value == "retrying"
    # So is the digest of the 18:00 handoff, to the same destinations.
    assert app.test_client().get("/healthz").get_json() == {
        "status": "degraded", "problems": ["alerts: an alert failed to reach a destination and is being retried",
                                           "digests: a handoff digest failed to reach a destination and is being retried"]}
    registry.calllog.close()


@responses.activate
def test_a_refused_phonebook_edit_alerts_ops_and_so_does_its_fix(tmp_path):
    responses.add(responses.POST, MESSAGES, status=201, json={"sid": "SM1", "status": "queued"})
    responses.add(responses.POST, WEBHOOK, status=200, body="ok")
    book = tmp_path / "phonebook.toml"
    book.write_text(SAMPLE.read_text())
    app = pinned_app(tmp_path, at=None, IVR_PHONEBOOK=str(book), IVR_RELOAD_SECONDS=0, EVENT_SINK=None)
    client = app.test_client()

    def texts_after(edit: str) -> list[str]:
        save(book, edit)
        client.get("/healthz")  # a request looks at the file
        assert services_of(app).alerts.drain(10)
        posted = [json.loads(c.request.body)["text"] for c in responses.calls if c.request.url == WEBHOOK]
        return [text for text in posted if not is_digest(text)]

    [refused] = texts_after(SAMPLE.read_text().replace('tz = "Europe/Amsterdam"', 'tz = "Europe/Amsterdm"'))
    assert refused.startswith("Phonebook edit refused at ")
    assert f"{book}: error: teams.amsterdam.tz: unknown time zone 'Europe/Amsterdm'" in refused
    [_, fixed] = texts_after(SAMPLE.read_text())
    assert fixed.startswith(f"Phonebook accepted again: {book} is valid and in force since ")
    texted = [parse_qs(c.request.body)["Body"][0] for c in responses.calls if c.request.url == MESSAGES]
    assert len([text for text in texted if not is_digest(text)]) == 2
    services_of(app).calllog.close()


def alert_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "ivr-alerts"}


@responses.activate
def test_a_worker_leaves_the_alerts_to_the_writer_and_its_healthz_shows_the_writers_failures(tmp_path):
    """Under gunicorn a worker only appends to the journal (IVR_WRITER=process): it neither sweeps for
    alerts nor sends them, so its core serves calls alone; the writer process does both, and each
    worker's /healthz shows the writer's alerts under way and last error per channel."""
    responses.add(responses.POST, MESSAGES, status=400, json={
        "code": 21211, "message": "The 'To' number +14155550199 is not a valid phone number.", "status": 400})
    responses.add(responses.POST, WEBHOOK, status=200, body="ok")
    book = tmp_path / "phonebook.toml"
    book.write_text(SAMPLE.read_text())
    before = alert_threads()
    worker = pinned_app(tmp_path, at=None, IVR_PHONEBOOK=str(book), IVR_RELOAD_SECONDS=0, EVENT_SINK=None,
                        IVR_WRITER="process")
    assert not alert_threads() - before
    details = worker.test_client().get("/healthz", headers=basic()).get_json()
    assert (details["alerts"]["pending"], details["alerts"]["sms"]["last_error"]) == (0, None)

    writer = pinned_app(tmp_path, at=None, IVR_PHONEBOOK=str(book), IVR_RELOAD_SECONDS=0, EVENT_SINK=None,
                        IVR_ALERT_SWEEP_SECONDS=0.05)
    assert len(alert_threads() - before) == 1
    # The writer reads the file the workers read: it notices the refused edit and alerts ops.
    save(book, SAMPLE.read_text().replace('tz = "Europe/Amsterdam"', 'tz = "Europe/Amsterdm"'))
    deadline = time.monotonic() + 10
    while not any(c.request.url == MESSAGES for c in responses.calls):
        assert time.monotonic() < deadline, "the writer never sent the notice"
        time.sleep(0.05)
    assert services_of(writer).alerts.drain(10)
    sent = services_of(writer).alerts.health()["sms"]
    assert "21211" in sent["last_error"]
    details = worker.test_client().get("/healthz", headers=basic()).get_json()
    assert details["alerts"]["sms"]["last_error"] == sent["last_error"]
    assert details["alerts"]["sms"]["last_error_at"] == sent["last_error_at"]
    assert details["alerts"]["webhook"]["last_error"] is None
    services_of(writer).calllog.close()
    services_of(worker).calllog.close()
