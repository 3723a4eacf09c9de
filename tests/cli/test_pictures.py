"""The week-by-week picture `ivr coverage` draws: marks per two hours, each week's gaps, the totals."""

from conftest import OFFICE, phonebook_from, utc

from ivr.cli.pictures import week_by_week
from ivr.engine.instants import duration


def test_the_week_by_week_picture_shows_who_covers_when():
    phonebook = phonebook_from(OFFICE)
    picture = week_by_week(phonebook, utc("2026-12-02T00:00Z"), utc("2026-12-08T00:00Z"))
    lines = picture.splitlines()
    assert lines[0] == "Coverage from 2026-12-02T00:00:00Z to 2026-12-08T00:00:00Z, in UTC, one mark per 2 hours:"
    week = lines.index("Week of Mon 2026-11-30")
    assert lines[week + 1].split("|")[0].split() == ["Mon", "30"]
    rows = {line.split("  ")[0].strip(): line for line in lines[week + 2 : week + 6]}
    assert set(rows) == {"weekend (Priority off)", "afternoon (priority)", "evening (select)", "morning (priority)"}
    # Marks: two hours each; Mon and Tue are outside the range, Wed's morning team is on holiday.
    morning = rows["morning (priority)"].split("|")
    assert morning[0].endswith(" " * 12) and morning[1] == " " * 12
    assert morning[2] == "-" * 12
    assert morning[3] == "----+#+-----"  # 09:00-13:00 in marks from 08:00: part, whole, part
    assert rows["evening (select)"].split("|")[5] == "-----#------"  # Sat 10:00-12:00
    assert rows["weekend (Priority off)"].split("|")[5:] == ["#" * 12, "#" * 12]
    assert "  no team on duty:" in lines
    assert "    Wed 2026-12-02 00:00 - 13:00 UTC (13h)" in lines
    assert "    Fri 2026-12-04 20:00 - Sat 2026-12-05 10:00 UTC (14h)" in lines
    assert "    Mon 2026-12-07 17:00 - Tue 2026-12-08 00:00 UTC (7h)" in lines
    assert lines[-3:] == [
        "Over the whole range:",
        "  no team on duty: 6 gap(s), 4d 6h in all",  # Sat 12:00 - Mon 09:00 is one gap across two weeks
        "  no Priority team on duty outside the weekend: 6 gap(s), 2d 20h in all",
    ]
    assert all(line == line.rstrip() for line in lines)
    next_week = lines.index("Week of Mon 2026-12-07")
    assert next_week > week


def test_a_duration_names_days_hours_and_minutes_or_else_seconds():
    assert [duration(s) for s in (295200, 9000, 45, 0)] == ["3d 10h", "2h 30m", "45s", "0s"]
