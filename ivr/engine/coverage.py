"""Coverage: when over a range is nobody, or no Priority team, on duty.

Exact, by interval arithmetic on the engine's memoised timelines (no sampling): every gap is a
maximal half-open interval, touching gaps merged, clipped to the range, in time order. The
week-by-week picture is for people; the gaps are the facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ivr.engine.instants import epoch, instant, iso
from ivr.engine.intervals import Interval, complement, union
from ivr.engine.phonebook import Kind, Phonebook
from ivr.engine.schedule import compiled, instants

Span = tuple[datetime, datetime]

WEEK = 7 * 86400
# Monday 1970-01-05 00:00 UTC: weeks in the picture start on a Monday.
_FIRST_MONDAY = 4 * 86400
HOURS_PER_MARK = 2
_MARK = HOURS_PER_MARK * 3600
FULL, PART, OFF, OUTSIDE = "#", "+", "-", " "


@dataclass(frozen=True)
class Coverage:
    start: datetime
    end: datetime
    l1_gaps: tuple[Span, ...]
    priority_gaps: tuple[Span, ...]

    def as_json(self) -> dict:
        return {
            "from": iso(self.start),
            "to": iso(self.end),
            "l1_gaps": [_span_json(gap) for gap in self.l1_gaps],
            "priority_gaps": [_span_json(gap) for gap in self.priority_gaps],
        }


def _span_json(span: Span) -> dict:
    return {"from": iso(span[0]), "to": iso(span[1])}


def _bounds(start: datetime, end: datetime) -> tuple[int, int]:
    low, high = epoch(start), epoch(end)
    if low >= high:
        raise ValueError(f"the range must end after it starts ({iso(start)} to {iso(end)})")
    return low, high


def _duty(phonebook: Phonebook, low: int, high: int, kinds: frozenset[Kind]) -> list[Interval]:
    """When at least one team of `kinds` is on duty within [low, high)."""
    timelines = compiled(phonebook).teams
    pieces: list[Interval] = []
    for team in phonebook.teams:
        if team.kind in kinds:
            pieces.extend(timelines[team.name].intervals(low, high))
    return union(pieces)


def _l1_gaps(phonebook: Phonebook, low: int, high: int) -> list[Interval]:
    return complement(_duty(phonebook, low, high, frozenset(Kind)), low, high)


def _priority_gaps(phonebook: Phonebook, low: int, high: int) -> list[Interval]:
    covered = _duty(phonebook, low, high, frozenset({Kind.PRIORITY}))
    weekend = compiled(phonebook).weekend.intervals(low, high)
    return complement(union(covered + weekend), low, high)


def _spans(intervals: list[Interval]) -> tuple[Span, ...]:
    return tuple(instants(intervals))


def l1_gaps(phonebook: Phonebook, start: datetime, end: datetime) -> tuple[Span, ...]:
    """Times in [start, end) when no team at all is on duty (the fallback is not a team)."""
    return _spans(_l1_gaps(phonebook, *_bounds(start, end)))


def priority_gaps(phonebook: Phonebook, start: datetime, end: datetime) -> tuple[Span, ...]:
    """Times in [start, end) outside the weekend when no Priority team is on duty."""
    return _spans(_priority_gaps(phonebook, *_bounds(start, end)))


def coverage(phonebook: Phonebook, start: datetime, end: datetime) -> Coverage:
    low, high = _bounds(start, end)
    return Coverage(
        start, end, _spans(_l1_gaps(phonebook, low, high)), _spans(_priority_gaps(phonebook, low, high))
    )


# --- the picture ---------------------------------------------------------------------------


def _marks(intervals: list[Interval], week: int, low: int, high: int) -> str:
    """One mark per HOURS_PER_MARK hours of the week: on duty all of it, part of it, or not."""
    marks = []
    index = 0
    for cell in range(week, week + WEEK, _MARK):
        cell_low, cell_high = max(cell, low), min(cell + _MARK, high)
        if cell_low >= cell_high:
            marks.append(OUTSIDE)
            continue
        while index < len(intervals) and intervals[index][1] <= cell_low:
            index += 1
        covered, probe = 0, index
        while probe < len(intervals) and intervals[probe][0] < cell_high:
            covered += min(intervals[probe][1], cell_high) - max(intervals[probe][0], cell_low)
            probe += 1
        marks.append(FULL if covered == cell_high - cell_low else PART if covered else OFF)
    per_day = 24 // HOURS_PER_MARK
    return "|".join("".join(marks[i : i + per_day]) for i in range(0, len(marks), per_day))


def duration(seconds: int) -> str:
    """'3d 9h', '2h 30m', '45s'."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{minutes}m"] * bool(minutes)
    return " ".join(parts) or f"{seconds}s"


def _between(low: int, high: int) -> str:
    """'Thu 2026-12-24 03:00 - 06:00 UTC (3h)', naming the end's date only when it differs."""
    start, end = instant(low), instant(high)
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %Y-%m-%d %H:%M}"
    return f"{start:%a %Y-%m-%d %H:%M} - {until} UTC ({duration(high - low)})"


def _gap_lines(title: str, gaps: list[Interval]) -> list[str]:
    if not gaps:
        return [f"  {title}: none"]
    return [f"  {title}:"] + [f"    {_between(s, e)}" for s, e in gaps]


def week_by_week(phonebook: Phonebook, start: datetime, end: datetime) -> str:
    """Who covers when, one block per week (Monday to Sunday, UTC), with that week's exact gaps."""
    low, high = _bounds(start, end)
    timelines = compiled(phonebook)
    rows = [("weekend (Priority off)", timelines.weekend)] + [
        (f"{team.name} ({', '.join(filter(None, (team.kind.value, team.region)))})", timelines.teams[team.name])
        for team in phonebook.teams
    ]
    width = max(len(label) for label, _ in rows) + 2
    per_day = 24 // HOURS_PER_MARK
    out = [
        f"Coverage from {iso(start)} to {iso(end)}, in UTC, one mark per {HOURS_PER_MARK} hours:",
        f"{FULL!r} on duty (or weekend) throughout, {PART!r} part of the time, {OFF!r} off.",
    ]
    first_week = low - (low - _FIRST_MONDAY) % WEEK
    for week in range(first_week, high, WEEK):
        week_low, week_high = max(week, low), min(week + WEEK, high)
        days = (instant(week + day * 86400) for day in range(7))
        out += ["", f"Week of {instant(week):%a %Y-%m-%d}",
                (" " * width + "|".join(f"{day:%a %d}".ljust(per_day) for day in days)).rstrip()]
        for label, timeline in rows:
            intervals = timeline.intervals(week_low, week_high)
            out.append(f"{label:<{width}}{_marks(intervals, week, week_low, week_high)}".rstrip())
        out += _gap_lines("no team on duty", _l1_gaps(phonebook, week_low, week_high))
        out += _gap_lines("no Priority team on duty outside the weekend",
                          _priority_gaps(phonebook, week_low, week_high))
    out += ["", "Over the whole range:", _total("no team on duty", _l1_gaps(phonebook, low, high)),
            _total("no Priority team on duty outside the weekend", _priority_gaps(phonebook, low, high))]
    return "\n".join(out)


def _total(title: str, gaps: list[Interval]) -> str:
    if not gaps:
        return f"  {title}: never"
    return f"  {title}: {len(gaps)} gap(s), {duration(sum(e - s for s, e in gaps))} in all"
