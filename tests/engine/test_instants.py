"""Instants as people read them: durations, from now, and in an office's own zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from conftest import utc

from ivr.engine.instants import local_time, relative

AT = utc("2026-12-01T09:00Z")


@pytest.mark.parametrize(("then", "words"), [
    ("2026-12-01T11:00Z", "in 2h"),
    ("2026-12-01T11:30Z", "in 2h 30m"),
    ("2026-12-04T10:00Z", "in 3d 1h"),
    ("2026-12-01T09:00:45Z", "in 45s"),
    ("2026-12-01T09:00Z", "now"),
    ("2026-12-01T06:00Z", "3h ago"),
    ("2026-11-30T08:50Z", "1d 10m ago"),
])
def test_relative_says_how_far_an_instant_is_from_now(then, words):
    assert relative(utc(then), AT) == words


@pytest.mark.parametrize(("zone", "words"), [
    ("Europe/Amsterdam", "Tue 10:00 CET"),
    ("America/Los_Angeles", "Tue 01:00 PST"),
    ("Australia/Sydney", "Tue 20:00 AEDT"),
    ("UTC", "Tue 09:00 UTC"),
])
def test_local_time_is_the_weekday_and_time_in_the_zone_with_its_abbreviation(zone, words):
    assert local_time(AT, ZoneInfo(zone)) == words
