"""Secrets are taken out of error text (log lines, /healthz), and the rest of the message stays."""

import pytest

from ivr.redact import redact, redacted

CASES = [
    ("GET https://lic.example.com/v1/sen/1234567?api_key=k3y&x=1 failed",
     "GET https://lic.example.com/v1/sen/1234567?api_key=***&x=1 failed"),
    ("Max retries exceeded with url: /sen/1?apiKey=k3y (Caused by NewConnectionError)",
     "Max retries exceeded with url: /sen/1?apiKey=*** (Caused by NewConnectionError)"),
    ("https://h/x?page=2&access_token=t0k&password=pw#top", "https://h/x?page=2&access_token=***&password=***#top"),
    ("postgresql://ivr:hunter2@db.example.com:5432/ivr is down", "postgresql://ivr:***@db.example.com:5432/ivr is down"),
    ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
    ("webhook https://hooks.slack.com/services/T0/B0/XyZ answered 404", "webhook https://hooks.slack.com/services/*** answered 404"),
    ("(sqlite3.OperationalError) no such table: call_events\n[SQL: INSERT INTO call_events (call_sid) VALUES (?)]\n"
     "[parameters: ('CA1', '{\"from\": \"+14155551234\"}')]\n(Background on this error at: https://sqlalche.me/e/20/e3q8)",
     "(sqlite3.OperationalError) no such table: call_events\n[SQL: INSERT INTO call_events (call_sid) VALUES (?)]\n"
     "[parameters: ***]\n(Background on this error at: https://sqlalche.me/e/20/e3q8)"),
]


@pytest.mark.parametrize(("text", "shown"), CASES)
def test_secrets_are_masked_and_the_message_kept(text, shown):
    assert redact(text) == shown


@pytest.mark.parametrize("text", ["https://licensing.example.com/sen/{sen}", "HTTP 500", "https://user@host/x?page=2",
                                  "line 2: tier: 'gold' is not one of premier, priority, select"])
def test_text_without_secrets_is_unchanged(text):
    assert redact(text) == text


def test_every_string_in_a_report_is_redacted():
    report = {"url": "https://h/x?key=k", "failures": {"status": 2}, "errors": ["postgres://u:p@h/d", None]}
    assert redacted(report) == {"url": "https://h/x?key=***", "failures": {"status": 2}, "errors": ["postgres://u:***@h/d", None]}
