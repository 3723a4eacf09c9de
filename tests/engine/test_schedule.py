"""The business-hours engine: the weekend, who is on duty, and until when."""

from datetime import datetime, timedelta

import pytest
from conftest import phonebook_from, utc
from hypothesis import given, settings
from hypothesis import strategies as st
from phonebooks import toml_team

from ivr.engine.instants import epoch, instant
from ivr.engine.schedule import Stretch, compiled, duty_intervals, is_weekend, on_duty, weekend_change, weekends

SECOND = timedelta(seconds=1)


def names(phonebook, at):
    return [duty.team.name for duty in on_duty(phonebook, at)]


def until(phonebook, team, at):
    return next(d.until for d in on_duty(phonebook, at) if d.team.name == team)


def spans(*pairs):
    return [(utc(a), utc(b)) for a, b in pairs]


# --- half-open edges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "at, on",
    [
        ("2026-12-01T14:59:59Z", False),  # Tue 06:59:59 PST
        ("2026-12-01T15:00:00Z", True),  # Tue 07:00 PST: the start is included
        ("2026-12-02T02:59:59Z", True),
        ("2026-12-02T03:00:00Z", False),  # Tue 19:00 PST: the end is not
    ],
)
def test_a_shift_is_half_open_start_included_end_excluded(sample, at, on):
    assert ("san_francisco" in names(sample, utc(at))) is on


@pytest.mark.parametrize(
    "at, weekend",
    [
        ("2026-12-05T00:59:59Z", False),  # Fri 16:59:59 PST
        ("2026-12-05T01:00:00Z", True),  # Fri 17:00 PST: the weekend starts
        ("2026-12-06T22:59:59Z", True),
        ("2026-12-06T23:00:00Z", False),  # Mon 10:00 AEDT: the weekend is over
    ],
)
def test_the_weekend_is_half_open(sample, at, weekend):
    assert is_weekend(sample, utc(at)) is weekend


def test_a_priority_team_stops_when_the_weekend_starts_even_inside_its_hours(sample):
    # San Francisco works until 19:00 PST, but the weekend starts on Friday at 17:00.
    assert until(sample, "san_francisco", utc("2026-12-04T20:00Z")) == utc("2026-12-05T01:00Z")
    assert "san_francisco" not in names(sample, utc("2026-12-05T01:00Z"))


def test_a_priority_team_starts_when_the_weekend_ends_even_if_its_hours_started_earlier(sample):
    # Sydney's hours start at 08:00, but the weekend lasts until Monday 10:00 AEDT.
    assert "sydney" not in names(sample, utc("2026-12-06T21:00Z"))
    assert "sydney" not in names(sample, utc("2026-12-06T22:59:59Z"))
    assert "sydney" in names(sample, utc("2026-12-06T23:00Z"))


def test_select_teams_ignore_the_weekend(sample):
    assert is_weekend(sample, utc("2026-12-05T12:00Z"))
    assert names(sample, utc("2026-12-05T12:00Z")) == ["select"]


# --- across midnight ---------------------------------------------------------------------

MIDNIGHT = toml_team("late", "select", ["fri 22:00-02:00", "sun 23:00-01:00", "tue 20:00-24:00", "wed 00:00-03:00"],
                     ["+14155550101"])


@pytest.mark.parametrize(
    "at, on",
    [
        ("2026-12-04T21:59:59Z", False),
        ("2026-12-04T22:00:00Z", True),  # Fri 22:00
        ("2026-12-05T01:59:59Z", True),  # Saturday, still Friday's shift
        ("2026-12-05T02:00:00Z", False),
        ("2026-12-06T23:30:00Z", True),  # Sunday's shift runs into Monday, the next week
        ("2026-12-07T00:59:59Z", True),
        ("2026-12-07T01:00:00Z", False),
        ("2026-12-08T23:59:59Z", True),  # 24:00 is midnight
        ("2026-12-09T00:00:00Z", True),
    ],
)
def test_a_shift_whose_end_is_not_after_its_start_runs_into_the_next_day(at, on):
    assert bool(names(phonebook_from(MIDNIGHT), utc(at))) is on


