"""The `ivr` admin commands, run as an admin runs them (click's CliRunner)."""

import importlib.metadata
import json
import subprocess
import sys

import click
import pytest
import responses
import time_machine
from click.testing import CliRunner
from conftest import SAMPLE, TWILIO_ACCOUNT, TWILIO_TOKEN, utc, without_tables

from ivr.cli.commands import INSTANT, main
from ivr.engine.routing import route

SAMPLE_ARGS = ["--phonebook", str(SAMPLE)]


@pytest.fixture
def runner():
    # The credentials a deployment has: without them `ivr check` warns that SMS alerts cannot go.
    return CliRunner(env={"TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN})


@pytest.fixture
def broken(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(
        SAMPLE.read_text()
        .replace('tz = "Europe/Amsterdam"', 'tz = "Europe/Amsterdm"')
        .replace('number = "+442079460100"', 'number = "02079460100"')
        .replace("ring_seconds = 25", "ring_secs = 25")
    )
    return path


def run(runner, *args, env=None):
    return runner.invoke(main, list(args), env=env)


def json_of(runner, *args):
    """What `ivr <args> --json` prints, parsed; the command must succeed."""
    result = run(runner, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- ivr itself ----------------------------------------------------------------------------


def test_version_names_the_installed_package(runner):
    result = run(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout == f"ivr {importlib.metadata.version('ivr')}\n"


def test_help_lists_every_command_with_its_whole_description_at_any_width(runner):
    for width in (60, 80, 200):
        result = runner.invoke(main, ["--help"], terminal_width=width)
        assert result.exit_code == 0
        listed = result.stdout.split("Commands:\n", 1)[1]
        # Each description, wrapped to the width, reads the same once its lines are joined again.
        joined = " ".join(listed.split())
        for name, command in main.commands.items():
            assert f"{name} {' '.join(command.help.split())}" in joined, (width, name)
        assert "..." not in listed


def _options(command, path=("ivr",)):
    for param in command.params:
        if isinstance(param, click.Option):
            yield " ".join(path), param
    for name, sub in getattr(command, "commands", {}).items():
        yield from _options(sub, (*path, name))


def test_every_option_of_every_command_has_help():
    options = list(_options(main))
    assert len(options) > 20
    assert [(where, option.opts) for where, option in options if not option.help] == []


# --- ivr check ---------------------------------------------------------------------------


def test_check_accepts_the_sample_and_sums_it_up(runner):
    result = run(runner, "check", *SAMPLE_ARGS)
    assert result.exit_code == 0
    assert result.stdout == f"{SAMPLE}: OK (4 line(s), 4 team(s), a fallback, 3 customer(s))\n"


def test_check_warns_when_sms_alerts_are_set_without_twilio_credentials(runner):
    result = run(runner, "check", *SAMPLE_ARGS, env={"TWILIO_ACCOUNT_SID": None})
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"{SAMPLE}: warning: alerts.sms: SMS alerts need TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, which are not "
        "set here: the service would text no alert"]
    assert result.stdout == f"{SAMPLE}: OK (4 line(s), 4 team(s), a fallback, 3 customer(s))\n"


def test_check_lists_every_error_with_its_key_path_and_exits_1(runner, broken):
    result = run(runner, "check", "--phonebook", str(broken))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{broken}: error: lines[1].number: '02079460100' is not a valid E.164 phone number like '+14155550100'",
        f"{broken}: error: teams.amsterdam.tz: unknown time zone 'Europe/Amsterdm' (did you mean 'Europe/Amsterdam'?)",
        f"{broken}: error: teams.select.ring_secs: unknown key (did you mean 'ring_seconds'?)",
        f"Error: {broken} is not valid: 3 error(s)",
    ]


def test_check_prints_warnings_but_a_valid_file_still_passes(runner, tmp_path):
    path = tmp_path / "phonebook.toml"
    path.write_text(SAMPLE.read_text().replace('region = "apac"\nlabel  = "Australia"', 'region = "oceania"'))
    result = run(runner, "check", "--phonebook", str(path))
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"{path}: warning: lines[3].region: no team is in region 'oceania'; calls on this line go to other regions",
        f"{path}: warning: teams.sydney.region: no line is in region 'apac'",
    ]
    assert result.stdout.endswith("OK (4 line(s), 4 team(s), a fallback, 3 customer(s), 2 warning(s))\n")


def test_check_reports_a_toml_syntax_error_with_line_and_column(runner, tmp_path):
    path = tmp_path / "phonebook.toml"
    path.write_text('[service]\nname = "Priority Support\n')
    result = run(runner, "check", "--phonebook", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}: error: TOML syntax error at line 2, column 25: illegal character '\\n'",
        '  2 | name = "Priority Support',
        "    |                         ^",
        f"Error: {path} is not valid: 1 error(s)",
    ]


@time_machine.travel(utc("2027-01-10T12:00Z"), tick=False)
def test_check_warns_of_a_team_whose_holidays_have_run_out_and_of_a_zone_that_keeps_no_city_s_clock(runner, tmp_path):
    path = tmp_path / "phonebook.toml"
    # Amsterdam keeps only a list of 2026's days off, in a zone with no daylight saving.
    path.write_text(SAMPLE.read_text().replace('tz = "Europe/Amsterdam"', 'tz = "CET"').replace(
        'calendar = "NL"', "holidays = [2026-04-27, 2026-12-25, 2026-12-26]"))
    result = run(runner, "check", "--phonebook", str(path))
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"{path}: warning: teams.amsterdam.tz: 'CET' is a legacy alias kept for old systems: use a city's zone, "
        "such as 'Europe/Paris', 'Europe/Berlin' or 'Europe/Amsterdam'",
        f"{path}: warning: teams.amsterdam.holidays: no holiday from 2027-01-10 to 2028-01-10 (the last date it "
        "knows is 2026-12-26): add the coming year's dates, or calls are routed to the team on its days off",
    ]
    assert result.stdout.endswith("OK (4 line(s), 4 team(s), a fallback, 3 customer(s), 2 warning(s))\n")


