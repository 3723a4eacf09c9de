"""Load: the voice webhooks under wrk, next to bare Flask measured in the same run (issue 10).

    python bench/load.py [--rounds 3] [--duration 10] [--workers 2,4,8] [--backends sqlite,postgres]
                         [--scenarios voice,calls] [--threads N] [--pool N] [--fault] [--out FILE]

(`--help` lists every option; it runs unattended and makes its own databases.)

wrk (`-t2 -c64`, `--duration` seconds, time-out 15 s as Twilio's) replays a pool of pre-signed
requests through bench/load.lua. Each request is one webhook step of a call; every call has its
own CallSid. Two scenarios:

  voice  POST /voice alone: every request a new call (a caller the phonebook does not know, who
         is asked for a SEN): one event each.
  calls  whole calls: /voice, /voice/sen with Acme's SEN typed, /voice/severity with 1 (routed, an
         engineer rung), /voice/status completed: four requests and six events a call.

The pool is made once, before any server starts, by playing every call through an in-process app
(`create_app` with its own instance folder, Flask's test client, events kept in memory): each
step's URL is the action URL in the TwiML of the step before, and each step's expected events are
the ones the app reported. Before each wrk run the pool is signed again for the URL of the server
under test. The phonebook is a copy of phonebook.toml whose running agreements last until 2099
(so Acme is entitled on any date) and without [alerts] (missed L1 calls alert nobody: no traffic
leaves 127.0.0.1).

Order of a call's steps: wrk cannot say which connection asks for the next request, so a call
cannot be pinned to one connection. Each wrk thread sends its calls in groups of 4x its connections
(128), step by step: a call's next step is issued 128 requests after the one before, which has
nearly always been answered by then. Steps that still arrive out of order are valid requests (a
call's state travels in its signed URLs); the table counts the calls the service handled out of
order (`order`: from the instants of their stored events).

Targets, interleaved in every round, each run on a fresh server (and a fresh database):
  bare Flask        bench/bare_app.py under the same gunicorn settings (bench/bare_conf.py: the
                    service's, without its hooks), 2 sync workers, fixed TwiML
  + validator       the same, checking X-Twilio-Signature with twilio's RequestValidator
  sqlite wN         the Procfile's release step (`ivr release`), then its web command with
                    WEB_CONCURRENCY=N; the default SQLite call log in a fresh instance folder
  postgres wN       the same with DATABASE_URL: a fresh database on --database-url's server
`cpu ms` is the server's CPU time (master, workers and the writer process, `ivr writer`) per request
answered, from the start of the run until its events were stored: unlike req/s, it hardly moves
with what else the machine runs. `load ms` is the CPU per request answered during the load alone,
of the server and of this machine's PostgreSQL processes (which serve the writer's batches): what
took the cores from the webhooks while callers waited. req/s, p50, p99 and cpu ms are the median over rounds; `req/s x`,
`p50 x` and `p99 x` are the target's over bare Flask's (issue 10 asks for at least 0.5 and at most
2 for req/s and p99). `behind s` is how long after the load ended its last event was stored (the
most of any round): the writer takes only CPU the webhooks leave (`ivr writer`), so under a load
that fills every core the call log falls behind, and catches up after. Counts are summed over rounds.

Accounting, after each run, once the events sent are all stored or their count stood still for
`--settle` seconds (5, and 60 with --fault: one batch of a writer that is behind can take a second
or more, and behind the fault proxy many seconds): the
events of the requests wrk sent (which ones, from the number each thread issued) against the rows
in call_events; the calls against the rows in calls; `logged` counts the events the service wrote
to its log instead of the database.
`waiting` counts the missing events still in the journal, past where the writer has stored each file:
delayed, not lost (a writer catching up through the fault proxy). The others are lost.
wrk counts answers but cannot say which request each belongs to, so `lost` is a lower bound: the
missing events, less those of as many requests as were sent and not answered 2xx (in flight when
wrk stopped, non-2xx, socket errors), the largest first. Exit status 1 when anything was lost.

--fault (PostgreSQL only): the database is reached through bench/dbproxy.py, which delays every
round trip by 40 ms; `--duration` seconds into the run it refuses connections (and cuts the open
ones) for `--outage` seconds, then accepts them again (still slow); wrk runs 2 x duration + outage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count, pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import requests
from dbproxy import FaultProxy
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

from ivr.engine.events import CallEvent
from ivr.store import journal
from ivr.store.database import database_url
from ivr.store.schema import calls as calls_table
from ivr.store.schema import events as events_table
from ivr.store.schema import journal_progress
from ivr.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "load.lua"
SAMPLE = ROOT / "phonebook.toml"
# Requests made for each second of a wrk run: more than the service answers on a quick machine, so
# no call is sent twice (a repeat's events are already stored, which would flatter the writer).
POOL_PER_SECOND = 4000
# --fault: the stored events may stand still this long before the missing ones count as lost.
FAULT_SETTLE_S = 60.0
DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
ACCOUNT = "AC" + "0" * 32
SEN = "1234567"  # Acme Corporation
SEVERITY = "1"
GENERATOR_BASE = "http://localhost"  # Flask's test client
STARTUP_SECONDS = 60
SCENARIOS = {"voice": "POST /voice alone (every request a new call)",
             "calls": "whole calls (/voice, /voice/sen, /voice/severity, /voice/status)"}
BARE, VALIDATOR = "bare Flask", "+ validator"
# The settings a server under test gets from load.py alone, whatever the shell running it has set.
SCRUBBED = ("DATABASE_URL", "PORT", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "PROMETHEUS_MULTIPROC_DIR")
LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")
BOOTING = re.compile(r"Booting worker with pid: (\d+)")
NOT_STORED = "event not stored"  # ivr.store.calllog logs this for each event it logs instead


# --- the pool ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One request of the pool: path with the query Twilio would request, the form it would post,
    and the keys of the events the service records for it."""

    sid: str
    index: int  # the step's place in its call
    path: str
    form: dict[str, str]
    events: tuple[str, ...]


