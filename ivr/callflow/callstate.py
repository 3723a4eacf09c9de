"""What a call carries from one webhook to the next, in the query string of its action URLs.

Twilio signs the full URL of every request, so the state cannot be forged, and any worker of any
instance can serve any step. The keys are short and the values plain, so the URLs stay readable
in Twilio's request log.

The state carries its format's version (`sv`). A deploy changes the format while calls are in
flight, their action URLs written by the version before: the service reads the current version and
the previous one (`_PREVIOUS`, which turns the previous format into this one), so those calls go
on. A change of format bumps STATE_VERSION and says in `_PREVIOUS` how to read the format it
replaces; a version older than that (a call hours old) is refused with 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ivr.engine.phonebook import MAX_CANDIDATES, MAX_DIAL, MAX_TEAM_NAME

MAX_TRIES = 3
# The format `query` writes; `from_query` also reads the version before it.
STATE_VERSION = 2
VERSION_KEY = "sv"
# The engine's bounds, which the loader and the routing keep: no valid phonebook produces a plan
# this parser refuses.
MAX_PLAN = MAX_CANDIDATES
_SEN = re.compile(r"[0-9]{0,20}")
# A candidate (team) name as a state carries it: no comma, which separates the plan's names.
TEAM_NAME = re.compile(rf"[^,]{{1,{MAX_TEAM_NAME}}}")


class StateError(ValueError):
    """An action URL's query string is not one this service wrote."""


@dataclass(frozen=True)
class CallState:
    sen: str = ""                # the SEN digits once known
    verified: bool = True        # False when the SEN could not be checked (the whisper says so)
    severity: int = 0            # 1..4 once chosen
    tries: int = 0               # misses so far at the current question
    plan: tuple[str, ...] = ()   # candidate names in the engine's order, fixed when the call was routed
    candidate: int = 0           # index into plan of the candidate being rung
    number: int = 0              # index into that candidate's numbers, when they ring in order
    attempt: int = 0             # dial attempts so far

    def advance(self, **changes: Any) -> CallState:
        return replace(self, **changes)

    def query(self) -> dict[str, str]:
        """The format's version and the non-default fields, as query parameters."""
        out = {VERSION_KEY: str(STATE_VERSION)}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if isinstance(value, bool):
                out[_KEYS[f.name]] = "1" if value else "0"
            elif isinstance(value, tuple):
                out[_KEYS[f.name]] = ",".join(value)
            else:
                out[_KEYS[f.name]] = str(value)
        return out

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> CallState:
        """Parse what `query` wrote, or what the previous version wrote; StateError for anything else."""
        version = args.get(VERSION_KEY)
        if version != str(STATE_VERSION):
            if version is not None and not (version.isascii() and version.isdigit()):
                raise StateError(f"not a state version: {version!r}")
            previous = _PREVIOUS.get(int(version) if version is not None else _UNVERSIONED)
            if previous is None:
                raise StateError(f"state version {version} is not read any more (this is version {STATE_VERSION})")
            args = previous(args)
        for key, parse in _RETIRED.items():
            if key in args:
                parse(args[key])
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = args.get(_KEYS[f.name])
            if raw is None:
                continue
            values[f.name] = _PARSE[f.name](raw)
        state = cls(**values)
        if state.plan and not (state.candidate < len(state.plan)):
            raise StateError("candidate index beyond the plan")
        return state


def _flag(raw: str) -> bool:
    if raw not in ("0", "1"):
        raise StateError(f"not a flag: {raw!r}")
    return raw == "1"


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            raise StateError(f"not a number from {low} to {high}: {raw!r}")
        return int(raw)

    return parse


def _sen(raw: str) -> str:
    if not _SEN.fullmatch(raw):
        raise StateError(f"not SEN digits: {raw!r}")
    return raw


def _plan(raw: str) -> tuple[str, ...]:
    names = tuple(raw.split(","))
    if len(names) > MAX_PLAN or not all(TEAM_NAME.fullmatch(name) for name in names):
        raise StateError(f"not a list of candidate names: {raw!r}")
    return names


_KEYS = {
    "sen": "sen", "verified": "v", "severity": "sev", "tries": "try",
    "plan": "plan", "candidate": "c", "number": "n", "attempt": "a",
}
_PARSE = {
    "sen": _sen, "verified": _flag, "severity": _bounded(1, 4),
    "tries": _bounded(0, MAX_TRIES), "plan": _plan, "candidate": _bounded(0, MAX_PLAN - 1),
    "number": _bounded(0, MAX_DIAL - 1), "attempt": _bounded(0, MAX_DIAL * MAX_PLAN),
}
# Keys earlier versions wrote and no step reads any more: still checked, then ignored, so a call in
# flight during a deploy (its action URLs written by the old version) goes on.
_RETIRED: dict[str, Callable[[str], object]] = {
    "r": _flag,  # `recognised`: the SEN came from caller-ID recognition
}


# The state before it carried a version, as version 1 wrote it (no `sv`).
_UNVERSIONED = 1


def _same_keys(args: Mapping[str, str]) -> Mapping[str, str]:
    return args


# The previous version, and how its query reads in this version's keys: version 1 wrote the same
# keys without `sv`. The next change of format replaces this with {2: <version 2 in version 3's keys>}.
_PREVIOUS: dict[int, Callable[[Mapping[str, str]], Mapping[str, str]]] = {
    _UNVERSIONED: _same_keys,
}
