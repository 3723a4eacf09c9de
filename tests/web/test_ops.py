"""The ops console: password-protected pages and API over the call log, the rota and the numbers."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import responses
import time_machine
from calls import ACME_ADMIN, pinned_app
from conftest import OPS_PASSWORD, SAMPLE, TWILIO_ACCOUNT, TWILIO_TOKEN, answered_call, make_app, utc, without_tables
from pages import parse_html, text_of

from ivr.cli import simulate
from ivr.engine.events import Deflected, Entitlement, Recognised, Severity, Started, Status
from ivr.web.ops import neutralise
from ivr.web.services import services_of

PAGES = ["/ops/", "/ops/calls", "/ops/calls/CA001", "/ops/week", "/ops/numbers", "/ops/calls.csv", "/ops/callbacks",
         "/ops/callbacks/1"]
API = ["/ops/api/calls", "/ops/api/calls/CA001", "/ops/api/now", "/metrics", "/ops/api/callbacks",
       "/ops/api/callbacks/1"]
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json"
WEBHOOK = "https://hooks.example.com/services/T000/B000/priority-support"


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def log(app):
    return services_of(app).calllog


@pytest.mark.parametrize("path", PAGES + API)
def test_without_a_password_configured_the_console_is_refused_not_open(tmp_path, path):
    app = make_app(tmp_path, IVR_OPS_PASSWORD=None)
    reply = app.test_client().get(path, headers=basic("ops", ""))
    assert reply.status_code == 403
    assert "set IVR_OPS_PASSWORD" in reply.get_data(as_text=True)
    log(app).close()


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_strangers_to_the_login_form(client, path):
    reply = client.get(path)
    assert reply.status_code == 302 and reply.headers["Location"].startswith("/ops/login?next=")


@pytest.mark.parametrize("path", PAGES + API)
def test_a_wrong_password_is_refused(client, path):
    reply = client.get(path, headers=basic("ops", "wrong"))
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("path", API)
def test_the_api_needs_the_ops_user(client, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers=basic("admin", OPS_PASSWORD)).status_code == 401


def test_login_form_then_pages_then_sign_out(client):
    wrong = client.post("/ops/login", data={"password": "guess", "next": "/ops/calls"})
    assert wrong.status_code == 401 and "Wrong password." in wrong.get_data(as_text=True)
    assert client.get("/ops/calls").status_code == 302
    right = client.post("/ops/login", data={"password": OPS_PASSWORD, "next": "/ops/calls?outcome=answered"})
    assert right.status_code == 302 and right.headers["Location"] == "/ops/calls?outcome=answered"
    assert client.get("/ops/calls").status_code == 200
    # The cookie is for pages; the API still wants HTTP Basic.
    assert client.get("/ops/api/calls").status_code == 401
    # Signing out is a form like any other that changes something: it carries the session's token.
    page = client.get("/ops/calls").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]
    assert client.post("/ops/logout").status_code == 403
    assert client.get("/ops/calls").status_code == 200
    client.post("/ops/logout", data={"csrf_token": token})
    assert client.get("/ops/calls").status_code == 302


def test_login_never_redirects_off_the_console(client):
    reply = client.post("/ops/login", data={"password": OPS_PASSWORD, "next": "https://evil.example.com/"})
    assert reply.headers["Location"] == "/ops/"
    reply = client.post("/ops/login", data={"password": OPS_PASSWORD, "next": "//evil.example.com/ops/"})
    assert reply.headers["Location"] == "/ops/"


def test_a_caller_name_with_html_is_shown_escaped(app, client, ops_auth):
    hostile = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    log(app).record("CA666", Started(to="+14155550100", caller="+14155551234", caller_name=hostile), utc("2026-12-01T09:00Z"))
    log(app).record("CA666", Deflected(reason="<b>unknown</b>"), utc("2026-12-01T09:00:20Z"))
    for path in ("/ops/calls", "/ops/calls/CA666"):
        page = client.get(path, headers=ops_auth).get_data(as_text=True)
        assert "<script>" not in page and "<img" not in page and "<b>unknown" not in page
        assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    assert "default-src 'none'" in client.get("/ops/calls", headers=ops_auth).headers["Content-Security-Policy"]


def test_csv_export_neutralises_formulas(app, client, ops_auth):
    log(app).record("CA777", Started(to="+14155550100", caller="+14155551234", caller_name='=HYPERLINK("https://evil.example.com","x")'), utc("2026-12-01T09:00Z"))
    log(app).record("CA777", Recognised(sen="-2+3", customer="@SUM(A1:A9)"), utc("2026-12-01T09:00:01Z"))
    answered_call(log(app), sid="CA001", at=utc("2026-11-30T09:00Z"))
    reply = client.get("/ops/calls.csv", headers=ops_auth)
    assert reply.mimetype == "text/csv" and "attachment" in reply.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.get_data(as_text=True))))
    assert [r["sid"] for r in rows] == ["CA777", "CA001"]
    assert rows[0]["caller_name"] == '\'=HYPERLINK("https://evil.example.com","x")'
    assert (rows[0]["sen"], rows[0]["customer"]) == ("'-2+3", "'@SUM(A1:A9)")
    # "+2+3" starts like a phone number but is a formula.
    assert neutralise("+2+3") == "'+2+3" and neutralise("+14155551234") == "+14155551234"
    assert (rows[1]["customer"], rows[1]["outcome"], rows[1]["answer_seconds"]) == (
        "Acme Corporation", "answered", "12.0")


def test_csv_leaves_plain_phone_numbers_unquoted(app, client, ops_auth):
    answered_call(log(app), sid="CA001", at=utc("2026-11-30T09:00Z"))
    text = client.get("/ops/calls.csv", headers=ops_auth).get_data(as_text=True)
    row = next(csv.DictReader(io.StringIO(text)))
    assert (row["from"], row["line"]) == ("+14155551234", "+14155550100")
    assert ",+14155551234," in text and "'+1" not in text


def test_the_api_lists_calls_newest_first_with_their_timelines(app, client, ops_auth):
    for n in range(3):
        answered_call(log(app), sid=f"CA00{n}", at=utc("2026-12-01T09:00Z") + timedelta(hours=n))
    reply = client.get("/ops/api/calls?limit=2", headers=ops_auth).get_json()
    assert [c["sid"] for c in reply["calls"]] == ["CA002", "CA001"]
    first = reply["calls"][0]
    assert {k: first[k] for k in ("started_at", "line", "from", "sen", "customer", "severity", "outcome",
                                  "team", "answer_seconds")} == {
        "started_at": "2026-12-01T11:00:00Z", "line": "+14155550100", "from": "+14155551234",
        "sen": "SEN-1234567", "customer": "Acme Corporation", "severity": 1, "outcome": "answered",
        "team": "san_francisco", "answer_seconds": 12.0}
    assert [e["kind"] for e in first["events"]][:2] == ["started", "recognised"]
    rest = client.get(reply["next"], headers=ops_auth).get_json()
    assert [c["sid"] for c in rest["calls"]] == ["CA000"] and rest["next"] is None
    one = client.get("/ops/api/calls/CA001", headers=ops_auth).get_json()
    assert one["sid"] == "CA001" and len(one["events"]) == 8


def test_the_api_shows_every_value_an_event_kept_as_it_was_given(app, client, ops_auth):
    # A number beyond 64 bits (the fast JSON writer cannot write it; Flask's does) and text beyond ASCII.
    log(app).record("CA801", Started(to="+14155550100", caller="+14155551234", caller_name="Zoë 東京"),
                    utc("2026-12-01T09:00Z"))
    log(app).record("CA801", Status(call_status="completed", duration=10**30), utc("2026-12-01T09:00:05Z"))
    assert log(app).caught_up()
    reply = client.get("/ops/api/calls?limit=500", headers=ops_auth)
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    [call] = json.loads(reply.data)["calls"]
    assert call["caller_name"] == "Zoë 東京" and call["duration"] == 2**31 - 1
    assert [e["data"] for e in call["events"]] == [
        {"line": None, "region": None, "from": "+14155551234", "to": "+14155550100", "caller_name": "Zoë 東京"},
        {"call_status": "completed", "duration": 10**30},
    ]
    # Keys in order, as Flask writes them.
    assert reply.get_data(as_text=True).index('"answer_seconds"') < reply.get_data(as_text=True).index('"caller_name"')


def test_api_filters_and_bad_input(app, client, ops_auth):
    answered_call(log(app), sid="CA001", at=utc("2026-12-01T09:00Z"))
    answered_call(log(app), sid="CA002", at=utc("2026-12-02T09:00Z"), customer="Initech", line="+31205550100")

    def sids(query):
        return [c["sid"] for c in client.get(f"/ops/api/calls?{query}", headers=ops_auth).get_json()["calls"]]

    assert sids("outcome=answered&severity=1") == ["CA002", "CA001"]
    assert sids("line=%2B31205550100") == ["CA002"]
    assert sids("customer=Acme+Corporation") == ["CA001"]
    assert sids("date=2026-12-01") == ["CA001"]
    assert sids("outcome=voicemail") == []
    for query in ("outcome=maybe", "severity=9", "date=yesterday", "limit=0", "limit=x", "before=junk"):
        reply = client.get(f"/ops/api/calls?{query}", headers=ops_auth)
        assert reply.status_code == 400 and reply.get_json()["error"]
    missing = client.get("/ops/api/calls/CA404", headers=ops_auth)
    assert missing.status_code == 404 and "CA404" in missing.get_json()["error"]
    assert client.get("/ops/calls/CA404", headers=ops_auth).status_code == 404
    assert client.get("/ops/calls?severity=x", headers=ops_auth).status_code == 400


def test_the_calls_page_filters_and_links_each_call_to_its_timeline(app, client, ops_auth):
    answered_call(log(app), sid="CA001", at=utc("2026-12-01T09:00Z"))
    log(app).record("CA002", Started(to="+31205550100", caller="+31612345678"), utc("2026-12-01T10:00Z"))
    page = client.get("/ops/calls", headers=ops_auth).get_data(as_text=True)
    assert page.index('href="/ops/calls/CA002"') < page.index('href="/ops/calls/CA001"')
    assert "in progress" in page and "12 s" in page and "United States &amp; Canada" in page
    answered = client.get("/ops/calls?outcome=answered", headers=ops_auth).get_data(as_text=True)
    assert "/ops/calls/CA001" in answered and "/ops/calls/CA002" not in answered
    timeline = client.get("/ops/calls/CA001", headers=ops_auth).get_data(as_text=True)
    assert "San Francisco Priority Support after 12 s" in timeline
    assert "+14155550101 pressed 1 and took the call" in timeline


def test_now_shows_who_is_on_duty_since_until_and_the_next_handoffs(client, ops_auth):
    with time_machine.travel(utc("2026-12-01T09:00:00.250Z"), tick=False):
        page = client.get("/ops/", headers=ops_auth).get_data(as_text=True)
        api = client.get("/ops/api/now", headers=ops_auth).get_json()
    assert "Business week." in page and "Amsterdam Priority Support" in page
    assert "Tue 01 Dec 06:00 UTC" in page and "Tue 01 Dec 18:00 UTC" in page
    assert api["weekend"] is False
    assert api["on_duty"] == [
        {"team": "amsterdam", "since": "2026-12-01T06:00:00Z", "until": "2026-12-01T18:00:00Z"},
        {"team": "select", "since": None, "until": None},
    ]
    assert api["handoffs"][0] == {"at": "2026-12-01T15:00:00Z", "team": "san_francisco", "comes_on": True}


def test_now_says_when_it_is_the_weekend(client, ops_auth):
    with time_machine.travel(utc("2026-12-05T12:00Z"), tick=False):
        page = client.get("/ops/", headers=ops_auth).get_data(as_text=True)
    assert "It is the weekend" in page and "until Sun 06 Dec 23:00 UTC" in page


def svg_rows(page: str) -> dict[str, int]:
    """Each coverage row's label and how many bars it draws."""
    section = page[page.index('<section id="week"'):page.index("</section>") + len("</section>")]
    rows = {}
    for svg in ET.fromstring(section).iter("svg"):
        if svg.get("aria-label"):
            rows[svg.get("aria-label")] = len([r for r in svg.iter("rect")])
    return rows


