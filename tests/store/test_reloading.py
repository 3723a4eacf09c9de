"""The phonebook in force follows the file; a broken edit is refused and the last good one stays."""

from __future__ import annotations

import logging
import os
import shutil
import threading

import pytest
from calls import AU_LINE, SYDNEY, call_params, pinned_app, post, twiml
from conftest import SAMPLE

from ivr.engine.phonebook import PhonebookError
from ivr.store.reloading import LAST_GOOD_NAME, LastGoodCopy, ReloadingPhonebook, WatchedFile


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _edit(path, text, bump):
    path.write_text(text)
    # Some file systems keep a coarse mtime; make each edit visible whatever the clock resolution.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


@pytest.fixture
def book(tmp_path):
    path = tmp_path / "phonebook.toml"
    shutil.copy(SAMPLE, path)
    return path


def test_an_edit_is_picked_up_at_the_next_check(book):
    ticks = Ticks()
    holder = ReloadingPhonebook(book, interval=1.0, monotonic=ticks)
    assert holder.current().service.name == "Priority Support"
    _edit(book, book.read_text().replace('name = "Priority Support"', 'name = "Premium Help"'), 1)
    ticks.now = 0.5
    assert holder.current().service.name == "Priority Support"  # not checked again yet
    ticks.now = 1.0
    assert holder.current().service.name == "Premium Help"
    assert holder.state()["last_reload"] is not None


def test_a_broken_edit_is_refused_and_the_last_good_phonebook_stays(book, caplog):
    ticks = Ticks()
    holder = ReloadingPhonebook(book, interval=1.0, monotonic=ticks)
    good = holder.current()
    _edit(book, book.read_text().replace('ring_seconds = 20', 'ring_seconds = 2', 1), 1)
    ticks.now = 1.0
    with caplog.at_level(logging.ERROR, logger="ivr.phonebook"):
        assert holder.current() is good
    assert "ring_seconds" in holder.state()["last_error"]
    assert "phonebook edit refused" in caplog.text
    # Fixing the file clears the error.
    _edit(book, SAMPLE.read_text(), 2)
    ticks.now = 2.0
    assert holder.current() is not good
    assert holder.state()["last_error"] is None


def test_a_deleted_file_keeps_the_last_good_phonebook(book):
    ticks = Ticks()
    holder = ReloadingPhonebook(book, interval=1.0, monotonic=ticks)
    good = holder.current()
    book.unlink()
    ticks.now = 1.0
    assert holder.current() is good
    assert "cannot read the file" in holder.state()["last_error"]


def test_a_missing_or_broken_phonebook_at_start_up_refuses_to_start(tmp_path, book):
    with pytest.raises(PhonebookError, match="cannot read the file"):
        ReloadingPhonebook(tmp_path / "nowhere.toml", interval=1.0)
    book.write_text("[service\nname = ")
    with pytest.raises(PhonebookError, match="TOML syntax error"):
        ReloadingPhonebook(book, interval=1.0)


def test_calls_use_the_edited_phonebook_and_healthz_shows_a_refused_edit(tmp_path, book, ops_auth):
    app = pinned_app(tmp_path, at="2026-12-18T04:00Z", IVR_PHONEBOOK=str(book), IVR_RELOAD_SECONDS=0)
    client = app.test_client()

    def ring() -> list[str | None]:
        answer = twiml(post(client, "/voice/severity?sen=1234567", call_params(to=AU_LINE, Digits="1")))
        return [n.text for n in answer.iter("Number")]

    assert ring() == list(SYDNEY)

    _edit(book, book.read_text().replace('dial = ["+61255501001", "+61255501002"]', 'dial = ["+61255501003"]'), 1)
    assert ring() == ["+61255501003"]

    _edit(book, book.read_text().replace('tz = "Australia/Sydney"', 'tz = "Australia/Sidney"'), 2)
    assert ring() == ["+61255501003"]
    health = client.get("/healthz", headers=ops_auth)
    assert health.status_code == 200
    state = health.get_json()["phonebook"]
    assert "Australia/Sidney" in state["last_error"]
    assert state["file"] == str(book)
    assert state["counts"] == {"lines": 4, "teams": 4, "customers": 3, "warnings": 0}
    assert state["last_reload"] and state["loaded_at"] and state["last_check"]


