"""The ops console in a real headless browser: sign in, open a call, filter; screenshots kept."""

from __future__ import annotations

import pytest
import responses
from conftest import OPS_PASSWORD, TWILIO_ACCOUNT, answered_call, make_app, utc, voicemail_call
from real_browser import ARTIFACTS, chromium, serving, signed_in

from ivr.engine.events import Deflected, Entitlement, Started
from ivr.web.services import services_of

# A real browser process: the suite's shifted-clock run leaves it out (the pages it drives are pinned).
pytestmark = pytest.mark.process


@pytest.fixture
def served(tmp_path):
    """The console on a real socket, with two calls on record, at a pinned instant."""
    app = make_app(tmp_path, CLOCK=lambda: utc("2026-12-01T10:30Z"))
    calls = services_of(app).calllog
    answered_call(calls, sid="CA0001", at=utc("2026-12-01T09:00Z"))
    calls.record("CA0002", Started(to="+31205550100", caller="+31612345678", caller_name="<script>alert(1)</script>"), utc("2026-12-01T10:00Z"))
    calls.record("CA0002", Entitlement(sen="SEN-2345678", customer="Globex", verdict="expired"), utc("2026-12-01T10:00:09Z"))
    calls.record("CA0002", Deflected(reason="expired"), utc("2026-12-01T10:00:09Z"))
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def module_chromium():
    """One headless chromium for the module's tests: starting one is the slow part of a browser test."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def browser(module_chromium):
    """The module's chromium; the pages a test opens close after it."""
    yield module_chromium
    for context in module_chromium.contexts:
        context.close()


def test_sign_in_open_a_call_and_filter_in_a_real_browser(served, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{served}/ops/calls")
    assert page.url.startswith(f"{served}/ops/login")
    page.fill("#password", "not it")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Wrong password."
    page.fill("#password", OPS_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{served}/ops/calls")
    rows = page.locator("#calls tbody tr")
    assert rows.count() == 2
    # The hostile caller name is text on the page, never a running script.
    assert "<script>alert(1)</script>" in rows.nth(0).inner_text()
    page.screenshot(path=str(ARTIFACTS / "ops-calls.png"), full_page=True)

    rows.nth(1).locator("a").first.click()
    page.wait_for_url(f"{served}/ops/calls/CA0001")
    assert "San Francisco Priority Support after 12 s" in page.inner_text("dl.facts")
    assert page.locator("#timeline tbody tr").count() == 8
    page.screenshot(path=str(ARTIFACTS / "ops-call.png"), full_page=True)

    page.goto(f"{served}/ops/calls")
    page.select_option("select[name=outcome]", "deflected")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/ops/calls?outcome=deflected*")
    assert page.locator("#calls tbody tr").count() == 1
    assert "Globex" in page.locator("#calls tbody tr").inner_text()

    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.context.add_cookies(page.context.cookies())
    # Every page fits a phone's width: nothing scrolls sideways.
    for name, path in [("now", "/ops/"), ("calls", "/ops/calls"), ("call", "/ops/calls/CA0001"),
                       ("week", "/ops/week"), ("numbers", "/ops/numbers"), ("public-numbers", "/numbers")]:
        phone.goto(f"{served}{path}")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
        phone.screenshot(path=str(ARTIFACTS / f"ops-{name}-phone.png"), full_page=True)
    assert dialogs == []


def test_the_now_page_refreshes_itself_and_shows_a_missed_call_that_came_in(tmp_path, browser):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as ops:
        # Ops' destinations take every alert: the digests of the 03:00 and 08:00 handoffs, sent (by this
        # sweep or the app's first) before the page is read.
        ops.post(f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json", status=201,
                 json={"sid": "SM1", "status": "queued"})
        ops.post("https://hooks.example.com/services/T000/B000/priority-support", body="ok")
        app = make_app(tmp_path, CLOCK=lambda: utc("2026-12-01T10:30Z"), OPS_REFRESH_SECONDS=1)
        services_of(app).alerts.sweep(utc("2026-12-01T10:30Z"))
        assert services_of(app).alerts.drain(10)
        with serving(app) as url:
            page = signed_in(browser, url, viewport={"width": 1280, "height": 800})
            assert page.locator("#all-well").is_visible() and page.locator("#missed").count() == 0
            voicemail_call(services_of(app).calllog, "CA0003", utc("2026-12-01T10:10Z"))
            # No click: the page reloads itself and the call is there.
            page.wait_for_selector("#missed", timeout=20_000)
            assert "voicemail" in page.locator("#missed tbody tr").inner_text()
            page.screenshot(path=str(ARTIFACTS / "ops-now-missed.png"), full_page=True)


def test_on_a_phone_the_now_page_shows_the_numbers_to_ring_as_tappable_links(served, browser):
    phone = signed_in(browser, served, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    links = phone.locator("#on-duty a[href^='tel:']")
    assert links.count() == 5  # Amsterdam's two, Select's two, the fallback's one
    for n in range(links.count()):
        link = links.nth(n)
        box = link.bounding_box()
        assert link.is_visible() and box is not None
        # Inside the screen, on one line, and tall enough to tap.
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and 18 <= box["height"] < 40, box
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(ARTIFACTS / "ops-now-phone-numbers.png"), full_page=True)


def test_week_labels_stay_on_one_line(served, browser):
    page = signed_in(browser, served, viewport={"width": 1280, "height": 800})
    page.goto(f"{served}/ops/week")
    heights = page.eval_on_selector_all(".lanes .label", "labels => labels.map(l => l.getBoundingClientRect().height)")
    line = page.eval_on_selector(".lanes .label", "l => parseFloat(getComputedStyle(l).lineHeight)")
    assert len(heights) == 7 and max(heights) < 1.5 * line
    page.screenshot(path=str(ARTIFACTS / "ops-week.png"), full_page=True)
