"""A handoff's digest as the call log holds it now: read for the alert sweep that sends it and for
the console's Handoffs page (`ivr.engine.handoffs` words it)."""

from __future__ import annotations

from datetime import datetime

from ivr.engine.callbacks import State
from ivr.engine.handoffs import Digest, handoff_at
from ivr.engine.phonebook import Phonebook
from ivr.store.callbacks import CallbackFilter
from ivr.store.calllog import CallFilter, CallLog

# More L1 calls than this in one shift is an incident, not a shift: the digest shows the latest.
MOST_CALLS = 500


def read_digest(calllog: CallLog, phonebook: Phonebook, team_name: str, at: datetime, now: datetime) -> Digest | None:
    """`team_name`'s digest of the handoff at `at`, read at `now`; None when the phonebook in force
    has no such team taking over at `at` (it was edited since)."""
    handoff = handoff_at(phonebook, at)
    team = phonebook.team(team_name)
    if handoff is None or team is None or team not in handoff.incoming:
        return None
    # Opened before the handoff and still open now (a late digest leaves out what came after).
    callbacks = tuple(calllog.callbacks.find(now, CallbackFilter(state=State.OPEN, until=handoff.at)))
    page = calllog.calls(CallFilter(severity=1, since=handoff.since, until=handoff.at), limit=MOST_CALLS)
    calls = tuple(reversed(page.calls))
    callback_of = calllog.callbacks.latest_of_calls([call.sid for call in calls if call.missed_l1])
    return Digest(handoff, team, callbacks, calls, callback_of)
