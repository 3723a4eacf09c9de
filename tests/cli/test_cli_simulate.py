"""`ivr simulate`: the call transcript in the terminal."""

import json
import re

import pytest
from calls import ACME_ADMIN, SF, TOKEN, US_LINE
from click.testing import CliRunner
from conftest import SAMPLE

from ivr.cli.commands import main
from ivr.web.signature import DEV_TOKEN_FILE

# "     who  what": the right-aligned speaker, two spaces, what happens.
TRANSCRIPT_LINE = re.compile(r" *[a-z][a-z ]*  \S.*")


def _run(tmp_path, *args):
    env = {"IVR_INSTANCE_PATH": str(tmp_path / "instance"), "TWILIO_AUTH_TOKEN": TOKEN, "IVR_PHONEBOOK": str(SAMPLE)}
    return CliRunner(env=env).invoke(main, ["simulate", *args])


def test_simulate_prints_the_call_at_a_pinned_instant(tmp_path):
    result = _run(tmp_path, "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1", "--answer", SF[0],
                  "--at", "2026-12-01T12:00:00-08:00")
    assert result.exit_code == 0, result.output
    # The key goes in when the question has been asked: the severity levels after it are never said.
    lines = [line.strip() for line in result.output.splitlines()]
    question = lines.index("caller hears  For a critical outage, press 1.")
    assert lines[question + 1] == "caller presses  1"
    assert "Critical means" not in result.output
    assert "caller hears  Connecting you to our San Francisco Priority Support team." in result.output
    assert f"connected  caller and {SF[0]}" in result.output


def test_a_caller_who_waits_hears_what_each_severity_means(tmp_path):
    result = _run(tmp_path, "--to", US_LINE, "--from", ACME_ADMIN, "--press", "wait:2", "--at", "2026-12-01T20:00Z")
    assert result.exit_code == 0, result.output
    assert "caller hears  Critical means production down" in result.output
    assert "Severity 2 issues are handled at support.example.com" in result.output


def test_at_the_weekend_the_same_call_goes_to_select(tmp_path):
    # A bare date is 00:00 UTC: Sunday.
    result = _run(tmp_path, "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1", "--at", "2026-12-06")
    assert result.exit_code == 0, result.output
    connecting = [line for line in result.output.splitlines() if "Connecting you" in line]
    assert connecting[0].endswith("Connecting you to our Global Select Support team.")


