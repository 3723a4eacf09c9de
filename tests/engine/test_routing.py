"""Routing: who rings, in what order, and whether the call is put through at all."""

import itertools
from datetime import timedelta

import pytest
from conftest import OFFICE, phonebook_from, utc
from hypothesis import given, settings
from hypothesis import strategies as st
from phonebooks import toml_table, toml_team

from ivr.engine.instants import epoch, instant, iso
from ivr.engine.phonebook import Ring
from ivr.engine.routing import CandidateKind, candidates, next_office, off_duty_at, reminder_at, route
from ivr.engine.schedule import is_weekend, on_duty

US, NL, AU, UNLISTED = "+14155550100", "+31205550100", "+61255501000", "+14155550199"


def order(decision):
    return [c.team for c in decision.candidates]


def test_the_line_s_own_region_rings_first(sample):
    # Tue 2026-12-01 16:00Z: Amsterdam (until 18:00Z) and San Francisco (until 03:00Z) overlap.
    at = utc("2026-12-01T16:00Z")
    assert order(route(sample, US, at)) == ["san_francisco", "amsterdam", "select", "fallback"]
    assert order(route(sample, NL, at)) == ["amsterdam", "san_francisco", "select", "fallback"]


def test_in_an_overlap_the_team_just_starting_is_preferred_over_the_team_about_to_leave(sample):
    # Tue 2026-12-01 07:30Z: Sydney (18:30 AEDT, leaving at 08:00Z) and Amsterdam (08:30 CET).
    at = utc("2026-12-01T07:30Z")
    assert order(route(sample, US, at)) == ["amsterdam", "sydney", "select", "fallback"]
    # ...but a team in the line's region still comes first.
    assert order(route(sample, AU, at)) == ["sydney", "amsterdam", "select", "fallback"]


def test_a_number_that_is_not_a_published_line_has_no_region_and_is_still_routed(sample):
    decision = route(sample, UNLISTED, utc("2026-12-01T07:30Z"))
    assert decision.line is None and decision.region is None
    assert decision.connect
    assert order(decision) == ["amsterdam", "sydney", "select", "fallback"]
    assert f"{UNLISTED} is not a published line" in decision.reason


def test_at_the_weekend_only_select_teams_and_the_fallback_ring(sample):
    decision = route(sample, AU, utc("2026-12-05T12:00Z"))
    assert decision.weekend and decision.connect
    assert order(decision) == ["select", "fallback"]
    assert decision.reason == (
        "it is the weekend, so Priority teams are off except on extra shifts; ringing select, then the fallback"
    )


def test_on_a_holiday_of_every_priority_office_the_select_team_takes_the_call(sample):
    assert order(route(sample, US, utc("2026-12-25T12:00Z"))) == ["select", "fallback"]


GROUPS = (
    toml_table("weekend", starts="sat 00:00 UTC", ends="mon 00:00 UTC")
    + toml_table("[lines]", number="+14155550100", region="amer")
    + toml_table("[lines]", number="+31205550100", region="emea")
    + toml_team("b_amer", "priority", ["mon-fri 08:00-20:00"], ["+14155550101"], region="amer")
    + toml_team("a_amer", "priority", ["mon-fri 08:00-20:00"], ["+14155550102"], region="amer")
    + toml_team("emea", "priority", ["mon-fri 06:00-22:00"], ["+31205550101"], region="emea")
    + toml_team("select_amer", "select", ["mon-fri 00:00-24:00"], ["+14155550110"], region="amer")
    + toml_team("select_emea", "select", ["24/7"], ["+31205550110"], region="emea", ring="in-order", ring_seconds=40)
)


def test_candidates_come_in_the_four_groups_in_order():
    phonebook = phonebook_from(GROUPS)
    at = utc("2026-12-01T12:00Z")
    # Priority in the region (same stretch: by name), other priority, select in region, other select.
    assert order(route(phonebook, "+14155550100", at)) == ["a_amer", "b_amer", "emea", "select_amer", "select_emea"]
    assert order(route(phonebook, "+31205550100", at)) == ["emea", "a_amer", "b_amer", "select_emea", "select_amer"]


def test_within_a_group_the_longest_stretch_comes_first_and_24_7_counts_as_unending():
    phonebook = phonebook_from(GROUPS)
    at = utc("2026-12-01T12:00Z")
    # The 24/7 select team outranks the select team that stops at the end of Friday.
    assert order(route(phonebook, "+14155550199", at)) == ["emea", "a_amer", "b_amer", "select_emea", "select_amer"]


