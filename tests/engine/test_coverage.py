"""Coverage: exact gaps over a range."""

import itertools
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from conftest import OFFICE, phonebook_from, utc
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.engine.coverage import coverage, l1_gaps, priority_gaps
from ivr.engine.instants import epoch, instant
from ivr.engine.phonebook import Kind, calendar_holidays
from ivr.engine.schedule import is_weekend, on_duty


def spans(*pairs):
    return tuple((utc(a), utc(b)) for a, b in pairs)


def test_l1_gaps_are_the_times_no_team_is_on_duty_merged_clipped_and_in_order():
    phonebook = phonebook_from(OFFICE)
    # Mon 2026-11-30 03:00 to Sun 2026-12-06 12:00. Shifts that touch (13:00, 17:00) leave no gap;
    # the fallback is not a team, so it does not close any.
    assert l1_gaps(phonebook, utc("2026-11-30T03:00Z"), utc("2026-12-06T12:00Z")) == spans(
        ("2026-11-30T03:00Z", "2026-11-30T09:00Z"),  # clipped to the range
        ("2026-11-30T20:00Z", "2026-12-01T09:00Z"),
        ("2026-12-01T20:00Z", "2026-12-02T13:00Z"),  # Wednesday's morning team is on holiday
        ("2026-12-02T20:00Z", "2026-12-03T09:00Z"),
        ("2026-12-03T20:00Z", "2026-12-04T09:00Z"),
        ("2026-12-04T20:00Z", "2026-12-05T10:00Z"),  # into the weekend
        ("2026-12-05T12:00Z", "2026-12-06T12:00Z"),  # clipped to the range
    )


def test_priority_gaps_leave_out_the_weekend_and_ignore_select_teams():
    phonebook = phonebook_from(OFFICE)
    assert priority_gaps(phonebook, utc("2026-11-30T00:00Z"), utc("2026-12-08T00:00Z")) == spans(
        ("2026-11-30T00:00Z", "2026-11-30T09:00Z"),
        ("2026-11-30T17:00Z", "2026-12-01T09:00Z"),
        ("2026-12-01T17:00Z", "2026-12-02T13:00Z"),
        ("2026-12-02T17:00Z", "2026-12-03T09:00Z"),
        ("2026-12-03T17:00Z", "2026-12-04T09:00Z"),
        ("2026-12-04T17:00Z", "2026-12-05T00:00Z"),  # up to the weekend
        ("2026-12-07T00:00Z", "2026-12-07T09:00Z"),  # from the end of the weekend
        ("2026-12-07T17:00Z", "2026-12-08T00:00Z"),
    )


def test_a_fully_covered_range_has_no_gaps(sample):
    assert coverage(sample, utc("2026-12-01T00:00Z"), utc("2026-12-02T00:00Z")).as_json() == {
        "from": "2026-12-01T00:00:00Z",
        "to": "2026-12-02T00:00:00Z",
        "l1_gaps": [],
        "priority_gaps": [],
    }


def test_coverage_as_json_lists_gaps_as_from_and_to_in_utc():
    phonebook = phonebook_from(OFFICE)
    result = coverage(phonebook, utc("2026-12-04T19:00+01:00"), utc("2026-12-05T00:00Z"))
    assert result.as_json() == {
        "from": "2026-12-04T18:00:00Z",
        "to": "2026-12-05T00:00:00Z",
        "l1_gaps": [{"from": "2026-12-04T20:00:00Z", "to": "2026-12-05T00:00:00Z"}],
        "priority_gaps": [{"from": "2026-12-04T18:00:00Z", "to": "2026-12-05T00:00:00Z"}],
    }


def test_an_empty_or_backwards_range_is_refused(sample):
    with pytest.raises(ValueError, match="the range must end after it starts"):
        coverage(sample, utc("2026-12-02T00:00Z"), utc("2026-12-02T00:00Z"))


