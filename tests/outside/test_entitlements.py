"""Entitlement sources: the phonebook, a CSV file, a licensing service; failures fail open."""

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

from ivr.engine.phonebook import PhonebookError
from ivr.engine.phonebook_loader import load_phonebook, parse_phonebook
from ivr.outside.entitlements import (
    Failure,
    FileSource,
    PhonebookSource,
    Sources,
    SourceUnavailable,
    UrlSource,
    Verdict,
    admin_url,
    check,
    check_source,
    parse_customers_csv,
    recognise,
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


def test_bad_csv_rows_are_reported_with_their_line_numbers():
    text = (
        "sen,name,tier,maintenance_until,admins\n"
        "SEN-1234567,Acme Corporation,priority,2027-06-30,+14155551234\n"
        "\n"
        "SEN-12,Shorty,priority,2027-06-30,\n"
        "SEN-2345678,Globex,gold,2026-31-03,+31612345678\n"
        "SEN-3456789,,select,2027-12-31,0612345678\n"
        "SEN-1234567,Acme again,priority,2027-06-30,\n"
        'SEN-4567890,"Acme, Europe",priority,2027-06-30,+61491570156,extra\n'
        "SEN-5678901,Hooli,priority\n"
    )
    customers, problems = parse_customers_csv(text)
    assert [c.name for c in customers] == ["Acme Corporation"]
    assert [str(p) for p in problems] == [
        "error: line 4: sen: 'SEN-12' is not a SEN like 'SEN-1234567'",
        "error: line 5: tier: 'gold' is not one of premier, priority, select",
        "error: line 5: maintenance_until: '2026-31-03' is not a date like 2026-12-25",
        "error: line 6: name: is required",
        "error: line 6: admins[0]: '0612345678' is not a valid E.164 phone number like '+14155550100'",
        "error: line 7: sen: SEN-1234567 is already used on line 2",
        "error: line 8: has 6 cells, the header 5",
        "error: line 9: maintenance_until: is required",
    ]


def test_a_csv_header_with_a_typo_is_reported_on_line_1():
    _, problems = parse_customers_csv("sen,name,teir,maintenance_until\n")
    assert [str(p) for p in problems] == [
        "error: line 1: column 'tier' is missing",
        "error: line 1: unknown column 'teir' (did you mean 'tier'?)",
    ]


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


# --- the phonebook's [entitlements] ---------------------------------------------------------


def phonebook_with(tmp_path: Path, extra: str):
    path = tmp_path / "phonebook.toml"
    path.write_text(SAMPLE.read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
    return load_phonebook(path)


def test_the_csv_file_is_found_next_to_the_phonebook(tmp_path):
    phonebook = phonebook_with(tmp_path, '[entitlements]\nfile = "customers.csv"\n')
    assert phonebook.entitlements.file == tmp_path / "customers.csv"
    assert str(phonebook.warnings[-1]) == "warning: customers: [entitlements] is set, so [[customers]] are ignored"


def test_a_url_source_takes_the_defaults():
    text = SAMPLE.read_text(encoding="utf-8") + '\n[entitlements]\nurl = "https://licensing.example.com/sen/{sen}"\n'
    settings = parse_phonebook(text).entitlements
    assert (settings.url, settings.file) == ("https://licensing.example.com/sen/{sen}", None)
    assert (settings.timeout_seconds, settings.cache_seconds, settings.admin_lookup) == (2.0, 300.0, False)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('file = "c.csv"\nurl = "https://l.example.com/{sen}"',
         "entitlements: needs exactly one of 'file' (a CSV file) or 'url' (a licensing service)"),
        ("cache_seconds = 60",
         "entitlements: needs exactly one of 'file' (a CSV file) or 'url' (a licensing service)"),
        ('url = "https://licensing.example.com/sen"',
         "entitlements.url: must contain {sen} in its path, e.g. 'https://licensing.example.com/sen/{sen}'"),
        ('url = "https://{sen}.licensing.example.com/"',
         "entitlements.url: must contain {sen} in its path, e.g. 'https://licensing.example.com/sen/{sen}'"),
        ('url = "https://licensing.example.com/sen/{sen}/{id}"',
         "entitlements.url: may contain no placeholder other than {sen}"),
        ('url = "ftp://licensing.example.com/{sen}"',
         "entitlements.url: must be a web address starting with https://"),
        ('url = "https://l.example.com/{sen}"\ntimeout_seconds = 0',
         "entitlements.timeout_seconds: 0 must be a number of seconds from 0.1 to 5"
         " (a lookup must leave the webhook time to answer Twilio before the worker's 10 s time-out)"),
        ('url = "https://l.example.com/{sen}"\ncache_seconds = -1',
         "entitlements.cache_seconds: -1 must be a number of seconds from 0 to 86400"),
        ('url = "https://l.example.com/{sen}"\nadmin_lookup = "yes"',
         "entitlements.admin_lookup: 'yes' must be true or false"),
        ('url = "https://l.example.com/{sen}"\ntimeout = 3',
         "entitlements.timeout: unknown key (did you mean 'timeout_seconds'?)"),
    ],
)
def test_bad_entitlements_settings_are_reported_with_their_key_path(table, problem):
    text = SAMPLE.read_text(encoding="utf-8") + f"\n[entitlements]\n{table}\n"
    with pytest.raises(PhonebookError) as error:
        parse_phonebook(text)
    assert problem in [str(p).removeprefix("error: ") for p in error.value.problems]


