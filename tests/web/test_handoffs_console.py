"""The console's Handoffs page: the last and next two days' handoffs, each with its digest, built
from calls placed with the simulator."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from conftest import OPS_PASSWORD, SAMPLE, TWILIO_ACCOUNT, TWILIO_TOKEN, FakeClock, make_app, utc

from ivr.cli import simulate
from ivr.web.services import services_of

US_LINE = "+14155550100"
ACME_ADMIN = "+14155551234"
SF_FIRST = "+14155550101"
AFTERNOON = utc("2026-12-01T16:00:00Z")  # Amsterdam and San Francisco on duty
HANDOFF = utc("2026-12-01T18:00:00Z")  # Amsterdam goes off, San Francisco takes over
DIGEST = "/ops/handoffs/san_francisco/1796148000"


@pytest.fixture
def clock():
    return FakeClock(AFTERNOON)


def signed_in(app):
    client = app.test_client()
    assert client.post("/ops/login", data={"password": OPS_PASSWORD}).status_code == 302
    return client


def cells(page: str, table: str) -> list[list[str]]:
    """The text of each row's cells in table `table`."""
    body = re.search(rf'<table class="stack" id="{table}">.*?<tbody>(.*?)</tbody>', page, re.S)[1]
    return [[re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_page_lists_past_and_upcoming_handoffs_and_each_digest_has_the_shifts_calls(tmp_path, clock):
    app = make_app(tmp_path, SAMPLE, CLOCK=clock)
    phone = simulate.Simulator(simulate.InProcess(app), TWILIO_TOKEN, TWILIO_ACCOUNT)
    phone.call(US_LINE, ACME_ADMIN, ["1"], [])  # nobody takes it: a voicemail, callback 1
    clock.now = AFTERNOON + timedelta(minutes=20)
    phone.call(US_LINE, ACME_ADMIN, ["1"], [SF_FIRST])  # San Francisco takes it: callback 1 closed
    clock.now = AFTERNOON + timedelta(minutes=40)
    phone.call(US_LINE, ACME_ADMIN, ["1"], [])  # missed again: callback 2, due 17:40
    clock.now = HANDOFF + timedelta(seconds=30)
    # The digests of the last 12 hours' handoffs go to the sample's example addresses, which refuse them.
    services_of(app).alerts.sweep(clock.now)
    assert services_of(app).alerts.drain(10)
    browser = signed_in(app)

    page = browser.get("/ops/handoffs").get_data(as_text=True)
    assert '<a href="/ops/handoffs" class="here">Handoffs</a>' in page
    assert 'id="digests-off"' not in page  # on by default
    past, upcoming = page.split("<h2>Past</h2>")[1], page.split("<h2>Past</h2>")[0]
    assert past.index("Tue 01 Dec 18:00 UTC") < past.index("Tue 01 Dec 08:00 UTC")  # newest first
    assert re.search(rf'<a href="{DIGEST}">digest</a>\s*<span class="muted">retrying</span>', past)
    # Beyond the look-back: the 03:00 handoff's digest was due before the service (this test) began.
    assert re.search(r'<a href="/ops/handoffs/sydney/1796094000">digest</a>\s*<span class="muted">not scheduled</span>',
                     past)
    assert "Wed 02 Dec 03:00 UTC" in upcoming and '<a href="/ops/handoffs/sydney/1796180400">so far</a>' in upcoming

    digest = browser.get(DIGEST).get_data(as_text=True)
    assert "Handoff Tue 01 Dec 18:00 UTC: to San Francisco Priority Support" in digest
    assert "From Amsterdam Priority Support;" in digest and "began Tue 01 Dec 08:00 UTC" in digest
    assert cells(digest, "digest-callbacks") == [
        ["Tue 01 Dec 17:40 UTC", "Acme Corporation", "SEN-1234567", "+1 415-555-1234", "#2"]]
    calls = cells(digest, "digest-calls")
    assert [row[0] for row in calls] == ["Tue 01 Dec 16:00 UTC", "Tue 01 Dec 16:20 UTC", "Tue 01 Dec 16:40 UTC"]
    assert calls[0][3] == "missed (voicemail), voicemail; callback #1 closed"
    assert re.fullmatch(r"answered by San Francisco Priority Support, \d+ min \d+ s", calls[1][3])
    assert calls[2][3] == "missed (voicemail), voicemail; callback #2 overdue"


def test_a_digest_of_no_handoff_is_a_404(tmp_path, clock):
    browser = signed_in(make_app(tmp_path, SAMPLE, CLOCK=clock))
    assert browser.get("/ops/handoffs/san_francisco/1796148001").status_code == 404  # a second late
    assert browser.get("/ops/handoffs/sydney/1796148000").status_code == 404  # not Sydney's
    assert browser.get("/ops/handoffs/san_francisco/99999999999999").status_code == 404
    unsigned = make_app(tmp_path / "other", SAMPLE, CLOCK=clock).test_client()
    basic = base64.b64encode(b"ops:wrong").decode()
    assert unsigned.get(DIGEST, headers={"Authorization": f"Basic {basic}"}).status_code in (302, 401)


def test_the_api_lists_the_handoffs_with_each_digests_delivery_and_gives_a_digests_contents(tmp_path, clock,
                                                                                             ops_auth):
    app = make_app(tmp_path, SAMPLE, CLOCK=clock)
    phone = simulate.Simulator(simulate.InProcess(app), TWILIO_TOKEN, TWILIO_ACCOUNT)
    phone.call(US_LINE, ACME_ADMIN, ["1"], [])  # 16:00, a voicemail: callback 1
    clock.now = AFTERNOON + timedelta(minutes=20)
    phone.call(US_LINE, ACME_ADMIN, ["1"], [SF_FIRST])  # answered: callback 1 closed
    clock.now = AFTERNOON + timedelta(minutes=40)
    phone.call(US_LINE, ACME_ADMIN, ["1"], [])  # 16:40, missed again: callback 2
    clock.now = HANDOFF + timedelta(seconds=30)
    services_of(app).alerts.sweep(clock.now)
    assert services_of(app).alerts.drain(10)
    client = app.test_client()

    listed = client.get("/ops/api/handoffs", headers=ops_auth).get_json()
    assert (listed["at"], listed["since"], listed["until"], listed["digests_enabled"]) == (
        "2026-12-01T18:00:30Z", "2026-11-29T18:00:30Z", "2026-12-03T18:00:30Z", True)
    by_instant = {h["at"]: h for h in listed["handoffs"]}
    assert list(by_instant) == sorted(by_instant)  # oldest first
    handoff = by_instant["2026-12-01T18:00:00Z"]
    assert {k: handoff[k] for k in ("since", "outgoing", "incoming")} == {
        "since": "2026-12-01T08:00:00Z", "outgoing": ["amsterdam"], "incoming": ["san_francisco"]}
    [digest] = handoff["digests"]
    assert (digest["team"], digest["key"], digest["url"], digest["page"]) == (
        "san_francisco", "digest:san_francisco:1796148000", f"/ops/api{DIGEST[4:]}", DIGEST)
    # The sample's example destinations refuse it: retried, as the page says.
    assert digest["delivery"]["state"] == "retrying"
    assert by_instant["2026-12-02T03:00:00Z"]["digests"][0]["delivery"] is None  # still ahead
    window = client.get("/ops/api/handoffs?since=2026-12-01T07:00:00Z&until=2026-12-01T18:00:00Z",
                        headers=ops_auth).get_json()
    assert [h["at"] for h in window["handoffs"]] == ["2026-12-01T08:00:00Z", "2026-12-01T18:00:00Z"]

    full = client.get(digest["url"], headers=ops_auth).get_json()
    assert (full["team"], full["as_at"], full["counts"]) == (
        "san_francisco", "2026-12-01T18:00:00Z", {"open_callbacks": 1, "answered": 1, "missed": 2, "in_progress": 0})
    assert [(c["id"], c["state"], c["due_at"]) for c in full["callbacks"]] == [(2, "overdue", "2026-12-01T17:40:00Z")]
    calls = [(c["started_at"], c["outcome"], c["team"], c["callback"]) for c in full["calls"]]
    assert calls == [
        ("2026-12-01T16:00:00Z", "voicemail", None, {"id": 1, "state": "closed"}),
        ("2026-12-01T16:20:00Z", "answered", "san_francisco", None),
        ("2026-12-01T16:40:00Z", "voicemail", None, {"id": 2, "state": "overdue"}),
    ]
    assert full["delivery"]["state"] == "retrying"
    # The page shows the same digest.
    page = signed_in(app).get(digest["page"]).get_data(as_text=True)
    assert [row[0] for row in cells(page, "digest-calls")] == [
        "Tue 01 Dec 16:00 UTC", "Tue 01 Dec 16:20 UTC", "Tue 01 Dec 16:40 UTC"]


def test_the_handoffs_api_needs_the_password_and_says_what_is_wrong(tmp_path, clock, ops_auth):
    client = make_app(tmp_path, SAMPLE, CLOCK=clock).test_client()
    assert client.get("/ops/api/handoffs").status_code == 401
    assert client.get("/ops/api/handoffs/san_francisco/1796148000").status_code == 401
    assert client.get("/ops/api/handoffs/sydney/1796148000", headers=ops_auth).get_json() == {
        "error": "No handoff to sydney at that instant in the phonebook in force."}
    for query in ("since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z",
                  "since=2026-11-01T00:00:00Z&until=2026-12-01T00:00:00Z"):
        reply = client.get(f"/ops/api/handoffs?{query}", headers=ops_auth)
        assert (reply.status_code, reply.get_json()) == (400, {"error": "until must be after since, by at most 14 days"})
    reply = client.get("/ops/api/handoffs?since=yesterday", headers=ops_auth)
    assert reply.status_code == 400 and "since must be an instant" in reply.get_json()["error"]
