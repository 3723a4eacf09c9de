"""The phonebook in force: re-read when the file changes, the last good one kept on a broken edit.

Each worker checks the file's modification time and size at most once per `interval` seconds, on
request, so an admin's edit takes effect within a second without a restart, and a request costs
one `stat` call at most. A file that fails to load is refused and logged; calls go on with the
last good phonebook, and `state()` (shown by /healthz) says what went wrong.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ivr.phonebook import Phonebook, PhonebookError, load_phonebook
from ivr.routing import iso

log = logging.getLogger("ivr.phonebook")

CHECK_INTERVAL = 1.0


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ReloadingPhonebook:
    """Holds the current phonebook of `path`; raises PhonebookError at once when it cannot load."""

    def __init__(
        self,
        path: str | Path,
        interval: float = CHECK_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _now,
    ):
        self.path = Path(path)
        self.interval = interval
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()
        self._signature = self._stat()
        self._phonebook = load_phonebook(self.path)
        self._loaded_at = self._now()
        self._last_check = self._loaded_at
        self._last_reload: datetime | None = None
        self._last_error: str | None = None
        self._next_check = self._monotonic() + interval

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def current(self) -> Phonebook:
        """The phonebook in force, after re-reading the file if it changed (checked at most every interval)."""
        if self._monotonic() >= self._next_check and self._lock.acquire(blocking=False):
            try:
                self._check()
            finally:
                self._lock.release()
        return self._phonebook

    def _check(self) -> None:
        self._next_check = self._monotonic() + self.interval
        self._last_check = self._now()
        signature = self._stat()
        if signature == self._signature:
            return
        self._signature = signature
        try:
            phonebook = load_phonebook(self.path)
        except PhonebookError as exc:
            self._refuse(str(exc))
            return
        except Exception as exc:  # a loader bug must not take calls down with it
            log.exception("loading %s failed", self.path)
            self._refuse(f"{type(exc).__name__}: {exc}")
            return
        self._phonebook = phonebook
        self._loaded_at = self._last_reload = self._now()
        self._last_error = None
        log.info("phonebook reloaded from %s", self.path)

    def _refuse(self, error: str) -> None:
        self._last_error = error
        log.error("phonebook edit refused, the last good version stays in force: %s", error)

    def last_good(self) -> Phonebook:
        """The phonebook in force, without looking at the file (for the error path)."""
        return self._phonebook

    def state(self) -> dict:
        phonebook = self._phonebook
        return {
            "file": str(self.path.resolve()),
            "loaded_at": iso(self._loaded_at),
            "last_check": iso(self._last_check),
            "last_reload": None if self._last_reload is None else iso(self._last_reload),
            "last_error": self._last_error,
            "counts": {
                "lines": len(phonebook.lines),
                "teams": len(phonebook.teams),
                "customers": len(phonebook.customers),
                "warnings": len(phonebook.warnings),
            },
        }
