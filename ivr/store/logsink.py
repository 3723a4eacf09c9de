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
            record = {"call_sid": call_sid, "kind": event.kind, "key": event.key, "at": iso(at), "data": to_data(event)}
            line = json.dumps(record, default=str, sort_keys=True)
            # The JSON log format (`ivr.logs`) writes the event as an object, not as text in a string.
            log.log(self.level, line, extra={"call_sid": call_sid, "event": record})
        except Exception:
            log.exception("could not record %s event for call %s", event.kind, call_sid)