@pytest.mark.parametrize("seconds", [5.5, 10, 15])
def test_a_lookup_timeout_past_5_seconds_is_refused_so_the_worker_is_never_killed_mid_call(seconds):
    # gunicorn kills a worker busy for 10 s, Twilio gives up after 15 s, and the webhook has more to do.
    text = SAMPLE.read_text(encoding="utf-8") + f'\n[entitlements]\nurl = "{URL}"\ntimeout_seconds = {seconds}\n'
    with pytest.raises(PhonebookError) as error:
        parse_phonebook(text)
    assert [str(p) for p in error.value.problems if not p.warning] == [
        f"error: entitlements.timeout_seconds: {seconds!r} must be a number of seconds from 0.1 to 5"
        " (a lookup must leave the webhook time to answer Twilio before the worker's 10 s time-out)"
    ]
    at_most = SAMPLE.read_text(encoding="utf-8") + f'\n[entitlements]\nurl = "{URL}"\ntimeout_seconds = 5\n'
    assert parse_phonebook(at_most).entitlements.timeout_seconds == 5.0


def test_service_renewals_takes_an_email_or_a_web_address():
    base = SAMPLE.read_text(encoding="utf-8")
    for renewals in ("renewals@example.com", "https://example.com/renew"):
        text = base.replace('portal = "https://support.example.com"', f'portal = "https://support.example.com"\nrenewals = "{renewals}"')
        assert parse_phonebook(text).service.renewals == renewals
    text = base.replace('portal = "https://support.example.com"', 'portal = "https://support.example.com"\nrenewals = "call Bob"')
    with pytest.raises(PhonebookError, match=r"service\.renewals: must be an email address or a web address"):
        parse_phonebook(text)


def test_ivr_check_gets_the_bad_csv_rows_from_check_source(tmp_path):
    phonebook = phonebook_with(tmp_path, '[entitlements]\nfile = "customers.csv"\n')
    assert [str(p) for p in check_source(phonebook)] == [
        "error: cannot read the file: No such file or directory"
    ]
    write(tmp_path / "customers.csv", CSV + "SEN-5678901,Hooli,gold,2027-01-31,\n", 1_800_000_000)
    assert [str(p) for p in check_source(phonebook)] == [
        "error: line 6: tier: 'gold' is not one of premier, priority, select"
    ]
    write(tmp_path / "customers.csv", CSV, 1_800_000_060)
    assert check_source(phonebook) == []


def test_the_phonebook_customers_need_no_check(sample):
    assert check_source(sample) == []


# --- choosing the source --------------------------------------------------------------------


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
