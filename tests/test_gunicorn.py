"""The Procfile's command serves real calls: gunicorn with ivr/gunicorn_conf.py, driven over HTTP."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time

import pytest
import requests
from click.testing import CliRunner

from calls import ACME_ADMIN, TOKEN, US_LINE
from conftest import ROOT, SAMPLE
from ivr.cli import main
from ivr.phonebook import load_phonebook

STARTUP_SECONDS = 30


def _procfile_web_command() -> list[str]:
    [line] = [l for l in (ROOT / "Procfile").read_text().splitlines() if l.startswith("web:")]
    command = shlex.split(line.removeprefix("web:"))
    assert command[0] == "gunicorn"
    return [sys.executable, "-m", "gunicorn", *command[1:]]


# Loopback only, on a port the kernel picks as gunicorn binds it: no race with other processes.
LOOPBACK_ANY_PORT = ["--bind", "127.0.0.1:0"]
LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


@pytest.fixture
def book(tmp_path):
    copy = tmp_path / "phonebook.toml"
    copy.write_text(SAMPLE.read_text())
    return copy


@pytest.fixture
def service(tmp_path, book):
    """The service on a copy of the sample phonebook, which each worker checks on every request."""
    env = {
        **os.environ, "WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": TOKEN, "IVR_RELOAD_SECONDS": "0",
        "IVR_PHONEBOOK": str(book), "IVR_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    log_path = tmp_path / "gunicorn.log"
    log = open(log_path, "w")
    process = subprocess.Popen(_procfile_web_command() + LOOPBACK_ANY_PORT, cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            listening = LISTENING.search(log_path.read_text())
            if listening:
                try:
                    requests.get(f"{listening[1]}/healthz", timeout=1)
                    break
                except requests.ConnectionError:
                    pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield listening[1]
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def test_a_simulated_call_over_http_reaches_an_engineer_under_gunicorn(service, tmp_path, book):
    health = requests.get(f"{service}/healthz", timeout=5).json()
    assert health["phonebook"]["file"] == str(book)
    everyone = [n for team in load_phonebook(SAMPLE).teams for n in team.dial] + ["+14155550142"]
    env = {"TWILIO_AUTH_TOKEN": TOKEN, "IVR_INSTANCE_PATH": str(tmp_path / "instance")}
    args = ["simulate", "--url", service, "--to", US_LINE, "--from", ACME_ADMIN, "--press", "1"]
    for number in everyone:
        args += ["--answer", number]
    result = CliRunner(env=env).invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "caller hears  Welcome to Priority Support." in result.output
    assert "Hello, Acme Corporation." in result.output
    assert "connected  caller and +" in result.output


def test_every_worker_refuses_a_broken_edit_and_takes_the_fixed_file(service, book):
    # Several requests on fresh connections, so both workers answer.
    def states():
        return [requests.get(f"{service}/healthz", timeout=5).json()["phonebook"] for _ in range(8)]

    good = book.read_text()
    book.write_text(good.replace('tz = "Europe/Amsterdam"', 'tz = "Europe/Amsterdm"'))
    assert all("Europe/Amsterdm" in state["last_error"] for state in states())
    book.write_text(good)
    assert all(state["last_error"] is None and state["last_reload"] for state in states())


def test_unsigned_requests_are_refused_under_gunicorn(service):
    assert requests.post(f"{service}/voice", data={"CallSid": "CA1"}, timeout=5).status_code == 403


def test_the_gunicorn_config_reads_port_and_workers_and_gives_up_well_before_twilio(monkeypatch):
    import runpy

    monkeypatch.setenv("PORT", "5123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    conf = runpy.run_path(str(ROOT / "ivr" / "gunicorn_conf.py"))
    assert conf["bind"] == "0.0.0.0:5123"
    assert conf["workers"] == 3
    assert conf["timeout"] < 15
    assert conf["keepalive"] <= 5
