"""The week-by-week picture of who covers when, for `ivr coverage` without --json.

Drawing only: the facts (duty, weekends, exact gaps) come from the engine (`ivr.engine.schedule`,
`ivr.engine.coverage`); this turns them into text for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ivr.engine.coverage import Span, l1_gaps, priority_gaps
from ivr.engine.instants import duration, epoch, instant, iso
from ivr.engine.intervals import Interval
from ivr.engine.phonebook import Phonebook
from ivr.engine.schedule import duty_intervals, weekends

WEEK = 7 * 86400
# Monday 1970-01-05 00:00 UTC: weeks in the picture start on a Monday.
_FIRST_MONDAY = 4 * 86400
HOURS_PER_MARK = 2
_MARK = HOURS_PER_MARK * 3600
FULL, PART, OFF, OUTSIDE = "#", "+", "-", " "


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


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of text in columns two spaces apart, each as wide as its widest cell (the last one as it is)."""
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    widths[-1:] = [0]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]



def _seconds(span: Span) -> int:
    return epoch(span[1]) - epoch(span[0])


def _between(span: Span) -> str:
    """'Thu 2026-12-24 03:00 - 06:00 UTC (3h)', naming the end's date only when it differs."""
    start, end = span
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %Y-%m-%d %H:%M}"
    return f"{start:%a %Y-%m-%d %H:%M} - {until} UTC ({duration(_seconds(span))})"


def _gap_lines(title: str, gaps: tuple[Span, ...]) -> list[str]:
    if not gaps:
        return [f"  {title}: none"]
    return [f"  {title}:"] + [f"    {_between(gap)}" for gap in gaps]


def _total(title: str, gaps: tuple[Span, ...]) -> str:
    if not gaps:
        return f"  {title}: never"
    return f"  {title}: {len(gaps)} gap(s), {duration(sum(_seconds(gap) for gap in gaps))} in all"


def _epochs(spans: list[Span]) -> list[Interval]:
    return [(epoch(s), epoch(e)) for s, e in spans]


def week_by_week(phonebook: Phonebook, start: datetime, end: datetime) -> str:
    """Who covers when, one block per week (Monday to Sunday, UTC), with that week's exact gaps."""
    low, high = epoch(start), epoch(end)
    if low >= high:
        raise ValueError(f"the range must end after it starts ({iso(start)} to {iso(end)})")
    labels = ["weekend (Priority off)"] + [
        f"{team.name} ({', '.join(filter(None, (team.kind.value, team.region)))})" for team in phonebook.teams
    ]
    width = max(len(label) for label in labels) + 2
    per_day = 24 // HOURS_PER_MARK
    out = [
        f"Coverage from {iso(start)} to {iso(end)}, in UTC, one mark per {HOURS_PER_MARK} hours:",
        f"{FULL!r} on duty (or weekend) throughout, {PART!r} part of the time, {OFF!r} off.",
    ]
    first_week = low - (low - _FIRST_MONDAY) % WEEK
    for week in range(first_week, high, WEEK):
        week_start, week_end = instant(max(week, low)), instant(min(week + WEEK, high))
        days = (instant(week + day * 86400) for day in range(7))
        out += ["", f"Week of {instant(week):%a %Y-%m-%d}",
                (" " * width + "|".join(f"{day:%a %d}".ljust(per_day) for day in days)).rstrip()]
        rows = [weekends(phonebook, week_start, week_end)] + [
            duty_intervals(phonebook, team, week_start, week_end) for team in phonebook.teams
        ]
        for label, spans in zip(labels, rows, strict=True):
            marks = _marks(_epochs(spans), week, epoch(week_start), epoch(week_end))
            out.append(f"{label:<{width}}{marks}".rstrip())
        out += _gap_lines("no team on duty", l1_gaps(phonebook, week_start, week_end))
        out += _gap_lines(
            "no Priority team on duty outside the weekend", priority_gaps(phonebook, week_start, week_end)
        )
    out += ["", "Over the whole range:", _total("no team on duty", l1_gaps(phonebook, start, end)),
            _total("no Priority team on duty outside the weekend", priority_gaps(phonebook, start, end))]
    return "\n".join(out)
