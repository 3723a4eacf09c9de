"""One line format for every log: text or JSON lines, each line of a webhook naming its call, secrets
redacted (`ivr.logs`). The same lines under a real gunicorn: tests/web/test_gunicorn.py."""

from __future__ import annotations

import json
import logging
import re

import pytest
from conftest import utc

from ivr import logs
from ivr.engine.events import Severity
from ivr.store.logsink import LogSink

log = logging.getLogger("ivr.test")
TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[\d+\] (\w+) ([\w.]+)(?: call=(\w+))?: (.*)", re.DOTALL)


@pytest.fixture
def json_lines(capsys):
    """The `ivr` loggers as JSON lines on stdout; the lines written, parsed."""
    logs.configure("INFO", "json", "stdout")
    yield lambda: [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    logs.configure("INFO", "text", "stdout")


def test_a_text_line_has_the_time_process_level_logger_and_the_call_being_handled(capsys):
    logs.configure("INFO", "text", "stdout")
    log.info("outside any call")
    with logs.about_call("CA1"):
        log.warning("rang %s", "+14155550101")
    first, second = capsys.readouterr().out.splitlines()
    assert TEXT.fullmatch(first).groups() == ("INFO", "ivr.test", None, "outside any call")
    assert TEXT.fullmatch(second).groups() == ("WARNING", "ivr.test", "CA1", "rang +14155550101")


def test_a_json_line_names_the_call_and_keeps_a_traceback_as_one_field(json_lines):
    with logs.about_call("CA2"):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("webhook failed")
    log.info("after the call")
    during, after = json_lines()
    assert {k: during[k] for k in ("level", "logger", "message", "call_sid")} == {
        "level": "ERROR", "logger": "ivr.test", "message": "webhook failed", "call_sid": "CA2"}
    assert during["exception"].startswith("Traceback") and during["exception"].endswith("RuntimeError: boom")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", during["time"]) and during["pid"] > 0
    assert "call_sid" not in after and "exception" not in after


def test_secrets_are_redacted_in_json_lines_too(json_lines):
    log.error("lookup failed: https://licensing.example.com/sen/1?api_key=SEKRET\n[parameters: ('+14155551234',)]")
    [line] = json_lines()
    assert line["message"] == "lookup failed: https://licensing.example.com/sen/1?api_key=***\n[parameters: ***]"


def test_a_call_event_on_the_log_is_a_json_object_in_a_json_line(json_lines):
    LogSink().record("CA3", Severity(severity=1), utc("2026-12-01T16:00Z"))
    [line] = json_lines()
    assert line["logger"] == "ivr.events" and line["call_sid"] == "CA3"
    assert line["event"] == {"call_sid": "CA3", "kind": "severity", "key": "severity", "at": "2026-12-01T16:00:00Z",
                             "data": {"severity": 1}}
    assert json.loads(line["message"]) == line["event"]  # the text form, as IVR_LOG_FORMAT=text writes it


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="log format must be one of text, json"):
        logs.LineFormatter("xml")
