from ivr.routing import route

from conftest import utc


def test_a_weekday_call_on_the_us_line_rings_the_office_on_duty_first(sample):
    decision = route(sample, "+14155550100", utc("2026-12-01T16:00Z"))
    assert [c.team for c in decision.candidates] == ["san_francisco", "amsterdam", "select", "fallback"]