def test_the_week_draws_each_team_and_the_handoff_overlaps(client, ops_auth):
    with time_machine.travel(utc("2026-11-30T00:30Z"), tick=False):
        page = client.get("/ops/week", headers=ops_auth).get_data(as_text=True)
    rows = svg_rows(page)
    assert rows["Global Select Support"] == 1 and rows["Amsterdam Priority Support"] == 5
    assert rows["Nobody on duty"] == 0 and rows["Handoff overlap"] > 0 and rows["Weekend"] == 1
    assert "No gaps" in page


def test_the_week_shows_gaps_when_nobody_is_on_duty(tmp_path, ops_auth):
    text = SAMPLE.read_text()
    without_select = tmp_path / "phonebook.toml"
    without_select.write_text(text[: text.index("[teams.select]")] + text[text.index("[fallback]"):])
    app = make_app(tmp_path, without_select)
    with time_machine.travel(utc("2026-11-30T00:30Z"), tick=False):
        page = app.test_client().get("/ops/week", headers=ops_auth).get_data(as_text=True)
    assert svg_rows(page)["Nobody on duty"] >= 1
    assert "Nobody on duty: Sat 05 Dec 01:00 UTC – Sun 06 Dec 23:00 UTC" in page  # noqa: RUF001 - the page's en dash
    log(app).close()


