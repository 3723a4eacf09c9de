"""A slow licensing API never queues Twilio's webhooks past its 15 s: the Procfile's gunicorn (sync
workers) with 30 callers at once, each recognised by caller ID through the licensing API, while
the API answers slowly, trickles its replies or never answers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from slow_http import slow_server
from test_gunicorn import _signed_call, dated_sample, gunicorn

# Real processes read the real clock: the suite's shifted-clock run leaves these out.
pytestmark = pytest.mark.process

CALLERS = 30
# Twilio gives up at 15 s; every webhook must answer well before, on a loaded machine too.
LIMIT_SECONDS = 8.0


def _timed_call(base: str, number: int) -> tuple[int, float]:
    start = time.monotonic()
    reply = _signed_call(base, number)
    return reply.status_code, time.monotonic() - start


@pytest.mark.parametrize(("mode", "delay"), [("slow", 1.8), ("trickle", 0), ("silent", 0)])
def test_thirty_callers_at_once_are_all_answered_well_within_twilios_wait_whatever_the_api_does(
        tmp_path, mode, delay):
    with slow_server() as api:
        api.mode, api.delay, api.gap = mode, delay, 0.2
        book = dated_sample(tmp_path)
        book.write_text(
            book.read_text(encoding="utf-8")
            + f'\n[entitlements]\nurl = "{api.base}/sen/{{sen}}"\ntimeout_seconds = 2\nadmin_lookup = true\n',
            encoding="utf-8",
        )
        with gunicorn(tmp_path, book) as server, ThreadPoolExecutor(CALLERS) as pool:
            replies = list(pool.map(lambda n: _timed_call(server.base, n), range(CALLERS)))
    statuses = [status for status, _ in replies]
    slowest = max(seconds for _, seconds in replies)
    print(f"{mode}: {CALLERS} callers at once, slowest webhook {slowest:.2f} s, API asked {len(api.hits)} times")
    assert statuses == [200] * CALLERS
    assert slowest < LIMIT_SECONDS
    # The API was asked, then spared: the breaker or the budget answered the rest at once.
    assert 0 < len(api.hits) < CALLERS
