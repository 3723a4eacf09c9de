"""Suggestions for a mistyped name in an admin's file: a key, a choice, a column, a time zone."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, available_timezones


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """' (did you mean 'priority'?)' for 'priorty' among the choices, else ''."""
    close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- time zones ------------------------------------------------------------------------------
# An office keeps its city's clock, daylight saving included, so the zone to name is the city's
# ('Area/City'). Abbreviations are not zone names (PST, CEST, IST); the few the zone database
# knows (EST, MST, HST: fixed offsets; CET, EET, WET, MET: legacy rules) and its legacy aliases
# (US/Pacific, PST8PDT, GB) are kept only for old systems.

# The areas of the zone database's 'Area/City' names; every other name is a legacy alias or Etc/.
CITY_AREAS = frozenset({
    "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific",
})

_LOS_ANGELES = ("America/Los_Angeles",)
_DENVER = ("America/Denver",)
_CHICAGO = ("America/Chicago",)
_NEW_YORK = ("America/New_York",)
_CENTRAL_EUROPE = ("Europe/Paris", "Europe/Berlin", "Europe/Amsterdam")
_EASTERN_EUROPE = ("Europe/Athens", "Europe/Helsinki")

# Abbreviations and legacy aliases admins write, and the city zones they stand for (the likeliest first).
ZONES_FOR = MappingProxyType({
    "PST": _LOS_ANGELES, "PDT": _LOS_ANGELES, "PT": _LOS_ANGELES, "PST8PDT": _LOS_ANGELES,
    "US/Pacific": _LOS_ANGELES, "Canada/Pacific": ("America/Vancouver",),
    "MST": ("America/Denver", "America/Phoenix"), "MDT": _DENVER, "MT": _DENVER, "MST7MDT": _DENVER,
    "US/Mountain": _DENVER, "Navajo": _DENVER, "US/Arizona": ("America/Phoenix",),
    "Canada/Mountain": ("America/Edmonton",),
    "CST": ("America/Chicago", "America/Mexico_City", "Asia/Shanghai"), "CDT": _CHICAGO, "CT": _CHICAGO,
    "CST6CDT": _CHICAGO, "US/Central": _CHICAGO, "Canada/Central": ("America/Winnipeg",),
    "EST": ("America/New_York", "America/Toronto"), "EDT": ("America/New_York", "America/Toronto"),
    "ET": _NEW_YORK, "EST5EDT": _NEW_YORK, "US/Eastern": _NEW_YORK, "Canada/Eastern": ("America/Toronto",),
    "AKST": ("America/Anchorage",), "AKDT": ("America/Anchorage",), "US/Alaska": ("America/Anchorage",),
    "HST": ("Pacific/Honolulu",), "US/Hawaii": ("Pacific/Honolulu",),
    "AST": ("America/Halifax",), "ADT": ("America/Halifax",), "Canada/Atlantic": ("America/Halifax",),
    "NST": ("America/St_Johns",), "NDT": ("America/St_Johns",), "Canada/Newfoundland": ("America/St_Johns",),
    "BRT": ("America/Sao_Paulo",), "ART": ("America/Argentina/Buenos_Aires",),
    "BST": ("Europe/London",), "GB": ("Europe/London",), "GB-Eire": ("Europe/London",),
    "IST": ("Asia/Kolkata", "Europe/Dublin", "Asia/Jerusalem"), "Eire": ("Europe/Dublin",),
    "Israel": ("Asia/Jerusalem",),
    "WET": ("Europe/Lisbon",), "WEST": ("Europe/Lisbon",), "Portugal": ("Europe/Lisbon",),
    "CET": _CENTRAL_EUROPE, "CEST": _CENTRAL_EUROPE, "MET": _CENTRAL_EUROPE, "MEST": _CENTRAL_EUROPE,
    "Poland": ("Europe/Warsaw",),
    "EET": _EASTERN_EUROPE, "EEST": _EASTERN_EUROPE, "Turkey": ("Europe/Istanbul",), "Egypt": ("Africa/Cairo",),
    "MSK": ("Europe/Moscow",), "W-SU": ("Europe/Moscow",),
    "SAST": ("Africa/Johannesburg",), "WAT": ("Africa/Lagos",), "EAT": ("Africa/Nairobi",),
    "PKT": ("Asia/Karachi",), "ICT": ("Asia/Bangkok",), "WIB": ("Asia/Jakarta",), "PHT": ("Asia/Manila",),
    "SGT": ("Asia/Singapore",), "Singapore": ("Asia/Singapore",), "HKT": ("Asia/Hong_Kong",),
    "Hongkong": ("Asia/Hong_Kong",), "PRC": ("Asia/Shanghai",), "ROC": ("Asia/Taipei",),
    "KST": ("Asia/Seoul",), "ROK": ("Asia/Seoul",), "JST": ("Asia/Tokyo",), "Japan": ("Asia/Tokyo",),
    "AWST": ("Australia/Perth",), "ACST": ("Australia/Adelaide", "Australia/Darwin"),
    "ACDT": ("Australia/Adelaide",), "AEST": ("Australia/Sydney", "Australia/Brisbane"),
    "AEDT": ("Australia/Sydney", "Australia/Melbourne"),
    "NZST": ("Pacific/Auckland",), "NZDT": ("Pacific/Auckland",), "NZ": ("Pacific/Auckland",),
})
_BY_FOLDED = MappingProxyType({name.casefold(): zones for name, zones in ZONES_FOR.items()})

# Zero offset all year: fine for a global team or the weekend, not for an office (London is not on UTC in summer).
UNIVERSAL_ZONES = frozenset({
    "UTC", "UCT", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "Universal", "Zulu",
    "Etc/UTC", "Etc/UCT", "Etc/GMT", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "Etc/Greenwich", "Etc/Universal",
    "Etc/Zulu",
})
# The other fixed offsets the zone database has outside Etc/.
_FIXED_ZONES = frozenset({"EST", "MST", "HST"})


def is_city_zone(name: str) -> bool:
    """'Europe/Amsterdam' follows a city's clock; 'CET', 'US/Pacific' and 'Etc/GMT+5' do not."""
    area, _, city = name.partition("/")
    return area in CITY_AREAS and bool(city)


