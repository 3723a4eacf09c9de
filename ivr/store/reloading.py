"""Files re-read when they change, the last good version kept on a broken edit.

`WatchedFile` holds what a loader made of a file. It looks at the file's modification time, size
and inode at most once per `interval` seconds, on request, so an admin's edit takes effect within
a second without a restart, and a request costs one `stat` call at most. A version that fails to
load is refused and logged; the last good one stays in force, and `last_error` (shown by
/healthz) says what went wrong. The phonebook (`ReloadingPhonebook`) and the customers' CSV file
(`ivr.outside.licensing.FileSource`) are both watched this way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from ivr.clock import utc_now
from ivr.engine.instants import iso
from ivr.engine.phonebook import InvalidFile, Phonebook
from ivr.engine.phonebook_loader import load_phonebook

T = TypeVar("T")

# A wrong export can break every row; the log gets the first ones, `ivr check` all of them.
LOGGED_PROBLEMS = 20


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is edited or replaced; None when it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


class WatchedFile(Generic[T]):
    """`load(path)` of the current version of `path`. The loader raises InvalidFile (its text
    becomes `last_error`, each problem is logged) for a version that cannot be used.

    With `required`, the first load's error is raised (nothing to fall back on); otherwise
    `current()` is None until some version has loaded.
    Fields: `loaded_at` (when the version in force was loaded), `version` (its modification
    time), `last_check`, `last_reload` (when a changed file last took effect), `last_error`."""

    def __init__(
        self,
        path: str | Path,
        load: Callable[[Path], T],
        *,
        what: str,
        log: logging.Logger,
        interval: float,
        required: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.path = Path(path)
        self.interval = interval
        self._load = load
        self._what = what
        self._log = log
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._value: T | None = None
        self.loaded_at: datetime | None = None
        self.version: datetime | None = None
        self.last_reload: datetime | None = None
        self.last_error: str | None = None
        self.last_check = utc_now()
        self._signature = _signature(self.path)
        if required:
            self._take(load(self.path))
        else:
            self._try_load()
        self._next_check = self._monotonic() + interval

    def current(self) -> T | None:
        """The version in force, after re-reading the file if it changed (checked at most every interval).
        One thread re-reads; the others answer from the version in force meanwhile."""
        if self._monotonic() >= self._next_check and self._lock.acquire(blocking=False):
            try:
                self._check()
            finally:
                self._lock.release()
        return self._value

    def last_good(self) -> T | None:
        """The version in force, without looking at the file (for error paths)."""
        return self._value

    def _check(self) -> None:
        self._next_check = self._monotonic() + self.interval
        self.last_check = utc_now()
        signature = _signature(self.path)
        if signature == self._signature:
            return
        # Kept even when this version is refused: it is tried once, not again at every check.
        self._signature = signature
        if self._try_load():
            self.last_reload = self.loaded_at

    def _try_load(self) -> bool:
        try:
            value = self._load(self.path)
        except InvalidFile as exc:
            self._refuse(str(exc), [str(problem) for problem in exc.problems[:LOGGED_PROBLEMS]])
            return False
        except Exception as exc:  # noqa: BLE001 - a loader bug must not take calls down with it
            self._log.exception("loading %s failed", self.path)
            self._refuse(f"{type(exc).__name__}: {exc}", [])
            return False
        self._take(value)
        self._log.info("%s loaded from %s", self._what, self.path)
        return True

    def _take(self, value: T) -> None:
        self._value = value
        self.loaded_at = utc_now()
        mtime_ns = None if self._signature is None else self._signature[0]
        self.version = None if mtime_ns is None else datetime.fromtimestamp(mtime_ns / 1e9, UTC)
        self.last_error = None

    def _refuse(self, error: str, problems: list[str]) -> None:
        self.last_error = error
        kept = "nothing is loaded yet" if self._value is None else "the last good version stays in force"
        for problem in problems or [error]:
            self._log.error("%s edit refused, %s: %s: %s", self._what, kept, self.path, problem)


class ReloadingPhonebook(WatchedFile[Phonebook]):
    """The current phonebook of `path`; raises PhonebookError at once when it cannot load."""

    def __init__(
        self,
        path: str | Path,
        interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        super().__init__(
            path,
            load_phonebook,
            what="phonebook",
            log=logging.getLogger("ivr.phonebook"),
            interval=interval,
            required=True,
            monotonic=monotonic,
        )

    # Required: loaded by __init__ (or it raised), so there is always a phonebook in force.
    def current(self) -> Phonebook:
        phonebook = super().current()
        assert phonebook is not None
        return phonebook

    def last_good(self) -> Phonebook:
        phonebook = super().last_good()
        assert phonebook is not None
        return phonebook

    def state(self) -> dict:
        phonebook = self.last_good()
        assert self.loaded_at is not None
        return {
            "file": str(self.path.resolve()),
            "loaded_at": iso(self.loaded_at),
            "last_check": iso(self.last_check),
            "last_reload": None if self.last_reload is None else iso(self.last_reload),
            "last_error": self.last_error,
            "counts": {
                "lines": len(phonebook.lines),
                "teams": len(phonebook.teams),
                "customers": len(phonebook.customers),
                "warnings": len(phonebook.warnings),
            },
        }
