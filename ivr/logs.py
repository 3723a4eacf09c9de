"""One line format for every log the service writes: gunicorn's error and access logs, the `ivr.*`
loggers, and the `ivr` command.

`IVR_LOG_FORMAT=text` (the default): `2026-12-01T09:00:00.123Z [4242] INFO ivr.voice call=CA...: message`.
`IVR_LOG_FORMAT=json`: one JSON object a line, for log shippers: `time`, `level`, `logger`, `pid`,
`message`, and `call_sid`, `exception`, `event` when there is one. A line logged while a Twilio
webhook is handled (its access-log line too) names the call (`call=` / `call_sid`). Every line
passes through `ivr.redact`, traceback included.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime

from ivr.config import LOG_FORMATS
from ivr.redact import redact

# Where a webhook leaves its CallSid in the WSGI environ, for gunicorn's access log (written after
# the app has returned, outside its request).
CALL_SID_ENVIRON = "ivr.call_sid"
SERVICE_LOGGER = "ivr"
LOG_STREAMS = ("stdout", "stderr")

_call_sid: ContextVar[str | None] = ContextVar("ivr_call_sid", default=None)


def bind_call(sid: str | None) -> Token[str | None]:
    """Lines logged from here on (in this thread or task) name call `sid`, until `unbind_call`."""
    return _call_sid.set(sid)


def unbind_call(token: Token[str | None]) -> None:
    _call_sid.reset(token)


@contextmanager
def about_call(sid: str | None) -> Iterator[None]:
    token = bind_call(sid)
    try:
        yield
    finally:
        unbind_call(token)


class LineFormatter(logging.Formatter):
    """The service's line, as text or JSON (`form`). A record's own `call_sid` (given as `extra`)
    wins over the call being handled; an `event` (the `ivr.events` sink's) is written as an object."""

    def __init__(self, form: str = "text") -> None:
        super().__init__()
        if form not in LOG_FORMATS:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {form!r}")
        self.form = form

    def format(self, record: logging.LogRecord) -> str:
        sid = getattr(record, "call_sid", None) or _call_sid.get()
        at = datetime.fromtimestamp(record.created, UTC)
        stamp = f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"
        message = redact(record.getMessage())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        exception = redact(record.exc_text) if record.exc_text else None
        if self.form == "json":
            line: dict[str, object] = {"time": stamp, "level": record.levelname, "logger": record.name,
                                       "pid": record.process, "message": message}
            if sid:
                line["call_sid"] = sid
            event = getattr(record, "event", None)
            if event is not None:
                line["event"] = event
            if exception:
                line["exception"] = exception
            return json.dumps(line, default=str, ensure_ascii=False)
        head = f"{stamp} [{record.process}] {record.levelname} {record.name}" + (f" call={sid}" if sid else "")
        return f"{head}: {message}" + (f"\n{exception}" if exception else "")


class StreamHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout (or sys.stderr) is at the time (gunicorn and pytest replace it)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    @property
    def stream(self):
        return getattr(sys, self.target)

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure(level: str, form: str, stream: str = "stdout") -> None:
    """The `ivr` loggers at `level`, in `form`, on `stream`. The logger is global: one handler,
    pointed at the stream and format of the latest call (the app created last, or the command)."""
    if stream not in LOG_STREAMS:
        raise ValueError(f"LOG_STREAM must be one of {', '.join(LOG_STREAMS)}, not {stream!r}")
    logger = logging.getLogger(SERVICE_LOGGER)
    logger.setLevel(level.upper())
    handler = next((h for h in logger.handlers if isinstance(h, StreamHandler)), None)
    if handler is None:
        handler = StreamHandler(stream)
        logger.addHandler(handler)
    handler.target = stream
    handler.setFormatter(LineFormatter(form))