def test_shifts_that_touch_at_midnight_are_one_unbroken_stretch():
    phonebook = phonebook_from(MIDNIGHT)
    assert until(phonebook, "late", utc("2026-12-08T20:00Z")) == utc("2026-12-09T03:00Z")


def test_a_stretch_runs_on_across_the_engines_block_boundary(sample):
    # 2026-01-15T00:00Z is a multiple of the engine's 28-day memo blocks; Sydney's Thursday
    # 08:00-19:00 AEDT spans it.
    assert epoch(utc("2026-01-15T00:00Z")) % (28 * 86400) == 0
    assert until(sample, "sydney", utc("2026-01-14T23:00Z")) == utc("2026-01-15T08:00Z")


# --- daylight saving ---------------------------------------------------------------------

DST = (
    toml_team("la", "select", ["sat-mon 09:00-17:00", "sun 01:00-05:00"], ["+14155550101"], tz="America/Los_Angeles")
    + toml_team("amsterdam", "select", ["sat-mon 09:00-17:00", "sun 01:00-05:00"], ["+31205550101"], tz="Europe/Amsterdam")
    + toml_team("sydney", "select", ["sat-mon 09:00-17:00", "sun 01:00-05:00"], ["+61255501001"], tz="Australia/Sydney")
    + toml_team("gap", "select", ["sun 02:30-04:00", "sat 01:30-03:00"], ["+14155550102"], tz="America/Los_Angeles")
)


@pytest.mark.parametrize(
    "team, start, end, expected",
    [
        pytest.param(
            "la", "2026-03-07T00:00Z", "2026-03-10T00:00Z",
            spans(("2026-03-07T17:00Z", "2026-03-08T01:00Z"),  # Saturday 09-17 PST
                  ("2026-03-08T09:00Z", "2026-03-08T12:00Z"),  # 01:00 PST - 05:00 PDT: 3 hours
                  ("2026-03-08T16:00Z", "2026-03-09T00:00Z"),  # Sunday 09-17 PDT
                  ("2026-03-09T16:00Z", "2026-03-10T00:00Z")),
            id="US spring forward, Mar 8",
        ),
        pytest.param(
            "la", "2026-10-31T00:00Z", "2026-11-03T00:00Z",
            spans(("2026-10-31T16:00Z", "2026-11-01T00:00Z"),
                  ("2026-11-01T08:00Z", "2026-11-01T13:00Z"),  # 01:00 PDT - 05:00 PST: 5 hours
                  ("2026-11-01T17:00Z", "2026-11-02T01:00Z"),
                  ("2026-11-02T17:00Z", "2026-11-03T00:00Z")),
            id="US fall back, Nov 1",
        ),
        pytest.param(
            "amsterdam", "2026-03-28T00:00Z", "2026-03-31T00:00Z",
            spans(("2026-03-28T08:00Z", "2026-03-28T16:00Z"),
                  ("2026-03-29T00:00Z", "2026-03-29T03:00Z"),  # 01:00 CET - 05:00 CEST
                  ("2026-03-29T07:00Z", "2026-03-29T15:00Z"),
                  ("2026-03-30T07:00Z", "2026-03-30T15:00Z")),
            id="Europe spring forward, Mar 29",
        ),
        pytest.param(
            "amsterdam", "2026-10-24T00:00Z", "2026-10-27T00:00Z",
            spans(("2026-10-24T07:00Z", "2026-10-24T15:00Z"),
                  ("2026-10-24T23:00Z", "2026-10-25T04:00Z"),  # 01:00 CEST - 05:00 CET
                  ("2026-10-25T08:00Z", "2026-10-25T16:00Z"),
                  ("2026-10-26T08:00Z", "2026-10-26T16:00Z")),
            id="Europe fall back, Oct 25",
        ),
        pytest.param(
            "sydney", "2026-04-03T00:00Z", "2026-04-07T00:00Z",
            spans(("2026-04-03T22:00Z", "2026-04-04T06:00Z"),
                  ("2026-04-04T14:00Z", "2026-04-04T19:00Z"),  # 01:00 AEDT - 05:00 AEST
                  ("2026-04-04T23:00Z", "2026-04-05T07:00Z"),
                  ("2026-04-05T23:00Z", "2026-04-06T07:00Z")),
            id="Sydney fall back, Apr 5",
        ),
        pytest.param(
            "sydney", "2026-10-02T00:00Z", "2026-10-06T00:00Z",
            spans(("2026-10-02T23:00Z", "2026-10-03T07:00Z"),
                  ("2026-10-03T15:00Z", "2026-10-03T18:00Z"),  # 01:00 AEST - 05:00 AEDT
                  ("2026-10-03T22:00Z", "2026-10-04T06:00Z"),
                  ("2026-10-04T22:00Z", "2026-10-05T06:00Z")),
            id="Sydney spring forward, Oct 4",
        ),
        pytest.param(
            "gap", "2026-03-07T00:00Z", "2026-03-09T00:00Z",
            # Sat 01:30-03:00 PST; Sun 02:30 does not exist and resolves as fold=0 (PST) does.
            spans(("2026-03-07T09:30Z", "2026-03-07T11:00Z"), ("2026-03-08T10:30Z", "2026-03-08T11:00Z")),
            id="a start in the US spring gap",
        ),
        pytest.param(
            "gap", "2026-10-31T00:00Z", "2026-11-02T00:00Z",
            # Sun 02:30 PST, after the repeated hour; Sat 01:30-03:00 PDT.
            spans(("2026-10-31T08:30Z", "2026-10-31T10:00Z"), ("2026-11-01T10:30Z", "2026-11-01T12:00Z")),
            id="US fall back, after the repeated hour",
        ),
    ],
)
def test_shifts_keep_their_local_hours_across_each_dst_change(team, start, end, expected):
    phonebook = phonebook_from(DST)
    assert duty_intervals(phonebook, phonebook.team(team), utc(start), utc(end)) == expected


