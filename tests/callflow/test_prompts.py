"""What the service says, and the whisper's variants (how long an L1 caller listens: tests/web/test_voice.py)."""

from ivr.callflow import prompts
from ivr.callflow.prompts import speaking_seconds, spoken_url, whisper


def test_words_are_counted_at_150_a_minute():
    assert speaking_seconds("one two three") == 1.2
    assert speaking_seconds("a b", "c d", words_per_minute=60) == 4.0


def test_the_severity_question_asks_for_level_1_and_the_levels_describe_it_as_the_offering_does():
    assert prompts.ASK_SEVERITY == "For a critical outage, press 1."
    for words in ("production down", "data loss or corruption", "many users blocked", "press 1", "2", "3", "4"):
        assert words in prompts.SEVERITY_LEVELS


def test_the_whisper_names_the_customer_sen_and_line():
    assert whisper("Priority Support", 1, "Acme Corporation", "1234567", "US", True) == (
        "Priority Support, level 1 call from Acme Corporation, SEN 1 2 3 4 5 6 7, on the US line. Press 1 to accept."
    )


def test_the_whisper_warns_when_the_sen_could_not_be_verified():
    text = whisper("Priority Support", 1, None, "1234567", "US", False)
    assert "SEN 1 2 3 4 5 6 7, SEN not verified" in text
    assert "an unknown customer" in text


def test_the_portal_is_spoken_without_its_scheme():
    assert spoken_url("https://support.example.com/") == "support.example.com"
