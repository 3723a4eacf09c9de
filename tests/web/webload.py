"""Helpers for the no-loss tests (test_no_loss.py): whole calls placed over HTTP by following the
TwiML, the gunicorn instance's workers and its call-log writer as the kernel sees them, the call
log's rows as the database holds them, a TCP proxy that makes PostgreSQL fail on demand, and an
HTTPS server that records alert webhooks."""

from __future__ import annotations

import contextlib
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from calls import ACCOUNT, ACME_ADMIN, ATTESTED, TOKEN, US_LINE
from conftest import OPS_PASSWORD
from serving import serving
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from test_gunicorn import dated_sample
from twilio.request_validator import RequestValidator

from ivr.store.schema import call_counts, calls, events

# Generous bounds for a loaded 2-core machine: they only ever end a test that would fail anyway.
REQUEST_SECONDS = 20
STORED_SECONDS = 60
ACME_SEN_DIGITS = "1234567"


# --- the phonebook ------------------------------------------------------------------------------

ALERTS_TABLE = re.compile(r"^\[alerts\]\n(?:(?!\[).*(?:\n|$))*", re.MULTILINE)


def phonebook(folder: Path, webhook: str | None = None) -> Path:
    """The sample phonebook valid at any date, alerting only `webhook` (no texts), or nobody."""
    path = dated_sample(folder)
    book = ALERTS_TABLE.sub("", path.read_text(encoding="utf-8"))
    assert "[alerts]" not in book
    if webhook:
        book += f'\n[alerts]\nwebhook = "{webhook}"\n'
    path.write_text(book, encoding="utf-8")
    return path


# --- calls, step by step --------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """Where the requests go (`base`), and the base URL Twilio signs them for (`public`, when the
    service has IVR_PUBLIC_URL; else `base`)."""

    base: str
    public: str | None = None

    def post(self, path: str, params: dict[str, str]) -> requests.Response:
        signature = RequestValidator(TOKEN).compute_signature(f"{self.public or self.base}{path}", params)
        return requests.post(f"{self.base}{path}", data=params, headers={"X-Twilio-Signature": signature},
                             timeout=REQUEST_SECONDS)


# The kinds of call: how each is counted (outcome, severity), its steps, and the events it stores.
#   short     a stranger hangs up at the SEN prompt: started; status
#   l1        Acme's admin, recognised, presses 1: started, recognised, entitlement; severity, routed; status
#   l1-sen    a stranger types Acme's SEN, presses 1: started; sen, entitlement; severity, routed; status
#   l2        Acme's admin presses 2, not taken by phone: 3 as l1; severity, routed, deflected; status
KINDS = {
    "short": (("abandoned", 0), 2, 2),
    "l1": (("abandoned", 1), 3, 6),
    "l1-sen": (("abandoned", 1), 4, 6),
    "l2": (("deflected", 2), 3, 7),
}


@dataclass(frozen=True)
class Call:
    number: int
    kind: str

    @property
    def sid(self) -> str:
        return f"CA{self.number:032d}"

    @property
    def caller(self) -> str:
        return ACME_ADMIN if self.kind in ("l1", "l2") else f"+1202555{self.number % 10000:04d}"

    @property
    def steps(self) -> int:
        return KINDS[self.kind][1]

    @property
    def events(self) -> int:
        return KINDS[self.kind][2]

    @property
    def counted_as(self) -> tuple[str, int]:
        return KINDS[self.kind][0]

    @property
    def missed_l1(self) -> bool:
        return self.kind in ("l1", "l1-sen")


class Load:
    """Calls placed side by side from `threads` threads until `stop()`, or `limit` calls, each
    step to the service `at(step)`; a step left unanswered is sent again (`attempts` in all)."""

    def __init__(self, at: Callable[[int], Service], kinds: tuple[str, ...], *, first: int = 0,
                 threads: int = 6, limit: int = 400, attempts: int = 1):
        self.at, self.kinds, self.limit, self.attempts = at, kinds, limit, attempts
        self.tally = Tally()
        self.placed: list[Call] = []
        self._next = first
        self._first = first
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._run, name="load", daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                number = self._next
                if number - self._first >= self.limit:
                    return
                self._next += 1
            call = Call(number, self.kinds[number % len(self.kinds)])
            try:
                place(call, self.at, self.tally, self.attempts)
            except BaseException as exc:  # noqa: BLE001 - handed to the test by stop()
                self._errors.append(exc)
                return
            with self._lock:
                self.placed.append(call)

    @property
    def done(self) -> int:
        with self._lock:
            return len(self.placed)

    def wait_for(self, calls: int) -> None:
        """Wait until `calls` calls are complete (or all are, if fewer are to come)."""
        wait_until(lambda: self.done >= min(calls, self.limit) or bool(self._errors), f"{calls} calls placed",
                   seconds=120)

    def stop(self) -> list[Call]:
        """Let the calls under way finish; every call placed, every step answered."""
        self._stopped.set()
        for thread in self._threads:
            thread.join(120)
        if self._errors:
            raise self._errors[0]
        return sorted(self.placed, key=lambda c: c.number)


def mixed_calls(first: int, count: int, kinds: tuple[str, ...] = ("l1", "l1-sen", "l2")) -> list[Call]:
    return [Call(number, kinds[number % len(kinds)]) for number in range(first, first + count)]


@dataclass
class Tally:
    """What the service acknowledged (2xx), and how many attempts failed without an answer."""

    answered: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, unanswered: int) -> None:
        with self.lock:
            self.answered[path.partition("?")[0]] += 1
            self.unanswered += unanswered

    @property
    def requests(self) -> int:
        return sum(self.answered.values())


def step(service: Service, path: str, params: dict[str, str], tally: Tally, attempts: int = 1) -> requests.Response:
    """One webhook, answered 2xx; a request left without an answer (its worker was killed) is
    sent again, as Twilio's retry would, up to `attempts` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            reply = service.post(path, params)
        except requests.RequestException:  # reset, or cut off mid-answer
            if attempt == attempts:
                raise
            continue
        assert 200 <= reply.status_code < 300, f"{path}: {reply.status_code} {reply.text[:300]}"
        tally.add(path, attempt - 1)
        return reply
    raise AssertionError("unreachable")


