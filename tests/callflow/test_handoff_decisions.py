"""The warm handoff's decisions, with literal values: what an engineer's leg carries, the menu, who rings."""

import pytest
from conftest import utc

from ivr.callflow.callstate import StateError
from ivr.callflow.handoff import Engineer, Handoff, Role, chosen, menu, reminder_seconds, ring_on, taking_over

CALL = "CA" + "a" * 32
AMSTERDAM = Engineer(CALL, "+31205550100", "amsterdam", "+31205550101")


def test_an_engineer_s_leg_reads_back_what_it_wrote_and_refuses_anything_else():
    assert Engineer.from_query(AMSTERDAM.query()) == AMSTERDAM
    guest = Engineer(CALL, "+31205550100", "amsterdam", "+31205550101", Role.GUEST, 2)
    assert Engineer.from_query(guest.query()) == guest
    for broken in ({"call": "CA1"}, {"me": "someone"}, {"line": ""}, {"role": "boss"}, {"h": "-1"}, {"h": "999"},
                   {"team": "a,b"}):
        with pytest.raises(StateError):
            Engineer.from_query({**AMSTERDAM.query(), **broken})
    assert Handoff.from_query(Handoff("san_francisco", ring=1).query()) == Handoff("san_francisco", ring=1)
    for broken in ({"to": ""}, {"own": "yes"}, {"r": "10"}, {"r": "x"}):
        with pytest.raises(StateError):
            Handoff.from_query({**Handoff("sydney").query(), **broken})


def test_the_menu_offers_the_office_taking_over_and_the_own_team_and_says_when_there_is_no_office(sample):
    # 17:59Z: San Francisco takes over from Amsterdam at 18:00Z.
    offered = menu(sample, AMSTERDAM, "emea", utc("2026-12-01T17:59Z"))
    assert offered.office.team == "san_francisco" and offered.own == ("+31205550102",)
    # Sunday: the Select team alone is on duty, and has nobody to hand over to.
    select = Engineer(CALL, "+31205550100", "select", "+14155550110")
    alone = menu(sample, select, "emea", utc("2026-12-06T12:00Z"))
    assert alone.office is None
    assert alone.spoken == ("No other office is on duty.", "Press 2 to bring in another number of your team.",
                            "Press 0 to go back to the customer.")
    assert taking_over(sample, select, "emea", utc("2026-12-06T12:00Z")) == "select"


def test_a_key_the_menu_did_not_offer_goes_back_to_the_customer(sample):
    assert chosen(sample, AMSTERDAM, "3", "emea", utc("2026-12-01T17:59Z")) is None
    # The fallback has one number: nobody else of the engineer's own team to ring.
    fallback = Engineer(CALL, "+31205550100", "fallback", "+14155550142")
    assert chosen(sample, fallback, "2", "emea", utc("2026-12-01T17:59Z")) is None


def test_an_office_ringing_in_order_rings_its_next_number_then_nobody(sample):
    ringing = chosen(sample, AMSTERDAM, "1", "emea", utc("2026-12-01T17:59Z"))
    assert (ringing.numbers, ringing.timeout, ringing.handoff) == (("+14155550101",), 15, Handoff("san_francisco"))
    following = ring_on(sample, ringing.handoff)
    assert following.numbers == ("+14155550102",) and following.handoff.ring == 1
    assert ring_on(sample, following.handoff) is None
    # Amsterdam's numbers ring together: one <Dial>, then nobody.
    assert ring_on(sample, Handoff("amsterdam")) is None


def test_only_the_owner_is_reminded_and_only_when_the_team_goes_off_during_the_call(sample):
    assert reminder_seconds(sample, AMSTERDAM, utc("2026-12-01T17:00Z")) == 3000
    assert reminder_seconds(sample, AMSTERDAM, utc("2026-12-01T17:55Z")) is None
    guest = Engineer(CALL, "+31205550100", "amsterdam", "+31205550101", Role.GUEST)
    assert reminder_seconds(sample, guest, utc("2026-12-01T17:00Z")) is None
