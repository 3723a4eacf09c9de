"""Wall-clock value types for shifts and weekly moments, and their parsers.

Everything here is local time in some zone; turning it into instants is the job of
`ivr.engine.schedule`. Parsers raise `ValueError` with a message meant for an admin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.engine.suggest import did_you_mean, zone_hint

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = r"(\d{1,2}):(\d{2})"
_RANGE = re.compile(rf"^{_TIME}-{_TIME}$")


@dataclass(frozen=True)
class WeeklyShift:
    """A shift that starts on each of `days` at `start` and lasts `length` (local wall clock)."""

    days: frozenset[int]
    start: time
    length: timedelta

    def occurrences(self, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
        """Yield (start, end) naive local datetimes of shifts starting on days in [first, last]."""
        day = first
        while day <= last:
            if day.weekday() in self.days:
                begin = datetime.combine(day, self.start)
                yield begin, begin + self.length
            day += timedelta(days=1)


@dataclass(frozen=True)
class OneOffShift:
    """An extra shift on one local date (it may run into the next day)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class WeeklyMoment:
    """A moment that recurs every week, e.g. Friday 17:00 in America/Los_Angeles."""

    weekday: int
    at: time
    tz: ZoneInfo

    def __str__(self) -> str:
        return f"{DAY_NAMES[self.weekday]} {self.at:%H:%M} {self.tz.key}"


def parse_zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValueError("must be an IANA time zone name such as 'Europe/Amsterdam'")
    try:
        return ZoneInfo(name)
    # A directory of the zone database ('Europe') raises IsADirectoryError, an OSError.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}{zone_hint(name)}") from None


@overload
def _parse_clock(hours: str, minutes: str, *, allow_24: Literal[False]) -> time: ...
@overload
def _parse_clock(hours: str, minutes: str, *, allow_24: bool) -> time | None: ...
def _parse_clock(hours: str, minutes: str, *, allow_24: bool) -> time | None:
    h, m = int(hours), int(minutes)
    if allow_24 and (h, m) == (24, 0):
        return None
    if h > 23 or m > 59:
        raise ValueError(f"{hours}:{minutes} is not a time of day")
    return time(h, m)


def _parse_time_range(text: str) -> tuple[time, timedelta]:
    """'09:00-17:00' -> (09:00, 8h). An end not after the start runs into the next day."""
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time range like '09:00-17:00'")
    start = _parse_clock(match[1], match[2], allow_24=False)
    end = _parse_clock(match[3], match[4], allow_24=True)
    start_minutes = start.hour * 60 + start.minute
    end_minutes = 24 * 60 if end is None else end.hour * 60 + end.minute
    if end_minutes <= start_minutes:
        end_minutes += 24 * 60
    return start, timedelta(minutes=end_minutes - start_minutes)


def _parse_day(name: str) -> int:
    try:
        return DAY_NAMES.index(name.lower())
    except ValueError:
        # 'saturday', 'tues' and 'fry' are all close to a three-letter name.
        hint = did_you_mean(name.lower()[:3], DAY_NAMES)
        raise ValueError(f"{name!r} is not a day (use {', '.join(DAY_NAMES)}){hint}") from None


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            a, b = _parse_day(first), _parse_day(last)
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
        else:
            days.add(_parse_day(part))
    return frozenset(days)


def parse_weekly_shift(text: object) -> WeeklyShift:
    """'mon-fri 09:00-17:00', 'sat 10:00-14:00', 'mon,wed,fri 08:00-12:00' or '24/7'."""
    if not isinstance(text, str):
        raise ValueError("must be a string such as 'mon-fri 09:00-17:00' or '24/7'")
    text = text.strip()
    if text == "24/7":
        return WeeklyShift(frozenset(range(7)), time(0), timedelta(days=1))
    # 'mon, wed, fri 08:00-12:00' is 'mon,wed,fri 08:00-12:00'.
    days, _, hours = re.sub(r"\s*,\s*", ",", text).partition(" ")
    if not hours.strip():
        raise ValueError(f"{text!r} needs days and hours, like 'mon-fri 09:00-17:00'")
    start, length = _parse_time_range(hours.strip())
    return WeeklyShift(_parse_days(days), start, length)


def parse_one_off_shift(text: object) -> OneOffShift:
    """'2026-12-27 10:00-14:00' (local)."""
    if not isinstance(text, str) or " " not in text.strip():
        raise ValueError("must be a string such as '2026-12-27 10:00-14:00'")
    day_text, _, hours = text.strip().partition(" ")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise ValueError(f"{day_text!r} is not a date like 2026-12-27") from None
    start, length = _parse_time_range(hours.strip())
    begin = datetime.combine(day, start)
    return OneOffShift(begin, begin + length)


def parse_weekly_moment(text: object) -> WeeklyMoment:
    """'fri 17:00 America/Los_Angeles'."""
    parts = text.split() if isinstance(text, str) else []
    if len(parts) != 3:
        raise ValueError("must look like 'fri 17:00 America/Los_Angeles'")
    day, clock, zone = parts
    match = re.fullmatch(_TIME, clock)
    if not match:
        raise ValueError(f"{clock!r} is not a time like 17:00")
    return WeeklyMoment(_parse_day(day), _parse_clock(match[1], match[2], allow_24=False), parse_zone(zone))
