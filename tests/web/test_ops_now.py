"""The Now page: is anything wrong first (health, alerts, missed L1 calls of the last day, a refused
phonebook edit), then who is on duty, in UTC, in each office's own time and from now."""

from __future__ import annotations

import re

import pytest
import responses
from conftest import SAMPLE, TWILIO_ACCOUNT, answered_call, make_app, utc, voicemail_call, without_tables
from pages import by_id, parse_html, rows, text_of

from ivr.web.services import services_of

MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json"
WEBHOOK = "https://hooks.example.com/services/T000/B000/priority-support"


def now_page(app, ops_auth):
    reply = app.test_client().get("/ops/", headers=ops_auth)
    assert reply.status_code == 200
    return parse_html(reply.get_data(as_text=True))


def test_missed_l1_calls_of_the_last_day_come_first_with_whether_their_alert_went_out(tmp_path, ops_auth):
    # Twilio and the webhook answer from the start: the app's alert thread sends the late digests of
    # the morning's handoffs at once, and a text that failed then would be reported as failing.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(MESSAGES, status=201, json={"sid": "SM1", "status": "queued"})
        mock.post(WEBHOOK, status=400, body="no_service")
        mock.add_passthru(re.compile(r"https?://(127\.0\.0\.1|localhost)[:/]"))
        app = make_app(tmp_path, CLOCK=lambda: utc("2026-12-01T10:30Z"))
        calls = services_of(app).calllog
        voicemail_call(calls, "CA-yesterday", utc("2026-11-30T10:29Z"))
        voicemail_call(calls, "CA-today", utc("2026-12-01T10:00Z"))
        answered_call(calls, sid="CA-answered", at=utc("2026-12-01T09:00Z"))
        calls.caught_up()
        assert services_of(app).alerts.drain(30)
    page = now_page(app, ops_auth)
    wrong = by_id(page, "wrong")
    # Yesterday's call is older than a day, and the answered one was not missed.
    [missed] = rows(by_id(page, "missed"))
    assert missed["Customer"] == "unknown"
    assert missed["Started"] == "Tue 01 Dec 10:00 UTC (30m ago)"
    assert missed["Line"] == "United States & Canada" and missed["Outcome"] == "voicemail"
    assert missed["Alert"] == "partly sent to sms:+14155550199 webhook: webhook answered 400: no_service"
    # The missed call is what the page says first, before who is on duty.
    order = [e.get("id") for e in page.iter() if e.get("id") in ("wrong", "on-duty")]
    assert order == ["wrong", "on-duty"] and "Nothing wrong" not in text_of(wrong)
    # The channel that failed says so, with its error.
    problems = text_of(by_id(page, "problems"))
    assert "webhook alerts: the last failed at" in problems and "webhook answered 400: no_service" in problems
    assert "sms alerts" not in problems
    services_of(app).calllog.close()


def test_a_refused_phonebook_edit_is_shown_with_its_problems(tmp_path, ops_auth):
    book = tmp_path / "phonebook.toml"
    book.write_text(SAMPLE.read_text())
    app = make_app(tmp_path, book, IVR_RELOAD_SECONDS=0, CLOCK=lambda: utc("2026-12-01T09:00Z"))
    # (The digests of the 03:00 and 08:00 handoffs may be failing already: the sample's example addresses.)
    assert all(e.get("id") != "refused-edit" for e in now_page(app, ops_auth).iter())
    book.write_text(SAMPLE.read_text().replace('tz = "Europe/Amsterdam"', 'tz = "Europe/Amsterdan"'))
    page = now_page(app, ops_auth)
    assert "phonebook: an edit was refused; the last good version is in force" in text_of(by_id(page, "problems"))
    assert "Europe/Amsterdan" in text_of(by_id(page, "refused-edit"))
    # The last good phonebook is still in force: Amsterdam is on duty.
    assert "Amsterdam Priority Support" in text_of(by_id(page, "on-duty"))
    services_of(app).calllog.close()