def test_the_phonebook_comes_from_ivr_phonebook_else_the_current_directory(runner, tmp_path, broken, monkeypatch):
    assert run(runner, "check", env={"IVR_PHONEBOOK": str(broken)}).exit_code == 1
    monkeypatch.chdir(tmp_path)
    missing = run(runner, "check", env={"IVR_PHONEBOOK": None})
    assert missing.exit_code == 1
    assert "phonebook.toml: error: cannot read the file: No such file or directory" in missing.stderr
    (tmp_path / "phonebook.toml").write_text(SAMPLE.read_text())
    assert run(runner, "check", env={"IVR_PHONEBOOK": None}).stdout.startswith("phonebook.toml: OK")


@pytest.mark.parametrize("command", [["who"], ["route", "--to", "+14155550100"], ["coverage", "--from", "2026-01-01", "--to", "2026-01-02"]])
def test_every_command_refuses_an_invalid_phonebook_with_every_error(runner, broken, command):
    result = run(runner, *command, "--phonebook", str(broken))
    assert result.exit_code == 1
    assert len([line for line in result.stderr.splitlines() if ": error: " in line]) == 3


# --- ivr handoffs ------------------------------------------------------------------------


def test_handoffs_lists_who_hands_to_whom_over_the_weekend_europe_left_summer_time(runner):
    result = run(runner, "handoffs", *SAMPLE_ARGS, "--from", "2026-10-23T12:00Z", "--to", "2026-10-26T08:00Z")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "2026-10-23T17:00:00Z  amsterdam -> san_francisco  (shift since 2026-10-23T08:00:00Z)",
        "2026-10-24T00:00:00Z  san_francisco -> select  (shift since 2026-10-23T17:00:00Z)",
        "2026-10-25T23:00:00Z  select -> sydney  (shift since 2026-10-24T00:00:00Z)",
        "2026-10-26T08:00:00Z  sydney -> amsterdam  (shift since 2026-10-25T23:00:00Z)",
    ]


def test_handoffs_json_and_an_empty_or_backward_range(runner):
    printed = json_of(runner, "handoffs", *SAMPLE_ARGS, "--from", "2026-12-24T02:00Z", "--to", "2026-12-24T03:00Z")
    assert printed == {"handoffs": [
        {"at": "2026-12-24T03:00:00Z", "since": "2026-12-23T18:00:00Z", "outgoing": ["san_francisco"],
         "incoming": ["select"]}]}
    quiet = run(runner, "handoffs", *SAMPLE_ARGS, "--from", "2026-12-01T09:00Z", "--to", "2026-12-01T10:00Z")
    assert quiet.stdout == "No handoff in that range.\n"
    backward = run(runner, "handoffs", *SAMPLE_ARGS, "--from", "2026-12-01T10:00Z", "--to", "2026-12-01T09:00Z")
    assert backward.exit_code == 2 and "must be after --from (2026-12-01T10:00:00Z)" in backward.stderr


