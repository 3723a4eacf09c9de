"""A real headless Chromium for the console's browser tests, and the app on a real socket for it to
open; screenshots go to test-artifacts/. A test module that imports this is skipped without a browser."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import OPS_PASSWORD, ROOT
from serving import serving as in_a_thread
from werkzeug.serving import make_server

from ivr.web.services import services_of

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
    pytest.skip(f"no browser: {CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


@contextmanager
def serving(app) -> Iterator[str]:
    """The app on a real socket: its base URL. Its call log is closed afterwards."""
    try:
        with in_a_thread(make_server("127.0.0.1", 0, app, threaded=True)) as server:
            yield f"http://127.0.0.1:{server.server_port}"
    finally:
        services_of(app).calllog.close()


@contextmanager
def chromium():
    """A headless Chromium (`playwright`'s Browser), closed afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def signed_in(browser, url, **page_options):
    """A new page of `browser`, signed in to the console at `url`, on the Now page."""
    page = browser.new_page(**page_options)
    page.goto(f"{url}/ops/login")
    page.fill("#password", OPS_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/ops/")
    return page
