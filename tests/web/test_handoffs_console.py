"""The console's Handoffs page: the last and next two days' handoffs, each with its digest, built
from calls placed with the simulator."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from conftest import OPS_PASSWORD, SAMPLE, TWILIO_ACCOUNT, TWILIO_TOKEN, FakeClock, make_app, utc

from ivr.cli import simulate

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
    browser = signed_in(app)

    page = browser.get("/ops/handoffs").get_data(as_text=True)
    assert '<a href="/ops/handoffs" class="here">Handoffs</a>' in page
    assert 'id="digests-off"' in page  # the sample has no [digests]: the page shows them all the same
    past, upcoming = page.split("<h2>Past</h2>")[1], page.split("<h2>Past</h2>")[0]
    assert past.index("Tue 01 Dec 18:00 UTC") < past.index("Tue 01 Dec 08:00 UTC")  # newest first
    assert f'<a href="{DIGEST}">digest</a>' in past and "not scheduled" in past
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
