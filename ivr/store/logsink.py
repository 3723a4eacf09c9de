"""The event sink of last resort: one JSON line per event on the `ivr.events` logger."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from ivr.engine.events import CallEvent, to_data
from ivr.engine.instants import iso

log = logging.getLogger("ivr.events")


class LogSink:
    """One JSON line per event on the `ivr.events` logger (stdout under gunicorn), at `level`."""

    def __init__(self, level: int = logging.INFO):
        self.level = level

    def record(self, call_sid: str, event: CallEvent, at: datetime) -> None:
        try:
            line = json.dumps(
                {"call_sid": call_sid, "kind": event.kind, "key": event.key, "at": iso(at), "data": to_data(event)},
                default=str,
                sort_keys=True,
            )
            log.log(self.level, line)
        except Exception:
            log.exception("could not record %s event for call %s", event.kind, call_sid)
