"""The event sink of last resort: one JSON line per event, and it never raises into a call."""

import json
import logging

from conftest import utc

from ivr.engine.events import Dial, Severity, Unrecognised
from ivr.store.logsink import LogSink


def test_each_event_is_one_json_line_on_the_ivr_events_logger(caplog):
    with caplog.at_level(logging.INFO, logger="ivr.events"):
        LogSink().record("CA1", Dial(attempt=2, team="amsterdam"), utc("2026-12-01T16:00Z"))
    [record] = [r for r in caplog.records if r.name == "ivr.events"]
    assert json.loads(record.getMessage()) == {
        "call_sid": "CA1", "kind": "dial", "key": "dial:2", "at": "2026-12-01T16:00:00Z",
        "data": {"attempt": 2, "team": "amsterdam", "numbers": [], "status": None, "duration": None,
                 "accepted_by": None, "dial_call_sid": None, "bridged": False},
    }


def test_the_key_defaults_to_the_kind(caplog):
    with caplog.at_level(logging.INFO, logger="ivr.events"):
        LogSink().record("CA1", Severity(severity=2), utc("2026-12-01T16:00Z"))
    assert json.loads(caplog.records[-1].getMessage())["key"] == "severity"


def test_a_value_json_cannot_write_is_logged_not_raised(caplog):
    class Unprintable:
        def __str__(self):
            raise RuntimeError("no")

    LogSink().record("CA1", Unrecognised("odd", {"x": Unprintable()}), utc("2026-12-01T16:00Z"))
    assert "could not record odd event for call CA1" in caplog.text