def test_without_a_fallback_nothing_follows_the_teams_and_nobody_means_voicemail():
    phonebook = phonebook_from(GROUPS.replace('hours = ["24/7"]', 'hours = ["mon-fri 00:00-24:00"]'))
    decision = route(phonebook, "+14155550100", utc("2026-12-05T12:00Z"))
    assert decision.connect and decision.candidates == ()
    assert decision.reason.endswith("no team is on duty and there is no fallback, so the caller leaves a voicemail")


def test_with_nobody_on_duty_the_fallback_rings():
    phonebook = phonebook_from(
        GROUPS.replace('hours = ["24/7"]', 'hours = ["mon-fri 00:00-24:00"]') + '\n[fallback]\ndial = ["+14155550142"]\n'
    )
    decision = route(phonebook, "+14155550100", utc("2026-12-05T12:00Z"))
    assert order(decision) == ["fallback"]
    assert decision.reason.endswith("no team is on duty, so the fallback rings")


def test_candidates_carry_what_the_dialler_needs(sample):
    found = candidates(sample, "amer", utc("2026-12-01T16:00Z"))
    san_francisco, fallback = found[0], found[-1]
    assert (san_francisco.dial, san_francisco.ring, san_francisco.ring_seconds) == (
        ("+14155550101", "+14155550102"), Ring.IN_ORDER, 15,
    )
    assert san_francisco.spoken_name == "San Francisco Priority Support"
    assert san_francisco.kind is CandidateKind.PRIORITY and fallback.kind is CandidateKind.FALLBACK
    assert (fallback.team, fallback.kind, fallback.dial, fallback.until, fallback.ring_seconds) == (
        "fallback", CandidateKind.FALLBACK, ("+14155550142",), None, 30,
    )


@pytest.mark.parametrize(
    "severity, policy, at, connect",
    [
        (1, "always", "2026-12-05T12:00Z", True),
        (2, "business-week", "2026-12-01T12:00Z", True),
        (2, "business-week", "2026-12-05T12:00Z", False),
        (3, "never", "2026-12-01T12:00Z", False),
    ],
)
def test_the_severity_policy_decides_whether_the_call_is_put_through(severity, policy, at, connect):
    phonebook = phonebook_from(GROUPS.replace("[weekend]", f'[severity]\n{severity} = "{policy}"\n\n[weekend]'))
    decision = route(phonebook, "+14155550100", utc(at), severity)
    assert decision.connect is connect
    assert bool(decision.candidates) is connect


def test_a_deflected_call_is_pointed_to_the_portal(sample):
    decision = route(sample, US, utc("2026-12-01T16:00Z"), severity=2)
    assert decision.as_json()["action"] == "deflect"
    assert decision.reason == "severity 2 is never put through by phone; the caller is pointed to https://support.example.com"


def test_the_decision_as_json_has_exactly_the_promised_keys(sample):
    decision = route(sample, US, utc("2026-12-01T17:00+01:00"))
    assert decision.as_json() == {
        "at": "2026-12-01T16:00:00Z",
        "line": US,
        "region": "amer",
        "weekend": False,
        "severity": 1,
        "action": "connect",
        "candidates": [
            {"team": "san_francisco", "kind": "priority", "dial": ["+14155550101", "+14155550102"], "ring": "in-order",
             "ring_seconds": 15, "until": "2026-12-02T03:00:00Z"},
            {"team": "amsterdam", "kind": "priority", "dial": ["+31205550101", "+31205550102"], "ring": "together",
             "ring_seconds": 20, "until": "2026-12-01T18:00:00Z"},
            {"team": "select", "kind": "select", "dial": ["+14155550110", "+31205550110"], "ring": "together",
             "ring_seconds": 25, "until": None},
            {"team": "fallback", "kind": "fallback", "dial": ["+14155550142"], "ring": "together", "ring_seconds": 30,
             "until": None},
        ],
        "reason": "ringing san_francisco (in the line's region amer), then amsterdam, then select, then the fallback",
    }


def test_iso_writes_utc_with_a_z():
    assert iso(utc("2026-12-01T09:30:00+01:00")) == "2026-12-01T08:30:00Z"


YEAR_START, YEAR_END = epoch(utc("2026-01-01T00:00Z")), epoch(utc("2027-01-01T00:00Z"))