def test_at_is_refused_against_a_running_service(tmp_path):
    result = _run(tmp_path, "--to", US_LINE, "--at", "2026-12-05T12:00Z", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "--at works only in-process" in result.output


def test_a_naive_instant_is_refused(tmp_path):
    result = _run(tmp_path, "--to", US_LINE, "--at", "2026-12-05T12:00")
    assert result.exit_code == 2
    assert "has no offset" in result.output


def test_a_broken_phonebook_is_a_clear_error(tmp_path):
    book = tmp_path / "broken.toml"
    book.write_text("[service\n")
    result = _run(tmp_path, "--phonebook", str(book), "--to", US_LINE)
    assert result.exit_code == 1
    assert "TOML syntax error" in result.output


def test_logs_go_to_stderr_and_leave_stdout_to_the_transcript(tmp_path):
    # The phonebook's warning is logged as the app starts.
    book = tmp_path / "phonebook.toml"
    book.write_text(SAMPLE.read_text().replace('tz = "UTC"', 'tz = "Etc/GMT+5"'))
    env = {"IVR_INSTANCE_PATH": str(tmp_path / "instance"), "TWILIO_AUTH_TOKEN": TOKEN, "IVR_PHONEBOOK": str(book)}
    result = CliRunner(env=env).invoke(main, ["simulate", "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1",
                                              "--answer", SF[0], "--at", "2026-12-01T20:00Z"])
    assert result.exit_code == 0, result.output
    assert "WARNING ivr.phonebook" in result.stderr and "'Etc/GMT+5' is a fixed offset" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["call", ACME_ADMIN, "calls", US_LINE]
    assert all(TRANSCRIPT_LINE.fullmatch(line) for line in lines), result.stdout


def test_a_voicemail_that_picks_up_is_screened_out(tmp_path):
    result = _run(tmp_path, "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1", "--voicemail", SF[0],
                  "--answer", SF[1], "--at", "2026-12-01T20:00Z")
    assert result.exit_code == 0, result.output
    assert f"answers  {SF[0]} (voicemail)" in result.stdout
    assert f"not put through  {SF[0]}" in result.stdout
    assert f"connected  caller and {SF[1]}" in result.stdout


def test_a_simulated_call_is_not_stored_in_the_call_log(tmp_path):
    # Nobody answers: a missed L1 call, which the service would store and alert ops about.
    result = _run(tmp_path, "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1", "--at", "2026-12-01T20:00Z")
    assert result.exit_code == 0, result.output
    assert "caller records" in result.stdout
    env = {"IVR_INSTANCE_PATH": str(tmp_path / "instance")}
    listed = CliRunner(env=env).invoke(main, ["calls", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []


def test_in_process_the_call_is_signed_for_the_services_public_url_from_the_environment(tmp_path):
    env = {"IVR_INSTANCE_PATH": str(tmp_path / "instance"), "TWILIO_AUTH_TOKEN": TOKEN, "IVR_PHONEBOOK": str(SAMPLE),
           "IVR_PUBLIC_URL": "https://ivr.example.com"}
    result = CliRunner(env=env).invoke(main, ["simulate", "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1",
                                              "--answer", SF[0], "--at", "2026-12-01T20:00Z"])
    assert result.exit_code == 0, result.output
    assert f"connected  caller and {SF[0]}" in result.stdout


def test_without_twilio_auth_token_an_in_process_call_gives_no_real_twilio_warning_and_writes_no_token(tmp_path):
    env = {"IVR_INSTANCE_PATH": str(tmp_path / "instance"), "TWILIO_AUTH_TOKEN": None, "IVR_PHONEBOOK": str(SAMPLE)}
    result = CliRunner(env=env).invoke(main, ["simulate", "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1",
                                              "--answer", SF[0], "--at", "2026-12-01T20:00Z"])
    assert result.exit_code == 0, result.output
    assert f"connected  caller and {SF[0]}" in result.stdout
    assert result.stderr == ""
    assert not (tmp_path / "instance" / DEV_TOKEN_FILE).exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--to", "4155550100"), ("--answer", "+1415555010"), ("--voicemail", "voicemail"), ("--answer", "+99912345678")],
)
def test_numbers_that_are_not_e164_are_refused_in_one_line_as_ivr_route_does(tmp_path, option, value):
    args = ["--to", US_LINE, "--at", "2026-12-01T20:00Z"]
    args = [value if (arg, option) == (US_LINE, "--to") else arg for arg in args]
    if option != "--to":
        args += [option, SF[0], option, value]
    result = _run(tmp_path, *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '{option}': {value!r} is not an E.164 phone number like +14155550100"
    )


def test_an_abandoned_call_and_never_dialled_numbers_show_in_the_transcript(tmp_path):
    result = _run(tmp_path, "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1", "--answer", "+14155550199",
                  "--hang-up-ringing", "1", "--at", "2026-12-01T20:00Z")
    assert result.exit_code == 0, result.output
    rings, hangs_up, ends, note = result.stdout.splitlines()[-4:]
    # How long the call lasts depends on the prompts' words; the rest is the promise.
    assert (rings, hangs_up, note) == (
        f"          rings  {SF[0]}",
        "caller hangs up  after 7 s of ringing, before anyone answers",
        "           note  +14155550199 (--answer) was never dialled",
    )
    assert ends.split()[:2] == ["ends", "after"]


def test_nothing_listening_at_the_url_is_one_line(tmp_path):
    result = _run(tmp_path, "--to", US_LINE, "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("Error: step 1 (the call comes in): POST http://127.0.0.1:9/voice")
    assert line.endswith(": nothing answers at http://127.0.0.1:9 (connection refused): is the service running, "
                         "and is --url its address?")


def test_with_json_logs_at_info_each_call_event_is_a_json_line_on_stderr_and_the_transcript_stays_clean(tmp_path):
    env = {"IVR_INSTANCE_PATH": str(tmp_path / "instance"), "TWILIO_AUTH_TOKEN": TOKEN, "IVR_PHONEBOOK": str(SAMPLE),
           "IVR_LOG_FORMAT": "json", "IVR_LOG_LEVEL": "INFO"}
    result = CliRunner(env=env).invoke(main, ["simulate", "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1",
                                              "--answer", SF[0], "--at", "2026-12-01T12:00:00-08:00"])
    assert result.exit_code == 0, result.output
    assert all(TRANSCRIPT_LINE.fullmatch(line) for line in result.stdout.splitlines())
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    events = [line for line in lines if line["logger"] == "ivr.events"]
    assert [e["event"]["kind"] for e in events][:2] == ["started", "recognised"]
    assert {e["call_sid"] for e in events} == {events[0]["event"]["call_sid"]}


def test_the_engineer_hands_the_call_to_the_next_office_and_leaves(tmp_path):
    # 17:59Z: Amsterdam goes off at 18:00Z, San Francisco takes over.
    result = _run(tmp_path, "--to", "+31205550100", "--from", ACME_ADMIN, "--press", "1", "--answer", "+31205550101",
                  "--answer", SF[0], "--engineer-keys", "*,1,hangup", "--at", "2026-12-01T17:59Z")
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert all(TRANSCRIPT_LINE.fullmatch(line) for line in result.output.splitlines())
    star = lines.index("engineer presses  *")
    assert lines[star + 1:star + 3] == ["caller hears  Please hold, we are bringing in a colleague.",
                                        "caller hears  hold music"]
    assert "colleague presses  1" in lines and f"connected  caller and {SF[0]}" in lines
    assert lines.index("hangs up  +31205550101 leaves the call") > lines.index(f"connected  caller and {SF[0]}")


def test_engineer_keys_are_refused_against_a_running_service(tmp_path):
    result = _run(tmp_path, "--to", US_LINE, "--engineer-keys", "*,1", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "--engineer-keys works only in-process" in result.output
