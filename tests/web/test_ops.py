"""The ops console: password-protected pages and API over the call log, the rota and the numbers."""

from __future__ import annotations

import base64
import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import time_machine
from conftest import OPS_PASSWORD, SAMPLE, answered_call, make_app, utc

from ivr.engine.events import Deflected, Recognised, Started
from ivr.web.services import services_of

PAGES = ["/ops/", "/ops/calls", "/ops/calls/CA001", "/ops/week", "/ops/numbers", "/ops/calls.csv", "/ops/callbacks",
         "/ops/callbacks/1"]
API = ["/ops/api/calls", "/ops/api/calls/CA001", "/ops/api/now", "/metrics", "/ops/api/callbacks",
       "/ops/api/callbacks/1"]


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
    assert (rows[0]["sen"], rows[0]["customer"], rows[0]["from"]) == ("'-2+3", "'@SUM(A1:A9)", "'+14155551234")
    assert (rows[1]["customer"], rows[1]["outcome"], rows[1]["answer_seconds"]) == (
        "Acme Corporation", "answered", "12.0")


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
    assert "San Francisco Priority Support after 12 s" in timeline and "screened" in timeline


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
    assert 'ivr_alert_failures_total{channel="sms"} 0.0' in text
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