# --- ivr who -----------------------------------------------------------------------------


def test_who_json_lists_the_teams_on_duty_and_until_when(runner):
    assert json_of(runner, "who", *SAMPLE_ARGS, "--at", "2026-12-01T17:00:00+01:00") == {
        "at": "2026-12-01T16:00:00Z",
        "weekend": False,
        "on_duty": [
            {"team": "amsterdam", "kind": "priority", "until": "2026-12-01T18:00:00Z"},
            {"team": "san_francisco", "kind": "priority", "until": "2026-12-02T03:00:00Z"},
            {"team": "select", "kind": "select", "until": None},
        ],
    }


def test_who_shows_each_team_until_when_what_follows_them_and_the_handoffs_ahead(runner):
    result = run(runner, "who", *SAMPLE_ARGS, "--at", "2026-12-01T16:00Z")
    assert result.stdout.splitlines() == [
        "2026-12-01T16:00:00Z: the business week; the weekend starts 2026-12-05T01:00:00Z (in 3d 9h)",
        "  amsterdam      priority  emea  local Tue 17:00 CET  until 2026-12-01T18:00:00Z (Tue 19:00 CET, in 2h)",
        "  san_francisco  priority  amer  local Tue 08:00 PST  until 2026-12-02T03:00:00Z (Tue 19:00 PST, in 11h)",
        "  select         select    -     local Tue 16:00 UTC  with no end in sight",
        "After every team: the fallback (duty manager) +14155550142, then voicemail.",
        "Coming up (next 48h):",
        "  2026-12-01T18:00:00Z  amsterdam goes off duty (Tue 19:00 CET)",
        "  2026-12-01T21:00:00Z  sydney comes on duty (Wed 08:00 AEDT)",
        "  2026-12-02T03:00:00Z  san_francisco goes off duty (Tue 19:00 PST)",
        "  2026-12-02T06:00:00Z  amsterdam comes on duty (Wed 07:00 CET)",
        "  2026-12-02T08:00:00Z  sydney goes off duty (Wed 19:00 AEDT)",
        "  2026-12-02T15:00:00Z  san_francisco comes on duty (Wed 07:00 PST)",
        "  2026-12-02T18:00:00Z  amsterdam goes off duty (Wed 19:00 CET)",
        "  2026-12-02T21:00:00Z  sydney comes on duty (Thu 08:00 AEDT)",
    ]


def test_who_at_the_weekend_says_until_when_and_who_comes_on_next(runner):
    # Sunday 27 December: Sydney works an extra shift; Monday 28 is a NSW holiday.
    result = run(runner, "who", *SAMPLE_ARGS, "--at", "2026-12-27T01:00Z")
    assert result.stdout.splitlines()[:7] == [
        "2026-12-27T01:00:00Z: the weekend, until 2026-12-27T23:00:00Z (in 22h)",
        "  select  select    -     local Sun 01:00 UTC  with no end in sight",
        "  sydney  priority  apac  local Sun 12:00 AEDT  until 2026-12-27T03:00:00Z (Sun 14:00 AEDT, in 2h)",
        "After every team: the fallback (duty manager) +14155550142, then voicemail.",
        "Coming up (next 48h):",
        "  2026-12-27T03:00:00Z  sydney goes off duty (Sun 14:00 AEDT)",
        "  2026-12-28T06:00:00Z  amsterdam comes on duty (Mon 07:00 CET)",
    ]


def test_who_at_the_weekend_says_so(runner):
    assert json_of(runner, "who", *SAMPLE_ARGS, "--at", "2026-12-06") == {
        "at": "2026-12-06T00:00:00Z",
        "weekend": True,
        "on_duty": [{"team": "select", "kind": "select", "until": None}],
    }


