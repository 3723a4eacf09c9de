"""`ivr simulate`: the call transcript in the terminal."""

import json
import re

from calls import ACME_ADMIN, SF, TOKEN, US_LINE
from click.testing import CliRunner
from conftest import SAMPLE

from ivr.cli.commands import main

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


def test_an_unreachable_service_is_a_clear_error(tmp_path):
    result = _run(tmp_path, "--to", US_LINE, "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "Error:" in result.output and "Traceback" not in result.output


def test_a_broken_phonebook_is_a_clear_error(tmp_path):
    book = tmp_path / "broken.toml"
    book.write_text("[service\n")
    result = _run(tmp_path, "--phonebook", str(book), "--to", US_LINE)
    assert result.exit_code == 1
    assert "TOML syntax error" in result.output


def test_logs_go_to_stderr_and_leave_stdout_to_the_transcript(tmp_path):
    # Without TWILIO_AUTH_TOKEN the app warns about its development token at start.
    env = {"IVR_INSTANCE_PATH": str(tmp_path / "instance"), "TWILIO_AUTH_TOKEN": None, "IVR_PHONEBOOK": str(SAMPLE)}
    result = CliRunner(env=env).invoke(main, ["simulate", "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1",
                                              "--answer", SF[0], "--at", "2026-12-01T20:00Z"])
    assert result.exit_code == 0, result.output
    assert "TWILIO_AUTH_TOKEN is not set" in result.stderr
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