def _gather_action(reply: requests.Response) -> str:
    gather = ET.fromstring(reply.text).find(".//Gather")
    assert gather is not None, reply.text
    action = gather.get("action")
    assert action and action.startswith("/voice/"), reply.text
    return action


def place(call: Call, at: Callable[[int], Service], tally: Tally, attempts: int = 1) -> None:
    """The whole call: each step to the service `at(step number)`, following the TwiML's actions."""
    # The admin's caller ID is fully attested (STIR/SHAKEN), as the phonebook's default trust asks.
    params = {"CallSid": call.sid, "AccountSid": ACCOUNT, "From": call.caller, "To": US_LINE,
              "CallStatus": "ringing", "Direction": "inbound", "StirVerstat": ATTESTED}
    steps = iter(range(10))
    reply = step(at(next(steps)), "/voice", params, tally, attempts)
    params["CallStatus"] = "in-progress"
    if call.kind == "l1-sen":
        reply = step(at(next(steps)), _gather_action(reply), {**params, "Digits": ACME_SEN_DIGITS}, tally, attempts)
    if call.kind != "short":
        digit = "2" if call.kind == "l2" else "1"
        reply = step(at(next(steps)), _gather_action(reply), {**params, "Digits": digit}, tally, attempts)
    step(at(next(steps)), "/voice/status", {**params, "CallStatus": "completed", "CallDuration": "30"}, tally,
         attempts)


# --- the database's view ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """The call log as stored: events per call, summary rows, the running counts behind /metrics."""

    events: dict[str, int]
    calls: int
    event_counts: int  # the summaries' event_count, summed
    counts: dict[tuple[str, int], int]

    @classmethod
    def read(cls, url: str) -> Stored:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                per_call = conn.execute(select(events.c.call_sid, func.count()).group_by(events.c.call_sid))
                stored_events = {sid: int(n) for sid, n in per_call}
                number, summed = conn.execute(select(func.count(), func.sum(calls.c.event_count))).one()
                counts = {(outcome, int(severity)): int(n)
                          for outcome, severity, n in conn.execute(select(call_counts)) if n}
        except (OperationalError, ProgrammingError):  # no tables yet: the first worker is still creating them
            return cls({}, 0, 0, {})
        finally:
            engine.dispose()
        return cls(stored_events, int(number), int(summed or 0), counts)


