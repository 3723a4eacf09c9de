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
