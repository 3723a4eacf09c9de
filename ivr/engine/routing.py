"""Routing: for a call on a line at an instant, who do we ring, in what order, and why.

A pure function of (phonebook, line number, instant, severity).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ivr.engine.instants import iso
from ivr.engine.phonebook import FALLBACK_NAME, MAX_CANDIDATES, Kind, Line, Phonebook, Policy, Ring, Team
from ivr.engine.schedule import Duty, is_weekend, on_duty


class CandidateKind(StrEnum):
    """What a candidate is: a team of either `Kind`, or the [fallback], which is no team."""

    PRIORITY = Kind.PRIORITY.value
    SELECT = Kind.SELECT.value
    FALLBACK = "fallback"

    @classmethod
    def of(cls, kind: Kind) -> CandidateKind:
        return cls(kind.value)


@dataclass(frozen=True)
class Candidate:
    team: str  # the team's name, or FALLBACK_NAME
    kind: CandidateKind
    dial: tuple[str, ...]
    until: datetime | None
    ring: Ring
    ring_seconds: int
    spoken_name: str
    region: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "team": self.team,
            "kind": self.kind.value,
            "dial": list(self.dial),
            "ring": self.ring.value,
            "ring_seconds": self.ring_seconds,
            "until": None if self.until is None else iso(self.until),
        }


@dataclass(frozen=True)
class Decision:
    at: datetime
    line: Line | None
    weekend: bool
    severity: int
    connect: bool
    candidates: tuple[Candidate, ...]
    reason: str

    @property
    def region(self) -> str | None:
        return self.line.region if self.line else None

    def as_json(self) -> dict[str, object]:
        return {
            "at": iso(self.at),
            "line": self.line.number if self.line else None,
            "region": self.region,
            "weekend": self.weekend,
            "severity": self.severity,
            "action": "connect" if self.connect else "deflect",
            "candidates": [c.as_json() for c in self.candidates],
            "reason": self.reason,
        }


def _rank(duty: Duty, region: str | None) -> tuple[bool, bool, bool, float, str]:
    """Priority before select, the line's region first; then the longest stretch ahead, then name."""
    team = duty.team
    never_ends = duty.until is None
    until = 0 if duty.until is None else -duty.until.timestamp()
    return (team.kind is not Kind.PRIORITY, team.region != region or region is None, not never_ends, until, team.name)


def _team_candidate(team: Team, until: datetime | None) -> Candidate:
    return Candidate(team.name, CandidateKind.of(team.kind), team.dial, until, team.ring, team.ring_seconds,
                     team.spoken_name, team.region)


def _fallback_candidate(phonebook: Phonebook) -> Candidate | None:
    fallback = phonebook.fallback
    if fallback is None:
        return None
    return Candidate(FALLBACK_NAME, CandidateKind.FALLBACK, fallback.dial, None, fallback.ring, fallback.ring_seconds,
                     f"{phonebook.service.name} {fallback.label}")


def team_places(phonebook: Phonebook) -> int:
    """How many teams one call rings at most: the candidates a call carries, less the fallback's place."""
    return MAX_CANDIDATES - (phonebook.fallback is not None)


def candidates(phonebook: Phonebook, region: str | None, at: datetime) -> tuple[Candidate, ...]:
    """Everyone to ring for a call from `region` at `at`, ending with the fallback: the first
    `team_places` teams on duty in the routing order (a call carries its plan, so it is bounded;
    the loader warns a phonebook with more teams)."""
    ranked = sorted(on_duty(phonebook, at), key=lambda duty: _rank(duty, region))
    result = [_team_candidate(d.team, d.until) for d in ranked[:team_places(phonebook)]]
    fallback = _fallback_candidate(phonebook)
    if fallback is not None:
        result.append(fallback)
    return tuple(result)


def candidate(phonebook: Phonebook, name: str) -> Candidate | None:
    """The candidate called `name` (a team, or the fallback) in this phonebook, whatever its duty.

    A call keeps the candidate names chosen when it was routed; this resolves them again,
    so a later step rings the numbers the phonebook lists now. None when the name is gone.
    """
    if name == FALLBACK_NAME:
        return _fallback_candidate(phonebook)
    team = phonebook.team(name)
    return None if team is None else _team_candidate(team, None)