def test_healthz_looks_at_the_file_before_it_answers(tmp_path, book, ops_auth):
    # Each gunicorn worker checks on request: /healthz must not show a worker's stale state.
    app = pinned_app(tmp_path, IVR_PHONEBOOK=str(book), IVR_RELOAD_SECONDS=0)
    client = app.test_client()
    _edit(book, book.read_text().replace('tz = "Australia/Sydney"', 'tz = "Australia/Sidney"'), 1)
    refused = client.get("/healthz", headers=ops_auth).get_json()
    assert "Australia/Sidney" in refused["phonebook"]["last_error"] and refused["status"] == "degraded"
    _edit(book, book.read_text().replace('tz = "Australia/Sidney"', 'tz = "Australia/Sydney"'), 2)
    fixed = client.get("/healthz", headers=ops_auth).get_json()
    assert fixed["phonebook"]["last_error"] is None and fixed["phonebook"]["last_reload"]
    assert fixed["status"] == "ok"


def test_a_settled_read_waits_for_the_re_read_another_thread_has_under_way(tmp_path):
    # /healthz reads settled: the alert sweep re-reading the file must not make it show the old state.
    path = tmp_path / "limit.txt"
    _edit(path, "3", 1)
    reading, finish = threading.Event(), threading.Event()

    def load(p):
        if p.read_text() == "33":
            reading.set()
            finish.wait(10)
        return int(p.read_text())

    watched = WatchedFile(path, load, what="limit", log=logging.getLogger("ivr.test"), interval=0)
    _edit(path, "33", 2)
    sweep = threading.Thread(target=watched.current)
    sweep.start()
    assert reading.wait(10)
    assert watched.current() == 3  # a call answers from the version in force meanwhile
    # The re-read ends a moment later (whenever it does, a settled read answers with its verdict).
    threading.Timer(0.2, finish.set).start()
    assert watched.current(settled=True) == 33
    sweep.join()


def test_a_settled_read_looks_again_when_the_file_changed_during_the_re_read_it_waited_for(tmp_path):
    # An editor that writes in place: the sweep re-read the file half-written; a settled read after the
    # edit is complete shows the edit's verdict, not the half-written one's.
    path = tmp_path / "limit.txt"
    _edit(path, "3", 1)
    reading, finish = threading.Event(), threading.Event()

    def load(p):
        text = p.read_text()
        if text == "":
            reading.set()
            finish.wait(10)
        return int(text)

    watched = WatchedFile(path, load, what="limit", log=logging.getLogger("ivr.test"), interval=0)
    _edit(path, "", 2)
    sweep = threading.Thread(target=watched.current)
    sweep.start()
    assert reading.wait(10)
    _edit(path, "44", 3)
    threading.Timer(0.2, finish.set).start()
    assert watched.current(settled=True) == 44
    assert watched.last_error is None
    sweep.join()


def test_a_watched_file_may_start_absent_and_a_loader_that_fails_keeps_the_last_good_value(tmp_path, caplog):
    path = tmp_path / "limit.txt"
    ticks = Ticks()
    watched = WatchedFile(
        path, lambda p: int(p.read_text()), what="limit", log=logging.getLogger("ivr.test"), interval=1.0, monotonic=ticks
    )
    assert watched.current() is None
    assert "FileNotFoundError" in watched.last_error
    _edit(path, "3", 1)
    assert watched.current() is None  # not looked at again before the interval
    ticks.now = 1.0
    assert watched.current() == 3
    assert watched.last_error is None and watched.last_reload == watched.loaded_at
    _edit(path, "three", 2)
    ticks.now = 2.0
    with caplog.at_level(logging.ERROR, logger="ivr.test"):
        assert watched.current() == 3
    assert "ValueError" in watched.last_error
    assert "limit edit refused, the last good version stays in force" in caplog.text