def test_numbers_says_which_team_a_call_reaches_now(client, ops_auth):
    with time_machine.travel(utc("2026-12-01T16:00Z"), tick=False):
        page = client.get("/ops/numbers", headers=ops_auth).get_data(as_text=True)
    us = page[page.index("United States &amp; Canada"):page.index("United Kingdom")]
    uk = page[page.index("United Kingdom"):page.index("Netherlands")]
    assert "+1 415-555-0100" in us and "San Francisco Priority Support" in us
    assert "Amsterdam Priority Support" in uk


def test_metrics_count_calls_answer_times_webhook_latency_and_alert_failures(app, client, ops_auth):
    app.add_url_rule("/voice/ping", "ping", lambda: ("", 204), methods=["POST"])
    answered_call(log(app), sid="CA001")
    client.post("/voice/ping")
    text = client.get("/metrics", headers=ops_auth).get_data(as_text=True)
    assert 'ivr_calls{outcome="answered",severity="1"} 1.0' in text
    assert 'ivr_answer_seconds_bucket{le="15.0"} 1.0' in text and 'ivr_answer_seconds_bucket{le="10.0"} 0.0' in text
    assert 'ivr_webhook_seconds_count{endpoint="/voice/ping"} 1.0' in text
    # There from the start (the digest of a handoff in the last 12 hours may have failed already:
    # the sample's example addresses).
    assert re.search(r'^ivr_alert_failures_total\{channel="sms"\} \d+\.0$', text, re.MULTILINE)
    assert "ivr_calllog_failures_total 0.0" in text


