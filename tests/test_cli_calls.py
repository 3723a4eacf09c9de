"""`ivr init-db` prepares the call log; `ivr calls` lists it in the terminal."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ivr.calllog import CallLog, database_url
from ivr.cli import main

from conftest import answered_call, utc


def test_init_db_then_calls_lists_newest_first_with_filters(tmp_path, monkeypatch):
    url = database_url(None, str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    ready = runner.invoke(main, ["init-db"])
    assert ready.exit_code == 0 and "calllog.sqlite3" in ready.output
    assert runner.invoke(main, ["init-db"]).exit_code == 0

    log = CallLog.from_settings(url, str(tmp_path))
    answered_call(log, sid="CA801", at=utc("2026-11-30T09:00Z"))
    log.record("CA802", "started", {"to": "+31205550100", "from": "+31612345678"}, utc("2026-12-01T09:00Z"))
    log.record("CA802", "status", {"call_status": "completed", "duration": 4}, utc("2026-12-01T09:00:04Z"),
               key="status")
    log.close()

    listed = runner.invoke(main, ["calls"])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].split() == ["2026-12-01T09:00:00Z", "CA802", "+31205550100", "+31612345678", "-", "L?",
                                "abandoned"]
    assert lines[1].endswith("answered  san_francisco after 12s")

    answered = runner.invoke(main, ["calls", "--outcome", "answered", "--json"])
    calls = json.loads(answered.output)
    assert [c["sid"] for c in calls] == ["CA801"]
    assert calls[0]["customer"] == "Acme Corporation" and len(calls[0]["events"]) == 8

    recent = runner.invoke(main, ["calls", "--since", "2026-12-01", "--json"])
    assert [c["sid"] for c in json.loads(recent.output)] == ["CA802"]

    bad = runner.invoke(main, ["calls", "--since", "yesterday"])
    assert bad.exit_code == 2 and "not an ISO 8601 instant" in bad.output