def test_who_is_on_duty_in_utc_in_the_office_s_own_time_and_from_now_then_the_fallback(tmp_path, ops_auth):
    app = make_app(tmp_path, CLOCK=lambda: utc("2026-12-01T09:00Z"))
    page = now_page(app, ops_auth)
    on_duty = rows(by_id(page, "on-duty"))
    assert on_duty[0] == {
        "Team": "Amsterdam Priority Support priority",
        "Since": "Tue 01 Dec 06:00 UTC Tue 07:00 CET (3h ago)",
        "Until": "Tue 01 Dec 18:00 UTC Tue 19:00 CET (in 9h)",
        "Rings": "+31 20 555 0101 +31 20 555 0102",
    }
    assert on_duty[-1] == {"Team": "Fallback duty manager", "Since": "after every team", "Until": "then voicemail",
                           "Rings": "+1 415-555-0142"}
    # The numbers to ring are links a phone dials.
    links = [a.get("href") for a in by_id(page, "on-duty").iter("a")]
    assert links == ["tel:+31205550101", "tel:+31205550102", "tel:+14155550110", "tel:+31205550110",
                     "tel:+14155550142"]
    handoff = rows(by_id(page, "handoffs"))[0]
    assert handoff["When"] == "Tue 01 Dec 15:00 UTC Tue 07:00 PST (in 6h)"
    refresh = next(m for m in page.iter("meta") if m.get("http-equiv") == "refresh")
    assert refresh.get("content") == "60"
    services_of(app).calllog.close()


def test_with_nobody_on_duty_the_page_says_where_calls_go(tmp_path, ops_auth):
    weekend = utc("2026-12-05T12:00Z")
    with_fallback = tmp_path / "with.toml"
    with_fallback.write_text(without_tables(SAMPLE.read_text(), "teams.select"))
    without = tmp_path / "without.toml"
    without.write_text(without_tables(SAMPLE.read_text(), "teams.select", "fallback"))
    said = {}
    for name, book in (("with", with_fallback), ("without", without)):
        app = make_app(tmp_path / name, book, CLOCK=lambda: weekend)
        said[name] = rows(by_id(now_page(app, ops_auth), "on-duty"))
        services_of(app).calllog.close()
    assert said["with"][0][None] == (
        "No team is on duty: calls go to the fallback (duty manager) +14155550142, then voicemail.")
    assert said["without"] == [{None: "No team is on duty: calls go to voicemail."}]


def test_the_refresh_interval_is_the_app_s_to_set(tmp_path, ops_auth):
    app = make_app(tmp_path, OPS_REFRESH_SECONDS=5)
    refresh = next(m for m in now_page(app, ops_auth).iter("meta") if m.get("http-equiv") == "refresh")
    assert refresh.get("content") == "5"
    services_of(app).calllog.close()


def test_with_the_call_log_s_database_down_the_page_still_says_who_is_on_duty(tmp_path, ops_auth):
    app = make_app(tmp_path, DATABASE_URL="postgresql://postgres@127.0.0.1:1/calls", CLOCK=lambda: utc("2026-12-01T09:00Z"))
    page = now_page(app, ops_auth)
    assert "The call log cannot be read now" in text_of(by_id(page, "wrong"))
    assert "Nothing wrong" not in text_of(by_id(page, "wrong"))
    assert "Amsterdam Priority Support" in text_of(by_id(page, "on-duty"))
    services_of(app).calllog.close()


@pytest.mark.parametrize("path", [
    "/ops/calls", "/ops/calls/CA1", "/ops/calls.csv", "/ops/callbacks", "/ops/callbacks/1", "/ops/handoffs",
    "/ops/handoffs/amsterdam/1796112000", "/ops/api/calls", "/ops/api/callbacks",
])
def test_with_the_call_log_s_database_down_the_other_pages_say_so_with_a_503(tmp_path, ops_auth, path):
    app = make_app(tmp_path, DATABASE_URL="postgresql://postgres@127.0.0.1:1/calls", CLOCK=lambda: utc("2026-12-01T09:00Z"))
    reply = app.test_client().get(path, headers=ops_auth)
    assert reply.status_code == 503
    said = reply.get_json()["error"] if path.startswith("/ops/api/") else reply.get_data(as_text=True)
    assert "database cannot be read now. Calls are still answered" in said
    services_of(app).calllog.close()