@pytest.mark.parametrize("path", ["/ops/calls", "/ops/calls.csv", "/ops/api/calls"])
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01T00:00:00+01:00"])
def test_a_date_at_the_end_of_the_calendar_is_a_400_that_says_why(client, ops_auth, path, day):
    reply = client.get(path, query_string={"date": day}, headers=ops_auth)
    assert reply.status_code == 400, reply.get_data(as_text=True)
    assert "date must" in reply.get_data(as_text=True)


@pytest.mark.parametrize("query", ["customer=Acme%00", "line=%2B1415%0d%0aX", "before=2026-12-01T00:00:00%2B00:00~CA%00"])
def test_control_characters_in_a_filter_are_a_400(client, ops_auth, query):
    reply = client.get(f"/ops/api/calls?{query}", headers=ops_auth)
    assert reply.status_code == 400 and "control characters" in reply.get_json()["error"]


def test_a_call_sid_with_a_control_character_is_not_found(client, ops_auth):
    assert client.get("/ops/calls/CA%00x", headers=ops_auth).status_code == 404
    assert client.get("/ops/api/calls/CA%00x", headers=ops_auth).status_code == 404


@pytest.mark.parametrize("target", [
    "/ops/calls\r\nSet-Cookie: x=1", "/ops/calls\n", "/ops/\x00", "/ops/\x7f", "/\\evil.example.com/ops/",
    "/ops/calls#\r", "https://evil.example.com/ops/", "//evil.example.com/ops/", "/metrics", "/opsx/", "",
])
def test_login_goes_to_the_console_s_front_page_for_any_next_that_is_not_a_console_path(client, target):
    form = client.get("/ops/login", query_string={"next": target})
    assert form.status_code == 200 and 'name="next" value="/ops/"' in form.get_data(as_text=True)
    reply = client.post("/ops/login", data={"password": OPS_PASSWORD, "next": target})
    assert reply.status_code == 302 and reply.headers["Location"] == "/ops/"


def test_login_goes_back_to_the_console_page_it_came_from(client):
    reply = client.post("/ops/login", data={"password": OPS_PASSWORD, "next": "/ops/calls?date=2026-12-01&line=%2B1"})
    assert reply.headers["Location"] == "/ops/calls?date=2026-12-01&line=%2B1"


