"""The application factory: nothing at import time, a refusal to start on a bad phonebook."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from calls import ACME_ADMIN, US_LINE, ListSink, pinned_app
from conftest import SAMPLE, TWILIO_ACCOUNT, TWILIO_TOKEN, answered_call

from ivr import create_app
from ivr.cli import simulate
from ivr.engine.phonebook import PhonebookError
from ivr.web.services import services_of


def test_importing_the_package_loads_neither_flask_nor_the_phonebook():
    code = "import sys, ivr; print('flask' in sys.modules, 'ivr.web.app' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_missing_phonebook_refuses_to_start_with_the_path(tmp_path):
    with pytest.raises(PhonebookError, match=r"(?s)nowhere\.toml: 1 error.*cannot read the file"):
        create_app({"IVR_PHONEBOOK": str(tmp_path / "nowhere.toml"), "IVR_INSTANCE_PATH": str(tmp_path)})


def test_a_corrupt_phonebook_refuses_to_start_listing_its_problems(tmp_path):
    book = tmp_path / "phonebook.toml"
    book.write_text('[teams.x]\nkind = "priority"\ntz = "Mars/Olympus"\nhours = ["mon-fri 9-5"]\ndial = ["123"]\n')
    with pytest.raises(PhonebookError) as caught:
        create_app({"IVR_PHONEBOOK": str(book), "IVR_INSTANCE_PATH": str(tmp_path)})
    assert "teams.x.tz" in str(caught.value) and "teams.x.dial" in str(caught.value)


def test_the_extensions_other_parts_rely_on_are_registered(tmp_path):
    sink = ListSink()
    app = pinned_app(tmp_path, EVENT_SINK=sink)
    assert services_of(app).phonebook.current().service.name == "Priority Support"
    assert services_of(app).events is sink
    assert services_of(app).clock().isoformat() == "2026-12-01T20:00:00+00:00"


def test_unknown_paths_get_a_json_404(tmp_path):
    response = pinned_app(tmp_path).test_client().get("/nowhere")
    assert response.status_code == 404
    assert response.get_json()["error"] == "Not Found"


def test_the_service_logs_on_stdout_and_a_command_may_move_them_to_stderr(tmp_path, capsys):
    pinned_app(tmp_path, TWILIO_AUTH_TOKEN=None)
    first = capsys.readouterr()
    assert "TWILIO_AUTH_TOKEN is not set" in first.out and first.err == ""
    pinned_app(tmp_path, TWILIO_AUTH_TOKEN=None, LOG_STREAM="stderr")
    second = capsys.readouterr()
    assert "TWILIO_AUTH_TOKEN is not set" in second.err and second.out == ""


def test_an_unknown_log_stream_is_refused_at_start(tmp_path):
    with pytest.raises(ValueError, match="LOG_STREAM"):
        pinned_app(tmp_path, LOG_STREAM="syslog")


def test_the_call_log_and_its_wal_files_are_private_to_the_service_s_user(tmp_path):
    # They hold callers' numbers: 0600, in an instance folder of 0700, whatever the umask.
    old_umask = os.umask(0o022)
    try:
        app = pinned_app(tmp_path)
        store = services_of(app).calllog
        answered_call(store, sid="CA001")
        assert store.call("CA001") is not None  # the WAL and its index are open now
    finally:
        os.umask(old_umask)
    instance = Path(app.instance_path)
    database = instance / "calllog.sqlite3"
    modes = {path.name: stat.S_IMODE(path.stat().st_mode)
             for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm"))}
    assert modes == {"calllog.sqlite3": 0o600, "calllog.sqlite3-wal": 0o600, "calllog.sqlite3-shm": 0o600}
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    store.close()


def test_a_call_log_left_world_readable_by_an_older_version_is_made_private(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "calllog.sqlite3").touch()
    (instance / "calllog.sqlite3").chmod(0o644)
    app = pinned_app(tmp_path)
    assert stat.S_IMODE((instance / "calllog.sqlite3").stat().st_mode) == 0o600
    services_of(app).calllog.close()


def test_in_json_every_line_a_webhook_logs_names_its_call(tmp_path, capsys):
    book = tmp_path / "phonebook.toml"
    # A licensing API no test reaches: each lookup logs its failure while the webhook runs.
    book.write_text(SAMPLE.read_text() + '\n[entitlements]\nurl = "https://licensing.example.com/sen/{sen}"\n')
    app = pinned_app(tmp_path, IVR_PHONEBOOK=str(book), IVR_LOG_FORMAT="json")
    capsys.readouterr()
    phone = simulate.Simulator(simulate.InProcess(app), TWILIO_TOKEN, TWILIO_ACCOUNT)
    phone.call(US_LINE, ACME_ADMIN, ["1234567#", "4"], [])
    [sid] = {event.call_sid for event in services_of(app).events.events}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    lookups = [line for line in lines if line["logger"] == "ivr.entitlements"]
    assert lookups and all(line["call_sid"] == sid for line in lookups)
    assert "entitlement source https://licensing.example.com/sen/1234567 failed" in lookups[0]["message"]