def test_who_with_nobody_on_duty_says_who_gets_the_call(runner, tmp_path):
    path = tmp_path / "phonebook.toml"
    path.write_text(SAMPLE.read_text().replace('hours = ["24/7"]', 'hours = ["mon-fri 00:00-24:00"]'))
    result = run(runner, "who", "--phonebook", str(path), "--at", "2026-12-05T12:00Z")
    assert result.stdout.splitlines()[:2] == [
        "2026-12-05T12:00:00Z: the weekend, until 2026-12-06T23:00:00Z (in 1d 11h)",
        "No team is on duty: a call goes to the fallback (duty manager) +14155550142, then voicemail.",
    ]


@time_machine.travel(utc("2026-12-01T16:00:30Z"), tick=False)
def test_who_defaults_to_now(runner):
    printed = json_of(runner, "who", *SAMPLE_ARGS)
    assert printed["at"] == "2026-12-01T16:00:30Z"
    assert [d["team"] for d in printed["on_duty"]] == ["amsterdam", "san_francisco", "select"]


# --- ivr route ---------------------------------------------------------------------------


def test_route_json_is_the_routing_decision_as_json(runner, sample):
    # The keys and their values are pinned once, on the decision (tests/engine/test_routing.py).
    printed = json_of(runner, "route", *SAMPLE_ARGS, "--to", "+61255501000", "--at", "2026-12-01T07:30Z")
    assert printed == route(sample, "+61255501000", utc("2026-12-01T07:30Z")).as_json()
    assert [c["team"] for c in printed["candidates"]] == ["sydney", "amsterdam", "select", "fallback"]


def test_route_shows_the_ringing_order_and_the_reason(runner):
    result = run(runner, "route", *SAMPLE_ARGS, "--to", "+14155550100", "--at", "2026-12-01T16:00Z")
    assert result.stdout.splitlines() == [
        "Call to +14155550100 (United States & Canada, region amer) at 2026-12-01T16:00:00Z, the business week, severity 1",
        "Action: connect",
        "  1. san_francisco (priority, amer): rings +14155550101, +14155550102 in order, 15s each, on duty until 2026-12-02T03:00:00Z",
        "  2. amsterdam (priority, emea): rings +31205550101, +31205550102 for 20s, on duty until 2026-12-01T18:00:00Z",
        "  3. select (select): rings +14155550110, +31205550110 for 25s",
        "  4. fallback (fallback): rings +14155550142 for 30s",
        "Reason: ringing san_francisco (in the line's region amer), then amsterdam, then select, then the fallback",
    ]


def test_route_deflects_a_severity_that_is_not_put_through(runner):
    decision = json_of(runner, "route", *SAMPLE_ARGS, "--to", "+14155550100", "--at", "2026-12-01T16:00Z", "--severity", "2")
    assert (decision["action"], decision["severity"], decision["candidates"]) == ("deflect", 2, [])


def test_route_on_a_number_that_is_not_a_line(runner):
    result = run(runner, "route", *SAMPLE_ARGS, "--to", "+14155550199", "--at", "2026-12-05T12:00Z")
    assert result.stdout.splitlines()[0] == "Call to +14155550199 (not a published line) at 2026-12-05T12:00:00Z, the weekend, severity 1"


# --- ivr coverage ------------------------------------------------------------------------


def test_coverage_json_lists_exact_gaps(runner):
    assert json_of(runner, "coverage", *SAMPLE_ARGS, "--from", "2026-12-24", "--to", "2026-12-28T12:00+11:00") == {
        "from": "2026-12-24T00:00:00Z",
        "to": "2026-12-28T01:00:00Z",
        "l1_gaps": [],
        "priority_gaps": [
            {"from": "2026-12-24T03:00:00Z", "to": "2026-12-24T06:00:00Z"},
            {"from": "2026-12-25T03:00:00Z", "to": "2026-12-26T01:00:00Z"},
            {"from": "2026-12-27T23:00:00Z", "to": "2026-12-28T01:00:00Z"},
        ],
    }


def test_coverage_without_json_draws_the_weeks(runner):
    result = run(runner, "coverage", *SAMPLE_ARGS, "--from", "2026-12-21", "--to", "2027-01-04")
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("Week of")] == ["Week of Mon 2026-12-21", "Week of Mon 2026-12-28"]
    assert "    Fri 2026-12-25 03:00 - Sat 2026-12-26 01:00 UTC (22h)" in lines