@pytest.mark.parametrize(
    "start, end, hours",
    [
        ("2026-01-10T01:00Z", "2026-01-11T23:00Z", 46),  # PST and AEDT
        ("2026-03-07T01:00Z", "2026-03-08T23:00Z", 46),  # US springs forward during this weekend
        ("2026-03-14T00:00Z", "2026-03-15T23:00Z", 47),  # PDT and AEDT
        ("2026-04-04T00:00Z", "2026-04-06T00:00Z", 48),  # Sydney falls back during this weekend
        ("2026-06-06T00:00Z", "2026-06-08T00:00Z", 48),  # PDT and AEST
        ("2026-10-03T00:00Z", "2026-10-04T23:00Z", 47),  # Sydney springs forward during this weekend
        ("2026-10-31T00:00Z", "2026-11-01T23:00Z", 47),  # US falls back after the start
        ("2026-11-07T01:00Z", "2026-11-08T23:00Z", 46),  # PST and AEDT again
    ],
)
def test_the_weekend_lasts_46_47_or_48_hours_with_daylight_saving(sample, start, end, hours):
    found = weekends(sample, utc(start) - timedelta(days=2), utc(end) + timedelta(days=2))
    assert found == [(utc(start), utc(end))]
    assert found[0][1] - found[0][0] == timedelta(hours=hours)


@pytest.mark.parametrize(
    "at, change",
    [
        ("2026-12-01T16:00Z", "2026-12-05T01:00Z"),  # the business week: the next weekend starts
        ("2026-12-05T00:59:59Z", "2026-12-05T01:00Z"),
        ("2026-12-05T01:00Z", "2026-12-06T23:00Z"),  # in the weekend: it ends
        ("2026-12-06T23:00Z", "2026-12-12T01:00Z"),
    ],
)
def test_weekend_change_is_the_next_start_or_the_end_of_the_weekend_in_progress(sample, at, change):
    assert weekend_change(sample, utc(at)) == utc(change)


def test_a_weekend_that_starts_when_it_ends_never_ends():
    phonebook = phonebook_from(MIDNIGHT + '[weekend]\nstarts = "fri 17:00 UTC"\nends = "fri 17:00 UTC"\n')
    assert is_weekend(phonebook, utc("2026-12-01T12:00Z"))
    assert weekend_change(phonebook, utc("2026-12-01T12:00Z")) is None