class EventKeys:
    """The in-process app's event sink: the keys of the events each request reports."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def record(self, call_sid: str, event: CallEvent, at: datetime) -> None:
        self.keys.append(event.key)

    def take(self) -> tuple[str, ...]:
        keys, self.keys = tuple(self.keys), []
        return keys


def dated_phonebook(folder: Path) -> Path:
    """phonebook.toml with the agreements that run in December 2026 lasting until 2099 (the others
    ended in 2020), so the service's real clock finds Acme entitled on any date; no [alerts]."""

    def pinned(match: re.Match[str]) -> str:
        running = match[1] >= "2026-12-01"
        return f"maintenance_until = {'2099-12-31' if running else '2020-12-31'}"

    text = re.sub(r"maintenance_until = (\d{4}-\d{2}-\d{2})", pinned, SAMPLE.read_text(encoding="utf-8"))
    text = re.sub(r"(?ms)^\[alerts\].*?(?=^\[|\Z)", "", text)
    path = folder / "phonebook.toml"
    path.write_text(text, encoding="utf-8")
    return path


def lines_of(phonebook: Path) -> list[str]:
    return re.findall(r'(?m)^number = "(\+\d+)"', phonebook.read_text(encoding="utf-8"))


class Generator:
    """Plays calls through an in-process app, following its action URLs."""

    def __init__(self, phonebook: Path, instance: Path, token: str):
        self.events = EventKeys()
        self.app = create_app({
            "IVR_PHONEBOOK": str(phonebook), "IVR_INSTANCE_PATH": str(instance), "TWILIO_AUTH_TOKEN": token,
            "TWILIO_ACCOUNT_SID": None, "DATABASE_URL": None, "IVR_PUBLIC_URL": GENERATOR_BASE,
            "EVENT_SINK": self.events,
            "IVR_LOG_LEVEL": "WARNING", "LOG_STREAM": "stderr",
        })
        self.client = self.app.test_client()
        self.validator = RequestValidator(token)
        self.lines = lines_of(phonebook)

    def _post(self, sid: str, index: int, path: str, form: dict[str, str]) -> tuple[Step, str]:
        signature = self.validator.compute_signature(GENERATOR_BASE + path, form)
        reply = self.client.post(path, data=form, headers={"X-Twilio-Signature": signature})
        if reply.status_code >= 300:
            raise SystemExit(f"making the pool: POST {path} answered {reply.status_code}")
        return Step(sid, index, path, form, self.events.take()), reply.get_data(as_text=True)

    def call(self, number: int, whole: bool) -> list[Step]:
        sid = f"CA{number:032x}"
        caller = f"+1202555{number % 10000:04d}"  # unknown to the phonebook: asked for the SEN
        line = self.lines[number % len(self.lines)]
        form = {"CallSid": sid, "AccountSid": ACCOUNT, "From": caller, "Caller": caller, "To": line,
                "Called": line, "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}
        step, twiml = self._post(sid, 0, "/voice", form)
        if not whole:
            return [step]
        steps = [step]
        form = {**form, "CallStatus": "in-progress"}
        for index, digits in enumerate((SEN, SEVERITY), start=1):
            step, twiml = self._post(sid, index, action(twiml, steps[-1].path), {**form, "Digits": digits})
            steps.append(step)
        if ET.fromstring(twiml).find(".//Dial") is None:
            raise SystemExit(f"making the pool: the call was not put through:\n{twiml}")
        status = {**form, "CallStatus": "completed", "CallDuration": "42"}
        steps.append(self._post(sid, len(steps), "/voice/status", status)[0])
        return steps


def action(twiml: str, path: str) -> str:
    """The action URL of the answer's <Gather> (where Twilio posts the keys)."""
    gather = ET.fromstring(twiml).find(".//Gather")
    if gather is None or not gather.get("action"):
        raise SystemExit(f"making the pool: POST {path} asked for nothing:\n{twiml}")
    return gather.get("action", "")


@dataclass
class Pool:
    scenario: str
    schedules: list[list[Step]]  # per wrk thread, in the order it sends them


def make_pool(generator: Generator, scenario: str, size: int, threads: int, window: int, first: int) -> Pool:
    """About `size` requests for `threads` wrk threads. A thread sends its calls `window` at a time,
    step by step. Thread 0's first request is there twice: wrk takes one request from thread 0 to
    check the script before the run, and never sends it."""
    whole = scenario == "calls"
    numbers = count(first)
    calls = [generator.call(next(numbers), whole) for _ in range(size // (4 if whole else 1))]
    schedules: list[list[Step]] = []
    for thread in range(threads):
        mine = calls[thread::threads]
        schedule = []
        for start in range(0, len(mine), window):
            group = mine[start:start + window]
            for index in range(max(len(call) for call in group)):
                schedule += [call[index] for call in group if index < len(call)]
        schedules.append(schedule)
    schedules[0].insert(0, schedules[0][0])
    return Pool(scenario, schedules)


def write_pool(pool: Pool, base: str, token: str, path: Path) -> None:
    """The pool file of bench/load.lua, signed for requests to `base`."""
    validator = RequestValidator(token)
    with open(path, "w", encoding="ascii") as out:
        for thread, schedule in enumerate(pool.schedules):
            for step in schedule:
                signature = validator.compute_signature(base + step.path, step.form)
                out.write(f"{thread}\tPOST\t{step.path}\t{urlencode(step.form)}\t{signature}\n")


# --- servers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    workers: int
    backend: str | None = None  # None: a bare Flask baseline
    validate: bool = False


def procfile(process: str) -> list[str]:
    """The Procfile's command for `process` (`web`, `release`), run by this Python."""
    [line] = [text for text in (ROOT / "Procfile").read_text().splitlines() if text.startswith(f"{process}:")]
    command = shlex.split(line.removeprefix(f"{process}:"))
    scripts = {"gunicorn": ["-m", "gunicorn"], "python": [], "ivr": ["-m", "ivr"]}
    return [sys.executable, *scripts[command[0]], *command[1:]]


def server_command(target: Target, threads: int | None) -> list[str]:
    if target.backend is None:
        app = f"bare_app:create_app(validate={target.validate})"
        command = [sys.executable, "-m", "gunicorn", "-c", "bench/bare_conf.py", "--pythonpath", "bench", app]
    else:
        command = procfile("web") + (["--threads", str(threads)] if threads else [])
    return [*command, "--bind", "127.0.0.1:0"]


@contextmanager
def serving(command: list[str], env: dict[str, str], log_path: Path, workers: int) -> Iterator[tuple[str, int]]:
    """The server started by `command`, once its `workers` have loaded the app; its base URL and pid."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield _ready(process, log_path, workers), process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime, stime


def server_cpu_s(pid: int) -> float:
    """CPU seconds the server has used: its master and its live children (the workers, the writer)."""
    ticks = [_cpu_ticks(pid)]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ticks += [_cpu_ticks(int(child)) for child in children]
    return sum(t for t in ticks if t is not None) / os.sysconf("SC_CLK_TCK")


def database_cpu_ticks() -> dict[int, int]:
    """CPU ticks of each PostgreSQL server process on this machine (postmaster, backends, background
    workers): the database's share of the cores the service shares with it."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() == "postgres" and (used := _cpu_ticks(int(entry.name))) is not None:
                ticks[int(entry.name)] = used
    return ticks


def database_cpu_s(before: dict[int, int]) -> float:
    """CPU seconds the database's processes used since `before` (those that exited meanwhile left out)."""
    now = database_cpu_ticks()
    return sum(used - before.get(pid, 0) for pid, used in now.items()) / os.sysconf("SC_CLK_TCK")


def _ready(process: subprocess.Popen[bytes], log_path: Path, workers: int) -> str:
    """Gunicorn says where it listens and which workers it boots; a worker has loaded the app (and
    waits for connections) when it stops using CPU. Without waiting for that, the first seconds of
    a run would measure imports."""
    deadline = time.monotonic() + STARTUP_SECONDS
    quiet: dict[int, int] = {}
    last: dict[int, int | None] = {}
    while time.monotonic() < deadline and process.poll() is None:
        text = log_path.read_text(errors="replace")
        listening = LISTENING.search(text)
        pids = [int(pid) for pid in BOOTING.findall(text)]
        for pid in pids:
            ticks = _cpu_ticks(pid)
            quiet[pid] = quiet.get(pid, 0) + 1 if ticks is not None and ticks == last.get(pid) else 0
            last[pid] = ticks
        if listening and len(pids) >= workers and all(quiet[pid] >= 2 for pid in pids):
            with suppress(requests.RequestException):
                requests.get(f"{listening[1]}/healthz", timeout=2)
                return listening[1]
        time.sleep(0.25)
    raise SystemExit(f"the server did not start: {shlex.join(process.args)}\n"  # type: ignore[arg-type]
                     f"{log_path.read_text(errors='replace')[-3000:]}")


class Postgres:
    """Fresh databases on the server of `url` (which names a database to connect to for that)."""

    def __init__(self, url: str):
        self.url = make_url(url)
        self.names = count(1)

    @contextmanager
    def fresh(self) -> Iterator[str]:
        name = f"ivr_load_{os.getpid()}_{next(self.names)}"
        admin = self.url.render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- runs -----------------------------------------------------------------------------------


@dataclass
class Run:
    target: str
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    sent: int  # requests issued (wrk's check of the script left out)
    ok: int
    non2xx: int
    socket_errors: int
    repeats: int  # requests past the end of a thread's pool: calls sent again
    drain_s: float = 0.0  # from the end of the run until every accepted event was stored
    cpu_ms: float = 0.0  # the server's CPU per request answered, its events' storing included
    load_ms: float = 0.0  # the server's and the database's CPU per request answered, during the load
    stored: Stored | None = None


@dataclass
class Stored:
    calls_sent: int
    calls_stored: int
    events_sent: int
    events_stored: int
    logged: int
    waiting: int  # not stored yet, still in the journal past where the writer has stored it
    lost: int
    out_of_order: int


def run_wrk(base: str, pool_file: Path, seconds: float, args: argparse.Namespace, output: Path) -> dict[str, Any]:
    command = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--timeout", "15s",
               "-s", str(LUA), base, "--", str(pool_file)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    output.write_text(result.stdout + result.stderr)
    found = re.search(r"^LOAD_JSON (.*)$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or not found:
        raise SystemExit(f"wrk failed ({result.returncode}): {shlex.join(command)}\n{result.stdout}{result.stderr}")
    report: dict[str, Any] = json.loads(found[1])
    return report


def sent_steps(pool: Pool, report: dict[str, Any]) -> tuple[list[Step], int]:
    """The requests each thread sent, in order, and how many went past the end of its pool."""
    sent: list[Step] = []
    repeats = 0
    for thread in report["threads"]:
        schedule = pool.schedules[thread["id"]]
        checked = 1 if thread["id"] == 0 else 0  # taken by wrk's check of the script, not sent
        sent += [schedule[n % len(schedule)] for n in range(checked, thread["issued"])]
        repeats += max(0, thread["issued"] - len(schedule))
    return sent, repeats


def drained(database: str, quiet_s: float, expected: int, limit_s: float = 300.0) -> float:
    """Seconds until `expected` events are stored, or the stored events stop growing for `quiet_s`
    (the writer has caught up with the journal, or lost some), from the end of the run. One batch
    of a writer that is behind can take longer than a second (its count stands still meanwhile)."""
    engine = create_engine(database)
    started = time.monotonic()
    last, last_change = -1, started
    try:
        while time.monotonic() - started < limit_s:
            with engine.connect() as conn:
                count = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
            if count != last:
                last, last_change = count, time.monotonic()
                if count >= expected:
                    break
            elif time.monotonic() - last_change >= quiet_s:
                break
            time.sleep(0.1)
    finally:
        engine.dispose()
    return last_change - started


def account(sent: list[Step], ok: int, database: str, log_text: str, journal_folder: Path) -> Stored:
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            # Where the writer stands first, then what it stored: an event stored in between is in
            # the stored ones, or in the journal past that point, never in neither.
            positions = {name: int(end) for name, end in conn.execute(
                select(journal_progress.c.name, journal_progress.c.stored_to))}
            stored = {(row.call_sid, row.key): row.at
                      for row in conn.execute(select(events_table.c.call_sid, events_table.c.key, events_table.c.at))}
            calls_stored = set(conn.execute(select(calls_table.c.sid)).scalars())
    finally:
        engine.dispose()
    waiting = journaled(journal_folder, positions)
    steps = {(step.sid, step.index): step for step in sent}
    missing = sorted((sum((step.sid, key) not in stored and (step.sid, key) not in waiting for key in step.events)
                      for step in steps.values()), reverse=True)
    unanswered = len(sent) - ok  # sent, and not answered 2xx: their events may be missing
    lost = sum(missing[unanswered:]) if unanswered >= 0 else sum(missing)
    still_waiting = sum((step.sid, key) not in stored and (step.sid, key) in waiting
                        for step in steps.values() for key in step.events)
    events_sent = sum(len(step.events) for step in steps.values())
    sids = {step.sid for step in steps.values()}
    return Stored(
        calls_sent=len(sids), calls_stored=len(sids & calls_stored),
        events_sent=events_sent, events_stored=events_sent - sum(missing) - still_waiting,
        logged=log_text.count(NOT_STORED), waiting=still_waiting, lost=lost,
        out_of_order=out_of_order(steps.values(), stored),
    )


def journaled(folder: Path, positions: dict[str, int]) -> set[tuple[str, str]]:
    """The events in the journal past where the writer has stored each file."""
    found: set[tuple[str, str]] = set()
    for name in journal.files(folder):
        with suppress(FileNotFoundError):  # stored to its end and deleted meanwhile
            lines = journal.read(folder / name, positions.get(name, 0), max(1, (folder / name).stat().st_size))
            found |= {(line.sid, line.key) for line in lines if isinstance(line, journal.Line)}
    return found


def out_of_order(steps: Any, stored: dict[tuple[str, str], datetime]) -> int:
    """Calls whose steps the service handled in another order than the call's (by the instants of
    the steps' stored events; a step's events all carry the instant its request was handled)."""
    handled: dict[str, list[tuple[int, datetime]]] = {}
    for step in steps:
        at = next((stored[(step.sid, key)] for key in step.events if (step.sid, key) in stored), None)
        if at is not None:
            handled.setdefault(step.sid, []).append((step.index, at))
    late = 0
    for order in handled.values():
        instants = [at for _, at in sorted(order)]
        late += any(later < earlier for earlier, later in pairwise(instants))
    return late


@dataclass
class Bench:
    args: argparse.Namespace
    folder: Path
    phonebook: Path
    token: str
    pools: dict[str, Pool]
    postgres: Postgres
    runs: list[Run] = field(default_factory=list)
    numbers: Iterator[int] = field(default_factory=lambda: count(1))

    def env(self, target: Target, instance: Path, database: str | None) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if key not in SCRUBBED and not key.startswith(("IVR_", "TWILIO_"))}
        env.update(TWILIO_AUTH_TOKEN=self.token, IVR_PHONEBOOK=str(self.phonebook), IVR_INSTANCE_PATH=str(instance),
                   IVR_LOG_LEVEL="INFO", WEB_CONCURRENCY=str(target.workers),
                   # wrk talks to the server directly: the URL it signs for is the one requested.
                   IVR_TRUST_PROXY="1")
        if database:
            env["DATABASE_URL"] = database
        return env

    def run(self, target: Target, scenario: str) -> Run:
        folder = self.folder / f"run{next(self.numbers):03d}-{target.name.replace(' ', '_')}-{scenario}"
        folder.mkdir()
        with self._database(target, folder) as (database, proxy):
            env = self.env(target, folder / "instance", database)
            log_path = folder / "server.log"
            if target.backend is not None:
                # The release step, as before every deployment: the tables exist before the workers start.
                release = subprocess.run(procfile("release"), cwd=ROOT, env=env, capture_output=True, text=True,
                                         timeout=STARTUP_SECONDS, check=False)
                if release.returncode != 0:
                    raise SystemExit(f"the release step failed:\n{release.stdout}{release.stderr}")
            with serving(server_command(target, self.args.threads), env, log_path, target.workers) as (base, pid):
                pool = self.pools[scenario]
                write_pool(pool, base, self.token, folder / "pool.tsv")
                seconds = self.args.duration
                if proxy is not None:
                    proxy.outage(self.args.duration, self.args.outage)
                    seconds = 2 * self.args.duration + self.args.outage
                cpu_before, database_before = server_cpu_s(pid), database_cpu_ticks()
                report = run_wrk(base, folder / "pool.tsv", seconds, self.args, folder / "wrk.txt")
                in_load = server_cpu_s(pid) - cpu_before + database_cpu_s(database_before)
                sent, repeats = sent_steps(pool, report)
                ok = sum(thread["ok"] for thread in report["threads"])
                errors = report["errors"]
                latency = report["latency_us"]
                result = Run(
                    target.name, scenario, rps=report["requests"] / (report["duration_us"] / 1e6),
                    p50_ms=latency["p50"] / 1000, p99_ms=latency["p99"] / 1000, sent=len(sent), ok=ok,
                    non2xx=sum(thread["non2xx"] for thread in report["threads"]),
                    socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
                    repeats=repeats,
                )
                if target.backend is not None:
                    stored_in = database_url(database and self._direct(database), str(folder / "instance"))
                    keys = {(step.sid, key) for step in sent for key in step.events}
                    result.drain_s = drained(stored_in, self.args.settle, len(keys))
                    result.stored = account(sent, ok, stored_in, log_path.read_text(errors="replace"),
                                            folder / "instance" / "journal")
                # Until the writer stored the run's events: their storing is part of each request's cost.
                result.cpu_ms = 1000 * (server_cpu_s(pid) - cpu_before) / max(ok, 1)
                result.load_ms = 1000 * in_load / max(ok, 1)
        self.runs.append(result)
        print(f"  {describe(result)}", file=sys.stderr, flush=True)
        return result

    def _direct(self, database: str) -> str:
        """The database itself, not through the fault proxy."""
        return make_url(database).set(port=self.postgres.url.port).render_as_string(hide_password=False)

    @contextmanager
    def _database(self, target: Target, folder: Path) -> Iterator[tuple[str | None, FaultProxy | None]]:
        if target.backend != "postgres":
            yield None, None
            return
        with self.postgres.fresh() as database:
            if not self.args.fault:
                yield database, None
                return
            url = make_url(database)
            proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432, self.args.fault_delay_ms / 1000)
            try:
                port = proxy.start()
                yield url.set(port=port).render_as_string(hide_password=False), proxy
            finally:
                proxy.close()
                (folder / "proxy.txt").write_text(
                    f"connections {proxy.connections}, cut by the outage {proxy.cut}, "
                    f"outage {proxy.refused_at is not None and proxy.recovered_at is not None}\n"
                )


def describe(run: Run) -> str:
    text = (f"{run.target:14} {run.scenario:5} {run.rps:8.1f} req/s  p50 {run.p50_ms:7.1f} ms  "
            f"p99 {run.p99_ms:7.1f} ms  cpu {run.cpu_ms:5.2f} ms/req (in load {run.load_ms:5.2f})  "
            f"non-2xx {run.non2xx}  socket errors {run.socket_errors}")
    if run.stored:
        s = run.stored
        text += (f"  calls {s.calls_sent}/{s.calls_stored}  events {s.events_sent}/{s.events_stored}"
                 f"  logged {s.logged}  waiting {s.waiting}  lost {s.lost}  out of order {s.out_of_order}"
                 f"  drained in {run.drain_s:.1f} s")
    return text + (f"  REPEATS {run.repeats}" if run.repeats and run.stored else "")


# --- the table ------------------------------------------------------------------------------


def table(runs: list[Run], targets: list[Target], scenarios: list[str]) -> list[str]:
    lines = []
    for scenario in scenarios:
        bare = [run for run in runs if run.target == BARE and run.scenario == scenario]
        bare_rps = statistics.median(run.rps for run in bare)
        bare_p50 = statistics.median(run.p50_ms for run in bare)
        bare_p99 = statistics.median(run.p99_ms for run in bare)
        lines += [
            "",
            f"{SCENARIOS[scenario]}",
            f"{'target':14} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'req/s x':>7} {'p50 x':>6} {'p99 x':>6} "
            f"{'cpu ms':>6} {'load ms':>7} {'non2xx':>6} {'sockerr':>7} {'calls sent/stored':>17} "
            f"{'events sent/stored':>18} {'logged':>6} {'waiting':>7} {'lost':>5} {'order':>5} {'behind s':>8}",
        ]
        for target in targets:
            mine = [run for run in runs if run.target == target.name and run.scenario == scenario]
            if not mine:
                continue
            rps = statistics.median(run.rps for run in mine)
            p50 = statistics.median(run.p50_ms for run in mine)
            p99 = statistics.median(run.p99_ms for run in mine)
            cpu = statistics.median(run.cpu_ms for run in mine)
            load = statistics.median(run.load_ms for run in mine)
            row = (f"{target.name:14} {rps:7.1f} {p50:7.1f} {p99:7.1f} {rps / bare_rps:7.2f} {p50 / bare_p50:6.2f} "
                   f"{p99 / bare_p99:6.2f} {cpu:6.2f} {load:7.2f} {sum(r.non2xx for r in mine):6d} "
                   f"{sum(r.socket_errors for r in mine):7d}")
            stored = [run.stored for run in mine if run.stored]
            if stored:
                calls = f"{sum(s.calls_sent for s in stored)}/{sum(s.calls_stored for s in stored)}"
                events = f"{sum(s.events_sent for s in stored)}/{sum(s.events_stored for s in stored)}"
                row += (f" {calls:>17} {events:>18} {sum(s.logged for s in stored):6d} "
                        f"{sum(s.waiting for s in stored):7d} {sum(s.lost for s in stored):5d}")
                row += f" {sum(s.out_of_order for s in stored):5d}" if scenario == "calls" else f" {'-':>5}"
                row += f" {max(run.drain_s for run in mine if run.stored):8.1f}"
            if any(run.repeats for run in mine if run.stored):
                row += f"  (pool too small: {sum(run.repeats for run in mine)} repeats)"
            lines.append(row)
    return lines


def cpu_ticks() -> tuple[int, int]:
    """(ticks stolen by the hypervisor, all ticks) of the machine's cores so far, from /proc/stat."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return ticks[7], sum(ticks)


def stolen_share(before: tuple[int, int]) -> float:
    """The share of the cores' time since `before` that the hypervisor gave to other machines: time
    none of the targets had, unevenly over the rounds (what makes them differ on a shared host)."""
    stolen, total = cpu_ticks()
    return (stolen - before[0]) / max(total - before[1], 1)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split()[:2]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {' '.join(wrk)}, "
            f"commit {commit or '?'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10, help="seconds of each wrk run")
    parser.add_argument("--workers", default="2,4,8", help="WEB_CONCURRENCY values for the service")
    parser.add_argument("--threads", type=int, help="gunicorn --threads for the service (default: sync workers)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--scenarios", default="voice,calls")
    parser.add_argument("--database-url", default=DATABASE, help="PostgreSQL server (fresh databases made on it)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--pool", type=int, default=0,
                        help=f"requests per scenario in the pool (default: {POOL_PER_SECOND:,} a second of wrk run)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="the stored events must stop growing this long before they are counted")
    parser.add_argument("--fault", action="store_true", help="PostgreSQL behind a slow, then refusing, proxy")
    parser.add_argument("--fault-delay-ms", type=float, default=40)
    parser.add_argument("--outage", type=float, default=10, help="seconds the proxy refuses connections")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs, pools and wrk output")
    args = parser.parse_args()
    workers = [int(n) for n in args.workers.split(",")]
    backends = ["postgres"] if args.fault else args.backends.split(",")
    scenarios = args.scenarios.split(",")
    if args.fault:
        # The writer retries a failed database every 5 s at most, and behind the slow proxy one batch
        # is tens of round trips, more for each call that opens or closes a callback: a batch that
        # catches up after the outage can take many seconds, its events counted only at its commit.
        args.settle = max(args.settle, FAULT_SETTLE_S)
    seconds = 2 * args.duration + args.outage if args.fault else args.duration
    suffix = f" t{args.threads}" if args.threads else ""
    targets = [Target(BARE, 2), Target(VALIDATOR, 2, validate=True)] + [
        Target(f"{backend} w{n}{suffix}", n, backend) for n in workers for backend in backends
    ]

    folder = Path(tempfile.mkdtemp(prefix="ivr-load-"))
    token = os.urandom(16).hex()
    phonebook = dated_phonebook(folder)
    started = time.monotonic()
    generator = Generator(phonebook, folder / "generator", token)
    size = args.pool or int(POOL_PER_SECOND * seconds)
    pools = {scenario: make_pool(generator, scenario, size, args.wrk_threads, 4 * args.connections // args.wrk_threads,
                                 first=n * 10**9)
             for n, scenario in enumerate(scenarios)}
    print(f"pools of {size:,} requests made in {time.monotonic() - started:.0f} s; "
          f"{len(targets) * len(scenarios) * args.rounds} runs of {seconds:g} s in {folder}", file=sys.stderr)
    load_before, ticks_before = os.getloadavg()[0], cpu_ticks()
    bench = Bench(args, folder, phonebook, token, pools, Postgres(args.database_url))
    try:
        for round_ in range(1, args.rounds + 1):
            print(f"round {round_}/{args.rounds}", file=sys.stderr, flush=True)
            for target in targets:
                for scenario in scenarios:
                    bench.run(target, scenario)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    fault = ""
    if args.fault:
        fault = (f"; --fault: PostgreSQL through bench/dbproxy.py, +{args.fault_delay_ms:g} ms a round trip, "
                 f"refusing connections from {args.duration:g} s to {args.duration + args.outage:g} s")
    header = [
        f"bench/load.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {machine()}",
        f"wrk -t{args.wrk_threads} -c{args.connections} -d{seconds:g}s, median of {args.rounds} round(s) "
        f"(counts summed); gunicorn {'gthread, --threads ' + str(args.threads) if args.threads else 'sync workers'}"
        f"{fault}; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; "
        f"{stolen_share(ticks_before):.1%} of the cores' time stolen by the hypervisor meanwhile",
        "req/s x, p50 x, p99 x: the target's req/s, p50, p99 over bare Flask's (issue 10's bar: req/s x at "
        "least 0.5, p99 x at most 2); cpu ms: the "
        "server's CPU (master, workers, writer) per request answered, until the run's events were stored; load ms: "
        "the CPU per request answered during the load itself, of the server and of PostgreSQL's processes on this "
        "machine (the cores wrk and the server share); waiting: "
        "events not stored yet when counted, still in the journal past the writer's position (delayed, not lost); "
        "lost: events of 2xx answers neither stored nor waiting (lower bound); logged: events the service logged "
        "instead of storing; order: calls handled out of order; behind s: from the end of the load until its "
        "last event was stored (the most of any round)",
    ]
    lines = header + table(bench.runs, targets, scenarios)
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    lost = sum(run.stored.lost for run in bench.runs if run.stored)
    if lost:
        print(f"\nLOST: {lost} events answered 2xx and not in the call log", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
