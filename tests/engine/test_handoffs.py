"""Handoffs fall where the rota changes hands, across daylight-saving changes, the weekend and
holidays, and each incoming team's digest says what the outgoing shift left."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import phonebook_from, utc
from phonebooks import toml_table, toml_team

from ivr.engine.callbacks import Callback, Closed, State
from ivr.engine.handoffs import (
    AS_AT_HANDOFF,
    Digest,
    as_at,
    digest_destinations,
    digest_key,
    digest_sms,
    digest_text,
    digested,
    escalation_destinations,
    handoff_at,
    handoffs,
)
from ivr.engine.outcomes import Outcome, Summary
from ivr.engine.phonebook import Alerts, Digests
from ivr.engine.phonebook_loader import PhonebookError, parse_phonebook

LATE = timedelta(minutes=3)


def listed(phonebook, start, end):
    return [(h.at.strftime("%a %m-%d %H:%M"), [t.name for t in h.outgoing], [t.name for t in h.incoming])
            for h in handoffs(phonebook, utc(start), utc(end))]


def test_the_week_europe_leaves_summer_time_and_america_does_not_yet(sample):
    # Amsterdam went to CET on Sunday 2026-10-25, Los Angeles stays on PDT until 2026-11-01: the
    # Amsterdam handoff moves from 17:00 to 18:00 UTC; Sydney (AEDT) and San Francisco do not move.
    assert listed(sample, "2026-10-23T12:00:00Z", "2026-10-27T12:00:00Z") == [
        ("Fri 10-23 17:00", ["amsterdam"], ["san_francisco"]),
        ("Sat 10-24 00:00", ["san_francisco"], ["select"]),  # the weekend starts: Fri 17:00 PDT
        ("Sun 10-25 23:00", ["select"], ["sydney"]),  # the weekend ends: Mon 10:00 AEDT
        ("Mon 10-26 08:00", ["sydney"], ["amsterdam"]),
        ("Mon 10-26 18:00", ["amsterdam"], ["san_francisco"]),
        ("Tue 10-27 02:00", ["san_francisco"], ["sydney"]),
        ("Tue 10-27 08:00", ["sydney"], ["amsterdam"]),
    ]
    # The week after, Los Angeles is on PST: its evening handoff is an hour later in UTC.
    assert listed(sample, "2026-11-02T12:00:00Z", "2026-11-03T04:00:00Z") == [
        ("Mon 11-02 18:00", ["amsterdam"], ["san_francisco"]),
        ("Tue 11-03 03:00", ["san_francisco"], ["sydney"]),
    ]


def test_a_holiday_hands_over_to_select_and_the_next_office_takes_it_back(sample):
    # Sydney is off on 2026-12-24 (listed), everyone on Christmas Day; Sydney's extra Sunday shift
    # takes a turn in the weekend; 2026-12-28 is a holiday in New South Wales (Boxing Day moved).
    assert listed(sample, "2026-12-23T12:00:00Z", "2026-12-28T12:00:00Z") == [
        ("Wed 12-23 18:00", ["amsterdam"], ["san_francisco"]),
        ("Thu 12-24 03:00", ["san_francisco"], ["select"]),
        ("Thu 12-24 06:00", ["select"], ["amsterdam"]),
        ("Thu 12-24 18:00", ["amsterdam"], ["san_francisco"]),
        ("Fri 12-25 03:00", ["san_francisco"], ["select"]),
        ("Sat 12-26 23:00", ["select"], ["sydney"]),
        ("Sun 12-27 03:00", ["sydney"], ["select"]),
        ("Mon 12-28 06:00", ["select"], ["amsterdam"]),
    ]


def test_a_shift_runs_from_the_previous_handoff(sample):
    handoff = handoff_at(sample, utc("2026-12-01T08:00:00Z"))
    assert handoff is not None and handoff.since == utc("2026-12-01T03:00:00Z")
    assert handoff_at(sample, utc("2026-12-01T08:00:01Z")) is None
    # Amsterdam coming on while Sydney stays is no handoff: Sydney still has the phone.
    assert handoff_at(sample, utc("2026-12-01T06:00:00Z")) is None


def test_a_window_ends_inclusive_and_starts_exclusive(sample):
    at = utc("2026-12-01T08:00:00Z")
    assert [h.at for h in handoffs(sample, at - timedelta(hours=1), at)] == [at]
    assert handoffs(sample, at, at + timedelta(hours=1)) == ()


def test_a_digest_key_names_the_team_and_the_instant(sample):
    amsterdam = sample.team("amsterdam")
    at = utc("2026-12-01T08:00:00Z")
    assert digest_key(amsterdam, at) == "digest:amsterdam:1796112000"
    assert digested("digest:amsterdam:1796112000") == ("amsterdam", at)
    assert digested("CA123") is None and digested("callback:4") is None and digested("digest:x:y") is None


TEAM_DIGESTS = (
    toml_team("amsterdam", "priority", ["mon-fri 07:00-19:00"], ["+31205550101"], tz="Europe/Amsterdam",
              digest_sms=["+31612345670"], digest_webhook="https://hooks.example.com/amsterdam")
    + toml_team("select", "select", ["24/7"], ["+14155550110"])
    + toml_table("alerts", sms=["+14155550199"], sms_from="+14155550100")
    + toml_table("digests", lookback_hours=6)
)


def test_a_team_with_digest_destinations_gets_them_and_one_without_gets_the_alerts():
    book = phonebook_from(TEAM_DIGESTS)
    assert book.digests.lookback == timedelta(hours=6)
    assert digest_destinations(book, book.team("amsterdam")) == Alerts(
        ("+31612345670",), "https://hooks.example.com/amsterdam", "+14155550100")
    assert digest_destinations(book, book.team("select")) == book.alerts


def test_digests_are_on_by_default_and_off_when_the_phonebook_says_so(sample):
    assert sample.digests == Digests(enabled=True, lookback=timedelta(hours=12))
    off = phonebook_from(TEAM_DIGESTS.replace("[digests]\n", "[digests]\nenabled = false\n"))
    assert off.digests == Digests(enabled=False, lookback=timedelta(hours=6))
    with pytest.raises(PhonebookError) as refused:
        parse_phonebook(TEAM_DIGESTS.replace("[digests]\n", '[digests]\nenabled = "no"\n'))
    assert "digests.enabled: " in str(refused.value)


@pytest.mark.parametrize(("bad", "problem"), [
    ('digest_sms = ["0612"]', "teams.select.digest_sms[0]"),
    ('digest_webhook = "http://hooks.example.com/x"', "teams.select.digest_webhook"),
    ('digest_sms = "+31612345670"', "teams.select.digest_sms: must be a list"),
])
def test_a_bad_digest_destination_is_refused_with_its_key(bad, problem):
    text = TEAM_DIGESTS.replace('dial = ["+14155550110"]', f'dial = ["+14155550110"]\n{bad}')
    with pytest.raises(PhonebookError) as refused:
        parse_phonebook(text)
    assert problem in str(refused.value)


@pytest.mark.parametrize("hours", ["0", "73", "1.5", '"6"'])
def test_a_lookback_outside_1_to_72_whole_hours_is_refused(hours):
    with pytest.raises(PhonebookError) as refused:
        parse_phonebook(TEAM_DIGESTS.replace("lookback_hours = 6", f"lookback_hours = {hours}"))
    assert "digests.lookback_hours: " in str(refused.value) and "whole number of hours from 1 to 72" in str(refused.value)


def _digest(sample):
    handoff = handoff_at(sample, utc("2026-12-01T08:00:00Z"))
    assert handoff is not None
    callback = Callback(id=7, key="sen:1234567", sen="SEN-1234567", customer="Acme Corporation",
                        caller="+14155551234", line="+14155550100", tier="priority", severity=1,
                        opened_at=utc("2026-12-01T05:00:00Z"), due_at=utc("2026-12-01T06:00:00Z"),
                        last_call_at=utc("2026-12-01T05:00:00Z"), first_call="CA2",
                        voicemail_url="https://api.twilio.com/RE2")
    calls = (
        Summary("CA1", utc("2026-12-01T04:00:00Z"), severity=1, outcome=Outcome.ANSWERED, team="sydney",
                customer="Globex", sen="SEN-2345678", caller="+31612345678", duration=125),
        Summary("CA2", utc("2026-12-01T05:00:00Z"), severity=1, outcome=Outcome.VOICEMAIL,
                customer="Acme Corporation", sen="SEN-1234567", caller="+14155551234",
                voicemail_url="https://api.twilio.com/RE2"),
        Summary("CA3", utc("2026-12-01T07:59:00Z"), severity=1, caller="+61491570156"),
    )
    return Digest(handoff, sample.team("amsterdam"), handoff.at, (callback,), calls, {"CA2": callback})


def test_the_full_digest_lists_open_callbacks_answered_missed_and_running_calls(sample):
    text = digest_text(_digest(sample), utc("2026-12-01T08:00:10Z"), "https://ivr.example.com", LATE)
    assert text.splitlines() == [
        "Handoff 2026-12-01T08:00:00Z: Sydney Priority Support to Amsterdam Priority Support. Open callbacks: 1;"
        " L1 calls since 2026-12-01T03:00:00Z: 1 answered, 1 missed, 1 in progress.",
        "Open callbacks:",
        "- Acme Corporation (SEN-1234567, from +14155551234): due 2026-12-01T06:00:00Z, overdue by 2 h 00 min",
        "L1 calls of the outgoing shift:",
        "- 2026-12-01T04:00:00Z Globex (SEN-2345678, from +31612345678): answered by sydney, 2 min 5 s",
        "- 2026-12-01T05:00:00Z Acme Corporation (SEN-1234567, from +14155551234): missed (voicemail),"
        " voicemail https://api.twilio.com/RE2; callback 7 overdue by 2 h 00 min",
        "- 2026-12-01T07:59:00Z Unknown customer (no SEN, from +61491570156): in progress",
        "Digest: https://ivr.example.com/ops/handoffs/amsterdam/1796112000",
    ]


def test_the_sms_digest_is_short_links_the_page_and_says_when_it_is_late(sample):
    digest = _digest(sample)
    on_time = digest_sms(digest, utc("2026-12-01T08:00:10Z"), "https://ivr.example.com", LATE)
    assert on_time == (
        "Handoff 2026-12-01T08:00:00Z: Sydney Priority Support to Amsterdam Priority Support. Open callbacks: 1;"
        " L1 calls since 2026-12-01T03:00:00Z: 1 answered, 1 missed, 1 in progress."
        " Digest: https://ivr.example.com/ops/handoffs/amsterdam/1796112000")
    late = digest_sms(digest, utc("2026-12-01T10:30:00Z"), None, LATE)
    assert late.endswith(" This digest is 2 h 30 min late: the service or its call log was unavailable at the"
                         " handoff; it shows the shift as it stood at the handoff.")


def test_a_late_full_digest_says_what_it_shows_as_at_the_handoff_and_counts_from_the_handoff(sample):
    lines = digest_text(_digest(sample), utc("2026-12-01T10:30:00Z"), None, LATE).splitlines()
    assert lines[0].endswith(" This digest is 2 h 30 min late: the service or its call log was unavailable at the"
                             " handoff; it shows the shift as it stood at the handoff.")
    assert lines[1] == AS_AT_HANDOFF
    # Overdue by as much as at the handoff, not at 10:30.
    assert lines[3] == "- Acme Corporation (SEN-1234567, from +14155551234): due 2026-12-01T06:00:00Z, overdue by 2 h 00 min"


def test_a_call_that_ended_after_the_handoff_was_in_progress_at_it():
    answered = Summary("CA1", utc("2026-12-01T07:55:00Z"), severity=1, outcome=Outcome.ANSWERED, team="sydney",
                       answer_seconds=10.0, duration=600)
    handoff = utc("2026-12-01T08:00:00Z")
    assert as_at(answered, handoff) == Summary("CA1", utc("2026-12-01T07:55:00Z"), severity=1)
    assert as_at(answered, handoff + timedelta(minutes=5)) == answered  # ended 08:05:00: over then
    assert as_at(Summary("CA2", handoff, severity=1), handoff) == Summary("CA2", handoff, severity=1)


def test_a_callback_closed_after_an_instant_was_open_or_overdue_at_it():
    callback = Callback(id=7, key=None, sen=None, customer=None, caller=None, line=None, tier=None, severity=1,
                        opened_at=utc("2026-12-01T05:00:00Z"), due_at=utc("2026-12-01T06:00:00Z"),
                        last_call_at=utc("2026-12-01T05:00:00Z"), first_call="CA2",
                        closed_at=utc("2026-12-01T09:00:00Z"), closed_how=Closed.BY_HAND, closed_by="ops")
    assert callback.state(utc("2026-12-01T05:59:59Z")) is State.OPEN
    assert callback.state(utc("2026-12-01T08:00:00Z")) is State.OVERDUE
    assert callback.state(utc("2026-12-01T09:00:00Z")) is State.CLOSED


def test_an_overdue_callback_goes_to_ops_and_to_the_team_on_duty_at_its_own_numbers():
    book = phonebook_from(TEAM_DIGESTS)
    assert escalation_destinations(book, "amsterdam") == Alerts(
        ("+14155550199", "+31612345670"), "https://hooks.example.com/amsterdam", "+14155550100")
    # A team without numbers of its own, the fallback or nobody on duty: ops alone.
    assert escalation_destinations(book, "select") == book.alerts
    assert escalation_destinations(book, None) == book.alerts
