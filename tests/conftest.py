"""Shared fixtures: the sample phonebook and literal instants."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from ivr.phonebook import Phonebook, load_phonebook, parse_phonebook

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "phonebook.toml"


def utc(text: str) -> datetime:
    """A literal instant: '2026-12-01T09:00Z' or with an explicit offset."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="session")
def sample() -> Phonebook:
    return load_phonebook(SAMPLE)


def phonebook_from(text: str) -> Phonebook:
    """A phonebook from literal TOML (indentation removed)."""
    return parse_phonebook(textwrap.dedent(text), "test.toml")


# A phonebook with the awkward cases: shifts across midnight and across a DST change, a start in
# a DST gap, listed and calendar holidays, an extra shift on a holiday, split hours, and teams in
# zones whose clocks change on different dates.
TRICKY = """
[weekend]
starts = "fri 17:00 America/Los_Angeles"
ends   = "mon 10:00 Australia/Sydney"

[[lines]]
number = "+14155550100"
region = "amer"

[[lines]]
number = "+31205550100"
region = "emea"

[teams.night]
kind = "priority"
region = "amer"
tz = "America/Los_Angeles"
hours = ["mon-fri 20:00-04:00", "sun 02:30-06:00"]
holidays = [2026-07-03]
calendar = "US-CA"
dial = ["+14155550101"]

[teams.day]
kind = "priority"
region = "emea"
tz = "Europe/Amsterdam"
hours = ["mon-fri 08:30-12:00", "mon-fri 13:00-17:30"]
holidays = [2026-12-24, 2026-12-31]
extra = ["2026-12-24 10:00-12:00", "2026-03-29 01:00-05:00"]
dial = ["+31205550101"]

[teams.weekend]
kind = "select"
region = "emea"
tz = "Australia/Sydney"
hours = ["fri-mon 00:00-24:00", "wed 23:00-01:00"]
calendar = "AU-NSW"
dial = ["+61255501001"]

[fallback]
dial = ["+14155550142"]
"""


@pytest.fixture(scope="session")
def tricky() -> Phonebook:
    return phonebook_from(TRICKY)
