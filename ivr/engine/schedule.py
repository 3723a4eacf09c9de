"""The business-hours engine: when is the weekend, and which team is on duty at an instant.

Pure functions of (phonebook, instant). Local wall-clock rules are turned into UTC intervals
(integer epoch seconds, half-open) one block of days at a time and memoised per phonebook, so a
routing decision is a few binary searches.
"""

from __future__ import annotations

import weakref
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache, partial
from zoneinfo import ZoneInfo

from ivr.engine.hours import WeeklyMoment
from ivr.engine.instants import epoch, instant
from ivr.engine.intervals import Interval, clip, subtract, union
from ivr.engine.phonebook import Kind, Phonebook, Team, Weekend, calendar_holidays

BLOCK_SECONDS = 28 * 86400
# A stretch on duty that goes on this long past the next block boundary counts as unending
# (a 24/7 team).
HORIZON_SECONDS = 400 * 86400
# Shifts last at most a day and DST moves clocks by hours, so two days of margin catch every
# shift that can reach into a block.
_MARGIN = timedelta(days=2)


def instants(intervals: Iterable[Interval]) -> list[tuple[datetime, datetime]]:
    """Intervals of epoch seconds as pairs of UTC instants."""
    return [(instant(s), instant(e)) for s, e in intervals]


def _local_epoch(naive: datetime, tz: ZoneInfo) -> int:
    """Local wall-clock time to epoch seconds; times in a DST gap resolve as fold=0 does."""
    return int(naive.replace(tzinfo=tz).timestamp())


def _local_days(low: int, high: int, tz: ZoneInfo) -> tuple[date, date]:
    first = (instant(low).astimezone(tz) - _MARGIN).date()
    last = (instant(high).astimezone(tz) + _MARGIN).date()
    return first, last


@lru_cache(maxsize=256)
def _calendar_days(calendar: str, year: int) -> frozenset[date]:
    return calendar_holidays(calendar, year)


def _occurrences(moment: WeeklyMoment, low: int, high: int) -> list[int]:
    first, last = _local_days(low, high, moment.tz)
    first -= timedelta(days=7)
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [_local_epoch(datetime.combine(d, moment.at), moment.tz) for d in days if d.weekday() == moment.weekday]


def weekend_intervals(weekend: Weekend, low: int, high: int) -> list[Interval]:
    """Each weekend runs from a start to the first end after it."""
    ends = _occurrences(weekend.ends, low, high + 8 * 86400)
    spans = []
    for start in _occurrences(weekend.starts, low, high):
        end = ends[bisect_right(ends, start)]
        spans.append((start, end))
    return clip(union(spans), low, high)


def _team_intervals(team: Team, weekend: Weekend, low: int, high: int) -> list[Interval]:
    """The team's time on duty within [low, high)."""
    first, last = _local_days(low, high, team.tz)
    shifts = []
    for rule in team.hours:
        for start, end in rule.occurrences(first, last):
            shifts.append((_local_epoch(start, team.tz), _local_epoch(end, team.tz)))
    duty = union(shifts)
    days_off = set(team.holidays)
    if team.calendar:
        for year in range(first.year, last.year + 1):
            days_off |= _calendar_days(team.calendar, year)
    off = [
        (_local_epoch(datetime.combine(d, time()), team.tz),
         _local_epoch(datetime.combine(d + timedelta(days=1), time()), team.tz))
        for d in days_off
        if first <= d <= last
    ]
    duty = subtract(duty, union(off))
    if team.kind is Kind.PRIORITY:
        duty = subtract(duty, weekend_intervals(weekend, low - 86400 * 3, high + 86400 * 3))
    extra = [(_local_epoch(s.start, team.tz), _local_epoch(s.end, team.tz)) for s in team.extra]
    return clip(union(duty + extra), low, high)


@dataclass(frozen=True, slots=True)
class Stretch:
    """An unbroken stretch of a timeline (on duty, or weekend); `end` is None when it never ends
    (it goes on for HORIZON_SECONDS past the next block boundary)."""

    end: int | None


