"""The journal: every call event the service accepts is appended to a file before the webhook
answers, and stored in the database from there (`ivr.store.writer`).

Each process appends to a file of its own (`events-<unique>.jsonl` in the journal folder), one
JSON line per event, with a single `write` on a file opened for appending: once the webhook
answers, the line is in the operating system's page cache, so a process killed at any moment
(kill -9, gunicorn's timeout kill, an out-of-memory kill) loses nothing it acknowledged. What is
not guaranteed: a line written in the moment before the machine itself crashes or loses power may
be lost, as the file is not flushed to disk on every event (see the README).

A file's owner holds an exclusive `flock` on it while it lives; a file nobody holds is finished,
and is deleted once all of it is stored.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.engine.events import CallEvent, to_data

PREFIX = "events-"
SUFFIX = ".jsonl"
REJECTED = "rejected.jsonl"


class Journal:
    """This process's journal file in `folder`, opened on first use (so after gunicorn forks)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None
        self.name: str | None = None
        self.written = 0  # the file's size: only this process appends to it
        self._torn = False

    def append(self, call_sid: str, event: CallEvent, at: datetime, accepted: datetime) -> None:
        """The event (which happened `at`, accepted by the service `accepted`: the call log's
        clock), whole, at the end of this process's file; raises OSError if it cannot be."""
        line = json.dumps(
            {"sid": call_sid, "kind": event.kind, "key": event.key, "at": at.isoformat(),
             "accepted": accepted.isoformat(), "data": to_data(event)},
            separators=(",", ":"), default=str, ensure_ascii=False,
        ).encode("utf-8", "replace") + b"\n"
        with self._lock:
            fd = self._open()
            if self._torn:
                line = b"\n" + line  # ends the fragment a failed write left: a line of its own
            view = memoryview(line)
            try:
                while view:  # a regular file takes the whole line at once, but a short write must not cut it
                    view = view[os.write(fd, view):]
            except OSError:
                if len(view) < len(line):
                    self._cut_back(fd, len(line) - len(view))
                raise
            self.written += len(line)
            self._torn = False

    def _cut_back(self, fd: int, fragment: int) -> None:
        """Take back the start of a line a failed write left (a full disk takes what fits), so the
        next event does not begin on the end of the fragment, unreadable with it."""
        try:
            os.ftruncate(fd, self.written)
        except OSError:
            self.written += fragment
            self._torn = True

    def _open(self) -> int:
        if self._fd is not None and self._pid == os.getpid():
            return self._fd
        # A forked child must not append to its parent's file: it opens one of its own.
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{PREFIX}{uuid.uuid4().hex}{SUFFIX}"
        # Made under a name the writer does not read, locked, and only then given its name: the
        # writer deletes a journal file nobody holds once it is stored, and must never see this one
        # unheld (it would delete it, and this process would append to a file no longer there).
        draft = self.folder / f".{name}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held while this process lives: the file is not finished
            os.rename(draft, self.folder / name)
        except OSError:
            os.close(fd)
            draft.unlink(missing_ok=True)
            raise
        self._fd, self._pid, self.name, self.written, self._torn = fd, os.getpid(), name, 0, False
        return fd

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = self._pid = None


@dataclass(frozen=True)
class Line:
    """One journal line as written, and where it ends in its file."""

    file: str
    end: int
    sid: str
    kind: str
    key: str
    at: datetime
    accepted: datetime
    data: dict[str, Any]
    # Whether the line escapes a NUL character (JSON writes one only as \u0000): the store replaces
    # NULs, and need not look through the data of the lines without one.
    nul: bool


@dataclass(frozen=True)
class Unreadable:
    """A line that is not an event this service wrote (a torn write after a machine crash)."""

    file: str
    end: int
    text: str
    error: str


def share(folder: Path, name: str, value: object) -> bool:
    """Replace the small JSON file `name` beside the journal whole, so the instance's other processes
    never read half of it (the writer's status, the alerts' health); False if it could not be
    written, which is not an error: what it says is for health only. One thread of a process writes
    a name at a time (the draft is the process's)."""
    try:
        draft = folder / f".{name}.{os.getpid()}"
        draft.write_text(json.dumps(value))
        os.replace(draft, folder / name)
    except OSError:
        return False
    return True


def shared(folder: Path, name: str) -> Any:
    """What `share` last wrote as `name`; OSError or ValueError when there is none, or it is not JSON."""
    return json.loads((folder / name).read_text())


def files(folder: Path) -> list[str]:
    """The journal files in `folder`, oldest name first (names are random: order is not meaning)."""
    try:
        return sorted(p.name for p in folder.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return []


def finished(path: Path) -> bool:
    """Whether no process holds the file any more (its owner closed it or died)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def read(path: Path, start: int, limit_bytes: int) -> Iterator[Line | Unreadable]:
    """The whole lines of `path` from byte `start`, at most about `limit_bytes` of them (a line
    still being written is left for later)."""
    with open(path, "rb") as file:
        file.seek(start)
        chunk = file.read(limit_bytes)
    end = chunk.rfind(b"\n")
    if end < 0:
        if len(chunk) == limit_bytes:  # one line longer than the limit: read it whole
            with open(path, "rb") as file:
                file.seek(start)
                chunk = file.readline()
            end = len(chunk) - 1 if chunk.endswith(b"\n") else -1
        if end < 0:
            return
    position = start
    for raw in chunk[: end + 1].splitlines(keepends=True):
        position += len(raw)
        yield parse(path.name, position, raw)


def parse(file: str, end: int, raw: bytes) -> Line | Unreadable:
    text = raw.decode("utf-8", "replace").rstrip("\n")
    try:
        item = json.loads(text)
        at = datetime.fromisoformat(item["at"])
        accepted = datetime.fromisoformat(item["accepted"])
        if at.tzinfo is None or accepted.tzinfo is None:
            raise ValueError("an instant without its offset")
        sid, kind, key, data = (str(item["sid"]), str(item["kind"]), str(item["key"]), item["data"])
        if not isinstance(data, dict):
            raise ValueError("data is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        return Unreadable(file, end, text, f"{type(exc).__name__}: {exc}")
    return Line(file, end, sid, kind, key, at, accepted, data, b"\\u0000" in raw)


def set_aside(folder: Path, text: str, reason: str) -> None:
    """Keep what could not be stored in `rejected.jsonl`, with why, for ops to look at."""
    line = json.dumps({"line": text, "reason": reason}, ensure_ascii=False) + "\n"
    fd = os.open(folder / REJECTED, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line.encode("utf-8", "replace"))
    finally:
        os.close(fd)