@settings(max_examples=300, deadline=None)
@given(at=st.integers(YEAR_START, YEAR_END).map(instant), to=st.sampled_from([US, NL, AU, UNLISTED]))
def test_the_order_follows_the_rules_for_any_instant(sample, at, to):
    decision = route(sample, to, at)
    teams = [c for c in decision.candidates if c.kind is not CandidateKind.FALLBACK]
    assert {c.team for c in teams} == {d.team.name for d in on_duty(sample, at)}
    assert decision.candidates[-1].team == "fallback"
    assert decision.weekend == is_weekend(sample, at)
    region = decision.region

    def group(c):
        return (c.kind is not CandidateKind.PRIORITY, c.region != region or region is None)

    def remaining(c):
        return timedelta.max if c.until is None else c.until - at

    for first, second in itertools.pairwise(teams):
        assert group(first) <= group(second)
        if group(first) == group(second):
            assert (remaining(first), second.team) >= (remaining(second), first.team)


# --- the warm handoff: who takes a call over -------------------------------------------------


def test_a_team_about_to_go_off_duty_hands_over_to_the_team_taking_over_then(sample):
    # Tue 2026-12-01 17:59Z: Amsterdam (19:00 CET, off at 18:00Z) has San Francisco taking over.
    at = utc("2026-12-01T17:59Z")
    assert off_duty_at(sample, "amsterdam", at) == utc("2026-12-01T18:00Z")
    assert next_office(sample, "amsterdam", "emea", at).team == "san_francisco"
    # Sydney at 07:59Z (18:59 AEDT) hands over to Amsterdam, whatever the line's region.
    assert next_office(sample, "sydney", "apac", utc("2026-12-01T07:59Z")).team == "amsterdam"


def test_in_the_week_between_the_dst_changes_the_handoff_follows_each_office_s_local_hours(sample):
    # Tue 2026-10-27: Amsterdam is on CET (off at 18:00Z), San Francisco still on PDT (on from 14:00Z).
    at = utc("2026-10-27T17:59Z")
    assert off_duty_at(sample, "amsterdam", at) == utc("2026-10-27T18:00Z")
    assert next_office(sample, "amsterdam", "emea", at).team == "san_francisco"
    # San Francisco goes off at 19:00 PDT, 02:00Z, to Sydney (on from 08:00 AEDT, 21:00Z).
    assert off_duty_at(sample, "san_francisco", utc("2026-10-28T01:59Z")) == utc("2026-10-28T02:00Z")
    assert next_office(sample, "san_francisco", "amer", utc("2026-10-28T01:59Z")).team == "sydney"


def test_a_team_not_about_to_go_off_duty_hands_over_to_the_best_other_team_on_duty_now(sample):
    # 10:00Z: Amsterdam stays until 18:00Z; Sydney left at 08:00Z, so only the Select team is on.
    at = utc("2026-12-01T10:00Z")
    assert next_office(sample, "amsterdam", "emea", at).team == "select"
    # 16:00Z, an overlap: an Amsterdam call handed over two hours early goes to San Francisco.
    assert next_office(sample, "amsterdam", "emea", utc("2026-12-01T16:00Z")).team == "san_francisco"


def test_the_select_team_which_never_goes_off_hands_over_to_the_office_on_duty_and_never_to_the_fallback():
    book = phonebook_from(OFFICE)
    # Monday 2026-11-30 10:00Z: morning (until 13:00Z) is the only team: nobody to hand over to yet.
    assert next_office(book, "morning", None, utc("2026-11-30T10:00Z")) is None
    assert next_office(book, "morning", None, utc("2026-11-30T12:30Z")).team == "afternoon"
    # The last team of the day hands over to nobody: the fallback is not an office.
    assert next_office(book, "evening", None, utc("2026-11-30T19:30Z")) is None


def test_the_reminder_falls_ten_minutes_before_the_team_goes_off_duty(sample):
    assert reminder_at(sample, "amsterdam", utc("2026-12-01T17:00Z")) == utc("2026-12-01T17:50Z")
    # Equal to the reminder's moment, or later in the shift: too late to remind.
    assert reminder_at(sample, "amsterdam", utc("2026-12-01T17:50Z")) is None
    assert reminder_at(sample, "amsterdam", utc("2026-12-01T17:59Z")) is None
    # A team that never goes off duty, and a team off duty, have no reminder.
    assert reminder_at(sample, "select", utc("2026-12-01T17:00Z")) is None
    assert reminder_at(sample, "sydney", utc("2026-12-01T17:00Z")) is None
