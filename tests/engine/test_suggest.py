"""A mistyped name in an admin's file gets the closest known one, or nothing; a time zone that is
an abbreviation, a fixed offset or a legacy alias gets the city zone to use instead."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from ivr.engine.suggest import ZONES_FOR, did_you_mean, is_city_zone, zone_advice, zone_hint


@pytest.mark.parametrize(
    ("value", "choices", "hint"),
    [
        pytest.param("priorty", ("priority", "select"), " (did you mean 'priority'?)", id="typo"),
        pytest.param("gold", ("priority", "select"), "", id="nothing-close"),
        pytest.param(3, ("priority", "select"), "", id="not-text"),
    ],
)
def test_did_you_mean_names_the_closest_choice_or_nothing(value, choices, hint):
    assert did_you_mean(value, choices) == hint


# --- time zones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        pytest.param("PST", " (an abbreviation, not a zone name: use 'America/Los_Angeles')", id="pst-not-mst"),
        pytest.param("pdt", " (an abbreviation, not a zone name: use 'America/Los_Angeles')", id="any-case"),
        pytest.param("EDT", " (an abbreviation, not a zone name: use a city's zone, such as 'America/New_York' or "
                            "'America/Toronto')", id="edt-not-est"),
        pytest.param("CEST", " (an abbreviation, not a zone name: use a city's zone, such as 'Europe/Paris', "
                             "'Europe/Berlin' or 'Europe/Amsterdam')", id="cest"),
        pytest.param("IST", " (an abbreviation, not a zone name: use a city's zone, such as 'Asia/Kolkata', "
                            "'Europe/Dublin' or 'Asia/Jerusalem')", id="ambiguous"),
        pytest.param("AEDT", " (an abbreviation, not a zone name: use a city's zone, such as 'Australia/Sydney' or "
                             "'Australia/Melbourne')", id="aedt"),
        pytest.param("JST", " (an abbreviation, not a zone name: use 'Asia/Tokyo')", id="jst"),
        pytest.param("Europe/Amsterdm", " (did you mean 'Europe/Amsterdam'?)", id="typo"),
        pytest.param("Mars/Olympus", "", id="nothing-close"),
    ],
)
def test_a_name_that_is_no_zone_gets_the_city_zone_it_stands_for(name, hint):
    assert zone_hint(name) == hint


@pytest.mark.parametrize("name", ["XST", "ESTT", "US/Pacifc", "Etc/GMT+55", "MSTT", "GMT+5", "UTC+1"])
def test_a_hint_never_names_a_fixed_offset_or_a_legacy_alias(name):
    hint = zone_hint(name)
    named = hint.split("'")[1::2]
    assert all(is_city_zone(zone) for zone in named), hint


def test_every_zone_an_abbreviation_stands_for_is_a_city_zone_that_exists():
    for zones in ZONES_FOR.values():
        for zone in zones:
            assert is_city_zone(zone) and ZoneInfo(zone).key == zone


@pytest.mark.parametrize(
    ("zone", "advice"),
    [
        pytest.param("Europe/Amsterdam", None, id="city"),
        pytest.param("America/Argentina/Buenos_Aires", None, id="city-in-a-region"),
        pytest.param("EST", "'EST' is a fixed offset (UTC-05:00 all year, no daylight saving): use a city's zone, "
                            "such as 'America/New_York' or 'America/Toronto'", id="est"),
        pytest.param("HST", "'HST' is a fixed offset (UTC-10:00 all year, no daylight saving): use "
                            "'Pacific/Honolulu'", id="hst"),
        pytest.param("Etc/GMT+5", "'Etc/GMT+5' is a fixed offset (UTC-05:00 all year, no daylight saving): use a "
                                  "city's zone (an 'Area/City' name)", id="etc-sign-inverted"),
        pytest.param("Etc/GMT-10", "'Etc/GMT-10' is a fixed offset (UTC+10:00 all year, no daylight saving): use a "
                                   "city's zone (an 'Area/City' name)", id="etc-east"),
        pytest.param("US/Pacific", "'US/Pacific' is a legacy alias kept for old systems: use 'America/Los_Angeles'",
                     id="legacy-alias"),
        pytest.param("PST8PDT", "'PST8PDT' is a legacy alias kept for old systems: use 'America/Los_Angeles'",
                     id="posix-style"),
        pytest.param("Cuba", "'Cuba' is a legacy alias kept for old systems: use a city's zone (an 'Area/City' name)",
                     id="alias-not-listed"),
        pytest.param("UTC", "'UTC' has no daylight saving, so an office's hours would drift by an hour from its "
                            "city's clocks when they change: use its city's zone (an 'Area/City' name such as "
                            "'Europe/London')", id="utc"),
    ],
)
def test_a_zone_that_keeps_no_city_s_clock_gets_advice_naming_the_zone_to_use(zone, advice):
    assert zone_advice(zone) == advice