def expected(placed: list[Call]) -> Stored:
    """Every event of every call once, each call counted once."""
    return Stored({c.sid: c.events for c in placed}, len(placed), sum(c.events for c in placed),
                  dict(Counter(c.counted_as for c in placed)))


def sqlite_url(instance: Path) -> str:
    return f"sqlite:///{instance / 'calllog.sqlite3'}"


def wait_until(condition: Callable[[], bool], what: str, seconds: float = STORED_SECONDS,
               evidence: Callable[[], object] = lambda: "") -> None:
    """Poll `condition` until it holds; past `seconds`, fail saying `what` and showing `evidence`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds:g} s: {what}\n{evidence()}")
        time.sleep(0.1)


def wait_until_stored(url: str, placed: list[Call], evidence: Callable[[], object] = lambda: "") -> Stored:
    """Wait until the database holds the calls' events, then the same once more after the writer
    had time to store anything extra: exact, not at least."""
    want = expected(placed)
    wait_until(lambda: Stored.read(url) == want, f"{len(placed)} calls stored exactly once",
               evidence=lambda: f"{_difference(Stored.read(url), want)}\n{evidence()}")
    time.sleep(0.5)
    found = Stored.read(url)
    assert found == want, _difference(found, want)
    return found


def _difference(found: Stored, want: Stored) -> str:
    missing = {sid: n for sid, n in want.events.items() if found.events.get(sid) != n}
    extra = {sid: n for sid, n in found.events.items() if sid not in want.events}
    return (f"calls {found.calls} (want {want.calls}), events {sum(found.events.values())} "
            f"(want {sum(want.events.values())}), summaries' event_count {found.event_counts}, counts "
            f"{found.counts} (want {want.counts}); calls short of events {dict(list(missing.items())[:5])} "
            f"({len(missing)}), unexpected {dict(list(extra.items())[:5])}")


@contextlib.contextmanager
def fresh_database(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of the test's own (a `postgresql://` URL for DATABASE_URL), dropped after."""
    name = f"ivr_noloss_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def checked_url(database_url: str) -> str:
    """The test's own SQLAlchemy URL for the service's DATABASE_URL."""
    return make_url(database_url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


# --- gunicorn's processes, as the kernel sees them --------------------------------------------------


def _children(master: int) -> dict[int, list[str]]:
    """The live (not yet reaped) child processes of gunicorn's master, with their command lines."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == master and fields[0] != "Z":
            children[int(entry.name)] = command
    return children


def _is_writer(command: list[str]) -> bool:
    return command[-3:] == ["-m", "ivr", "writer"]


def workers(master: int) -> set[int]:
    """The live workers of gunicorn's master (its children but the call-log writer)."""
    return {pid for pid, command in _children(master).items() if not _is_writer(command)}


def writers(master: int) -> set[int]:
    """The live call-log writer processes of gunicorn's master (`ivr writer`)."""
    return {pid for pid, command in _children(master).items() if _is_writer(command)}


def writer_pid(journal: Path) -> int | None:
    """The process holding the instance's writer lock (`writer.lock`, a flock), from /proc/locks."""
    try:
        inode = (journal / "writer.lock").stat().st_ino
    except FileNotFoundError:
        return None
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" not in fields and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[1] == str(inode):
            return int(fields[4])
    return None


def journal_files(pid: int, journal: Path) -> set[str]:
    """The journal files process `pid` has open for appending (its own)."""
    names = set()
    with contextlib.suppress(FileNotFoundError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = Path(os.readlink(fd))
                if target.parent == journal and target.name.startswith("events-"):
                    names.add(target.name)
    return names


def journal_names(journal: Path) -> set[str]:
    return {p.name for p in journal.glob("events-*.jsonl")}


def kill_and_reap(master: int, pid: int) -> None:
    """SIGKILL one worker or the writer, and wait until it is reaped (the master then starts a new one)."""
    os.kill(pid, 9)
    wait_until(lambda: pid not in _children(master), f"process {pid} reaped by gunicorn", seconds=30)


def wait_for_workers(master: int, metrics: Path, number: int) -> set[int]:
    """Wait until the master has `number` workers, each with its app built (its metric files,
    which the app's counters create, are in the metrics folder); their pids."""
    found: list[set[int]] = [set()]

    def ready() -> bool:
        found[0] = pids = workers(master)
        built = {int(p.stem.rpartition("_")[2]) for p in metrics.glob("*.db")}
        return len(pids) == number and pids <= built

    wait_until(ready, f"{number} workers serving", seconds=90, evidence=lambda: found[0])
    return found[0]


def metrics_folder(log: Path) -> Path:
    found = re.search(r"workers' metrics in (\S+)", log.read_text())
    assert found, log.read_text()
    return Path(found[1])


def wait_for_writer(journal: Path, other_than: Iterable[int] = ()) -> int:
    """The pid of the process that holds the writer lock, once one (not among `other_than`) does."""
    found: list[int] = []

    def elected() -> bool:
        pid = writer_pid(journal)
        if pid is None or pid in other_than:
            return False
        found.append(pid)
        return True

    wait_until(elected, "a writer holds writer.lock", seconds=30)
    return found[-1]


def health(base: str) -> dict:
    """/healthz with its details (the services here run with the tests' ops password)."""
    reply = requests.get(f"{base}/healthz", auth=("ops", OPS_PASSWORD), timeout=REQUEST_SECONDS)
    assert reply.status_code == 200, reply.text
    return reply.json()


# --- a database that fails on demand --------------------------------------------------------------


class DbProxy:
    """tests/web/dbproxy.py in a process of its own (its threads must not wait for this process's
    interpreter lock, held by the load), driven by one command a line."""

    def __init__(self, postgres_url: str):
        upstream = make_url(postgres_url)
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("dbproxy.py")), upstream.host or "127.0.0.1",
             str(upstream.port or 5432)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self._lock = threading.Lock()
        self.port = int(self._read())

    def _read(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        assert line, "the database proxy ended"
        return line.strip()

    def _command(self, *words: object) -> str:
        assert self._process.stdin is not None
        with self._lock:
            self._process.stdin.write(" ".join(map(str, words)) + "\n")
            self._process.stdin.flush()
            return self._read()

    def refuse(self) -> None:
        """Reset every open connection, and every new one until `accept()`."""
        self._command("refuse")

    def accept(self) -> None:
        self._command("accept")

    def cut_commits(self, number: int, every: int = 2) -> None:
        """Cut `number` of the next transactions at their COMMIT, one in `every` (so the retries go
        through): alternately before the server has the COMMIT, and after it committed."""
        self._command("cut", number, every)

    def counts(self) -> dict[str, int]:
        """cut_before, cut_after (transactions cut so far) and reset (connections refused or reset)."""
        return json.loads(self._command("counts"))

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        finally:
            assert self._process.stdout is not None
            self._process.stdout.close()


@contextlib.contextmanager
def db_proxy(postgres_url: str) -> Iterator[DbProxy]:
    proxy = DbProxy(postgres_url)
    try:
        yield proxy
    finally:
        proxy.close()


def through(database_url: str, proxy: DbProxy) -> str:
    """`database_url` by way of the proxy."""
    return make_url(database_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


# --- an alert webhook that records what it is sent --------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.posts.append(json.loads(body)["text"])  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class AlertWebhook:
    url: str
    ca_bundle: Path
    posts: list[str]


@contextlib.contextmanager
def alert_webhook(folder: Path) -> Iterator[AlertWebhook]:
    """An HTTPS server on loopback (a certificate for 127.0.0.1 made for the test: give the service
    REQUESTS_CA_BUNDLE=ca_bundle) that answers 200 to every POST and keeps each one's text."""
    cert, key = folder / "webhook-cert.pem", folder / "webhook-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.posts = []  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server, "alert-webhook"):
        yield AlertWebhook(f"https://127.0.0.1:{server.server_address[1]}/hook", cert,
                           server.posts)  # type: ignore[attr-defined]
