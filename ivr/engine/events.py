"""Call events: what happened on a call, step by step, for the call log.

The voice webhooks report each step to an `EventSink`. Recording must never break or delay a
call, so a sink swallows its own failures; `key` names the event within its call, so a repeated
callback (Twilio retries and reorders them) overwrites instead of duplicating.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Protocol

from ivr.engine.instants import iso

log = logging.getLogger("ivr.events")


class EventSink(Protocol):
    def record(self, call_sid: str, kind: str, data: dict, at: datetime, key: str | None = None) -> None:
        """Store one event; never raises. `key` (default: `kind`) makes repeats idempotent."""


class LogSink:
    """One JSON line per event on the `ivr.events` logger (stdout under gunicorn), at `level`."""

    def __init__(self, level: int = logging.INFO):
        self.level = level

    def record(self, call_sid: str, kind: str, data: dict, at: datetime, key: str | None = None) -> None:
        try:
            line = json.dumps(
                {"call_sid": call_sid, "kind": kind, "key": key or kind, "at": iso(at), "data": data},
                default=str,
                sort_keys=True,
            )
            log.log(self.level, line)
        except Exception:
            log.exception("could not record %s event for call %s", kind, call_sid)
