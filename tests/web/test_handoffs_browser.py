"""The Handoffs page in a real headless browser: calls placed through the simulator before a pinned
handoff, the handoff listed with its digest's delivery, and the digest with the callback and the calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import SAMPLE, TWILIO_ACCOUNT, TWILIO_TOKEN, FakeClock, make_app, utc
from real_browser import ARTIFACTS, chromium, serving, signed_in

from ivr.cli import simulate
from ivr.web.services import services_of

# A real browser process: the suite's shifted-clock run leaves it out (the pages it drives are pinned).
pytestmark = pytest.mark.process

US_LINE = "+14155550100"
ACME_ADMIN = "+14155551234"
SF_FIRST = "+14155550101"
AFTERNOON = utc("2026-12-01T16:00:00Z")  # Amsterdam and San Francisco on duty
HANDOFF = utc("2026-12-01T18:00:00Z")  # Amsterdam goes off, San Francisco takes over


@pytest.fixture
def served(tmp_path):
    """The console on a real socket half a minute after the 18:00 handoff, Amsterdam's afternoon
    behind it: Acme's voicemail at 16:00, its call San Francisco took at 16:20 (which closed that
    callback), and its voicemail at 16:40 (a callback due 17:40), each placed through the simulator."""
    clock = FakeClock(AFTERNOON)
    app = make_app(tmp_path, SAMPLE, CLOCK=clock)
    phone = simulate.Simulator(simulate.InProcess(app), TWILIO_TOKEN, TWILIO_ACCOUNT)
    for minutes, answer in ((0, []), (20, [SF_FIRST]), (40, [])):
        clock.now = AFTERNOON + timedelta(minutes=minutes)
        phone.call(US_LINE, ACME_ADMIN, ["1"], answer)
    clock.now = HANDOFF + timedelta(seconds=30)
    # The digest is tried now: the sample's example destinations refuse it, and it is retried.
    alerts = services_of(app).alerts
    alerts.sweep(clock.now)
    assert alerts.drain(10)
    with serving(app) as url:
        yield url


def test_the_handoffs_page_lists_the_handoff_and_its_digest_shows_the_callback_and_the_calls(served):
    with chromium() as browser:
        page = signed_in(browser, served, viewport={"width": 1280, "height": 800})
        page.click("header nav >> text=Handoffs")
        page.wait_for_url(f"{served}/ops/handoffs")
        row = page.locator("tr", has_text="Tue 01 Dec 18:00 UTC")
        assert row.count() == 1
        assert row.locator("td[data-label=From]").inner_text() == "Amsterdam Priority Support"
        assert row.locator("td[data-label=To]").inner_text() == "San Francisco Priority Support"
        assert row.locator("td[data-label=Digest] .muted").inner_text() == "retrying"
        page.screenshot(path=str(ARTIFACTS / "ops-handoffs.png"), full_page=True)

        row.locator("a", has_text="digest").click()
        page.wait_for_url(f"{served}/ops/handoffs/san_francisco/1796148000")
        assert page.inner_text("h1") == "Handoff Tue 01 Dec 18:00 UTC: to San Francisco Priority Support"
        assert page.inner_text("#as-at").startswith("As at the handoff:")
        callbacks = page.locator("#digest-callbacks tbody tr")
        assert callbacks.count() == 1
        assert callbacks.locator("td[data-label=Due]").inner_text() == "Tue 01 Dec 17:40 UTC"
        assert callbacks.locator("a").inner_text() == "#2"
        went = page.locator("#digest-calls tbody td[data-label='How it went']").all_inner_texts()
        assert went[0] == "missed (voicemail), voicemail; callback #1 closed"
        assert went[1].startswith("answered by San Francisco Priority Support, ")
        assert went[2] == "missed (voicemail), voicemail; callback #2 overdue"
        page.screenshot(path=str(ARTIFACTS / "ops-digest.png"), full_page=True)

        # The digest's callback opens its history.
        callbacks.locator("a").click()
        page.wait_for_url(f"{served}/ops/callbacks/2")

        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.context.add_cookies(page.context.cookies())
        for path in ("/ops/handoffs", "/ops/handoffs/san_francisco/1796148000"):
            phone.goto(f"{served}{path}")
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