@cache
def _city_zones() -> Mapping[str, str]:
    """The city zones by their case-folded names (the only zones a hint ever names)."""
    return MappingProxyType({zone.casefold(): zone for zone in available_timezones() if is_city_zone(zone)})


def _listed(zones: tuple[str, ...]) -> str:
    quoted = [repr(zone) for zone in zones]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _use(zones: tuple[str, ...]) -> str:
    if len(zones) == 1:
        return f"use {zones[0]!r}"
    return f"use a city's zone, such as {_listed(zones)}"


def zone_hint(name: str) -> str:
    """What to write instead of `name`, which is not a zone: for an abbreviation ('PST'), the city
    zones it stands for; otherwise the closest city zone ('europe/amsterdam', 'Europe/Amsterdm');
    never a fixed offset or a legacy alias."""
    zones = _BY_FOLDED.get(name.strip().casefold())
    if zones is not None:
        return f" (an abbreviation, not a zone name: {_use(zones)})"
    cities = _city_zones()
    close = difflib.get_close_matches(name.strip().casefold(), cities, n=1)
    return f" (did you mean {cities[close[0]]!r}?)" if close else ""


def _offset(zone: str) -> str:
    # A fixed zone has one offset: any instant gives it.
    offset = ZoneInfo(zone).utcoffset(datetime(2000, 1, 1)) or timedelta()
    sign = "-" if offset < timedelta() else "+"
    hours, rest = divmod(abs(int(offset.total_seconds())), 3600)
    return f"UTC{sign}{hours:02d}:{rest // 60:02d}"


def zone_advice(zone: str) -> str | None:
    """Why a zone that exists does not keep a city's clock, and what to use instead; None for a
    city zone ('Europe/Amsterdam'). Universal zones (UTC) get advice too: fine for a global team,
    a mistake for an office; the caller decides."""
    if is_city_zone(zone):
        return None
    if zone in UNIVERSAL_ZONES:
        return (f"{zone!r} has no daylight saving, so an office's hours would drift by an hour from its "
                "city's clocks when they change: use its city's zone (an 'Area/City' name such as 'Europe/London')")
    instead = _use(ZONES_FOR[zone]) if zone in ZONES_FOR else "use a city's zone (an 'Area/City' name)"
    if zone in _FIXED_ZONES or zone.startswith("Etc/"):
        return f"{zone!r} is a fixed offset ({_offset(zone)} all year, no daylight saving): {instead}"
    return f"{zone!r} is a legacy alias kept for old systems: {instead}"
