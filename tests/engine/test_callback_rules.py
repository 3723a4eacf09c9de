"""Which missed call opens a callback, when it is due, which call joins or closes it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import SAMPLE, utc

from ivr.engine.callbacks import (
    Callback,
    State,
    callback_json,
    customer_key,
    due_at,
    opens_callback,
    reached_at,
    reached_keys,
    span,
    tier_of,
)
from ivr.engine.events import Entitlement, Recognised, Started
from ivr.engine.outcomes import Event, Outcome, Summary
from ivr.engine.phonebook import PhonebookError, ResponseTimes
from ivr.engine.phonebook_loader import parse_phonebook

START = utc("2026-12-01T09:00:00Z")


def missed(**fields) -> Summary:
    return Summary(**{"sid": "CA1", "started_at": START, "severity": 1, "outcome": Outcome.VOICEMAIL,
                      "sen": "SEN-1234567", "caller": "+14155551234", **fields})


@pytest.mark.parametrize(("tier", "severity", "within"), [
    ("priority", 1, timedelta(hours=1)),
    ("premier", 1, timedelta(minutes=30)),
    ("priority", 2, timedelta(hours=2)),
    ("premier", 4, timedelta(hours=24)),
    # Counted in business days by the offering: no fixed span, no default.
    ("priority", 3, None),
    # A SEN that could not be checked: the shortest a phone tier is promised.
    (None, 1, timedelta(minutes=30)),
])
def test_the_offerings_response_times_are_the_default(tier, severity, within):
    assert ResponseTimes().within(tier, severity) == within


def test_a_missed_calls_callback_is_due_its_response_time_after_the_call_began():
    assert due_at(missed(), "priority", ResponseTimes()) == utc("2026-12-01T10:00:00Z")
    assert due_at(missed(), "premier", ResponseTimes()) == utc("2026-12-01T09:30:00Z")


def test_the_phonebook_overrides_a_response_time_and_keeps_the_others():
    text = SAMPLE.read_text() + "\n[response_times.premier]\n1 = 20\n"
    times = parse_phonebook(text).response_times
    assert due_at(missed(), "premier", times) == utc("2026-12-01T09:20:00Z")
    assert due_at(missed(), "priority", times) == utc("2026-12-01T10:00:00Z")
    assert times.within(None, 1) == timedelta(minutes=20)


def test_the_loader_says_what_is_wrong_with_response_times():
    text = SAMPLE.read_text() + '\n[response_times.premeir]\n1 = 20\n[response_times.priority]\n1 = 0\n5 = 3\n2 = "2h"\n'
    with pytest.raises(PhonebookError) as refused:
        parse_phonebook(text, "phonebook.toml")
    assert [str(p) for p in refused.value.problems] == [
        "error: response_times.premeir: unknown key (did you mean 'premier'?)",
        "error: response_times.priority.5: unknown key (known keys: 1, 2, 3, 4)",
        "error: response_times.priority.1: 0 must be a whole number of minutes from 1 to 43200",
        "error: response_times.priority.2: '2h' must be a whole number of minutes from 1 to 43200",
    ]


def test_only_a_missed_l1_call_opens_a_callback():
    assert opens_callback(missed())
    assert opens_callback(missed(outcome=Outcome.ABANDONED))
    assert not opens_callback(missed(outcome=Outcome.ANSWERED, answer_seconds=12.0))
    assert not opens_callback(missed(severity=2))
    assert not opens_callback(missed(outcome=None))


def test_a_callback_is_owed_to_the_sen_else_to_the_calling_number():
    assert customer_key("SEN-1234567", "+14155551234") == customer_key("1234567", "+31612345678") == "sen:1234567"
    assert customer_key(None, "+14155551234") == "from:+14155551234"
    assert customer_key(None, "anonymous") is None


def test_an_answered_call_reaches_its_sen_and_its_number_from_the_moment_it_was_taken():
    answered = missed(outcome=Outcome.ANSWERED, answer_seconds=12.0)
    assert reached_at(answered) == utc("2026-12-01T09:00:12Z")
    assert reached_keys(answered) == ("sen:1234567", "from:+14155551234")
    assert reached_at(missed()) is None


def test_the_tier_is_the_entitlement_checks_else_the_caller_ids():
    def event(record) -> Event:
        return Event("CA1", record.key, START, record)

    recognised = event(Recognised(sen="SEN-1", customer="Acme", tier="priority"))
    checked = event(Entitlement(sen="SEN-1", customer="Acme", verdict="ok", tier="premier"))
    assert tier_of([event(Started()), recognised, checked]) == "premier"
    assert tier_of([recognised]) == "priority"
    assert tier_of([event(Entitlement(sen="SEN-1", verdict="unverified"))]) is None


def test_a_callback_is_open_then_overdue_from_its_due_time_on_then_closed():
    callback = Callback(id=1, key="sen:1234567", sen="SEN-1234567", customer="Acme", caller=None, line=None,
                        tier="priority", severity=1, opened_at=START, due_at=utc("2026-12-01T10:00:00Z"),
                        last_call_at=START, first_call="CA1")
    assert callback.state(utc("2026-12-01T09:59:59Z")) is State.OPEN
    assert callback.state(utc("2026-12-01T10:00:00Z")) is State.OVERDUE
    shown = callback_json(callback, utc("2026-12-01T10:05:00Z"))
    assert (shown["state"], shown["due_in_seconds"], shown["due_at"]) == ("overdue", -300, "2026-12-01T10:00:00Z")
    assert span(timedelta(minutes=-125)) == "2 h 05 min"