YEAR = (utc("2026-01-01T00:00Z"), utc("2027-01-01T00:00Z"))


def office_holidays(team):
    """Every local date the team has off in 2026-2027, from the calendar package directly."""
    days = set(team.holidays)
    if team.calendar:
        days |= calendar_holidays(team.calendar, 2026) | calendar_holidays(team.calendar, 2027)
    return days


def test_over_2026_the_sample_has_no_l1_gaps_and_priority_gaps_only_on_office_holidays(sample):
    result = coverage(sample, *YEAR)
    assert result.l1_gaps == ()
    assert result.priority_gaps, "the sample's offices have holidays, so some gaps are expected"
    offices = [team for team in sample.teams if team.kind is Kind.PRIORITY]
    for start, end in result.priority_gaps:
        # Every minute of the gap falls on a holiday of at least one office.
        at = start
        while at < end:
            assert any(at.astimezone(t.tz).date() in office_holidays(t) for t in offices), (start, end, at)
            at += timedelta(minutes=30)
    assert (utc("2026-12-25T03:00Z"), utc("2026-12-26T01:00Z")) in result.priority_gaps  # Christmas everywhere


def test_without_their_holidays_the_sample_offices_tile_the_whole_business_week(sample):
    teams = tuple(replace(team, holidays=frozenset(), calendar=None) for team in sample.teams)
    assert priority_gaps(replace(sample, teams=teams), *YEAR) == ()


@pytest.fixture(scope="session")
def books(sample, tricky):
    return {"sample": sample, "tricky": tricky, "office": phonebook_from(OFFICE)}


def phonebook_property(max_examples: int, **days: int):
    """A property checked on a phonebook of `books` (`name`), an instant in YEAR (`at`), and a length
    in seconds for each name in `days` (1 s to that many days)."""
    lengths = {length: st.integers(1, most * 86400) for length, most in days.items()}
    drawn = given(name=st.sampled_from(["sample", "tricky", "office"]),
                  at=st.integers(epoch(YEAR[0]), epoch(YEAR[1])).map(instant), **lengths)
    return lambda test: settings(max_examples=max_examples, deadline=None)(drawn(test))


@phonebook_property(max_examples=300, before=10, after=10)
def test_who_and_coverage_never_disagree_about_an_instant(books, name, at, before, after):
    phonebook = books[name]
    start, end = at - timedelta(seconds=before), at + timedelta(seconds=after)
    duties = on_duty(phonebook, at)
    in_l1_gap = any(s <= at < e for s, e in l1_gaps(phonebook, start, end))
    in_priority_gap = any(s <= at < e for s, e in priority_gaps(phonebook, start, end))
    assert in_l1_gap == (not duties)
    assert in_priority_gap == (not is_weekend(phonebook, at) and not any(d.team.kind is Kind.PRIORITY for d in duties))


@phonebook_property(max_examples=100, cut=20, length=20)
def test_gaps_are_maximal_whatever_the_range_is_split_into(books, name, at, cut, length):
    phonebook = books[name]
    middle, end = at + timedelta(seconds=min(cut, length)), at + timedelta(seconds=length + 1)
    for gaps in (l1_gaps, priority_gaps):
        whole = gaps(phonebook, at, end)
        pieces = list(gaps(phonebook, at, middle)) + list(gaps(phonebook, middle, end))
        # Gluing the two halves' gaps where they touch gives back the whole range's gaps.
        glued: list[tuple[datetime, datetime]] = []
        for gap in pieces:
            if glued and glued[-1][1] == gap[0]:
                glued[-1] = (glued[-1][0], gap[1])
            else:
                glued.append(gap)
        assert tuple(glued) == whole
        assert all(a[1] < b[0] for a, b in itertools.pairwise(whole))
        assert all(at <= s < e <= end for s, e in whole)


def test_calendar_holidays_come_from_the_holidays_package():
    assert date(2026, 1, 26) in calendar_holidays("AU-NSW", 2026)
