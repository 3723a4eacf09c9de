"""What ops sees of the rota: since/until, handoffs, and the week's overlaps and gaps."""

from __future__ import annotations

import pytest
from conftest import OFFICE, phonebook_from, utc
from phonebooks import toml_team

from ivr.engine.rota import board, board_json, week


def spans(row):
    return [(s.strftime("%d %H:%M"), e.strftime("%d %H:%M")) for s, e in row.spans]


def test_handoff_overlaps_are_where_two_offices_are_on_at_once(sample):
    day = week(sample, utc("2026-12-01T00:00Z"), days=1)
    # Sydney→Amsterdam 06-08, Amsterdam→San Francisco 15-18, San Francisco→Sydney 21-03 (UTC, December).
    assert spans(day.overlaps) == [("01 00:00", "01 03:00"), ("01 06:00", "01 08:00"),
                                   ("01 15:00", "01 18:00"), ("01 21:00", "02 00:00")]
    assert spans(day.gaps) == [] and spans(day.weekend) == []


def test_christmas_week_drops_offices_on_their_holidays_and_keeps_the_extra_shift(sample):
    days = week(sample, utc("2026-12-24T00:00Z"), days=4)
    sydney = next(row for row in days.teams if row.label == "Sydney Priority Support")
    # Off on 24 Dec (listed), 25-26 Dec (public holidays) and the weekend; on for the extra 27 Dec shift.
    assert spans(sydney) == [("26 23:00", "27 03:00")]
    assert spans(days.overlaps) == [("24 15:00", "24 18:00")]


def test_a_stretch_older_than_the_lookback_has_no_since(sample):
    now = board(sample, utc("2026-12-01T09:00Z"))
    since = {d.team.name: d.since for d in now.on_duty}
    assert since == {"amsterdam": utc("2026-12-01T06:00Z"), "select": None}
    assert now.weekend_span == (utc("2026-12-05T01:00Z"), utc("2026-12-06T23:00Z"))


def test_the_week_is_drawn_on_utc_calendar_days_clipped_to_it(sample):
    days = week(sample, utc("2026-12-04T16:00Z"), days=2).days
    assert days == (
        (utc("2026-12-04T16:00Z"), utc("2026-12-05T00:00Z")),
        (utc("2026-12-05T00:00Z"), utc("2026-12-06T00:00Z")),
        (utc("2026-12-06T00:00Z"), utc("2026-12-06T16:00Z")),
    )


def test_who_is_on_duty_as_json_has_every_field_unless_a_reader_asks_for_fewer(sample):
    at = utc("2026-12-01T16:00Z")
    full = board_json(board(sample, at))
    assert (full["at"], full["weekend"]) == ("2026-12-01T16:00:00Z", False)
    assert full["on_duty"][0] == {
        "team": "amsterdam", "kind": "priority", "since": "2026-12-01T06:00:00Z", "until": "2026-12-01T18:00:00Z",
    }
    assert full["handoffs"][0] == {"at": "2026-12-01T18:00:00Z", "team": "amsterdam", "comes_on": False}
    brief = board_json(board(sample, at), ("team", "until"), handoffs=False)
    assert brief == {
        "at": "2026-12-01T16:00:00Z",
        "weekend": False,
        "on_duty": [
            {"team": "amsterdam", "until": "2026-12-01T18:00:00Z"},
            {"team": "san_francisco", "until": "2026-12-02T03:00:00Z"},
            {"team": "select", "until": None},
        ],
    }
    with pytest.raises(ValueError, match="no such team field: region"):
        board_json(board(sample, at), ("team", "region"))


def test_the_week_lists_priority_offices_before_select_teams():
    phonebook = phonebook_from(toml_team("global", "select", ["24/7"], ["+14155550110"])
                               + toml_team("desk", "priority", ["mon-fri 09:00-17:00"], ["+14155550120"]))
    rows = week(phonebook, utc("2026-11-30T00:00Z"), days=1).teams
    assert [(row.label, row.kind) for row in rows] == [("Desk Priority Support", "priority"),
                                                       ("Global Select Support", "select")]


def test_hour_ticks_fall_every_six_hours_between_the_midnights():
    ticks = week(phonebook_from(OFFICE), utc("2026-12-01T10:00Z"), days=1).hour_ticks()
    assert ticks == (utc("2026-12-01T12:00Z"), utc("2026-12-01T18:00Z"), utc("2026-12-02T06:00Z"))