# --- arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["who", "--at", "2026-12-01T16:00"], "Invalid value for '--at': '2026-12-01T16:00' has no offset"),
        (["who", "--at", "tomorrow"], "Invalid value for '--at': 'tomorrow' is not an ISO 8601 instant"),
        (["who", "--at", "2026-02-30"], "Invalid value for '--at': '2026-02-30' is not an ISO 8601 instant"),
        (["route", "--to", "0800-SUPPORT"], "Invalid value for '--to': '0800-SUPPORT' is not an E.164 phone number"),
        (["route"], "Missing option '--to'"),
        (["route", "--to", "+14155550100", "--severity", "5"], "Invalid value for '--severity': 5 is not in the range 1<=x<=4"),
        (["coverage", "--from", "2026-12-02", "--to", "2026-12-01"], "Invalid value for '--to': must be after --from (2026-12-02T00:00:00Z)"),
        (["coverage", "--to", "2026-12-01"], "Missing option '--from'"),
    ],
)
def test_bad_arguments_get_a_clear_usage_error(runner, args, message):
    result = run(runner, *args, *SAMPLE_ARGS)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-12-01", "2026-12-01T00:00Z"),
        ("2026-12-01T09:30:00+01:00", "2026-12-01T08:30Z"),
        ("2026-12-01T09:30Z", "2026-12-01T09:30Z"),
        ("2026-12-01T09:30:15.5-08:00", "2026-12-01T17:30:15.5Z"),
        ("2026-12-01T09:30z", "2026-12-01T09:30Z"),
    ],
)
def test_instants_are_iso_8601_with_an_offset_and_a_bare_date_is_midnight_utc(text, expected):
    at = INSTANT.convert(text, None, None)
    assert at == utc(expected) and at.utcoffset().total_seconds() == 0


# --- ivr check with [entitlements] ---------------------------------------------------------


def test_check_lists_bad_csv_rows_with_their_line_numbers_and_exits_1(runner, tmp_path):
    phonebook = tmp_path / "phonebook.toml"
    phonebook.write_text(SAMPLE.read_text() + '\n[entitlements]\nfile = "customers.csv"\n')
    csv = tmp_path / "customers.csv"
    csv.write_text(
        "sen,name,tier,maintenance_until,admins\n"
        "SEN-1234567,Acme Corporation,priority,2027-06-30,+14155551234\n"
        "SEN-2345678,Globex,gold,2026-03-31,\n"
        "SEN-3456789,Initech,select,2027-02-30,\n"
    )
    result = run(runner, "check", "--phonebook", str(phonebook))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{phonebook}: warning: customers: [entitlements] is set, so [[customers]] are ignored",
        f"{csv}: error: line 3: tier: 'gold' is not one of premier, priority, select",
        f"{csv}: error: line 4: maintenance_until: '2027-02-30' is not a date like 2026-12-25",
        f"Error: {csv} is not valid: 2 error(s)",
    ]

    csv.write_text("sen,name,tier,maintenance_until,admins\nSEN-1234567,Acme Corporation,priority,2027-06-30,\n")
    result = run(runner, "check", "--phonebook", str(phonebook))
    assert result.exit_code == 0
    assert result.stdout == (
        f"{phonebook}: OK (4 line(s), 4 team(s), a fallback, customers from customers.csv, 1 warning(s))\n"
    )


@responses.activate
def test_check_does_not_call_the_licensing_service(runner, tmp_path):
    phonebook = tmp_path / "phonebook.toml"
    phonebook.write_text(
        SAMPLE.read_text() + '\n[entitlements]\nurl = "https://licensing.example.com/sen/{sen}"\n'
    )
    result = run(runner, "check", "--phonebook", str(phonebook))
    assert result.exit_code == 0
    assert "customers from https://licensing.example.com/sen/{sen}" in result.stdout
    assert len(responses.calls) == 0


def test_the_admin_commands_start_without_loading_the_web_service_or_the_database():
    # `ivr coverage` for a year must take well under 0.5 s including start-up (bench/engine.py):
    # Flask, SQLAlchemy and requests are imported only by the commands that use them.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, ivr.cli; print(*sorted({'flask', 'sqlalchemy', 'requests'} & set(sys.modules)))"],
        capture_output=True, text=True, check=True,
    )
    assert loaded.stdout.strip() == ""


# --- the call log commands: a database error is one line, not a traceback -------------------------


@pytest.mark.parametrize("command, doing, step", [(["db", "upgrade"], "migrate", "upgrade_schema"),
                                                 (["db", "current"], "read", "schema"), (["calls"], "read", "schema")])