class Timeline:
    """Memoised intervals of one team (or of the weekend), compiled a block at a time."""

    def __init__(self, compile_block: Callable[[int, int], Sequence[Interval]]):
        self._compile = compile_block
        self._blocks: dict[int, tuple[list[int], list[int]]] = {}
        self._runs: dict[int, int | None] = {}

    def _block(self, index: int) -> tuple[list[int], list[int]]:
        block = self._blocks.get(index)
        if block is None:
            low = index * BLOCK_SECONDS
            intervals = self._compile(low, low + BLOCK_SECONDS)
            block = ([s for s, _ in intervals], [e for _, e in intervals])
            self._blocks[index] = block
        return block

    def stretch(self, at: int) -> Stretch | None:
        """The unbroken stretch containing `at`; None when `at` is in none (off duty, not the weekend)."""
        index = at // BLOCK_SECONDS
        starts, ends = self._block(index)
        position = bisect_right(starts, at) - 1
        if position < 0 or ends[position] <= at:
            return None
        end = ends[position]
        return Stretch(self._run_on(end) if end == (index + 1) * BLOCK_SECONDS else end)

    def _run_on(self, boundary: int) -> int | None:
        """Where a stretch that reaches the block boundary `boundary` ends; None if it goes on for
        HORIZON_SECONDS past it. Memoised, so a 24/7 team costs one lookup per decision."""
        if boundary in self._runs:
            return self._runs[boundary]
        end: int | None = boundary
        while end is not None and end % BLOCK_SECONDS == 0:
            if end - boundary >= HORIZON_SECONDS:
                end = None
                break
            starts, ends = self._block(end // BLOCK_SECONDS)
            if not starts or starts[0] != end:
                break
            end = ends[0]
        self._runs[boundary] = end
        return end

    def intervals(self, low: int, high: int) -> list[Interval]:
        """Merged intervals within [low, high)."""
        pieces: list[Interval] = []
        for index in range(low // BLOCK_SECONDS, (high - 1) // BLOCK_SECONDS + 1):
            starts, ends = self._block(index)
            pieces.extend(zip(starts, ends, strict=True))
        return clip(union(pieces), low, high)


@dataclass(frozen=True)
class Duty:
    """A team on duty, and when its current unbroken stretch ends (None: never)."""

    team: Team
    until: datetime | None


class _Compiled:
    def __init__(self, phonebook: Phonebook):
        weekend = phonebook.weekend
        self.weekend = Timeline(lambda low, high: weekend_intervals(weekend, low, high))
        self.teams = {team.name: Timeline(partial(_team_intervals, team, weekend)) for team in phonebook.teams}


_compiled: weakref.WeakKeyDictionary[Phonebook, _Compiled] = weakref.WeakKeyDictionary()


def compiled(phonebook: Phonebook) -> _Compiled:
    entry = _compiled.get(phonebook)
    if entry is None:
        entry = _compiled[phonebook] = _Compiled(phonebook)
    return entry


def is_weekend(phonebook: Phonebook, at: datetime) -> bool:
    return compiled(phonebook).weekend.stretch(epoch(at)) is not None


def weekend_change(phonebook: Phonebook, at: datetime) -> datetime | None:
    """The next instant after `at` when the weekend ends (if `at` is in it) or starts; None when
    the weekend in progress never ends."""
    seconds = epoch(at)
    timeline = compiled(phonebook).weekend
    weekend = timeline.stretch(seconds)
    if weekend is not None:
        return None if weekend.end is None else instant(weekend.end)
    # A weekend starts every week.
    return instant(timeline.intervals(seconds, seconds + 8 * 86400)[0][0])


def on_duty(phonebook: Phonebook, at: datetime) -> tuple[Duty, ...]:
    """Teams on duty at `at`, in phonebook (name) order."""
    seconds = epoch(at)
    timelines = compiled(phonebook).teams
    duties = []
    for team in phonebook.teams:
        stretch = timelines[team.name].stretch(seconds)
        if stretch is not None:
            duties.append(Duty(team, None if stretch.end is None else instant(stretch.end)))
    return tuple(duties)


def duty_intervals(phonebook: Phonebook, team: Team, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """When `team` is on duty within [start, end), as UTC instants."""
    return instants(compiled(phonebook).teams[team.name].intervals(epoch(start), epoch(end)))


def weekends(phonebook: Phonebook, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    return instants(compiled(phonebook).weekend.intervals(epoch(start), epoch(end)))