def connects(policy: Policy, weekend: bool) -> bool:
    return policy is Policy.ALWAYS or (policy is Policy.BUSINESS_WEEK and not weekend)


def _reason(to: str, line: Line | None, weekend: bool, found: tuple[Candidate, ...]) -> str:
    """Why these candidates, in this order, in words an admin can check against the phonebook."""
    why = []
    if weekend:
        why.append("it is the weekend, so Priority teams are off except on extra shifts")
    if line is None:
        why.append(f"{to} is not a published line, so no region goes first")
    teams = [
        f"{c.team} (in the line's region {c.region})" if line and c.region and c.region == line.region else c.team
        for c in found
        if c.kind is not CandidateKind.FALLBACK
    ]
    has_fallback = bool(found) and found[-1].kind is CandidateKind.FALLBACK
    if teams:
        why.append("ringing " + ", then ".join(teams + ["the fallback"] * has_fallback))
    elif has_fallback:
        why.append("no team is on duty, so the fallback rings")
    else:
        why.append("no team is on duty and there is no fallback, so the caller leaves a voicemail")
    return "; ".join(why)


def route(phonebook: Phonebook, to: str, at: datetime, severity: int = 1) -> Decision:
    line = phonebook.line(to)
    weekend = is_weekend(phonebook, at)
    policy = phonebook.policy(severity)
    if not connects(policy, weekend):
        why = (
            "is put through only during the business week, and it is the weekend"
            if policy is Policy.BUSINESS_WEEK
            else "is never put through by phone"
        )
        return Decision(at, line, weekend, severity, False, (),
                        f"severity {severity} {why}; the caller is pointed to {phonebook.service.portal}")
    found = candidates(phonebook, line.region if line else None, at)
    reason = _reason(to, line, weekend, found)
    left_out = len(on_duty(phonebook, at)) - team_places(phonebook)
    if left_out > 0:
        reason += f"; {left_out} more team(s) on duty are not rung: a call rings at most {team_places(phonebook)} teams"
    return Decision(at, line, weekend, severity, True, found, reason)


# --- the warm handoff: who takes a call over from a team -----------------------------------

# A team whose stretch on duty ends within this long is about to go off duty: its calls are handed
# to the team taking over then.
HANDOFF_SOON = timedelta(hours=1)
# How long before its team goes off duty an engineer on a call is reminded that a handoff is there.
REMINDER_BEFORE = timedelta(minutes=10)


def off_duty_at(phonebook: Phonebook, team: str, at: datetime) -> datetime | None:
    """When `team`'s stretch on duty around `at` ends; None when it is off duty or never goes off."""
    for duty in on_duty(phonebook, at):
        if duty.team.name == team:
            return duty.until
    return None


def next_office(phonebook: Phonebook, team: str, region: str | None, at: datetime) -> Candidate | None:
    """Who takes a call over from `team` (a call on a line of `region`) at `at`: the first other
    team in the ringing order of the moment `team` goes off duty, when that is within HANDOFF_SOON;
    otherwise the first other team on duty now, in the ringing plan's order. Never the fallback;
    None when no other team is on duty."""
    until = off_duty_at(phonebook, team, at)
    moment = until if until is not None and until - at <= HANDOFF_SOON else at
    for found in candidates(phonebook, region, moment):
        if found.team != team and found.kind is not CandidateKind.FALLBACK:
            return found
    return None


def reminder_at(phonebook: Phonebook, team: str, at: datetime) -> datetime | None:
    """When an engineer of `team` on a call that started at `at` hears that a handoff is there:
    REMINDER_BEFORE the team goes off duty; None when it does not go off, is off already, or that
    moment is past (the engineer took the call in the last minutes of the shift)."""
    until = off_duty_at(phonebook, team, at)
    if until is None or until - REMINDER_BEFORE <= at:
        return None
    return until - REMINDER_BEFORE