def test_a_call_log_error_that_is_not_from_the_driver_is_a_one_line_error(runner, tmp_path, monkeypatch,
                                                                         command, doing, step):
    # Only a DBAPIError has `orig` (the driver's exception); any other SQLAlchemyError is shown as it is.
    from sqlalchemy.exc import SQLAlchemyError

    from ivr.store.calllog import CallLog
    from ivr.store.database import database_url

    def refuse(self):
        raise SQLAlchemyError("the metadata is not bound")

    monkeypatch.setenv("DATABASE_URL", database_url(None, str(tmp_path)))
    monkeypatch.setattr(CallLog, step, refuse)
    result = runner.invoke(main, command)
    assert result.exit_code == 1
    assert not isinstance(result.exception, AttributeError)
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: cannot {doing} the call log sqlite:///")
    assert line.endswith("calllog.sqlite3: the metadata is not bound")


def test_a_driver_error_shows_the_driver_message_without_the_sql(runner, tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from ivr.store.calllog import CallLog
    from ivr.store.database import database_url

    def refuse(self):
        raise OperationalError("CREATE TABLE calls ...", {}, Exception("database is locked"))

    monkeypatch.setenv("DATABASE_URL", database_url(None, str(tmp_path)))
    monkeypatch.setattr(CallLog, "upgrade_schema", refuse)
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.endswith(": database is locked") and "CREATE TABLE" not in line


# --- a phonebook where at times nobody answers ---------------------------------------------------


@pytest.fixture
def nobody_at_weekends(tmp_path):
    """The sample without its 24/7 select team and its fallback: nobody answers during the weekend."""
    path = tmp_path / "phonebook.toml"
    path.write_text(without_tables(SAMPLE.read_text(), "teams.select", "fallback"))
    return path


@time_machine.travel(utc("2026-12-01T12:00Z"), tick=False)
def test_check_warns_of_the_first_time_nobody_would_answer_when_there_is_no_fallback(runner, nobody_at_weekends):
    result = run(runner, "check", "--phonebook", str(nobody_at_weekends))
    assert result.exit_code == 0
    [warning] = result.stderr.splitlines()
    assert warning.startswith(
        f"{nobody_at_weekends}: warning: fallback: is not set, and no team is on duty from 2026-12-05T01:00:00Z "
        "to 2026-12-06T23:00:00Z (the first of "
    )
    assert warning.endswith("a call then rings nobody and goes straight to voicemail")
    assert result.stdout.endswith("OK (4 line(s), 3 team(s), no fallback, 3 customer(s), 1 warning(s))\n")


def test_route_says_voicemail_when_nobody_is_on_duty_and_there_is_no_fallback(runner, nobody_at_weekends):
    result = run(runner, "route", "--phonebook", str(nobody_at_weekends), "--to", "+14155550100",
                 "--at", "2026-12-05T12:00Z")
    assert result.stdout.splitlines() == [
        "Call to +14155550100 (United States & Canada, region amer) at 2026-12-05T12:00:00Z, the weekend, severity 1",
        "Action: voicemail (nobody on duty)",
        "Reason: it is the weekend, so Priority teams are off except on extra shifts; no team is on duty and "
        "there is no fallback, so the caller leaves a voicemail",
    ]


def test_route_rings_at_most_a_call_s_worth_of_teams_and_says_how_many_it_leaves_out(runner, tmp_path):
    path = tmp_path / "phonebook.toml"
    extra = "".join(
        f'\n[teams.select{n:02d}]\nkind = "select"\ntz = "UTC"\nhours = ["24/7"]\ndial = ["+1415555{n + 300:04d}"]\n'
        for n in range(12)
    )
    path.write_text(SAMPLE.read_text() + extra)
    printed = json_of(runner, "route", "--phonebook", str(path), "--to", "+14155550100", "--at", "2026-12-01T16:00Z")
    teams = [c["team"] for c in printed["candidates"]]
    # 16 teams, 15 of them on duty: the two Priority teams first, then select and select00..select07.
    assert teams == ["san_francisco", "amsterdam", "select", *(f"select{n:02d}" for n in range(8)), "fallback"]
    assert printed["reason"].endswith(
        "; 4 more team(s) on duty are not rung: a call rings at most 11 teams"
    )
