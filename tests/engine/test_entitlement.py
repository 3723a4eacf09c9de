"""Who may call: the verdict is a pure function of the customer record and the instant; a source
that cannot answer makes the verdict UNVERIFIED, never UNKNOWN. And the phonebook's [entitlements]."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import SAMPLE, utc

from ivr.engine.entitlement import (
    Failure,
    PhonebookSource,
    SourceUnavailable,
    Verdict,
    check,
    entitlement,
    recognise,
)
from ivr.engine.phonebook import Customer, PhonebookError
from ivr.engine.phonebook_loader import load_phonebook, parse_phonebook

URL = "https://licensing.example.com/sen/{sen}"
ACME = Customer("SEN-1234567", "Acme Corporation", "priority", date(2027, 6, 30), ("+14155551234",))


class Unavailable:
    """A source that cannot answer, and remembers whether it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    def by_sen(self, sen: str) -> Customer | None:
        self.asked += 1
        raise SourceUnavailable(Failure.TIMEOUT, "no answer within 2 s")

    def by_admin(self, number: str) -> tuple[Customer, ...]:
        self.asked += 1
        raise SourceUnavailable(Failure.CONNECTION, "refused")

    def state(self) -> dict[str, object]:
        return {"source": "test"}


@pytest.mark.parametrize(
    ("customer", "at", "verdict"),
    [
        pytest.param(ACME, "2026-12-01T09:00Z", Verdict.OK, id="maintained"),
        pytest.param(None, "2026-12-01T09:00Z", Verdict.UNKNOWN, id="no-such-sen"),
        pytest.param(ACME, "2027-07-01T11:59Z", Verdict.OK, id="until-noon-utc-the-next-day"),
        pytest.param(ACME, "2027-07-01T12:00Z", Verdict.EXPIRED, id="expired-at-noon-utc-the-next-day"),
        pytest.param(
            Customer("SEN-3456789", "Initech", "select", date(2027, 12, 31), ()), "2026-12-01T09:00Z", Verdict.TIER,
            id="select-tier-calls-no-phone",
        ),
    ],
)
def test_the_verdict_depends_only_on_the_record_and_the_instant(customer, at, verdict):
    result = entitlement(customer, utc(at))
    assert (result.verdict, result.customer, result.may_call) == (verdict, customer, verdict is Verdict.OK)


def test_a_source_that_cannot_answer_is_unverified_never_unknown():
    source = Unavailable()
    assert check(source, "1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.UNVERIFIED
    assert recognise(source, "+14155551234") is None
    assert source.asked == 2


@pytest.mark.parametrize("caller", ["anonymous", "unknown", "", "266696687"])
def test_a_caller_id_that_is_no_phone_number_is_never_looked_up(caller):
    source = Unavailable()
    assert recognise(source, caller) is None
    assert source.asked == 0


def test_the_phonebook_source_answers_from_its_customers(sample):
    source = PhonebookSource(sample)
    assert check(source, "SEN-1234567", utc("2026-12-01T09:00Z")).verdict is Verdict.OK
    assert check(source, "2345678", utc("2026-04-01T12:00Z")).verdict is Verdict.EXPIRED
    assert recognise(source, "+31612345678").name == "Globex"
    assert recognise(source, "+14155550199") is None
    assert source.state() == {"source": "phonebook", "customers": 3}


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
