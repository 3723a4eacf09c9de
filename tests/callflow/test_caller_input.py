"""Reading keys and speech into a SEN or a severity, or the reason it failed."""

import pytest

from ivr.callflow.caller_input import Miss, read_sen, read_severity


@pytest.mark.parametrize("digits, speech, expected", [
    ("1234567", None, "1234567"),
    ("", "1234567.", "1234567"),
    ("", "one two three four five six seven", "1234567"),
    ("", "S E N 1 2 3 oh 5", "12305"),
    ("", "my number is four two four two", "4242"),
])
def test_a_sen_is_read_from_keys_or_speech(digits, speech, expected):
    assert read_sen(digits, speech).value == expected


@pytest.mark.parametrize("digits, speech, miss", [
    ("", "", Miss.EMPTY),
    (None, None, Miss.EMPTY),
    ("", "I have an outage", Miss.UNCLEAR),
    ("12*4", None, Miss.UNCLEAR),
    ("123", None, Miss.LENGTH),
    ("1" * 21, None, Miss.LENGTH),
    # Digits of other scripts are not keys a phone can send.
    ("١٢٣٤٥٦٧", None, Miss.UNCLEAR),
    ("²²²²²", None, Miss.UNCLEAR),
])
def test_a_failed_sen_says_why(digits, speech, miss):
    assert read_sen(digits, speech).miss is miss


def test_severity_is_one_key_from_1_to_4():
    assert [read_severity(k).value for k in "1234"] == ["1", "2", "3", "4"]
    assert read_severity("").miss is Miss.EMPTY
    assert read_severity("5").miss is Miss.KEY
    assert read_severity("11").miss is Miss.KEY
