"""The phonebook file: what a valid file means, and a clear error for every mistake."""

from dataclasses import FrozenInstanceError
from datetime import date

import pytest
from conftest import phonebook_from, utc

from ivr.engine.phonebook import CallerIdTrust, Kind, PhonebookError, Policy, Ring
from ivr.engine.phonebook_loader import load_phonebook, parse_phonebook

BASE = """\
[service]
name = "Priority Support"
portal = "https://support.example.com"

[weekend]
starts = "fri 17:00 America/Los_Angeles"
ends = "mon 10:00 Australia/Sydney"

[[lines]]
number = "+14155550100"
region = "amer"
label = "United States"

[teams.office]
kind = "priority"
region = "amer"
tz = "America/Los_Angeles"
hours = ["mon-fri 09:00-17:00"]
holidays = [2026-12-25]
dial = ["+14155550101"]

[[customers]]
sen = "SEN-1234567"
name = "Acme"
tier = "priority"
maintenance_until = 2027-06-30
admins = ["+14155551234"]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PhonebookError) as raised:
        parse_phonebook(text)
    return [str(p) for p in raised.value.problems]


def edited(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


def test_the_sample_loads_into_the_promised_shape(sample):
    assert [t.name for t in sample.teams] == ["amsterdam", "san_francisco", "select", "sydney"]
    assert {t.name: t.kind for t in sample.teams}["select"] is Kind.SELECT
    sydney = sample.team("sydney")
    assert (sydney.tz.key, sydney.calendar, sydney.dial) == ("Australia/Sydney", "AU-NSW", ("+61255501001", "+61255501002"))
    assert date(2026, 12, 24) in sydney.holidays
    assert sample.team("san_francisco").ring is Ring.IN_ORDER
    assert sample.fallback.dial == ("+14155550142",)
    assert sample.line("+61255501000").region == "apac"
    assert sample.policy(1) is Policy.ALWAYS and sample.policy(2) is Policy.NEVER
    assert sample.customer_by_sen("1234567").name == "Acme Corporation"
    assert sample.warnings == ()


def test_a_valid_file_loads_into_immutable_values(sample):
    with pytest.raises(FrozenInstanceError):
        sample.teams[0].dial = ()
    with pytest.raises(TypeError):
        sample.severity[2] = Policy.ALWAYS
    assert isinstance(sample.teams, tuple) and isinstance(sample.teams[0].holidays, frozenset)


def test_defaults_fill_what_the_file_leaves_out():
    phonebook = phonebook_from(
        """
        [teams.select]
        kind = "select"
        tz = "UTC"
        hours = ["24/7"]
        dial = ["+14155550110"]
        """
    )
    team = phonebook.teams[0]
    assert (team.ring, team.ring_seconds, team.holidays, team.calendar, team.extra) == (Ring.TOGETHER, 20, frozenset(), None, ())
    assert [phonebook.policy(s) for s in (1, 2, 3, 4)] == [Policy.ALWAYS, Policy.NEVER, Policy.NEVER, Policy.NEVER]
    assert str(phonebook.weekend.starts) == "fri 17:00 America/Los_Angeles"
    assert str(phonebook.weekend.ends) == "mon 10:00 Australia/Sydney"
    assert phonebook.fallback is None and phonebook.lines == () and phonebook.customers == ()
    assert phonebook.service.name == "Priority Support"


def test_a_caller_id_is_trusted_only_when_fully_attested_unless_the_phonebook_says_otherwise():
    assert parse_phonebook(BASE).service.trust_caller_id is CallerIdTrust.ATTESTED
    for trust in CallerIdTrust:
        book = parse_phonebook(edited('portal = "https://support.example.com"',
                                      f'portal = "https://support.example.com"\ntrust_caller_id = "{trust}"'))
        assert book.service.trust_caller_id is trust


@pytest.mark.parametrize(("value", "error"), [
    ('"attestd"', "error: service.trust_caller_id: 'attestd' is not one of 'attested', 'always', 'never' "
                  "(did you mean 'attested'?)"),
    ("true", "error: service.trust_caller_id: True is not one of 'attested', 'always', 'never'"),
    ('"A"', "error: service.trust_caller_id: 'A' is not one of 'attested', 'always', 'never'"),
])
def test_a_caller_id_trust_the_service_does_not_know_is_an_error_naming_the_choices(value, error):
    found = problems(edited('portal = "https://support.example.com"',
                            f'portal = "https://support.example.com"\ntrust_caller_id = {value}'))
    assert found == [error]


def test_the_handoff_reminder_is_on_unless_the_phonebook_turns_it_off_and_must_be_true_or_false():
    assert parse_phonebook(BASE).service.handoff_reminder is True
    portal = 'portal = "https://support.example.com"'
    assert parse_phonebook(edited(portal, f"{portal}\nhandoff_reminder = false")).service.handoff_reminder is False
    assert problems(edited(portal, f'{portal}\nhandoff_reminder = "no"')) == [
        "error: service.handoff_reminder: 'no' must be true or false"
    ]
    assert problems(edited(portal, f"{portal}\nhandof_reminder = true")) == [
        "error: service.handof_reminder: unknown key (did you mean 'handoff_reminder'?)"
    ]


def test_the_base_of_the_error_cases_is_itself_valid():
    assert parse_phonebook(BASE).team("office").holidays == frozenset({date(2026, 12, 25)})


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param('[service]\nname = "x"\n[teams\n', "error: TOML syntax error at line 3, column 7: expected ']'", id="toml-syntax"),
        pytest.param('[service]\nname = "x"\nname = "y"\n', "error: TOML syntax error at line 3, column 11: cannot overwrite",
                     id="toml-duplicate-key"),
        pytest.param(edited("[service]", "[servce]"), "error: servce: unknown key (did you mean 'service'?)", id="unknown-top-key"),
        pytest.param(edited('portal = "', 'portl = "'), "error: service.portl: unknown key (did you mean 'portal'?)", id="unknown-service-key"),
        pytest.param(edited('dial = ["+14155550101"]', 'dial = ["+14155550101"]\nrign = "together"'),
                     "error: teams.office.rign: unknown key (did you mean 'ring'?)", id="unknown-team-key"),
        pytest.param(edited('label = "United States"', 'lable = "United States"'),
                     "error: lines[0].lable: unknown key (did you mean 'label'?)", id="unknown-line-key"),
        pytest.param(edited("admins =", "admin ="), "error: customers[0].admin: unknown key (did you mean 'admins'?)", id="unknown-customer-key"),
        pytest.param(edited("[[lines]]", "[severity]\n5 = \"always\"\n\n[[lines]]"),
                     "error: severity.5: unknown key (known keys: 1, 2, 3, 4)", id="unknown-severity"),
        pytest.param(edited('tz = "America/Los_Angeles"', 'tz = "America/Los_Angels"'),
                     "error: teams.office.tz: unknown time zone 'America/Los_Angels' (did you mean 'America/Los_Angeles'?)", id="unknown-zone"),
        pytest.param(edited('starts = "fri 17:00 America/Los_Angeles"', 'starts = "friday 17:00"'),
                     "error: weekend.starts: must look like 'fri 17:00 America/Los_Angeles'", id="weekend-unparsable"),
        pytest.param(edited('ends = "mon 10:00 Australia/Sydney"', 'ends = "mon 10:00 Australia/Sidney"'),
                     "error: weekend.ends: unknown time zone 'Australia/Sidney' (did you mean 'Australia/Sydney'?)", id="weekend-zone"),
        pytest.param(edited('ends = "mon 10:00 Australia/Sydney"\n', ""), "error: weekend.ends: is required", id="weekend-half"),
        pytest.param(edited('["mon-fri 09:00-17:00"]', '["mon-fri 09:00-17:00", "mon-fri 9am-5pm"]'),
                     "error: teams.office.hours[1]: '9am-5pm' is not a time range like '09:00-17:00'", id="hours-malformed"),
        pytest.param(edited('["mon-fri 09:00-17:00"]', '"mon-fri 09:00-17:00"'), "error: teams.office.hours: must be a list", id="hours-not-a-list"),
        pytest.param(edited('hours = ["mon-fri 09:00-17:00"]\n', ""), "error: teams.office.hours: is required", id="hours-missing"),
        pytest.param(edited('hours = ["mon-fri 09:00-17:00"]', "hours = []"), "error: teams.office.hours: is required", id="hours-empty"),
        pytest.param(edited("holidays = [2026-12-25]", 'holidays = ["2026-02-30"]'),
                     "error: teams.office.holidays[0]: '2026-02-30' is not a date like 2026-12-25", id="holiday-malformed"),
        pytest.param(edited("holidays = [2026-12-25]", "holidays = [2026-12-25T09:00:00]"),
                     "error: teams.office.holidays[0]: 2026-12-25 09:00:00 must be a date without a time", id="holiday-with-time"),
        pytest.param(edited("holidays = [2026-12-25]", 'extra = ["2026-12-27 9-5"]'),
                     "error: teams.office.extra[0]: '9-5' is not a time range", id="extra-malformed"),
        pytest.param(edited("holidays = [2026-12-25]", 'calendar = "XX"'),
                     "error: teams.office.calendar: 'XX' is not a country code known to the holidays package", id="calendar-country"),
        pytest.param(edited("holidays = [2026-12-25]", 'calendar = "us-ca"'),
                     "error: teams.office.calendar: 'us' is not a country code known to the holidays package "
                     "(did you mean 'US-CA'?)", id="calendar-lower-case"),
        pytest.param(edited("holidays = [2026-12-25]", 'calendar = "US-XX"'),
                     "error: teams.office.calendar: 'XX' is not a subdivision of US", id="calendar-subdivision"),
        pytest.param(edited('kind = "priority"', 'kind = "gold"'),
                     "error: teams.office.kind: 'gold' is not one of 'priority', 'select'", id="kind"),
        pytest.param(edited('kind = "priority"', 'kind = "priorty"'),
                     "error: teams.office.kind: 'priorty' is not one of 'priority', 'select' (did you mean 'priority'?)",
                     id="kind-misspelt"),
        pytest.param(edited('dial = ["+14155550101"]', 'dial = ["+14155550101"]\nring = "all"'),
                     "error: teams.office.ring: 'all' is not one of 'together', 'in-order'", id="ring"),
        pytest.param(edited('dial = ["+14155550101"]', 'dial = ["+14155550101"]\nring_seconds = 2'),
                     "error: teams.office.ring_seconds: 2 must be a whole number of seconds from 5 to 600", id="ring-seconds"),
        pytest.param(edited('dial = ["+14155550101"]\n', ""), "error: teams.office.dial: is required", id="no-dial"),
        pytest.param(edited('dial = ["+14155550101"]', "dial = []"), "error: teams.office.dial: must list at least one number", id="empty-dial"),
        pytest.param(edited('dial = ["+14155550101"]', 'dial = ["4155550101"]'),
                     "error: teams.office.dial[0]: '4155550101' is not a valid E.164 phone number", id="dial-not-e164"),
        pytest.param(edited('number = "+14155550100"', 'number = "+1 415 555 0100"'),
                     "error: lines[0].number: '+1 415 555 0100' is not a valid E.164 phone number", id="line-not-e164"),
        pytest.param(edited('admins = ["+14155551234"]', 'admins = ["+1415555"]'),
                     "error: customers[0].admins[0]: '+1415555' is not a valid E.164 phone number", id="admin-not-e164"),
        pytest.param(BASE + '\n[fallback]\ndial = ["555-0142"]\n',
                     "error: fallback.dial[0]: '555-0142' is not a valid E.164 phone number", id="fallback-not-e164"),
        pytest.param(BASE + "\n[fallback]\nring_seconds = 30\n", "error: fallback.dial: is required", id="fallback-no-dial"),
        pytest.param(edited("[[lines]]", '[severity]\n1 = "sometimes"\n\n[[lines]]'),
                     "error: severity.1: 'sometimes' is not one of 'always', 'business-week', 'never'", id="severity-policy"),
        pytest.param(BASE + '\n[[lines]]\nnumber = "+14155550100"\nregion = "amer"\n',
                     "error: lines[1].number: +14155550100 is already used by lines[0]", id="duplicate-line"),
        pytest.param(BASE + '\n[[customers]]\nsen = "1234567"\nname = "Again"\ntier = "priority"\nmaintenance_until = 2027-01-01\n',
                     "error: customers[1].sen: 1234567 is already used by customers[0]", id="duplicate-sen"),
        pytest.param(edited('sen = "SEN-1234567"', 'sen = "ABC"'), "error: customers[0].sen: 'ABC' is not a SEN", id="sen-malformed"),
        pytest.param(edited('tier = "priority"', 'tier = "gold"'),
                     "error: customers[0].tier: 'gold' is not one of premier, priority, select", id="tier"),
        pytest.param(edited('tier = "priority"', 'tier = "Premier"'),
                     "error: customers[0].tier: 'Premier' is not one of premier, priority, select (did you mean 'premier'?)",
                     id="tier-misspelt"),
        pytest.param(edited("maintenance_until = 2027-06-30", 'maintenance_until = "next year"'),
                     "error: customers[0].maintenance_until: 'next year' is not a date like 2026-12-25", id="maintenance-date"),
        pytest.param(edited("[teams.office]", '[teams."new york"]'),
                     "error: teams.new york: a team name may use only letters, digits, '_' and '-'", id="team-name-with-space"),
        pytest.param(edited("[teams.office]", "[teams.fallback]"),
                     "error: teams.fallback: 'fallback' names the [fallback]; give this team another name", id="team-named-fallback"),
        pytest.param(BASE + "\n[teams]\nother = 3\n", "error: teams.other: must be a table", id="team-not-a-table"),
        pytest.param(BASE + "\n[teams.empty]\n", "error: teams.empty.kind: is required", id="team-empty"),
        pytest.param("[service]\n", "error: teams: is required", id="no-teams"),
        pytest.param("lines = 3\n" + BASE.replace("[[lines]]", "[[customers]]"), "error: lines: must be an array of tables",
                     id="lines-not-array"),
    ],
)
def test_each_mistake_gets_a_clear_error_with_its_key_path(text, expected):
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once():
    text = (
        edited('tz = "America/Los_Angeles"', 'tz = "Mars/Base"')
        .replace('kind = "priority"', 'kind = "gold"')
        .replace('number = "+14155550100"', 'number = "12"')
        .replace('tier = "priority"', 'tier = "gold"')
    )
    found = problems(text)
    assert [p.split(":")[1].strip() for p in found] == [
        "lines[0].number", "teams.office.kind", "teams.office.tz", "customers[0].tier",
    ]


def test_a_team_with_a_bad_name_still_has_its_other_mistakes_reported():
    found = problems(edited("[teams.office]", '[teams."new york"]').replace('tz = "America/Los_Angeles"', 'tz = "NYC"'))
    assert "error: teams.new york.tz: unknown time zone 'NYC'" in found


def test_a_duplicate_sen_is_reported_even_when_the_first_customer_has_other_mistakes():
    text = edited('tier = "priority"', 'tier = "gold"') + (
        '\n[[customers]]\nsen = "1234567"\nname = "Again"\ntier = "priority"\nmaintenance_until = 2027-01-01\n'
    )
    assert problems(text) == [
        "error: customers[0].tier: 'gold' is not one of premier, priority, select",
        "error: customers[1].sen: 1234567 is already used by customers[0]",
    ]


def test_a_weekend_that_starts_when_it_ends_is_warned_about_as_it_never_ends():
    phonebook = parse_phonebook(edited('ends = "mon 10:00 Australia/Sydney"', 'ends = "fri 17:00 America/Los_Angeles"'))
    assert [str(w) for w in phonebook.warnings] == [
        "warning: weekend: starts and ends at the same moment (fri 17:00 America/Los_Angeles), so the weekend "
        "never ends: Priority teams are never on duty except on extra shifts",
    ]


def test_regions_used_on_only_one_side_are_warnings_not_errors():
    phonebook = parse_phonebook(
        edited('region = "amer"\nlabel', 'region = "latam"\nlabel')
    )
    assert [str(w) for w in phonebook.warnings] == [
        "warning: lines[0].region: no team is in region 'latam'; calls on this line go to other regions",
        "warning: teams.office.region: no line is in region 'amer'",
    ]


def test_a_broken_team_does_not_also_cause_a_misleading_region_warning():
    found = problems(edited('dial = ["+14155550101"]\n', ""))
    assert not [p for p in found if p.startswith("warning")], found


def test_the_error_message_names_the_file_and_counts_the_errors(tmp_path):
    path = tmp_path / "phonebook.toml"
    path.write_text(edited('kind = "priority"', 'kind = "gold"'))
    with pytest.raises(PhonebookError, match=r"phonebook.toml: 1 error\(s\)\n  error: teams.office.kind"):
        load_phonebook(path)


def test_an_unreadable_file_is_a_phonebook_error(tmp_path):
    with pytest.raises(PhonebookError, match="cannot read the file"):
        load_phonebook(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PhonebookError, match="not UTF-8"):
        load_phonebook(binary)


def test_maintenance_is_valid_through_its_date_anywhere_on_earth(sample):
    globex = sample.customer_by_sen("SEN-2345678")
    assert globex.maintenance_until == date(2026, 3, 31)
    assert globex.maintained_at(utc("2026-04-01T11:59:59Z"))
    assert not globex.maintained_at(utc("2026-04-01T12:00:00Z"))


# --- the limits of the call path -----------------------------------------------------------------
# A call carries its ringing plan (the candidates' names) in its signed action URLs; whatever a
# valid phonebook holds, the plan fits (tests/callflow/test_callstate.py reads the largest back).


def test_a_team_name_longer_than_a_call_can_carry_is_an_error_with_its_key_path():
    name = "n" * 70
    assert problems(edited("[teams.office]", f"[teams.{name}]")) == [
        f"error: teams.{name}: a team name may be at most 64 characters long (this one has 70); "
        "set `label` for a longer spoken name",
    ]
    longest = "n" * 64
    assert [t.name for t in parse_phonebook(edited("[teams.office]", f"[teams.{longest}]")).teams] == [longest]


def test_more_numbers_than_one_dial_rings_are_an_error_for_a_team_and_for_the_fallback():
    eleven = ", ".join(f'"+1415555{n:04d}"' for n in range(201, 212))
    assert problems(edited('dial = ["+14155550101"]', f"dial = [{eleven}]")) == [
        "error: teams.office.dial: Twilio rings at most 10 numbers at once",
    ]
    assert problems(BASE + f"\n[fallback]\ndial = [{eleven}]\n") == [
        "error: fallback.dial: Twilio rings at most 10 numbers at once",
    ]


def _with_select_teams(count: int, fallback: bool = True) -> str:
    teams = "".join(
        f'\n[teams.select{n:02d}]\nkind = "select"\ntz = "UTC"\nhours = ["24/7"]\ndial = ["+1415555{n + 300:04d}"]\n'
        for n in range(count)
    )
    return BASE + teams + ('\n[fallback]\ndial = ["+14155550142"]\n' if fallback else "")


def test_more_teams_than_one_call_rings_is_a_warning_naming_how_many_ring():
    assert [str(w) for w in parse_phonebook(_with_select_teams(10)).warnings] == []
    assert [str(w) for w in parse_phonebook(_with_select_teams(11)).warnings] == [
        "warning: teams: 12 teams, but a call rings at most 11 of them (the first on duty by the routing rules), "
        "then the fallback: a call carries at most 12 candidates",
    ]
    assert [str(w) for w in parse_phonebook(_with_select_teams(15, fallback=False)).warnings] == [
        "warning: teams: 16 teams, but a call rings at most 12 of them (the first on duty by the routing rules), "
        "with no fallback: a call carries at most 12 candidates",
    ]


def test_with_no_fallback_the_first_time_within_a_year_that_nobody_is_on_duty_is_a_warning():
    # Tuesday 2026-12-01 04:00 in Los Angeles: the office opens at 09:00 local, 17:00Z.
    phonebook = parse_phonebook(BASE, coverage_from=utc("2026-12-01T12:00Z"))
    [warning] = [str(w) for w in phonebook.warnings]
    assert warning.startswith(
        "warning: fallback: is not set, and no team is on duty from 2026-12-01T12:00:00Z to 2026-12-01T17:00:00Z "
        "(the first of "
    )
    assert warning.endswith(" such times in the next 12 months): a call then rings nobody and goes straight to voicemail")


def test_the_warning_names_the_first_gap_ahead_even_months_away():
    always = (
        edited('hours = ["mon-fri 09:00-17:00"]', 'hours = ["24/7"]')
        .replace('kind = "priority"', 'kind = "select"').replace("holidays = [2026-12-25]", "holidays = []")
    )
    assert parse_phonebook(always, coverage_from=utc("2026-12-01T12:00Z")).warnings == ()
    # A 24/7 team that is off on one listed holiday, four months ahead.
    off_once = always.replace("holidays = []", "holidays = [2027-04-05]")
    assert [str(w) for w in parse_phonebook(off_once, coverage_from=utc("2026-12-01T12:00Z")).warnings] == [
        "warning: fallback: is not set, and no team is on duty from 2027-04-05T07:00:00Z to 2027-04-06T07:00:00Z: "
        "a call then rings nobody and goes straight to voicemail",
    ]


def test_a_fallback_or_no_instant_to_start_from_means_no_coverage_warning():
    with_fallback = BASE + '\n[fallback]\ndial = ["+14155550142"]\n'
    assert parse_phonebook(with_fallback, coverage_from=utc("2026-12-01T12:00Z")).warnings == ()
    # The loader never reads the clock: without an instant it does not look ahead.
    assert parse_phonebook(BASE).warnings == ()


# --- time zones that keep no city's clock, holidays that run out, syntax errors shown in place ----


def test_an_abbreviation_for_a_zone_is_refused_with_the_city_zone_never_a_fixed_offset():
    assert problems(edited('tz = "America/Los_Angeles"', 'tz = "PST"')) == [
        "error: teams.office.tz: unknown time zone 'PST' (an abbreviation, not a zone name: use 'America/Los_Angeles')",
    ]
    assert problems(edited('ends = "mon 10:00 Australia/Sydney"', 'ends = "mon 10:00 AEST"')) == [
        "error: weekend.ends: unknown time zone 'AEST' (an abbreviation, not a zone name: use a city's zone, "
        "such as 'Australia/Sydney' or 'Australia/Brisbane')",
    ]


def test_a_fixed_offset_or_legacy_zone_is_accepted_with_a_warning_naming_the_zone_to_use():
    phonebook = parse_phonebook(
        edited('tz = "America/Los_Angeles"', 'tz = "EST"')
        .replace('starts = "fri 17:00 America/Los_Angeles"', 'starts = "fri 17:00 PST8PDT"')
    )
    assert phonebook.team("office").tz.key == "EST"
    assert [str(w) for w in phonebook.warnings] == [
        "warning: weekend.starts: 'PST8PDT' is a legacy alias kept for old systems: use 'America/Los_Angeles'",
        "warning: teams.office.tz: 'EST' is a fixed offset (UTC-05:00 all year, no daylight saving): use a city's "
        "zone, such as 'America/New_York' or 'America/Toronto'",
    ]


def test_utc_is_a_warning_for_an_office_but_not_for_a_global_team_or_the_weekend():
    office = parse_phonebook(edited('tz = "America/Los_Angeles"', 'tz = "UTC"'))
    assert [str(w) for w in office.warnings] == [
        "warning: teams.office.tz: 'UTC' has no daylight saving, so an office's hours would drift by an hour from "
        "its city's clocks when they change: use its city's zone (an 'Area/City' name such as 'Europe/London')",
    ]
    global_team = BASE + '\n[teams.select]\nkind = "select"\ntz = "Etc/UTC"\nhours = ["24/7"]\ndial = ["+14155550110"]\n'
    weekend_in_utc = global_team.replace('starts = "fri 17:00 America/Los_Angeles"', 'starts = "sat 00:00 UTC"')
    assert parse_phonebook(weekend_in_utc).warnings == ()


def _holidays(listed: str, calendar: str = "") -> str:
    return edited("holidays = [2026-12-25]", f"holidays = [{listed}]{calendar}")


def test_a_team_whose_holidays_run_out_within_a_year_is_a_warning_naming_the_last_date_it_knows():
    # 2027-01-10 in Los Angeles: the list's last date is behind, and nothing is listed for 2027.
    phonebook = parse_phonebook(_holidays("2026-11-26, 2026-12-25"), coverage_from=utc("2027-01-10T20:00Z"))
    fallback_gap, holidays = [str(w) for w in phonebook.warnings]
    assert fallback_gap.startswith("warning: fallback: is not set")
    assert holidays == (
        "warning: teams.office.holidays: no holiday from 2027-01-10 to 2028-01-10 (the last date it knows is "
        "2026-12-25): add the coming year's dates, or calls are routed to the team on its days off"
    )


def test_the_twelve_months_are_the_team_s_own_dates_from_the_instant_of_the_check():
    # 2027-12-25 is 364 days after 2026-12-26 in Los Angeles: still ahead, no warning.
    ahead = parse_phonebook(_holidays("2026-12-25, 2027-12-25"), coverage_from=utc("2026-12-26T20:00Z"))
    assert not [w for w in ahead.warnings if w.path.endswith("holidays")]
    # 2026-12-26T07:59Z is still the 25th in Los Angeles: the holiday itself is within the year.
    today = parse_phonebook(_holidays("2026-12-25"), coverage_from=utc("2026-12-26T07:59Z"))
    assert not [w for w in today.warnings if w.path.endswith("holidays")]
    tomorrow = parse_phonebook(_holidays("2026-12-25"), coverage_from=utc("2026-12-26T08:00Z"))
    assert [w.path for w in tomorrow.warnings if w.path.endswith("holidays")] == ["teams.office.holidays"]


def test_a_calendar_keeps_a_team_s_holidays_coming_and_a_team_without_holidays_is_not_warned():
    with_calendar = parse_phonebook(_holidays("2026-12-25", '\ncalendar = "US-CA"'), coverage_from=utc("2029-06-01T12:00Z"))
    assert not [w for w in with_calendar.warnings if w.path.endswith("holidays")]
    without = parse_phonebook(_holidays(""), coverage_from=utc("2029-06-01T12:00Z"))
    assert not [w for w in without.warnings if w.path.endswith("holidays")]


def test_holidays_listed_only_beyond_the_year_ahead_name_the_next_date_known():
    phonebook = parse_phonebook(_holidays("2028-12-25"), coverage_from=utc("2026-12-01T12:00Z"))
    [holidays] = [str(w) for w in phonebook.warnings if w.path.endswith("holidays")]
    assert "no holiday from 2026-12-01 to 2027-12-01 (the next date it knows is 2028-12-25)" in holidays


def test_the_loader_alone_never_looks_at_holidays_ahead():
    assert parse_phonebook(_holidays("2020-12-25")).warnings == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '[service]\nname = "Priority Support\n',
            [
                "error: TOML syntax error at line 2, column 25: illegal character '\\n'",
                '  2 | name = "Priority Support',
                "    |                         ^",
            ],
            id="unterminated-string",
        ),
        pytest.param(
            "[teams.office]\n\tkind = priority\n",
            ["error: TOML syntax error at line 2, column 9: invalid value", "  2 | \tkind = priority", "    | \t       ^"],
            id="tab-kept-so-the-caret-lines-up",
        ),
        pytest.param(
            '[teams.office]\nhours = ["24/7",\n\n',
            ["error: TOML syntax error at the end of the file: invalid value", '  2 | hours = ["24/7",',
             "    |                 ^"],
            id="end-of-file",
        ),
    ],
)
def test_a_toml_syntax_error_shows_line_column_and_the_offending_line_with_a_caret(text, expected):
    [problem] = problems(text)
    assert problem.splitlines() == expected