def test_weekends_are_clipped_to_the_range_asked_for(sample):
    assert weekends(sample, utc("2026-01-11T00:00Z"), utc("2026-01-18T00:00Z")) == spans(
        ("2026-01-11T00:00Z", "2026-01-11T23:00Z"), ("2026-01-17T01:00Z", "2026-01-18T00:00Z")
    )


# --- holidays and extra shifts -------------------------------------------------------------


def test_a_listed_holiday_takes_the_team_off_for_its_local_date(sample):
    # Sydney lists 2026-12-24; 09:00 AEDT that day is 22:00 UTC the day before.
    assert "sydney" in names(sample, utc("2026-12-22T22:00Z"))
    assert "sydney" not in names(sample, utc("2026-12-23T22:00Z"))


@pytest.mark.parametrize(
    "team, off, on",
    [
        ("sydney", "2026-01-26T01:00Z", "2026-01-27T01:00Z"),  # AU-NSW: Australia Day, Mon Jan 26
        ("amsterdam", "2026-04-27T08:00Z", "2026-04-28T08:00Z"),  # NL: King's Day, Mon Apr 27
        ("san_francisco", "2026-03-31T18:00Z", "2026-03-30T18:00Z"),  # US-CA: Cesar Chavez Day, Tue Mar 31
        ("san_francisco", "2026-11-27T18:00Z", "2026-11-25T18:00Z"),  # US-CA: day after Thanksgiving
    ],
)
def test_calendar_holidays_take_the_team_off(sample, team, off, on):
    assert team not in names(sample, utc(off))
    assert team in names(sample, utc(on))


def test_a_holiday_cuts_an_overnight_shift_at_local_midnight(tricky):
    # Night works Thu 20:00 PST into Friday 04:00; Fri 2026-07-03 is a listed holiday.
    assert until(tricky, "night", utc("2026-07-03T04:00Z")) == utc("2026-07-03T07:00Z")
    assert "night" not in names(tricky, utc("2026-07-03T07:00Z"))


def test_an_extra_shift_beats_a_holiday(tricky):
    # Day lists 2026-12-24 as a holiday but works an extra 10:00-12:00 CET that day.
    assert "day" not in names(tricky, utc("2026-12-24T08:00Z"))
    assert until(tricky, "day", utc("2026-12-24T09:00Z")) == utc("2026-12-24T11:00Z")


def test_an_extra_shift_during_the_weekend_puts_a_priority_team_on_duty(sample):
    # Sydney's extra shift: Sunday 2026-12-27 10:00-14:00 AEDT, in the middle of the weekend.
    at = utc("2026-12-27T01:00Z")
    assert is_weekend(sample, at)
    assert names(sample, at) == ["select", "sydney"]
    assert until(sample, "sydney", at) == utc("2026-12-27T03:00Z")
    assert duty_intervals(sample, sample.team("sydney"), utc("2026-12-26T00:00Z"), utc("2026-12-28T00:00Z")) == spans(
        ("2026-12-26T23:00Z", "2026-12-27T03:00Z")
    )


def test_an_extra_shift_across_a_dst_change_keeps_its_wall_clock_hours(tricky):
    # 2026-03-29 01:00-05:00 in Amsterdam is three real hours.
    intervals = duty_intervals(tricky, tricky.team("day"), utc("2026-03-28T20:00Z"), utc("2026-03-29T12:00Z"))
    assert intervals == spans(("2026-03-29T00:00Z", "2026-03-29T03:00Z"))


# --- who is on duty, and until when ----------------------------------------------------------


def test_on_duty_lists_the_teams_in_name_order_with_the_end_of_their_stretch(sample):
    duties = on_duty(sample, utc("2026-12-01T16:00Z"))
    assert [(d.team.name, d.until) for d in duties] == [
        ("amsterdam", utc("2026-12-01T18:00Z")),
        ("san_francisco", utc("2026-12-02T03:00Z")),
        ("select", None),  # 24/7: never ends
    ]


def test_a_24_7_team_with_a_holiday_is_on_duty_until_the_holiday(tricky):
    assert until(tricky, "weekend", utc("2026-01-23T12:00Z")) == utc("2026-01-25T13:00Z")  # Australia Day, 00:00 AEDT


def test_instants_must_be_aware(sample):
    with pytest.raises(ValueError, match="timezone-aware"):
        on_duty(sample, datetime(2026, 12, 1, 9))


