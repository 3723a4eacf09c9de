"""The live warm handoff's decisions: the engineer's menu, who rings, what each party hears.

An accepted L1 call is a conference room (`room_name`) rather than a two-party bridge: the engineer
who has the call (the owner) may press * to leave the room for a menu only they hear, while the
customer is on hold; the colleague who presses 1 becomes the owner, the engineer who brought them in
a guest who may hang up. What each leg carries from one webhook to the next, besides the call's
`CallState`, is an `Engineer` (and, while a handoff rings, a `Handoff`) in its signed URLs. Nothing
here reads a request, a clock or a service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ivr.callflow import prompts
from ivr.callflow.callstate import MAX_PLAN, TEAM_NAME, StateError
from ivr.callflow.conversation import numbers_at
from ivr.callflow.prompts import say
from ivr.engine.phonebook import E164_SHAPE, MAX_DIAL, Phonebook, Ring
from ivr.engine.routing import Candidate, candidate, next_office, reminder_at

# The engineer's menu keys.
NEXT_OFFICE = "1"
OWN_TEAM = "2"
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")


class Role(StrEnum):
    OWNER = "owner"  # has the call: may press * for the menu; hanging up ends the call
    GUEST = "guest"  # handed the call over: may stay to introduce the customer, then hang up


@dataclass(frozen=True)
class Engineer:
    """An engineer's leg in the room: whose call (`call`, the customer's CallSid, on `line`), which
    team and number, its role, and how many handoffs the call has had."""

    call: str
    line: str
    team: str
    number: str
    role: Role = Role.OWNER
    handoffs: int = 0

    def query(self) -> dict[str, str]:
        return {"call": self.call, "line": self.line, "team": self.team, "me": self.number,
                "role": self.role.value, "h": str(self.handoffs)}

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> Engineer:
        call, line, team, number = (args.get(k, "") for k in ("call", "line", "team", "me"))
        if not CALL_SID.fullmatch(call) or not TEAM_NAME.fullmatch(team):
            raise StateError("not an engineer's leg of a call")
        if not E164_SHAPE.fullmatch(number) or not E164_SHAPE.fullmatch(line):
            raise StateError("an engineer's leg without its numbers")
        try:
            role = Role(args.get("role", ""))
        except ValueError:
            raise StateError(f"not a role: {args.get('role')!r}") from None
        handoffs = args.get("h", "0")
        if not (handoffs.isascii() and handoffs.isdigit()) or int(handoffs) > MAX_PLAN * MAX_DIAL:
            raise StateError(f"not a count of handoffs: {handoffs!r}")
        return cls(call, line, team, number, role, int(handoffs))


@dataclass(frozen=True)
class Handoff:
    """A handoff ringing: `team` (the next office, or with `own` the engineer's own team), and
    which of its numbers rings when they ring in order."""

    team: str
    own: bool = False
    ring: int = 0

    def query(self) -> dict[str, str]:
        return {"to": self.team, "own": "1" if self.own else "0", "r": str(self.ring)}

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> Handoff:
        team, own, ring = args.get("to", ""), args.get("own", ""), args.get("r", "")
        if not TEAM_NAME.fullmatch(team) or own not in ("0", "1") or not (ring.isascii() and ring.isdigit()):
            raise StateError("not a handoff")
        if int(ring) >= MAX_DIAL:
            raise StateError(f"not a number to ring: {ring!r}")
        return cls(team, own == "1", int(ring))


def room_name(call: str) -> str:
    """The call's conference room, named after the customer's CallSid (no personal data)."""
    return f"ivr-{call}"


@dataclass(frozen=True)
class Menu:
    """What the engineer hears after pressing *, and what each key rings."""

    spoken: tuple[str, ...]
    office: Candidate | None
    own: tuple[str, ...]


def taking_over(phonebook: Phonebook, engineer: Engineer, region: str | None, at: datetime) -> str:
    """The team to ring for a caller whose engineer hung up during a handoff: the next office, or
    with none on duty, the engineer's own team."""
    office = next_office(phonebook, engineer.team, region, at)
    return office.team if office else engineer.team


def own_numbers(phonebook: Phonebook, engineer: Engineer) -> tuple[str, ...]:
    """The other numbers of the engineer's own team (at most one <Dial>'s worth)."""
    found = candidate(phonebook, engineer.team)
    return tuple(n for n in found.dial if n != engineer.number)[:MAX_DIAL] if found else ()


def menu(phonebook: Phonebook, engineer: Engineer, region: str | None, at: datetime) -> Menu:
    office = next_office(phonebook, engineer.team, region, at)
    own = own_numbers(phonebook, engineer)
    spoken = [say(prompts.HANDOFF_MENU_OFFICE, team=office.spoken_name) if office else prompts.HANDOFF_MENU_NO_OFFICE]
    if own:
        spoken.append(prompts.HANDOFF_MENU_OWN)
    spoken.append(prompts.HANDOFF_MENU_BACK)
    return Menu(tuple(spoken), office, own)


@dataclass(frozen=True)
class Ringing:
    """Ring `numbers` together for `timeout` seconds for `handoff`, after saying `spoken` to the engineer."""

    spoken: tuple[str, ...]
    numbers: tuple[str, ...]
    timeout: int
    handoff: Handoff


def chosen(phonebook: Phonebook, engineer: Engineer, digits: str, region: str | None, at: datetime) -> Ringing | None:
    """The engineer's menu key: ring the next office or the own team; None: back to the customer."""
    choice = menu(phonebook, engineer, region, at)
    if digits == NEXT_OFFICE and choice.office is not None:
        office = choice.office
        numbers = numbers_at(office, 0)
        return Ringing((say(prompts.HANDOFF_RINGING, team=office.spoken_name),), numbers, office.ring_seconds,
                       Handoff(office.team))
    if digits == OWN_TEAM and choice.own:
        found = candidate(phonebook, engineer.team)
        assert found is not None  # own numbers come from the team
        return Ringing((prompts.HANDOFF_RINGING_OWN,), choice.own, found.ring_seconds, Handoff(engineer.team, own=True))
    return None


def ring_on(phonebook: Phonebook, handoff: Handoff) -> Ringing | None:
    """After nobody joined: the office's next number when its numbers ring in order, else None."""
    found = candidate(phonebook, handoff.team)
    if handoff.own or found is None or found.ring is not Ring.IN_ORDER:
        return None
    following = Handoff(handoff.team, ring=handoff.ring + 1)
    numbers = numbers_at(found, following.ring)
    return Ringing((), numbers, found.ring_seconds, following) if numbers else None


def nobody_joined(phonebook: Phonebook, handoff: Handoff) -> str:
    found = candidate(phonebook, handoff.team)
    return say(prompts.HANDOFF_NOBODY, team=found.spoken_name if found else handoff.team)


def spoken_team(phonebook: Phonebook, team: str) -> str:
    """A team's name as the handoff whisper says it ("from the Amsterdam team")."""
    found = phonebook.team(team)
    return found.place if found else team


def reminder_seconds(phonebook: Phonebook, engineer: Engineer, at: datetime) -> int | None:
    """Seconds until the owner, in the room from `at`, leaves it briefly for the handoff reminder;
    None: no reminder (off in the phonebook, or the team does not go off duty during the call)."""
    if engineer.role is not Role.OWNER or not phonebook.service.handoff_reminder:
        return None
    when = reminder_at(phonebook, engineer.team, at)
    return None if when is None else max(1, round((when - at).total_seconds()))
