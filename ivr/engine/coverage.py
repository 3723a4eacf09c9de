"""Coverage: when over a range is nobody, or no Priority team, on duty.

Exact, by interval arithmetic on the engine's memoised timelines (no sampling): every gap is a
maximal half-open interval, touching gaps merged, clipped to the range, in time order. The gaps
are the facts; the week-by-week picture drawn from them is the CLI's (`ivr.cli.pictures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ivr.engine.instants import epoch, iso
from ivr.engine.intervals import Interval, complement, union
from ivr.engine.phonebook import Kind, Phonebook
from ivr.engine.schedule import compiled, instants

Span = tuple[datetime, datetime]

@dataclass(frozen=True)
class Coverage:
    start: datetime
    end: datetime
    l1_gaps: tuple[Span, ...]
    priority_gaps: tuple[Span, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "from": iso(self.start),
            "to": iso(self.end),
            "l1_gaps": [_span_json(gap) for gap in self.l1_gaps],
            "priority_gaps": [_span_json(gap) for gap in self.priority_gaps],
        }


def _span_json(span: Span) -> dict[str, object]:
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
