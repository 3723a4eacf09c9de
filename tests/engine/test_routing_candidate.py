"""`candidate(phonebook, name)`: a call's saved candidate names resolve against the current phonebook."""

from ivr.engine.phonebook import FALLBACK_NAME
from ivr.engine.routing import CandidateKind, candidate


def test_a_team_name_resolves_to_its_numbers_and_spoken_name(sample):
    found = candidate(sample, "amsterdam")
    assert found.dial == ("+31205550101", "+31205550102")
    assert found.spoken_name == "Amsterdam Priority Support"
    assert found.ring_seconds == 20


def test_the_fallback_resolves_by_its_reserved_name(sample):
    found = candidate(sample, FALLBACK_NAME)
    assert found.kind is CandidateKind.FALLBACK
    assert (found.team, found.dial, found.spoken_name) == (FALLBACK_NAME, ("+14155550142",), "Priority Support duty manager")


def test_a_name_no_longer_in_the_phonebook_resolves_to_none(sample):
    assert candidate(sample, "tokyo") is None