# --- the last good version survives a restart ---------------------------------------------------


def _broken(text: str) -> str:
    return text.replace('tz = "Australia/Sydney"', 'tz = "Australia/Sidney"').replace(
        'name = "Priority Support"', 'name = "Broken Support"')


def test_each_version_accepted_is_kept_privately_with_its_source_and_time(tmp_path, book):
    copy = tmp_path / "instance" / LAST_GOOD_NAME
    ticks = Ticks()
    ReloadingPhonebook(book, interval=1.0, monotonic=ticks, last_good=copy)
    assert copy.stat().st_mode & 0o777 == 0o600
    title, source, accepted, note, body = copy.read_text().split("\n", 4)
    assert title.startswith("# The last version of the phonebook file") and note.startswith("# A worker started")
    assert source == f'# source: "{book}"'
    assert accepted.startswith("# accepted: 20") and accepted.endswith("Z")
    assert body == SAMPLE.read_text()
    assert LastGoodCopy(copy).kept(tmp_path / "other.toml") is None


def test_an_accepted_edit_replaces_the_copy_and_a_refused_one_leaves_it(tmp_path, book):
    copy = tmp_path / "instance" / LAST_GOOD_NAME
    ticks = Ticks()
    holder = ReloadingPhonebook(book, interval=1.0, monotonic=ticks, last_good=copy)
    renamed = SAMPLE.read_text().replace('name = "Priority Support"', 'name = "Premium Help"')
    _edit(book, renamed, 1)
    ticks.now = 1.0
    assert holder.current().service.name == "Premium Help"
    assert LastGoodCopy(copy).kept(book).text == renamed
    _edit(book, _broken(renamed), 2)
    ticks.now = 2.0
    assert holder.current().service.name == "Premium Help"
    assert LastGoodCopy(copy).kept(book).text == renamed


def test_a_restart_on_a_broken_file_starts_from_the_last_good_copy_degraded_and_says_why(tmp_path, book, caplog):
    copy = tmp_path / "instance" / LAST_GOOD_NAME
    ReloadingPhonebook(book, interval=1.0, last_good=copy)
    _edit(book, _broken(book.read_text()).replace("ring_seconds = 20", "ring_seconds = 2", 1), 1)
    ticks = Ticks()
    with caplog.at_level(logging.ERROR, logger="ivr.phonebook"):
        holder = ReloadingPhonebook(book, interval=1.0, monotonic=ticks, last_good=copy)
    assert holder.current().service.name == "Priority Support"
    state = holder.state()
    assert "Australia/Sidney" in state["last_error"]
    assert state["from_last_good_copy"] == LastGoodCopy(copy).kept(book).accepted_at.isoformat().replace("+00:00", "Z")
    refusals = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(refusals) == 2
    assert all(m.startswith("phonebook file refused at start, the last good version (accepted 20") for m in refusals)
    assert any("teams.sydney.tz: unknown time zone 'Australia/Sidney'" in m for m in refusals)
    # The broken file is not copied over the good version; fixing it ends the degraded state.
    assert LastGoodCopy(copy).kept(book).text == SAMPLE.read_text()
    _edit(book, SAMPLE.read_text(), 2)
    ticks.now = 1.0
    holder.current()
    assert holder.state()["last_error"] is None and holder.state()["from_last_good_copy"] is None


def test_a_first_start_on_a_broken_file_or_with_a_copy_of_another_file_refuses_to_start(tmp_path, book):
    copy = tmp_path / "instance" / LAST_GOOD_NAME
    other = tmp_path / "other.toml"
    shutil.copy(SAMPLE, other)
    ReloadingPhonebook(other, interval=1.0, last_good=copy)
    book.write_text(_broken(book.read_text()))
    with pytest.raises(PhonebookError, match="Australia/Sidney"):
        ReloadingPhonebook(book, interval=1.0, last_good=copy)