@responses.activate
def test_a_call_page_and_the_api_show_each_destination_of_its_alert(tmp_path, ops_auth):
    responses.add(responses.POST, MESSAGES, status=201, json={"sid": "SM1", "status": "queued"})
    responses.add(responses.POST, WEBHOOK, status=404, body="no_service")
    app = pinned_app(tmp_path, at=None, EVENT_SINK=None, CLOCK=lambda: utc("2026-12-01T20:00Z"))
    # Nobody answers Acme's L1 call: ops is texted, and the webhook refuses the alert.
    simulate.Simulator(simulate.InProcess(app), TWILIO_TOKEN, TWILIO_ACCOUNT).call(
        "+14155550100", ACME_ADMIN, ["1234567#", "1"], [])
    assert services_of(app).alerts.drain(10)
    client = app.test_client()
    [missed] = client.get("/ops/api/calls", headers=ops_auth).get_json()["calls"]
    alert = client.get(f"/ops/api/calls/{missed['sid']}", headers=ops_auth).get_json()["alert"]
    assert alert["state"] == "failed" and alert["rounds"] == 1 and alert["last_error"] is None
    assert [(d["destination"], d["refused"]) for d in alert["destinations"]] == [
        ("sms:+14155550199", None), ("webhook", "webhook answered 404: no_service")]
    assert alert["destinations"][0]["sent_at"].endswith("Z")
    page = client.get(f"/ops/calls/{missed['sid']}", headers=ops_auth).get_data(as_text=True)
    [delivery] = re.findall(r'<dd class="alert-delivery">(.*?)</dd>', page, re.DOTALL)
    text = " ".join(re.sub(r"<[^>]+>", " ", delivery).split())
    assert re.fullmatch(r"failed sms \+1 415-555-0199: sent \w{3} \d\d \w{3} \d\d:\d\d UTC "
                        r"webhook: refused: webhook answered 404: no_service", text), text
    services_of(app).calllog.close()


def test_a_call_without_an_alert_has_none_in_the_api(app, client, ops_auth):
    log(app).record("CA001", Started(to="+31205550100", caller="+31612345678"), utc("2026-12-01T10:00Z"))
    assert client.get("/ops/api/calls/CA001", headers=ops_auth).get_json()["alert"] is None


def deflected_calls(calls):
    """An expired customer's call, and an L2 call at the weekend, both deflected."""
    calls.record("CA301", Started(to="+31205550100", caller="+31612345678"), utc("2026-12-01T10:00Z"))
    calls.record("CA301", Entitlement(sen="SEN-2345678", customer="Globex", verdict="expired"), utc("2026-12-01T10:00:09Z"))
    calls.record("CA301", Deflected(reason="expired"), utc("2026-12-01T10:00:09Z"))
    calls.record("CA302", Started(to="+14155550100", caller="+14155551234"), utc("2026-12-05T10:00Z"))
    calls.record("CA302", Severity(severity=2), utc("2026-12-05T10:00:09Z"))
    calls.record("CA302", Deflected(reason="weekend"), utc("2026-12-05T10:00:09Z"))
    calls.record("CA302", Status(call_status="completed", duration=20), utc("2026-12-05T10:00:20Z"))


def test_the_reason_a_call_was_deflected_is_on_the_page_in_the_api_and_in_the_csv(app, client, ops_auth):
    deflected_calls(log(app))
    answered_call(log(app), sid="CA001", at=utc("2026-11-30T09:00Z"))
    page = parse_html(client.get("/ops/calls", headers=ops_auth).get_data(as_text=True))
    why = {row.find("td/a").get("href"): text_of(row.find("td[@data-label='Why']"))
           for row in page.iter("tr") if row.find("td/a") is not None}
    assert why == {"/ops/calls/CA302": "L2 is taken in the business week only: it was the weekend",
                   "/ops/calls/CA301": "maintenance expired", "/ops/calls/CA001": ""}
    api = client.get("/ops/api/calls", headers=ops_auth).get_json()["calls"]
    assert [(c["sid"], c["deflection"]) for c in api] == [
        ("CA302", "L2 is taken in the business week only: it was the weekend"), ("CA301", "maintenance expired"),
        ("CA001", None)]
    rows = list(csv.DictReader(io.StringIO(client.get("/ops/calls.csv", headers=ops_auth).get_data(as_text=True))))
    assert [r["deflection"] for r in rows] == [
        "L2 is taken in the business week only: it was the weekend", "maintenance expired", ""]


