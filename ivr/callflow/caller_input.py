"""What the caller typed or said, read into a SEN or a severity, or the reason it could not be.

Pure functions of Twilio's `Digits` and `SpeechResult` parameters; the reasons name the prompt
that tells the caller what went wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ivr.engine.outcomes import UNKNOWN_SEN
from ivr.engine.phonebook import SEVERITIES

SEN_LENGTH = (4, 20)
_SPOKEN_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "to": "2", "too": "2", "three": "3",
    "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
# Words a caller may say around the digits ("S E N 1 2 3 ...", "it's ...").
_FILLER = {"s", "e", "n", "sen", "its", "it's", "is", "my", "number", "dash", "hash", "pound"}


class Miss(StrEnum):
    EMPTY = "empty"          # nothing typed or said before the time-out
    UNCLEAR = "unclear"      # speech that is not digits, or keys that are not digits
    LENGTH = "length"        # digits, but too few or too many for a SEN
    UNKNOWN = UNKNOWN_SEN    # a well-formed SEN nobody holds
    KEY = "key"              # a severity key outside 1-4


@dataclass(frozen=True)
class Reading:
    value: str | None
    miss: Miss | None = None


def read_sen(digits: str | None, speech: str | None) -> Reading:
    """The SEN digits from keys or speech."""
    if digits:
        text = digits
    elif speech and speech.strip():
        spoken = _spoken_digits(speech)
        if spoken is None:
            return Reading(None, Miss.UNCLEAR)
        text = spoken
    else:
        return Reading(None, Miss.EMPTY)
    if not (text.isascii() and text.isdigit()):
        return Reading(None, Miss.UNCLEAR)
    low, high = SEN_LENGTH
    if not low <= len(text) <= high:
        return Reading(None, Miss.LENGTH)
    return Reading(text)


def _spoken_digits(speech: str) -> str | None:
    out = []
    for word in re.findall(r"[a-z']+|[0-9]+", speech.lower()):
        if word.isdigit():
            out.append(word)
        elif word in _SPOKEN_DIGITS:
            out.append(_SPOKEN_DIGITS[word])
        elif word not in _FILLER:
            return None
    return "".join(out) or None


def read_severity(digits: str | None) -> Reading:
    if not digits:
        return Reading(None, Miss.EMPTY)
    if digits not in {str(s) for s in SEVERITIES}:
        return Reading(None, Miss.KEY)
    return Reading(digits)
