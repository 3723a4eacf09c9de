"""Closing a callback by hand in a real headless browser: from the Now page and the nav to the history."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import OPS_PASSWORD, ROOT, make_app, missed_call, utc
from serving import serving
from werkzeug.serving import make_server

from ivr.web.services import services_of

# A real browser process: the suite's shifted-clock run leaves it out (the pages it drives are pinned).
pytestmark = pytest.mark.process

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
    pytest.skip(f"no browser: {CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def served(tmp_path):
    """The console on a real socket at 10:30, owing Acme a callback due at 10:00 (a missed call at 09:00)."""
    app = make_app(tmp_path, CLOCK=lambda: utc("2026-12-01T10:30Z"))
    calls = services_of(app).calllog
    missed_call(calls, "CA0001", at=utc("2026-12-01T09:00Z"))
    with serving(make_server("127.0.0.1", 0, app, threaded=True)) as server:
        yield f"http://127.0.0.1:{server.server_port}"
    calls.close()


def test_an_overdue_callback_is_red_and_closed_by_hand_with_a_note(served):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{served}/ops/")
            page.fill("#password", OPS_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{served}/ops/")
            # The Now page lists it first, in red.
            owed = page.locator("#wrong #callbacks tbody tr strong.error")
            assert owed.inner_text() == "overdue by 30 min"
            assert owed.evaluate("e => getComputedStyle(e).color") == "rgb(179, 38, 30)"
            page.click("header nav >> text=Callbacks")
            page.wait_for_url(f"{served}/ops/callbacks")
            row = page.locator("#callbacks tbody tr")
            assert row.count() == 1
            late = row.locator("strong.error")
            assert late.inner_text() == "overdue by 30 min"
            assert late.evaluate("e => getComputedStyle(e).color") == "rgb(179, 38, 30)"  # --bad
            page.screenshot(path=str(ARTIFACTS / "ops-callbacks.png"), full_page=True)

            row.locator("a", has_text="#1").click()
            page.wait_for_url(f"{served}/ops/callbacks/1")
            page.fill("#close input[name=note]", "reached by e-mail, ticket PS-42")
            page.click("#close button[type=submit]")
            page.wait_for_url(f"{served}/ops/callbacks/1")
            assert page.inner_text("#state") == "closed"
            assert page.locator("#close").count() == 0
            last = page.locator("#history tbody tr").last.inner_text()
            assert "closed" in last and "ops" in last and "reached by e-mail, ticket PS-42" in last
            page.screenshot(path=str(ARTIFACTS / "ops-callback.png"), full_page=True)

            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            phone.context.add_cookies(page.context.cookies())
            # The call page too, its callback's history inline, and its alert's long error wrapped.
            for path in ("/ops/callbacks?state=all", "/ops/callbacks/1", "/ops/calls/CA0001"):
                phone.goto(f"{served}{path}")
                assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
        finally:
            browser.close()