def test_phone_numbers_on_the_calls_page_never_wrap(app, client, ops_auth):
    log(app).record("CA900", Started(to="+15005550006", caller="+31612345678"), utc("2026-12-01T10:00Z"))
    page = client.get("/ops/calls", headers=ops_auth).get_data(as_text=True)
    assert ".tel { white-space: nowrap;" in page
    numbers = ["".join(span.itertext()) for span in parse_html(page).iter("span") if span.get("class") == "tel"]
    assert numbers == ["+1 500-555-0006", "+31 6 12345678"]


def test_the_call_page_tells_the_timeline_in_ops_words(app, client, ops_auth):
    answered_call(log(app), sid="CA001", at=utc("2026-12-01T09:00Z"))
    page = parse_html(client.get("/ops/calls/CA001", headers=ops_auth).get_data(as_text=True))
    table = next(e for e in page.iter("table") if e.get("id") == "timeline")
    lines = [[text_of(td) for td in tr.iter("td")] for tr in table.find("tbody").iter("tr")]
    assert lines == [
        ["09:00:00", "Call from +14155551234 (ACME) on the United States & Canada line"],
        ["09:00:01", "Caller ID recognised: an admin of Acme Corporation (SEN-1234567)"],
        ["09:00:01", "SEN-1234567 (Acme Corporation): entitled"],
        ["09:00:05", "The caller chose severity 1"],
        ["09:00:05", "Ringing San Francisco Priority Support, then Global Select Support, then the fallback (duty manager)"],
        ["09:00:12", "+14155550101 pressed 1 and took the call"],
        ["09:05:12", "San Francisco Priority Support: +14155550101 took the call; they talked 300 s"],
        ["09:05:13", "The call ended after 313 s"],
    ]


def test_the_week_shows_now_hour_ticks_and_each_row_s_times_in_words(tmp_path, ops_auth):
    app = make_app(tmp_path, CLOCK=lambda: utc("2026-12-01T09:00Z"))
    page = parse_html(app.test_client().get("/ops/week", headers=ops_auth).get_data(as_text=True))
    week = next(e for e in page.iter("section") if e.get("id") == "week")
    labels = [text_of(e) for e in week.iter("span") if e.get("class", "").startswith("label")]
    assert labels == ["Weekend", "Amsterdam Priority Support", "San Francisco Priority Support",
                      "Sydney Priority Support", "Global Select Support", "Handoff overlap", "Nobody on duty"]
    times = {label: text_of(p) for label, p in zip(labels, (p for p in week.iter("p") if p.get("class") == "times"),
                                                       strict=True)}
    assert times["Amsterdam Priority Support"].startswith("Tue 01 06:00-18:00 · Wed 02 06:00-18:00")
    assert times["Weekend"] == "Sat 05 01:00 - Sun 06 23:00"
    assert times["Global Select Support"] == "Tue 01 00:00 - Tue 08 00:00" and times["Nobody on duty"] == "none"
    # A line for now (09:00 of the first day: 9/168 of the way) in every bar, and six-hourly ticks.
    bars = [svg for svg in week.iter("svg") if svg.get("aria-label")]
    assert all([line.get("x1") for line in svg.iter("line") if line.get("class") == "now"] == ["5.357%"] for svg in bars)
    hours = next(svg for svg in week.iter("svg") if svg.get("class") == "hours")
    assert [text_of(t) for t in hours.iter("text")][:4] == ["06", "12", "18", "06"]
    # Labels never wrap (the browser test checks the drawn page).
    assert ".lanes .label { white-space: nowrap;" in app.test_client().get("/ops/week", headers=ops_auth).get_data(as_text=True)
    services_of(app).calllog.close()


def test_the_week_says_where_calls_go_when_nobody_is_on_duty(tmp_path, ops_auth):
    without_select = without_tables(SAMPLE.read_text(), "teams.select")
    notes = {}
    for name, text in (("with", without_select), ("without", without_tables(without_select, "fallback"))):
        book = tmp_path / f"{name}.toml"
        book.write_text(text)
        app = make_app(tmp_path / name, book, CLOCK=lambda: utc("2026-12-01T09:00Z"))
        page = parse_html(app.test_client().get("/ops/week", headers=ops_auth).get_data(as_text=True))
        notes[name] = text_of(next(e for e in page.iter("p") if e.get("id") == "week-note"))
        services_of(app).calllog.close()
    assert notes["with"].endswith("When nobody is on duty, calls go to the fallback (duty manager) +14155550142, then voicemail.")
    assert notes["without"].endswith("When nobody is on duty, calls go to voicemail.")
