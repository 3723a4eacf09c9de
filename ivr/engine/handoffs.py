"""Handoffs and their digests: when one shift hands the phone line to the next, and what the team
coming on reads about the shift going off.

Pure functions of (phonebook, instants) over `ivr.engine.schedule`, and of records the call log
reads (`Summary`, `Callback`); the alert sweep schedules and sends the digests
(`ivr.outside.alerts`), the console and `ivr handoffs` show them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ivr.engine.callbacks import Callback, callback_json, span, when_text
from ivr.engine.instants import epoch, instant, iso
from ivr.engine.outcomes import Outcome, Summary, call_json
from ivr.engine.phonebook import Alerts, Kind, Phonebook, Team
from ivr.engine.schedule import duty_intervals, on_duty

# A shift is the time since the previous handoff, but never longer than this (a team on duty
# around the clock for weeks hands over nothing older).
LONGEST_SHIFT = timedelta(days=4)
# Shifts last at most a day and the weekend about two: instants are looked for this far outside
# the window, so a stretch clipped at the window's edge never shows as a handoff.
_MARGIN = timedelta(days=1)
_SECOND = timedelta(seconds=1)
DIGEST_PREFIX = "digest:"


@dataclass(frozen=True)
class Handoff:
    """At `at` the `outgoing` teams hand over to the `incoming` ones (each gets a digest); the
    outgoing shift began at `since`, the previous handoff."""

    at: datetime
    since: datetime
    outgoing: tuple[Team, ...]
    incoming: tuple[Team, ...]


def _changes(phonebook: Phonebook, start: datetime, end: datetime) -> list[datetime]:
    """Instants in (start, end] when a team goes off duty or comes on."""
    found: set[datetime] = set()
    for team in phonebook.teams:
        for on, off in duty_intervals(phonebook, team, start - _MARGIN, end + _MARGIN):
            found.update(t for t in (on, off) if start < t <= end)
    return sorted(found)


def _handoff_at(phonebook: Phonebook, at: datetime) -> tuple[tuple[Team, ...], tuple[Team, ...]] | None:
    """(outgoing, incoming) when `at` is a handoff: a team goes off duty while another stays or
    comes on (the weekend starting, an office's holiday), or an office comes on after a stretch only
    Select covered (the weekend or a holiday ending). None otherwise."""
    before = {d.team.name: d.team for d in on_duty(phonebook, at - _SECOND)}
    after = {d.team.name: d.team for d in on_duty(phonebook, at)}
    off = [team for name, team in before.items() if name not in after]
    on = [team for name, team in after.items() if name not in before]
    staying = [team for name, team in after.items() if name in before]
    offices_resume = any(t.kind is Kind.PRIORITY for t in on) and not any(
        t.kind is Kind.PRIORITY for t in before.values())
    if not after or not before or not (off or offices_resume):
        return None
    outgoing = off or list(before.values())
    # The team taking over: one coming on, else an office staying, else whoever stays (Select).
    incoming = on or [t for t in staying if t.kind is Kind.PRIORITY] or staying
    return tuple(outgoing), tuple(incoming)


def handoffs(phonebook: Phonebook, start: datetime, end: datetime) -> tuple[Handoff, ...]:
    """The handoffs in (start, end], in time order."""
    found: list[Handoff] = []
    previous = None
    for at in _changes(phonebook, start - LONGEST_SHIFT, end):
        teams = _handoff_at(phonebook, at)
        if teams is None:
            continue
        if at > start:
            since = at - LONGEST_SHIFT if previous is None else max(previous, at - LONGEST_SHIFT)
            found.append(Handoff(at, since, *teams))
        previous = at
    return tuple(found)


def handoff_json(handoff: Handoff) -> dict[str, object]:
    """A handoff as `ivr handoffs --json` and the ops API show it: teams by their names."""
    return {"at": iso(handoff.at), "since": iso(handoff.since), "outgoing": [t.name for t in handoff.outgoing],
            "incoming": [t.name for t in handoff.incoming]}


def handoff_at(phonebook: Phonebook, at: datetime) -> Handoff | None:
    """The handoff at exactly `at`, if there is one."""
    found = handoffs(phonebook, at - _SECOND, at)
    return found[0] if found and found[0].at == at else None


def digest_key(team: Team, at: datetime) -> str:
    """The alert queue's key of `team`'s digest of the handoff at `at`."""
    return f"{DIGEST_PREFIX}{team.name}:{epoch(at)}"


def digested(key: str) -> tuple[str, datetime] | None:
    """(team name, handoff instant) of a digest's key; None for any other key."""
    if not key.startswith(DIGEST_PREFIX):
        return None
    team, _, seconds = key.removeprefix(DIGEST_PREFIX).rpartition(":")
    return (team, instant(int(seconds))) if team and seconds.isdigit() else None


def escalation_destinations(phonebook: Phonebook, team_name: str | None) -> Alerts:
    """Where an overdue callback is told: ops (`[alerts]`) and the team on duty, by its own
    `digest_sms` numbers and, when ops has no webhook, its `digest_webhook`; the fallback, or a
    team without destinations of its own, is ops' to reach."""
    team = phonebook.team(team_name) if team_name else None
    ops = phonebook.alerts
    if team is None:
        return ops
    sms = ops.sms + tuple(number for number in team.digest_sms if number not in ops.sms)
    return Alerts(sms=sms, webhook=ops.webhook or team.digest_webhook, sms_from=ops.sms_from)


def digest_destinations(phonebook: Phonebook, team: Team) -> Alerts:
    """The team's own `digest_sms` / `digest_webhook`; with neither, the `[alerts]` destinations."""
    if not (team.digest_sms or team.digest_webhook):
        return phonebook.alerts
    return Alerts(sms=team.digest_sms, webhook=team.digest_webhook, sms_from=phonebook.alerts.sms_from)


def as_at(call: Summary, at: datetime) -> Summary:
    """The call as it stood at `at`: one that ended after `at` was still in progress then (what
    became of it is not known at `at`)."""
    if call.outcome is None or call.duration is None or call.started_at + timedelta(seconds=call.duration) <= at:
        return call
    return replace(call, outcome=None, team=None, answer_seconds=None, duration=None, voicemail_url=None)


# What a digest read after its handoff (late, or on the console) can and cannot tell of the handoff.
AS_AT_HANDOFF = ("As at the handoff: the callbacks open then, due in or overdue by counted from then, and each "
                 "call as it stood then (one that ended later is in progress). Each callback's count of calls "
                 "and newest voicemail are as they are now, and calls whose events the call log had not "
                 "stored yet when this was read are missing.")


@dataclass(frozen=True)
class Digest:
    """What `team` reads at a handoff, as the shift stood `at` (the handoff, or now for a handoff
    still ahead): the callbacks open then, the outgoing shift's L1 calls as they stood then (oldest
    first, `as_at`) with the callbacks their misses opened or joined, by call."""

    handoff: Handoff
    team: Team
    at: datetime
    callbacks: tuple[Callback, ...]
    calls: tuple[Summary, ...]
    callback_of: dict[str, Callback]

    @property
    def in_progress(self) -> tuple[Summary, ...]:
        return tuple(c for c in self.calls if c.outcome is None)

    @property
    def answered(self) -> tuple[Summary, ...]:
        return tuple(c for c in self.calls if c.outcome is Outcome.ANSWERED)

    @property
    def missed(self) -> tuple[Summary, ...]:
        return tuple(c for c in self.calls if c.missed_l1)

    @property
    def shown(self) -> tuple[Summary, ...]:
        """The calls the digest lists, oldest first: answered, missed or in progress (not the deflected)."""
        return tuple(c for c in self.calls if c.outcome is None or c.outcome is Outcome.ANSWERED or c.missed_l1)


def digest_json(digest: Digest) -> dict[str, object]:
    """A digest as the ops API shows it: its handoff, the callbacks open then and the calls it lists,
    each with the callback its miss opened or joined (its id and state then), as at `digest.at`."""
    def callback(call: Summary) -> dict[str, object] | None:
        found = digest.callback_of.get(call.sid)
        return None if found is None else {"id": found.id, "state": found.state(digest.at).value}

    return {
        **handoff_json(digest.handoff),
        "team": digest.team.name,
        "as_at": iso(digest.at),
        "counts": {"open_callbacks": len(digest.callbacks), "answered": len(digest.answered),
                   "missed": len(digest.missed), "in_progress": len(digest.in_progress)},
        "callbacks": [callback_json(c, digest.at) for c in digest.callbacks],
        "calls": [{**call_json(c), "callback": callback(c)} for c in digest.shown],
    }


def digest_path(team: Team, at: datetime) -> str:
    """The console page with the full digest."""
    return f"/ops/handoffs/{team.name}/{epoch(at)}"


def _late(digest: Digest, now: datetime, late_after: timedelta) -> str:
    late = now - digest.handoff.at
    if late < late_after:
        return ""
    return (f" This digest is {span(late)} late: the service or its call log was unavailable at the handoff;"
            " it shows the shift as it stood at the handoff.")


def _names(teams: tuple[Team, ...]) -> str:
    return ", ".join(t.spoken_name for t in teams)


def _headline(digest: Digest) -> str:
    handoff = digest.handoff
    return (f"Handoff {iso(handoff.at)}: {_names(handoff.outgoing)} to {digest.team.spoken_name}. "
            f"Open callbacks: {len(digest.callbacks)}; L1 calls since {iso(handoff.since)}: "
            f"{len(digest.answered)} answered, {len(digest.missed)} missed, {len(digest.in_progress)} in progress.")


def digest_sms(digest: Digest, now: datetime, console_url: str | None, late_after: timedelta) -> str:
    """The short form, with a link to the full digest on the console."""
    text = _headline(digest) + _late(digest, now, late_after)
    if console_url:
        text += f" Digest: {console_url.rstrip('/')}{digest_path(digest.team, digest.handoff.at)}"
    return text


def _call_line(call: Summary, digest: Digest) -> str:
    who = f"{call.customer or 'Unknown customer'} ({call.sen or 'no SEN'}, from {call.caller or 'unknown'})"
    head = f"- {iso(call.started_at)} {who}"
    if call.outcome is None:
        return f"{head}: in progress"
    if call.outcome is Outcome.ANSWERED:
        minutes = (call.duration or 0) // 60
        return f"{head}: answered by {call.team or 'a team'}, {minutes} min {(call.duration or 0) % 60} s"
    text = f"{head}: missed ({call.outcome.value})"
    if call.voicemail_url:
        text += f", voicemail {call.voicemail_url}"
    callback = digest.callback_of.get(call.sid)
    text += f"; callback {callback.id} {when_text(callback, digest.at)}" if callback else "; no callback"
    return text


def digest_text(digest: Digest, now: datetime, console_url: str | None, late_after: timedelta) -> str:
    """The full digest (the webhook's text, the console page's)."""
    late = _late(digest, now, late_after)
    lines = [_headline(digest) + late] + ([AS_AT_HANDOFF] if late else [])
    if digest.callbacks:
        lines.append("Open callbacks:")
        lines += [f"- {c.customer or 'Unknown customer'} ({c.sen or 'no SEN'}, from {c.caller or 'unknown'}): "
                  f"due {iso(c.due_at)}, {when_text(c, digest.at)}" for c in digest.callbacks]
    if digest.shown:
        lines.append("L1 calls of the outgoing shift:")
        lines += [_call_line(c, digest) for c in digest.shown]
    if console_url:
        lines.append(f"Digest: {console_url.rstrip('/')}{digest_path(digest.team, digest.handoff.at)}")
    return "\n".join(lines)