# --- the engine agrees with itself -----------------------------------------------------------

YEAR_START, YEAR_END = epoch(utc("2026-01-01T00:00Z")), epoch(utc("2027-01-01T00:00Z"))
EDGES = [
    "2026-03-08T10:00Z", "2026-11-01T09:00Z", "2026-03-29T01:00Z", "2026-10-25T01:00Z",
    "2026-04-04T16:00Z", "2026-10-03T16:00Z", "2026-01-15T00:00Z", "2026-12-05T01:00Z",
    "2026-12-06T23:00Z", "2026-12-27T03:00Z",
]
instants = st.one_of(
    st.integers(YEAR_START, YEAR_END).map(instant),
    st.sampled_from(EDGES).map(utc).flatmap(lambda at: st.sampled_from([at - SECOND, at, at + SECOND])),
)
phonebooks = st.sampled_from(["sample", "tricky"])


@pytest.fixture(scope="session")
def books(sample, tricky):
    return {"sample": sample, "tricky": tricky}


def weekend_by_definition(phonebook, at):
    """The rule in the issue's words: in [the latest start at or before `at`, the first end after it)."""
    starts, ends = phonebook.weekend.starts, phonebook.weekend.ends

    def moments(moment, around, days):
        local = around.astimezone(moment.tz).date()
        for offset in days:
            day = local + timedelta(days=offset)
            if day.weekday() == moment.weekday:
                yield datetime.combine(day, moment.at, moment.tz)

    latest_start = max(s for s in moments(starts, at, range(-8, 2)) if s <= at)
    first_end = min(e for e in moments(ends, latest_start, range(-1, 9)) if e > latest_start)
    return latest_start <= at < first_end


@settings(max_examples=300, deadline=None)
@given(name=phonebooks, at=instants)
def test_is_weekend_follows_the_rule_and_agrees_with_the_weekend_intervals(books, name, at):
    phonebook = books[name]
    around = weekends(phonebook, at - timedelta(days=8), at + timedelta(days=8))
    assert is_weekend(phonebook, at) == any(s <= at < e for s, e in around) == weekend_by_definition(phonebook, at)
    assert all(e - s in {timedelta(hours=h) for h in (46, 47, 48)} for s, e in around[1:-1])


@settings(max_examples=300, deadline=None)
@given(name=phonebooks, at=instants)
def test_on_duty_agrees_with_the_duty_intervals(books, name, at):
    phonebook = books[name]
    for team in phonebook.teams:
        intervals = duty_intervals(phonebook, team, at - timedelta(days=1), at + timedelta(days=1))
        assert (team.name in names(phonebook, at)) == any(s <= at < e for s, e in intervals)


@settings(max_examples=300, deadline=None)
@given(name=phonebooks, at=instants)
def test_until_is_the_first_instant_off_duty(books, name, at):
    phonebook = books[name]
    for duty in on_duty(phonebook, at):
        if duty.until is None:
            year = at + timedelta(days=366)
            assert duty_intervals(phonebook, duty.team, at, year) == [(at, year)]
        else:
            assert duty_intervals(phonebook, duty.team, at, duty.until + SECOND) == [(at, duty.until)]
            assert duty.team.name not in names(phonebook, duty.until)


@settings(max_examples=200, deadline=None)
@given(name=phonebooks, at=instants)
def test_the_weekend_changes_exactly_at_weekend_change(books, name, at):
    phonebook = books[name]
    change = weekend_change(phonebook, at)
    assert at < change <= at + timedelta(days=8)
    assert is_weekend(phonebook, change - SECOND) == is_weekend(phonebook, at) != is_weekend(phonebook, change)


def test_a_timeline_stretch_is_none_when_off_and_has_no_end_when_it_never_ends(sample):
    timelines = compiled(sample).teams
    assert timelines["amsterdam"].stretch(epoch(utc("2026-12-01T09:00Z"))) == Stretch(epoch(utc("2026-12-01T18:00Z")))
    assert timelines["amsterdam"].stretch(epoch(utc("2026-12-01T18:00Z"))) is None
    assert timelines["select"].stretch(epoch(utc("2026-12-01T18:00Z"))) == Stretch(None)