def test_a_copy_that_cannot_be_written_never_refuses_the_phonebook(tmp_path, book, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING, logger="ivr.phonebook"):
        holder = ReloadingPhonebook(book, interval=1.0, last_good=blocked / LAST_GOOD_NAME)
    assert holder.current().service.name == "Priority Support"
    assert "the last good phonebook cannot be kept in" in caplog.text


def test_the_warnings_of_each_version_accepted_are_logged_at_start_and_on_reload(tmp_path, book, caplog):
    _edit(book, SAMPLE.read_text().replace('tz = "UTC"', 'tz = "Etc/GMT+5"'), bump=1)
    ticks = Ticks()
    with caplog.at_level(logging.WARNING, logger="ivr.phonebook"):
        phonebook = ReloadingPhonebook(book, interval=1.0, monotonic=ticks)
        warned_at_start = [r.getMessage() for r in caplog.records]
        caplog.clear()
        _edit(book, SAMPLE.read_text().replace('tz = "UTC"', 'tz = "US/Pacific"'), bump=2)
        ticks.now += 1.0
        phonebook.current()
    assert warned_at_start == [
        f"{book}: warning: teams.select.tz: 'Etc/GMT+5' is a fixed offset (UTC-05:00 all year, no daylight saving): "
        "use a city's zone (an 'Area/City' name)",
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"{book}: warning: teams.select.tz: 'US/Pacific' is a legacy alias kept for old systems: "
        "use 'America/Los_Angeles'",
    ]


# --- ops hears of a refused version once, and of the fix -------------------------------------------


def _listening(holder):
    heard = []
    holder.subscribe(heard.append)
    return heard


def test_each_refused_version_is_one_notice_in_every_worker_and_so_is_its_fix(book):
    ticks = Ticks()
    workers = [ReloadingPhonebook(book, interval=1.0, monotonic=ticks) for _ in range(2)]
    heard = [_listening(worker) for worker in workers]

    def edit(text, now):
        _edit(book, text, int(now))
        for tick in (now, now + 1):  # checked at every tick, refused (and told) once
            ticks.now = tick
            for worker in workers:
                worker.current()

    edit(SAMPLE.read_text().replace("ring_seconds = 20", "ring_seconds = 2", 1), 1)
    [first], [same] = heard
    assert first.key == same.key and first.key.startswith("notice:phonebook-refused:")
    assert first.refused and first.path == str(book) and first.kept_since == workers[0].loaded_at
    assert first.problems == ("error: teams.sydney.ring_seconds: 2 must be a whole number of seconds from 5 to 600",)
    # Another broken version is another notice; the fix one more; each the same in both workers.
    edit(_broken(SAMPLE.read_text()), 3)
    edit(SAMPLE.read_text(), 5)
    keys = [[notice.key for notice in listener] for listener in heard]
    assert keys[0] == keys[1] and len(set(keys[0])) == 3
    fixed = heard[0][-1]
    assert fixed.key.startswith("notice:phonebook-accepted:") and not fixed.refused and fixed.problems == ()


def test_a_worker_started_on_a_broken_file_tells_its_listener_of_that_version_at_once(tmp_path, book):
    copy = tmp_path / "instance" / LAST_GOOD_NAME
    ticks = Ticks()
    running = ReloadingPhonebook(book, interval=1.0, monotonic=ticks, last_good=copy)
    told = _listening(running)
    _edit(book, book.read_text().replace("ring_seconds = 20", "ring_seconds = 2", 1), 1)
    ticks.now = 1.0
    running.current()
    restarted = ReloadingPhonebook(book, interval=1.0, last_good=copy)
    [notice] = _listening(restarted)
    assert notice.key == told[0].key  # the same version: ops hears of it once
    assert notice.kept_since == restarted.from_copy
    assert _listening(ReloadingPhonebook(SAMPLE, interval=1.0)) == []
