"""The hours syntax admins write: weekly shifts, one-off shifts and the weekend's moments."""

from datetime import date, datetime, time, timedelta

import pytest

from ivr.engine.hours import parse_one_off_shift, parse_weekly_moment, parse_weekly_shift, parse_zone

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@pytest.mark.parametrize(
    "text, days, start, length",
    [
        ("mon-fri 09:00-17:00", {MON, TUE, WED, THU, FRI}, time(9), timedelta(hours=8)),
        ("sat 10:00-14:00", {SAT}, time(10), timedelta(hours=4)),
        ("mon,wed,fri 08:00-12:00", {MON, WED, FRI}, time(8), timedelta(hours=4)),
        ("fri-mon 10:00-18:30", {FRI, SAT, SUN, MON}, time(10), timedelta(hours=8, minutes=30)),
        ("mon-tue,thu 9:30-10:00", {MON, TUE, THU}, time(9, 30), timedelta(minutes=30)),
        ("24/7", set(range(7)), time(0), timedelta(days=1)),
        ("MON-FRI 09:00-17:00", {MON, TUE, WED, THU, FRI}, time(9), timedelta(hours=8)),
        ("mon, wed , fri 08:00-12:00", {MON, WED, FRI}, time(8), timedelta(hours=4)),
    ],
)
def test_weekly_shifts_parse_into_days_start_and_length(text, days, start, length):
    shift = parse_weekly_shift(text)
    assert (shift.days, shift.start, shift.length) == (frozenset(days), start, length)


def test_a_range_whose_end_is_not_after_its_start_runs_into_the_next_day():
    assert parse_weekly_shift("fri 22:00-02:00").length == timedelta(hours=4)
    assert parse_weekly_shift("mon 08:00-08:00").length == timedelta(hours=24)


def test_24_00_is_allowed_as_an_end_and_means_midnight():
    assert parse_weekly_shift("mon-fri 18:00-24:00").length == timedelta(hours=6)
    assert parse_weekly_shift("sun 00:00-24:00").length == timedelta(hours=24)


def test_occurrences_are_local_wall_clock_and_an_overnight_shift_ends_the_next_day():
    shift = parse_weekly_shift("fri 22:00-02:00")
    assert list(shift.occurrences(date(2026, 12, 3), date(2026, 12, 12))) == [
        (datetime(2026, 12, 4, 22), datetime(2026, 12, 5, 2)),
        (datetime(2026, 12, 11, 22), datetime(2026, 12, 12, 2)),
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("mon-fri", "needs days and hours"),
        ("mon-fri 9-17", "is not a time range"),
        ("mon-fri 09:00-17:60", "17:60 is not a time of day"),
        ("mon-fri 24:00-02:00", "24:00 is not a time of day"),
        ("mon-fri 25:00-26:00", "25:00 is not a time of day"),
        ("funday 09:00-17:00", "'funday' is not a day"),
        ("mon-fry 09:00-17:00", r"'fry' is not a day \(use mon, tue, wed, thu, fri, sat, sun\) \(did you mean 'fri'\?\)"),
        ("Saturday 10:00-14:00", r"\(did you mean 'sat'\?\)"),
        ("mon,,fri 09:00-17:00", "'' is not a day"),
        ("weekdays", "needs days and hours"),
        (7, "must be a string"),
    ],
)
def test_malformed_hours_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_weekly_shift(text)


def test_a_one_off_shift_is_a_local_date_and_range():
    shift = parse_one_off_shift("2026-12-27 22:00-02:00")
    assert (shift.start, shift.end) == (datetime(2026, 12, 27, 22), datetime(2026, 12, 28, 2))


@pytest.mark.parametrize(
    "text, message",
    [
        ("2026-13-27 10:00-14:00", "'2026-13-27' is not a date"),
        ("2026-12-27", "must be a string such as"),
        ("2026-12-27 10:00", "is not a time range"),
        (["2026-12-27 10:00-14:00"], "must be a string such as"),
    ],
)
def test_malformed_extra_shifts_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_one_off_shift(text)


def test_a_weekly_moment_names_day_time_and_zone():
    moment = parse_weekly_moment("fri 17:00 America/Los_Angeles")
    assert (moment.weekday, moment.at, moment.tz.key) == (FRI, time(17), "America/Los_Angeles")
    assert str(moment) == "fri 17:00 America/Los_Angeles"


@pytest.mark.parametrize(
    "text, message",
    [
        ("fri 17:00", "must look like 'fri 17:00 America/Los_Angeles'"),
        ("friday 17:00 UTC", "'friday' is not a day"),
        ("fri 5pm UTC", "'5pm' is not a time"),
        ("fri 17:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        (None, "must look like"),
    ],
)
def test_a_weekend_moment_that_cannot_be_parsed_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_weekly_moment(text)


@pytest.mark.parametrize(
    "name, message",
    [
        ("europe/amsterdam", "unknown time zone 'europe/amsterdam' \\(did you mean 'Europe/Amsterdam'\\?\\)"),
        ("America/Los_Angels", "did you mean 'America/Los_Angeles'"),
        ("Europe", "unknown time zone 'Europe'"),
        ("/etc/localtime", "unknown time zone '/etc/localtime'"),
        ("", "must be an IANA time zone name"),
        (1, "must be an IANA time zone name"),
    ],
)
def test_unknown_zones_are_refused_with_a_suggestion_when_one_is_close(name, message):
    with pytest.raises(ValueError, match=message):
        parse_zone(name)
