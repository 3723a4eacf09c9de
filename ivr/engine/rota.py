"""The duty rota as ops reads it: who is on now and since when, the next handoffs, the week ahead.

Pure functions of (phonebook, instant) over `ivr.engine.schedule`; the console only renders them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from ivr.engine.coverage import l1_gaps
from ivr.engine.instants import epoch, instant, iso
from ivr.engine.intervals import Interval, union
from ivr.engine.phonebook import Kind, Phonebook, Team
from ivr.engine.schedule import compiled, duty_intervals, instants, is_weekend, on_duty, weekends

# How far back "on duty since" looks; a stretch older than this shows as "for over a week".
LOOKBACK = timedelta(days=8)
HANDOFF_HORIZON = timedelta(hours=48)
HANDOFFS_SHOWN = 8


@dataclass(frozen=True)
class OnDuty:
    team: Team
    since: datetime | None  # None: longer ago than LOOKBACK
    until: datetime | None  # None: never ends


@dataclass(frozen=True)
class Handoff:
    at: datetime
    team: Team
    comes_on: bool


@dataclass(frozen=True)
class Board:
    at: datetime
    weekend: bool
    # The weekend in progress, else the next one.
    weekend_span: tuple[datetime, datetime] | None
    on_duty: tuple[OnDuty, ...]
    handoffs: tuple[Handoff, ...]


def board(phonebook: Phonebook, at: datetime) -> Board:
    """Who is on duty at `at`, since and until when, and the handoffs in the next two days."""
    on = []
    # Whole seconds, as the schedule's intervals are.
    window = instant(epoch(at - LOOKBACK))
    for duty in on_duty(phonebook, at):
        stretches = duty_intervals(phonebook, duty.team, window, at + timedelta(seconds=1))
        start = stretches[-1][0] if stretches else None
        on.append(OnDuty(duty.team, None if start == window else start, duty.until))
    horizon = at + HANDOFF_HORIZON
    handoffs = []
    for team in phonebook.teams:
        for start, end in duty_intervals(phonebook, team, at, horizon):
            if start > at:
                handoffs.append(Handoff(start, team, True))
            if end < horizon:
                handoffs.append(Handoff(end, team, False))
    handoffs.sort(key=lambda h: (h.at, h.comes_on, h.team.name))
    spans = [s for s in weekends(phonebook, at - timedelta(days=3), at + timedelta(days=8)) if s[1] > at]
    return Board(
        at=at,
        weekend=is_weekend(phonebook, at),
        weekend_span=spans[0] if spans else None,
        on_duty=tuple(on),
        handoffs=tuple(handoffs[:HANDOFFS_SHOWN]),
    )


def after_the_teams(phonebook: Phonebook) -> str:
    """Where a call goes when no team takes it: the fallback, if the phonebook has one, then voicemail."""
    fallback = phonebook.fallback
    if fallback is None:
        return "voicemail"
    return f"the fallback ({fallback.label}) {', '.join(fallback.dial)}, then voicemail"


# What each reader of "who is on duty" gets per team (each shape is pinned by its tests; the
# README documents the CLI's).
TEAM_FIELDS = ("team", "kind", "since", "until")


def _instant_json(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


def board_json(board: Board, fields: Sequence[str] = TEAM_FIELDS, *, handoffs: bool = True) -> dict[str, object]:
    """Who is on duty, as JSON: `at`, `weekend`, `on_duty` (the `fields` of each team on duty, in
    name order; `since` null when longer ago than LOOKBACK, `until` null when it never ends) and,
    with `handoffs`, the handoffs coming up. The ops API (`/ops/api/now`) and `ivr who --json`
    both answer from here."""
    unknown = set(fields) - set(TEAM_FIELDS)
    if unknown:
        raise ValueError(f"no such team field: {', '.join(sorted(unknown))}")
    teams = [
        {
            key: value
            for key, value in (
                ("team", duty.team.name),
                ("kind", duty.team.kind.value),
                ("since", _instant_json(duty.since)),
                ("until", _instant_json(duty.until)),
            )
            if key in fields
        }
        for duty in board.on_duty
    ]
    out: dict[str, object] = {"at": iso(board.at), "weekend": board.weekend, "on_duty": teams}
    if handoffs:
        out["handoffs"] = [{"at": iso(h.at), "team": h.team.name, "comes_on": h.comes_on} for h in board.handoffs]
    return out


@dataclass(frozen=True)
class Row:
    label: str
    spans: tuple[tuple[datetime, datetime], ...]
    kind: str  # a team kind, "weekend", "gap" or "overlap"


@dataclass(frozen=True)
class Week:
    start: datetime
    end: datetime
    teams: tuple[Row, ...]
    weekend: Row
    gaps: Row
    overlaps: Row

    def fraction(self, at: datetime) -> float:
        """Where `at` falls across the week, 0..1, for drawing."""
        return (at - self.start) / (self.end - self.start)

    @property
    def days(self) -> tuple[tuple[datetime, datetime], ...]:
        """The UTC calendar days across the week, each clipped to it: the drawing's grid."""
        found = []
        day = datetime.combine(self.start.astimezone(UTC).date(), time(), UTC)
        while day < self.end:
            following = day + timedelta(days=1)
            found.append((max(day, self.start), min(following, self.end)))
            day = following
        return tuple(found)

    def hour_ticks(self, every: int = 6) -> tuple[datetime, ...]:
        """Every `every` hours of UTC inside the week, midnights left out (the days draw those)."""
        return tuple(
            tick
            for day, _ in self.days
            for hour in range(every, 24, every)
            if self.start < (tick := datetime.combine(day.date(), time(hour), UTC)) < self.end
        )


def _shared(intervals: list[list[Interval]]) -> list[Interval]:
    """Where two or more of the interval lists overlap."""
    edges = sorted((t, step) for spans in intervals for s, e in spans for t, step in ((s, 1), (e, -1)))
    shared, depth, opened = [], 0, 0
    for moment, step in edges:
        depth += step
        if step == 1 and depth == 2:
            opened = moment
        elif step == -1 and depth == 1:
            shared.append((opened, moment))
    return union(shared)


def week(phonebook: Phonebook, start: datetime, days: int = 7) -> Week:
    """Coverage from `start` for `days`: each team's duty, when nobody is on, and handoff overlaps.

    Overlaps are counted among teams of the same kind (two offices at a handoff); a 24/7 select
    team overlapping every office is not news.
    """
    end = start + timedelta(days=days)
    timelines = compiled(phonebook).teams
    duty = {team.name: timelines[team.name].intervals(epoch(start), epoch(end)) for team in phonebook.teams}
    overlaps = union(
        i
        for kind in {t.kind for t in phonebook.teams}
        for i in _shared([duty[t.name] for t in phonebook.teams if t.kind is kind])
    )
    return Week(
        start=start,
        end=end,
        # Priority offices first, then select teams, each in the phonebook's order.
        teams=tuple(Row(t.spoken_name, tuple(instants(duty[t.name])), t.kind.value)
                    for t in sorted(phonebook.teams, key=lambda t: t.kind is not Kind.PRIORITY)),
        weekend=Row("Weekend", tuple(weekends(phonebook, start, end)), "weekend"),
        gaps=Row("Nobody on duty", l1_gaps(phonebook, start, end), "gap"),
        overlaps=Row("Handoff overlap", tuple(instants(overlaps)), "overlap"),
    )
