"""The journal's files and the writer that deletes them: the moments between two system calls where
an event could be lost, each made to happen on purpose (the real gunicorn runs are in
tests/web/test_no_loss.py)."""

from __future__ import annotations

import errno
import fcntl
import os

from conftest import utc

from ivr.engine.events import Started, Status
from ivr.store import journal

START = utc("2026-12-01T09:00:00Z")


def test_a_new_journal_file_is_never_seen_before_its_owner_holds_it(sqlite_store, monkeypatch):
    """The writer deletes a stored file nobody holds; a file that appeared before its owner locked
    it would look like that, and the owner's first event would go to a deleted file."""
    real_flock = fcntl.flock
    looked = []

    def writer_looks_first(fd, operation):
        if operation == fcntl.LOCK_EX and not looked:  # the owner taking its new file
            looked.append(sorted(journal.files(sqlite_store.writer.folder)))
            sqlite_store.writer.ship()
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", writer_looks_first)
    sqlite_store.record("CA801", Started(to="+14155550100"), START)
    monkeypatch.setattr(fcntl, "flock", real_flock)

    assert sqlite_store.caught_up() is True
    assert sqlite_store.call("CA801") is not None
    assert looked == [[]]
    assert journal.files(sqlite_store.writer.folder) == [sqlite_store.journal.name]


def test_a_worker_that_writes_a_last_event_and_dies_while_the_writer_looks_keeps_it(sqlite_store, monkeypatch):
    """Between the writer's look at a file's size and its look at the file's lock, the owner appends
    one more event and dies: the file is finished, but not stored to its end."""
    sqlite_store.record("CA802", Started(to="+14155550100"), START)
    assert sqlite_store.caught_up() is True
    real_finished = journal.finished

    def owner_writes_and_dies(path):
        if sqlite_store.journal.name is not None:
            sqlite_store.record("CA802", Status(call_status="completed", duration=30), START)
            sqlite_store.journal.close()
        return real_finished(path)

    monkeypatch.setattr(journal, "finished", owner_writes_and_dies)
    sqlite_store.writer.ship()  # nothing new: it looks for finished files to delete
    monkeypatch.setattr(journal, "finished", real_finished)

    assert sqlite_store.caught_up() is True
    assert [e.kind for e in sqlite_store.timelines(["CA802"])["CA802"]] == ["started", "status"]
    assert sqlite_store.writer.ship() == 0
    assert journal.files(sqlite_store.writer.folder) == []  # stored to its end, then deleted


class FullDisk:
    """`os.write` on a disk with `room` bytes left for the store's journal file: a write takes what
    fits, the next one fails with ENOSPC; `room = None` frees the disk. Other files write as usual."""

    def __init__(self, store, room: int | None = 40):
        self.store, self.room, self.write = store, room, os.write

    def __call__(self, fd, data):
        if fd != self.store.journal._fd or self.room is None:
            return self.write(fd, data)
        if self.room == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = self.write(fd, bytes(data[: self.room]))
        self.room -= written
        return written


def test_an_event_after_a_full_disk_is_stored_whole_not_glued_to_the_torn_line_before_it(
    sqlite_store, monkeypatch
):
    """A full disk takes part of a line and refuses the rest; once there is room again, the next
    event must be a line of its own, not the end of the fragment (unreadable, so set aside)."""
    sqlite_store.record("CA803", Started(to="+14155550100"), START)
    disk = FullDisk(sqlite_store)
    monkeypatch.setattr(os, "write", disk)
    sqlite_store.record("CA804", Started(to="+14155550100"), START)  # refused: logged on ivr.events only
    disk.room = None
    sqlite_store.record("CA805", Started(to="+14155550100"), START)
    monkeypatch.undo()

    assert sqlite_store.caught_up() is True
    assert sqlite_store.call("CA803") is not None and sqlite_store.call("CA805") is not None
    assert sqlite_store.call("CA804") is None
    assert sqlite_store.health()["rejected"] == 0
    assert sqlite_store.journal.written == (sqlite_store.writer.folder / sqlite_store.journal.name).stat().st_size


def test_a_fragment_that_cannot_be_cut_back_is_ended_and_set_aside_alone(sqlite_store, monkeypatch):
    disk = FullDisk(sqlite_store)

    def no_truncate(fd, length):
        raise OSError(errno.EIO, "Input/output error")

    sqlite_store.record("CA806", Started(to="+14155550100"), START)  # opens the file
    monkeypatch.setattr(os, "write", disk)
    monkeypatch.setattr(os, "ftruncate", no_truncate)
    sqlite_store.record("CA807", Started(to="+14155550100"), START)
    disk.room = None
    sqlite_store.record("CA808", Started(to="+14155550100"), START)
    monkeypatch.undo()

    assert sqlite_store.caught_up() is True
    assert sqlite_store.call("CA806") is not None and sqlite_store.call("CA808") is not None
    assert sqlite_store.health()["rejected"] == 1
    assert sqlite_store.journal.written == (sqlite_store.writer.folder / sqlite_store.journal.name).stat().st_size
