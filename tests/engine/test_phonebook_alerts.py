"""The phonebook's [alerts] table is checked like the rest of the file."""

from __future__ import annotations

import pytest
from conftest import SAMPLE

from ivr.engine.phonebook import Alerts, PhonebookError
from ivr.engine.phonebook_loader import parse_phonebook


def with_alerts(table: str) -> str:
    text = SAMPLE.read_text()
    return text[: text.index("[alerts]")] + table


def test_the_sample_alerts_one_number_and_a_webhook(sample):
    assert sample.alerts == Alerts(("+14155550199",), "https://hooks.example.com/services/T000/B000/priority-support")


def test_no_alerts_table_means_no_alerts():
    assert parse_phonebook(with_alerts("")).alerts == Alerts()


def test_bad_alert_settings_are_each_reported_with_their_key_path():
    with pytest.raises(PhonebookError) as raised:
        parse_phonebook(with_alerts(
            '[alerts]\nsms = ["+14155550199", "555-0100"]\nwebhook = "http://hooks.example.com/x"\n'
            'sms_from = "+1"\nslack = "x"\n'
        ))
    problems = {p.path: p.message for p in raised.value.problems}
    assert list(problems) == ["alerts.slack", "alerts.sms[1]", "alerts.webhook", "alerts.sms_from"]
    assert problems["alerts.slack"].startswith("unknown key")
    assert "not a valid E.164 phone number" in problems["alerts.sms[1]"]
    assert "starting with https://" in problems["alerts.webhook"]
    assert "not a valid E.164 phone number" in problems["alerts.sms_from"]
