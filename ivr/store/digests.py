"""A handoff's digest, the shift as the call log shows it at the handoff: read for the alert sweep
that sends it and for the console's Handoffs page and its API (`ivr.engine.handoffs` words it); and
the handoffs of a window with their digests' delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ivr.engine.handoffs import Digest, Handoff, as_at, digest_key, handoff_at, handoffs
from ivr.engine.phonebook import Phonebook, Team
from ivr.store.alert_queue import AlertDelivery
from ivr.store.calllog import CallFilter, CallLog

# More L1 calls than this in one shift is an incident, not a shift: the digest shows the latest.
MOST_CALLS = 500


def read_digest(calllog: CallLog, phonebook: Phonebook, team_name: str, at: datetime, now: datetime) -> Digest | None:
    """`team_name`'s digest of the handoff at `at`, read at `now`: the shift as it stood at the
    handoff (so far, for a handoff still ahead), whenever it is read. None when the phonebook in
    force has no such team taking over at `at` (it was edited since)."""
    handoff = handoff_at(phonebook, at)
    team = phonebook.team(team_name)
    if handoff is None or team is None or team not in handoff.incoming:
        return None
    as_of = min(handoff.at, now)
    callbacks = tuple(calllog.callbacks.open_at(as_of, MOST_CALLS))
    page = calllog.calls(CallFilter(severity=1, since=handoff.since, until=handoff.at), limit=MOST_CALLS)
    calls = tuple(as_at(call, as_of) for call in reversed(page.calls))
    callback_of = calllog.callbacks.latest_of_calls([call.sid for call in calls if call.missed_l1])
    return Digest(handoff, team, as_of, callbacks, calls, callback_of)


@dataclass(frozen=True)
class TeamDigest:
    """One incoming team's digest of a handoff: its key in the alert queue, and its delivery (None
    while not scheduled: a handoff still ahead, or one before the look-back)."""

    team: Team
    key: str
    delivery: AlertDelivery | None


@dataclass(frozen=True)
class HandoffDigests:
    handoff: Handoff
    digests: tuple[TeamDigest, ...]


def handoffs_with_digests(calllog: CallLog, phonebook: Phonebook, start: datetime,
                          end: datetime) -> tuple[HandoffDigests, ...]:
    """The handoffs in (start, end], in time order, each incoming team's digest with its delivery:
    what the console's Handoffs page and its API list."""
    found = handoffs(phonebook, start, end)
    deliveries = calllog.alerts.deliveries(digest_key(team, h.at) for h in found for team in h.incoming)
    return tuple(
        HandoffDigests(h, tuple(TeamDigest(team, key, deliveries.get(key))
                                for team in h.incoming for key in (digest_key(team, h.at),)))
        for h in found
    )
