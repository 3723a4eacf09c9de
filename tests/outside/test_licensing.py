"""Entitlement sources outside the phonebook: a CSV file, a licensing service; failures fail open."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import date
from pathlib import Path

import pytest
import requests
import responses
from conftest import SAMPLE, utc
from slow_http import SlowServer, slow_server

from ivr.engine.entitlement import Failure, PhonebookSource, SourceUnavailable, Verdict, check, recognise
from ivr.engine.phonebook_loader import load_phonebook
from ivr.outside.licensing import (
    FAILURE_WINDOW_SECONDS,
    Breaker,
    FileSource,
    Sources,
    UrlSource,
    WaitBudget,
    admin_url,
)

URL = "https://licensing.example.com/sen/{sen}"
ACME = {
    "sen": "SEN-1234567",
    "name": "Acme Corporation",
    "tier": "priority",
    "maintenance_until": "2027-06-30",
    "admins": ["+14155551234", "+61491570156"],
}
GLOBEX = {
    "sen": "SEN-2345678",
    "name": "Globex",
    "tier": "premier",
    "maintenance_until": "2026-03-31",
    "admins": ["+31612345678"],
}
CSV = """sen,name,tier,maintenance_until,admins
SEN-1234567,Acme Corporation,priority,2027-06-30,+14155551234 +61491570156
SEN-2345678,Globex,premier,2026-03-31,+31612345678
SEN-3456789,Initech,select,2027-12-31,+14155559876
SEN-4567890,Acme Europe,priority,2027-06-30,+61491570156
"""


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def url_source(**options) -> UrlSource:
    options.setdefault("clock", Clock())
    return UrlSource(URL, **options)


# --- the licensing service ----------------------------------------------------------------


@responses.activate
def test_a_200_record_is_the_customer_and_decides_the_verdict():
    responses.get("https://licensing.example.com/sen/1234567", json=ACME)
    source = url_source()
    result = check(source, "1234567", utc("2026-12-01T09:00Z"))
    assert result.verdict is Verdict.OK
    assert result.customer.name == "Acme Corporation"
    assert result.customer.maintenance_until == date(2027, 6, 30)
    assert result.customer.admins == ("+14155551234", "+61491570156")


@responses.activate
def test_a_404_is_an_unknown_sen_not_a_failure():
    responses.get("https://licensing.example.com/sen/7654321", status=404)
    source = url_source()
    assert check(source, "SEN-7654321", utc("2026-12-01T09:00Z")).verdict is Verdict.UNKNOWN
    assert sum(source.stats.snapshot()["failures"].values()) == 0


@responses.activate
def test_maintenance_from_the_service_is_valid_until_noon_utc_the_next_day():
    responses.get("https://licensing.example.com/sen/2345678", json=GLOBEX)
    source = url_source()
    assert check(source, "2345678", utc("2026-04-01T11:59Z")).verdict is Verdict.OK
    assert check(source, "2345678", utc("2026-04-01T12:00Z")).verdict is Verdict.EXPIRED


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ({"status": 500}, Failure.STATUS),
        ({"status": 503, "body": "maintenance"}, Failure.STATUS),
        ({"status": 401, "json": {"error": "bad token"}}, Failure.STATUS),
        ({"body": requests.exceptions.ReadTimeout("read timed out")}, Failure.TIMEOUT),
        ({"body": requests.exceptions.ConnectTimeout("connect timed out")}, Failure.TIMEOUT),
        ({"body": requests.exceptions.ConnectionError("connection refused")}, Failure.CONNECTION),
        ({"body": "<html>oops</html>"}, Failure.MALFORMED),
        ({"json": ["SEN-1234567"]}, Failure.MALFORMED),
        ({"json": {**ACME, "tier": "gold"}}, Failure.MALFORMED),
        ({"json": {**ACME, "maintenance_until": "30/06/2027"}}, Failure.MALFORMED),
        ({"json": {key: value for key, value in ACME.items() if key != "name"}}, Failure.MALFORMED),
        ({"json": GLOBEX}, Failure.MALFORMED),
    ],
    ids=[
        "500", "503", "401", "read-timeout", "connect-timeout", "connection-refused",
        "not-json", "not-an-object", "bad-tier", "bad-date", "missing-name", "another-sen",
    ],
)
def test_a_service_failure_is_unverified_counted_and_logged_never_unknown(reply, reason, caplog):
    source = url_source()
    with responses.RequestsMock() as mock:
        mock.get("https://licensing.example.com/sen/1234567", **reply)
        with pytest.raises(SourceUnavailable) as failure:
            source.by_sen("1234567")
        assert failure.value.reason is reason
        assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
    assert source.stats.snapshot()["failures"][reason.value] == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and reason.value in r.getMessage()]
    assert len(warnings) == 2
    # The logger operators filter on (README), whatever module the sources live in.
    assert {r.name for r in warnings} == {"ivr.entitlements"}


def test_a_lookup_gives_up_at_the_deadline_even_when_the_server_keeps_the_connection():
    release = threading.Event()

    def stalled(request):
        release.wait(10)
        return 200, {}, json.dumps(ACME)

    source = url_source(timeout_seconds=0.2)
    # The abandoned request completes on its worker after the test has its answer.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, "https://licensing.example.com/sen/1234567", callback=stalled)
        try:
            with pytest.raises(SourceUnavailable) as failure:
                source.by_sen("1234567")
        finally:
            release.set()
    assert failure.value.reason is Failure.TIMEOUT
    assert source.stats.snapshot()["failures"][Failure.TIMEOUT] == 1


def test_a_slow_answer_within_the_timeout_is_used():
    def slow(request):
        time.sleep(0.3)
        return 200, {}, json.dumps(ACME)

    source = url_source(timeout_seconds=2)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, "https://licensing.example.com/sen/1234567", callback=slow)
        assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.OK
    assert sum(source.stats.snapshot()["failures"].values()) == 0


@responses.activate
def test_answers_are_cached_for_cache_seconds_including_unknown_sens():
    found = responses.get("https://licensing.example.com/sen/1234567", json=ACME)
    unknown = responses.get("https://licensing.example.com/sen/7654321", status=404)
    clock = Clock()
    source = url_source(cache_seconds=300, clock=clock)
    for _ in range(3):
        assert source.by_sen("SEN-1234567").name == "Acme Corporation"
        assert source.by_sen("7654321") is None
    assert (found.call_count, unknown.call_count) == (1, 1)
    assert source.stats.snapshot()["cache_hits"] == 4

    clock.now += 299.9
    source.by_sen("1234567")
    assert found.call_count == 1
    clock.now += 0.1
    source.by_sen("1234567")
    assert found.call_count == 2


@responses.activate
def test_a_failure_is_not_cached_so_the_next_call_tries_again():
    responses.get("https://licensing.example.com/sen/1234567", status=502)
    responses.get("https://licensing.example.com/sen/1234567", json=ACME)
    source = url_source()
    assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
    assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.OK


@responses.activate
def test_cache_seconds_zero_asks_every_time():
    reply = responses.get("https://licensing.example.com/sen/1234567", json=ACME)
    source = url_source(cache_seconds=0)
    source.by_sen("1234567")
    source.by_sen("1234567")
    assert reply.call_count == 2


@responses.activate
def test_the_bearer_token_is_sent_when_configured():
    reply = responses.get(
        "https://licensing.example.com/sen/1234567",
        json=ACME,
        match=[responses.matchers.header_matcher({"Authorization": "Bearer s3cret"})],
    )
    url_source(token="s3cret").by_sen("1234567")
    assert reply.call_count == 1


@responses.activate
def test_no_authorization_header_without_a_token():
    responses.get("https://licensing.example.com/sen/1234567", json=ACME)
    url_source().by_sen("1234567")
    assert "Authorization" not in responses.calls[0].request.headers


def test_the_admin_lookup_address_is_the_sen_address_without_its_sen_segment():
    assert admin_url("https://licensing.example.com/sen/{sen}") == "https://licensing.example.com/sen"
    assert admin_url("https://lic.example.com/v2/SEN-{sen}/support") == "https://lic.example.com/v2"
    assert admin_url("https://lic.example.com/sen/{sen}?key=abc") == "https://lic.example.com/sen?key=abc"


@responses.activate
def test_the_admin_lookup_keeps_the_query_of_the_sen_address():
    reply = responses.get(
        "https://licensing.example.com/sen",
        json=[ACME],
        match=[responses.matchers.query_param_matcher({"key": "abc", "admin": "+14155551234"})],
    )
    source = UrlSource("https://licensing.example.com/sen/{sen}?key=abc", admin_lookup=True, clock=Clock())
    assert recognise(source, "+14155551234").name == "Acme Corporation"
    assert reply.call_count == 1


@responses.activate
def test_caller_id_recognition_asks_the_service_by_admin_number():
    reply = responses.get(
        "https://licensing.example.com/sen",
        json=[ACME],
        match=[responses.matchers.query_param_matcher({"admin": "+14155551234"})],
    )
    source = url_source(admin_lookup=True)
    assert recognise(source, "+14155551234").name == "Acme Corporation"
    assert recognise(source, "+14155551234").name == "Acme Corporation"
    assert reply.call_count == 1


@responses.activate
def test_customers_found_by_admin_number_are_cached_by_sen_too():
    responses.get("https://licensing.example.com/sen?admin=%2B14155551234", json=[ACME])
    source = url_source(admin_lookup=True)
    recognise(source, "+14155551234")
    assert source.by_sen("1234567").name == "Acme Corporation"
    assert len(responses.calls) == 1


@responses.activate
def test_an_admin_of_several_customers_or_none_is_not_recognised():
    responses.get("https://licensing.example.com/sen?admin=%2B61491570156", json=[ACME, {**ACME, "sen": "SEN-4567890"}])
    responses.get("https://licensing.example.com/sen?admin=%2B14155550199", json=[])
    responses.get("https://licensing.example.com/sen?admin=%2B14155550198", status=404)
    source = url_source(admin_lookup=True)
    assert len(source.by_admin("+61491570156")) == 2
    assert recognise(source, "+61491570156") is None
    assert recognise(source, "+14155550199") is None
    assert recognise(source, "+14155550198") is None


@pytest.mark.parametrize(
    "reply",
    [{"status": 500}, {"json": ACME}, {"json": [{"sen": "SEN-1234567"}]}, {"body": requests.exceptions.ReadTimeout()}],
    ids=["500", "object-not-array", "bad-record", "timeout"],
)
def test_a_failed_admin_lookup_is_counted_and_the_caller_is_asked_for_the_sen(reply):
    source = url_source(admin_lookup=True)
    with responses.RequestsMock() as mock:
        mock.get("https://licensing.example.com/sen", **reply)
        assert recognise(source, "+14155551234") is None
    assert sum(source.stats.snapshot()["failures"].values()) == 1


@pytest.mark.parametrize("caller", ["anonymous", "unknown", "", "266696687"])
@responses.activate
def test_a_caller_id_that_is_no_phone_number_is_never_looked_up(caller):
    source = url_source(admin_lookup=True)
    assert recognise(source, caller) is None
    assert len(responses.calls) == 0
    assert source.stats.snapshot()["lookups"] == 0


@responses.activate
def test_without_admin_lookup_the_service_is_not_asked_for_caller_ids():
    source = url_source(admin_lookup=False)
    assert recognise(source, "+14155551234") is None
    assert len(responses.calls) == 0


# --- a CSV file ---------------------------------------------------------------------------


def write(path: Path, text: str, mtime: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))


def test_the_csv_file_indexes_customers_by_sen_and_admin(tmp_path):
    write(tmp_path / "customers.csv", CSV, 1_800_000_000)
    source = FileSource(tmp_path / "customers.csv")
    assert source.by_sen("1234567").name == "Acme Corporation"
    assert source.by_sen("SEN-3456789").tier == "select"
    assert source.by_sen("9999999") is None
    assert [c.name for c in source.by_admin("+61491570156")] == ["Acme Corporation", "Acme Europe"]
    assert recognise(source, "+14155551234").name == "Acme Corporation"
    assert recognise(source, "+61491570156") is None
    assert check(source, "2345678", utc("2026-04-01T12:00Z")).verdict is Verdict.EXPIRED
    assert check(source, "3456789", utc("2026-12-01T09:00Z")).verdict is Verdict.TIER


def test_the_csv_file_is_reloaded_when_it_changes(tmp_path):
    path = tmp_path / "customers.csv"
    write(path, CSV, 1_800_000_000)
    source = FileSource(path)
    assert source.by_sen("5678901") is None
    write(path, CSV + "SEN-5678901,Hooli,premier,2027-01-31,\n", 1_800_000_060)
    assert source.by_sen("5678901").name == "Hooli"
    assert source.state()["customers"] == 5


def test_a_broken_csv_edit_keeps_the_last_good_customers(tmp_path, caplog):
    path = tmp_path / "customers.csv"
    write(path, CSV, 1_800_000_000)
    source = FileSource(path)
    write(path, CSV + "SEN-5678901,Hooli,gold,2027-01-31,\n", 1_800_000_060)
    assert source.by_sen("1234567").name == "Acme Corporation"
    assert source.by_sen("5678901") is None
    state = source.state()
    assert state["customers"] == 4
    # The version in force is the good edit of 2027-01-15T08:00Z (1_800_000_000).
    assert state["loaded_version"] == "2027-01-15T08:00:00Z"
    assert "line 6: tier: 'gold'" in state["last_error"]
    assert any("line 6" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)

    path.unlink()
    assert source.by_sen("1234567").name == "Acme Corporation"
    assert "cannot read the file" in source.state()["last_error"]


def test_a_csv_file_that_never_loaded_makes_every_check_unverified(tmp_path):
    source = FileSource(tmp_path / "missing.csv")
    assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
    assert recognise(source, "+14155551234") is None
    assert source.stats.snapshot()["failures"][Failure.NO_DATA] == 2
    write(tmp_path / "missing.csv", CSV, 1_800_000_000)
    assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.OK


# --- choosing the source --------------------------------------------------------------------


def phonebook_with(tmp_path: Path, extra: str):
    path = tmp_path / "phonebook.toml"
    path.write_text(SAMPLE.read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
    return load_phonebook(path)


def test_the_source_follows_the_phonebook_and_survives_unrelated_reloads(tmp_path, sample):
    write(tmp_path / "customers.csv", CSV, 1_800_000_000)
    sources = Sources(token="s3cret")
    assert isinstance(sources.for_phonebook(sample), PhonebookSource)

    with_file = phonebook_with(tmp_path, '[entitlements]\nfile = "customers.csv"\n')
    file_source = sources.for_phonebook(with_file)
    assert isinstance(file_source, FileSource)
    assert sources.for_phonebook(phonebook_with(tmp_path, '[entitlements]\nfile = "customers.csv"\n')) is file_source

    with_url = phonebook_with(tmp_path, '[entitlements]\nurl = "https://l.example.com/{sen}"\nadmin_lookup = true\n')
    url = sources.for_phonebook(with_url)
    assert isinstance(url, UrlSource)
    assert url.admin_lookup is True
    assert url.stats is sources.stats["url"]


def test_the_breaker_and_budget_settings_reach_the_url_source(tmp_path):
    sources = Sources(breaker_failures=7, cool_down_seconds=12, budget_seconds=4)
    url = sources.for_phonebook(phonebook_with(tmp_path, '[entitlements]\nurl = "https://l.example.com/{sen}"\n'))
    assert (url.breaker.failures, url.breaker.cool_down, url.budget.seconds) == (7, 12, 4)


# --- a slow licensing API, for real: every lookup ends by its deadline; repeated failures fail
# open at once (the breaker); a worker's waiting is bounded (the budget); recovery is prompt --------

MARGIN = 0.5  # what a loaded machine (a shared host stealing its cores) may add to a deadline
# A request the client gave up on may reach the server's thread only after that (a loaded machine):
# the tests wait for the server to have counted it (`SlowServer.wait_for`).
# The lookups' deadline: short, as each test waits it out several times, and still several of the
# slow server's gaps between bytes, so the trickles trickle.
DEADLINE = 0.2


def real_source(server: SlowServer, timeout=0.5, failures=100, cool_down=60.0, budget=0.0, budget_clock=time.monotonic,
                **options) -> UrlSource:
    """A source on the loopback server; by default a breaker and budget that never interfere."""
    return UrlSource(f"{server.base}/sen/{{sen}}", timeout_seconds=timeout, cache_seconds=0,
                     breaker=Breaker(failures, cool_down), budget=WaitBudget(budget, clock=budget_clock), **options)


@pytest.mark.parametrize("mode", ["trickle", "trickle_head", "late_headers", "silent"])
def test_a_lookup_never_outlasts_its_deadline_however_the_api_drags_its_reply(mode):
    with slow_server() as server:
        server.mode = mode
        server.gap = DEADLINE / 4
        source = real_source(server, timeout=DEADLINE)
        for _ in range(3):
            start = time.monotonic()
            assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
            assert time.monotonic() - start < DEADLINE + MARGIN
        assert source.stats.snapshot()["failures"]["timeout"] == 3
        assert server.wait_for(lambda: len(server.hits) == 3), server.hits


def test_a_trickled_reply_is_abandoned_at_the_deadline_and_the_api_is_used_again_at_once():
    with slow_server() as server:
        server.mode, server.gap = "trickle", DEADLINE / 4
        source = real_source(server, timeout=DEADLINE)
        for _ in range(6):  # more than a pool of threads would hold
            assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
        # Each connection was cut at its deadline: nothing keeps reading the trickles.
        assert server.wait_for(lambda: len(server.cut) == 6, timeout=2), server.cut
        server.mode = "ok"
        start = time.monotonic()
        assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.OK
        assert time.monotonic() - start < 0.3


@pytest.mark.parametrize("mode", ["silent", "trickle", "error"])
def test_after_repeated_failures_lookups_fail_open_at_once_without_asking_the_api(mode):
    with slow_server() as server:
        server.mode = mode
        server.gap = DEADLINE / 4
        source = real_source(server, timeout=DEADLINE, failures=3, cool_down=60, admin_lookup=True)
        for _ in range(3):
            assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
        assert source.breaker.state()["state"] == "open"
        start = time.monotonic()
        for n in range(20):
            assert check(source, f"76543{n:02d}", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
            assert recognise(source, "+14155551234") is None
        assert time.monotonic() - start < 1.0  # generous: 40 lookups that ask nobody
        assert server.wait_for(lambda: len(server.hits) == 3), server.hits
        state = source.state()
        assert state["failed_fast"] == {"circuit_open": 40, "budget": 0}
        assert state["breaker"]["state"] == "open" and state["breaker"]["opened"] == 1


def opened_by_two_failures(server: SlowServer, mode: str, timeout: float, cool_down: float) -> UrlSource:
    """A source whose breaker (two failures) has just opened on two lookups the server failed in `mode`."""
    server.mode = mode
    source = real_source(server, timeout=timeout, failures=2, cool_down=cool_down)
    for _ in range(2):
        check(source, "1234567", utc("2026-12-01T09:00Z"))
    return source


def test_the_breaker_lets_one_lookup_through_after_the_cool_down_and_closes_when_the_api_answers():
    with slow_server() as server:
        source = opened_by_two_failures(server, "error", timeout=0.5, cool_down=0.5)
        # Healthy again; within one cool-down the breaker lets a lookup through, and that one closes it.
        server.mode = "ok"
        healthy = time.monotonic()
        while check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is not Verdict.OK:
            assert time.monotonic() - healthy < 0.5 + MARGIN + 0.5
            time.sleep(0.02)
        assert len(server.hits) == 3
        assert source.state()["breaker"]["state"] == "closed"
        for _ in range(3):
            assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.OK
        assert len(server.hits) == 6


def test_a_failed_probe_opens_the_breaker_for_another_cool_down():
    with slow_server() as server:
        source = opened_by_two_failures(server, "silent", timeout=DEADLINE, cool_down=0.25)
        time.sleep(0.3)
        check(source, "1234567", utc("2026-12-01T09:00Z"))  # the probe, which times out
        assert server.wait_for(lambda: len(server.hits) == 3), server.hits
        for _ in range(10):
            check(source, "1234567", utc("2026-12-01T09:00Z"))
        assert len(server.hits) == 3
        assert source.state()["breaker"]["opened"] == 2


def test_a_worker_that_spent_its_budget_on_slow_answers_stops_waiting_on_the_api():
    with slow_server() as server:
        server.mode, server.delay = "slow", 0.3
        # The budget's clock stands still: nothing refills it however long a loaded machine takes here.
        source = real_source(server, timeout=1.0, budget=0.5, budget_clock=lambda: 0.0)
        # 0.3 s of the 0.5 s budget; the next lookup may wait only what is left and times out.
        assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.OK
        start = time.monotonic()
        assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
        assert time.monotonic() - start < 0.2 + MARGIN
        # Nothing left: lookups fail open without asking until the budget refills.
        for _ in range(10):
            assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
        assert len(server.hits) == 2
        assert source.state()["failed_fast"]["budget"] == 10


def test_malformed_records_are_answers_and_never_open_the_breaker():
    source = url_source()
    with responses.RequestsMock() as mock:
        reply = mock.get("https://licensing.example.com/sen/1234567", json={**ACME, "tier": "gold"})
        for _ in range(5):
            assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
        assert reply.call_count == 5
    assert source.state()["breaker"]["state"] == "closed"


# --- the breaker and the budget on a clock the test moves ----------------------------------


def test_the_breaker_opens_after_consecutive_failures_only():
    clock = Clock()
    breaker = Breaker(3, cool_down=30, clock=clock)
    for _ in range(2):
        assert breaker.admit()
        breaker.failed(Failure.TIMEOUT)
    breaker.succeeded()  # a success in between: counting starts again
    for _ in range(2):
        breaker.failed(Failure.TIMEOUT)
    assert breaker.admit()
    clock.now += FAILURE_WINDOW_SECONDS + 1  # too long after the last one to be "in a row"
    breaker.failed(Failure.STATUS)
    assert breaker.admit()
    breaker.failed(Failure.STATUS)
    breaker.failed(Failure.STATUS)
    assert not breaker.admit()
    assert breaker.last_reason is Failure.STATUS
    assert breaker.state() == {"state": "open", "consecutive_failures": 3, "opened": 1, "retry_in_seconds": 30}


def test_half_open_lets_exactly_one_probe_through():
    clock = Clock()
    breaker = Breaker(1, cool_down=30, clock=clock)
    breaker.failed(Failure.CONNECTION)
    clock.now += 29.9
    assert not breaker.admit()
    clock.now += 0.1
    assert breaker.admit()  # the probe
    assert not breaker.admit() and not breaker.admit()  # the others, while it is out
    assert breaker.state()["state"] == "half_open"
    breaker.succeeded()
    assert breaker.admit() and breaker.admit()


def test_a_probe_that_withdrew_leaves_its_turn_to_the_next_lookup():
    clock = Clock()
    breaker = Breaker(1, cool_down=30, clock=clock)
    breaker.failed(Failure.CONNECTION)
    clock.now += 30
    assert breaker.admit()
    breaker.withdrew()
    assert breaker.admit()


def test_the_wait_budget_refills_at_a_quarter_second_per_second():
    clock = Clock()
    budget = WaitBudget(3.0, clock=clock)
    budget.spend(2.5)
    assert budget.left() == pytest.approx(0.5)
    clock.now += 4
    assert budget.left() == pytest.approx(1.5)
    budget.spend(5)
    assert budget.left() == 0
    clock.now += 100
    assert budget.left() == 3.0
    assert WaitBudget(0, clock=clock).left() == float("inf")
