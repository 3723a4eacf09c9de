"""The state carried in action URLs: written compactly, read back strictly."""

import pytest

from ivr.callflow.callstate import CallState, StateError
from ivr.engine.phonebook import MAX_CANDIDATES, MAX_DIAL, MAX_TEAM_NAME


def test_a_state_survives_the_round_trip_through_a_query_string():
    state = CallState(sen="1234567", verified=False, severity=1, tries=2,
                      plan=("amsterdam", "select", "fallback"), candidate=1, number=1, attempt=3)
    assert CallState.from_query(state.query()) == state


def test_the_largest_state_a_valid_phonebook_can_produce_is_read_back():
    # The loader's limits: team names of MAX_TEAM_NAME characters, MAX_DIAL numbers rung in order;
    # the routing's: MAX_CANDIDATES candidates, the fallback last.
    plan = (*(f"{n:02d}" + "t" * (MAX_TEAM_NAME - 2) for n in range(MAX_CANDIDATES - 1)), "fallback")
    last = CallState(sen="1" * 20, severity=4, plan=plan, candidate=MAX_CANDIDATES - 1, number=MAX_DIAL - 1,
                     attempt=MAX_CANDIDATES * MAX_DIAL)
    assert CallState.from_query(last.query()) == last


def test_a_url_an_earlier_version_wrote_with_the_recognised_flag_is_still_accepted():
    # Calls in flight during a deploy carry `r` (recognised by caller ID), which no step reads any more.
    assert CallState.from_query({"sen": "1234567", "r": "1", "sev": "1"}) == CallState(sen="1234567", severity=1)
    assert CallState.from_query({"sv": "2", "sen": "1234567", "r": "1"}) == CallState(sen="1234567")
    assert "r" not in CallState(sen="1234567", severity=1).query()


def test_defaults_are_left_out_of_the_url_but_the_version_of_the_format_is_not():
    assert CallState().query() == {"sv": "2"}
    assert CallState(sen="1234567").query() == {"sv": "2", "sen": "1234567"}


def test_a_url_written_before_the_state_had_a_version_is_read_as_the_previous_version():
    # What the action URLs of a call in flight during the deploy that brought versions carry.
    state = CallState(sen="1234567", severity=1, plan=("amsterdam", "select", "fallback"), attempt=1)
    written_before = {"sen": "1234567", "sev": "1", "plan": "amsterdam,select,fallback", "a": "1"}
    assert CallState.from_query(written_before) == state
    assert CallState.from_query(state.query()) == state


@pytest.mark.parametrize("version", ["3", "0", "x", "", "²"])
def test_a_version_neither_current_nor_previous_is_refused(version):
    with pytest.raises(StateError):
        CallState.from_query({"sv": version, "sen": "1234567"})


@pytest.mark.parametrize("args", [
    {"try": "4"}, {"sev": "0"}, {"sev": "x"}, {"sen": "SEN-1"}, {"r": "true"},
    {"plan": ""}, {"plan": "a,,b"}, {"plan": ",".join("t" * 13)}, {"plan": "a", "c": "1"}, {"n": "10"},
    {"try": "²"}, {"sen": "١٢٣٤٥٦٧"},
])
def test_anything_else_is_refused(args):
    with pytest.raises(StateError):
        CallState.from_query(args)
