"""Files re-read when they change, the last good version kept on a broken edit.

`WatchedFile` holds what a loader made of a file. It looks at the file's modification time, size
and inode at most once per `interval` seconds, on request, so an admin's edit takes effect within
a second without a restart, and a request costs one `stat` call at most. A version that fails to
load is refused and logged; the last good one stays in force, and `last_error` (shown by
/healthz) says what went wrong. The phonebook (`ReloadingPhonebook`) and the customers' CSV file
(`ivr.outside.licensing.FileSource`) are both watched this way.

The phonebook's last good version also survives a restart: each version accepted is written to a
copy in the instance folder (`LastGoodCopy`), and a worker (re)started while the file is broken
starts from that copy, degraded, rather than failing to boot and taking the service down.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from ivr.clock import utc_now
from ivr.engine.instants import iso
from ivr.engine.phonebook import InvalidFile, Phonebook, PhonebookError
from ivr.engine.phonebook_loader import parse_phonebook, read_text
from ivr.store.alert_queue import NOTICE_PREFIX

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

    def current(self, settled: bool = False) -> T | None:
        """The version in force, after re-reading the file if it changed (checked at most every interval).
        One thread re-reads; the others answer from the version in force meanwhile, but with
        `settled` (health, which shows the file's state) they wait for a re-read under way, then
        look themselves if due: the file may have changed while it was read (an edit written in place)."""
        if settled:
            with self._lock:
                if self._monotonic() >= self._next_check:
                    self._check()
        elif self._monotonic() >= self._next_check and self._lock.acquire(blocking=False):
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


# The copy's name in the instance folder.
LAST_GOOD_NAME = "phonebook.last-good.toml"
_COPY_TITLE = "# The last version of the phonebook file below that the service accepted (written by the service)."
_COPY_NOTE = "# A worker started while that file is broken starts from this copy. Edit the file, not this copy."


@dataclass(frozen=True)
class KeptVersion:
    text: str
    accepted_at: datetime


class LastGoodCopy:
    """The text of the last phonebook version accepted from one file, kept at `path` (private,
    written atomically) with a header naming that file and when the version was accepted."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def keep(self, source: Path, text: str, at: datetime) -> None:
        """Keep `text`, just accepted from `source`; OSError when it cannot be written."""
        kept = self.kept(source)
        if kept is not None and kept.text == text:
            return
        header = "\n".join([
            _COPY_TITLE, f"# source: {json.dumps(_where(source))}", f"# accepted: {iso(at)}", _COPY_NOTE, "",
        ])
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A new file (0600, as mkstemp makes it) renamed over the old: a reader sees the whole of
        # one version or the other, and after a crash the copy is the old version or the new one.
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(header + text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def kept(self, source: Path) -> KeptVersion | None:
        """The version kept from `source`; None when there is none (or it is a copy of another file)."""
        try:
            content = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        title, where, accepted, note, text = (content.split("\n", 4) + [""] * 5)[:5]
        if (title, note) != (_COPY_TITLE, _COPY_NOTE) or where != f"# source: {json.dumps(_where(source))}":
            return None
        try:
            at = datetime.fromisoformat(accepted.removeprefix("# accepted: ").replace("Z", "+00:00"))
        except ValueError:
            return None
        return KeptVersion(text, at)


def _where(source: Path) -> str:
    # Absolute, but without resolving links: a file replaced by re-pointing a link (as Kubernetes
    # updates a mounted ConfigMap) is still the same file.
    return os.path.abspath(source)


@dataclass(frozen=True)
class StartingVersion:
    """What a service starts on: the file's phonebook, or, when the file is `refused`, the last
    good version kept from it (accepted at `accepted_at`); `text` is what was read."""

    phonebook: Phonebook
    text: str
    refused: PhonebookError | None = None
    accepted_at: datetime | None = None


def phonebook_at_start(path: Path, copy: LastGoodCopy | None) -> StartingVersion:
    """The file's phonebook, or the last good version kept from it when the file is broken.
    Raises the file's PhonebookError when neither can be used."""
    try:
        text = read_text(path)
        return StartingVersion(parse_phonebook(text, str(path)), text)
    except PhonebookError as refused:
        kept = copy.kept(path) if copy is not None else None
        if kept is None:
            raise
        try:
            # Read as the file itself, so paths in it (the customers' CSV) mean the same.
            phonebook = parse_phonebook(kept.text, str(path))
        except PhonebookError:
            raise refused from None
        return StartingVersion(phonebook, kept.text, refused, kept.accepted_at)


# A refused version's errors an alert quotes (the rest: `ivr check`).
NOTICE_PROBLEMS = 3


@dataclass(frozen=True)
class PhonebookNotice:
    """What ops is alerted of: a version of the phonebook file refused (`refused`; the last good
    version, accepted at `kept_since`, stays in force), or a version accepted after one was.
    `key` is the same in every worker that sees the same version, so ops hears of it once."""

    key: str
    refused: bool
    path: str
    problems: tuple[str, ...]
    kept_since: datetime | None
    at: datetime


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ReloadingPhonebook(WatchedFile[Phonebook]):
    """The current phonebook of `path`; each version accepted is kept in `last_good` when given.
    At start, a broken file with a last good copy of it starts degraded from the copy; with none,
    PhonebookError is raised at once."""

    def __init__(
        self,
        path: str | Path,
        interval: float,
        monotonic: Callable[[], float] = time.monotonic,
        last_good: str | Path | None = None,
    ):
        self._copy = LastGoodCopy(last_good) if last_good is not None else None
        self._starting = True
        self._refused_at_start: PhonebookError | None = None
        # The notice of the version refused last, until one is accepted; who hears of each notice.
        self._refused: PhonebookNotice | None = None
        self._listeners: list[Callable[[PhonebookNotice], None]] = []
        # When the version in force came from the copy: when it was accepted (else None).
        self.from_copy: datetime | None = None
        log = logging.getLogger("ivr.phonebook")
        super().__init__(
            path,
            self._load_and_keep,
            what="phonebook",
            log=log,
            interval=interval,
            required=True,
            monotonic=monotonic,
        )
        self._starting = False
        refused = self._refused_at_start
        if refused is not None and self.from_copy is not None:
            # The signal for ops (with /healthz degraded): an ERROR line for each problem.
            self.last_error = str(refused)
            for problem in refused.problems[:LOGGED_PROBLEMS]:
                if not problem.warning:
                    log.error("phonebook file refused at start, the last good version (accepted %s) is in force: "
                              "%s: %s", iso(self.from_copy), self.path, problem)
            self._notice_refused(refused, self.from_copy)

    def subscribe(self, listener: Callable[[PhonebookNotice], None]) -> None:
        """Call `listener` with each notice from now on, and at once with the version refused at
        start (before anyone could subscribe). Called in the thread that checks the file (a
        request's): a listener must not block."""
        self._listeners.append(listener)
        if self._refused is not None:
            listener(self._refused)

    def _tell(self, notice: PhonebookNotice) -> None:
        for listener in self._listeners:
            try:
                listener(notice)
            except Exception:  # noqa: BLE001 - a listener's bug must not reach the request that checked the file
                self._log.exception("phonebook listener failed on %s", notice.key)

    def _notice_refused(self, error: PhonebookError, kept_since: datetime | None) -> None:
        # A version is known by its errors: the same broken file (re-saved, or seen by another
        # worker or instance) is the same notice; each worker tries a changed file only once.
        problems = tuple(str(p) for p in error.problems if not p.warning)[:NOTICE_PROBLEMS]
        self._refused = PhonebookNotice(f"{NOTICE_PREFIX}phonebook-refused:{_digest(str(error))}", True,
                                        str(self.path), problems, kept_since, utc_now())
        self._tell(self._refused)

    def _notice_accepted(self, text: str) -> None:
        refused, self._refused = self._refused, None
        if refused is None:
            return
        key = f"{NOTICE_PREFIX}phonebook-accepted:{refused.key.rpartition(':')[2]}:{_digest(text)}"
        self._tell(PhonebookNotice(key, False, str(self.path), (), None, utc_now()))

    def _load_and_keep(self, path: Path) -> Phonebook:
        """Load `path` (at start, from the last good copy when it is broken) and keep what was accepted."""
        if self._starting:
            start = phonebook_at_start(path, self._copy)
            self._refused_at_start, self.from_copy = start.refused, start.accepted_at
            if start.refused is None:
                self._keep(path, start.text)
                self._log_warnings(path, start.phonebook)
            return start.phonebook
        try:
            text = read_text(path)
            phonebook = parse_phonebook(text, str(path))
        except PhonebookError as refused:
            self._notice_refused(refused, self.loaded_at)
            raise
        self.from_copy = None
        self._keep(path, text)
        self._log_warnings(path, phonebook)
        self._notice_accepted(text)
        return phonebook

    def _log_warnings(self, path: Path, phonebook: Phonebook) -> None:
        # What `ivr check` prints on stderr, for whoever reads the service's log after an edit.
        for problem in phonebook.warnings[:LOGGED_PROBLEMS]:
            self._log.warning("%s: %s", path, problem)

    def _keep(self, path: Path, text: str) -> None:
        """Keep the version just accepted; a copy that cannot be written never refuses it."""
        if self._copy is None:
            return
        try:
            self._copy.keep(path, text, utc_now())
        except OSError as exc:
            self._log.warning("the last good phonebook cannot be kept in %s: %s", self._copy.path, exc)

    # Required: loaded by __init__ (or it raised), so there is always a phonebook in force.
    def current(self, settled: bool = False) -> Phonebook:
        phonebook = super().current(settled)
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
            # Where a restart finds the last good version; and, when a worker started on a broken
            # file, when the version it took from there was accepted.
            "last_good_copy": None if self._copy is None else str(self._copy.path),
            "from_last_good_copy": None if self.from_copy is None else iso(self.from_copy),
            "counts": {
                "lines": len(phonebook.lines),
                "teams": len(phonebook.teams),
                "customers": len(phonebook.customers),
                "warnings": len(phonebook.warnings),
            },
        }
