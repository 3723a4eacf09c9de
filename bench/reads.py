"""Reads as the call log grows (issue 10): every ops page and API query, /metrics and /healthz, over
a call log of 1,000,000 calls of 8 events each, on SQLite and PostgreSQL, next to the same requests
on a log of 10,000 such calls in the same run (flat: the same time on both).

    python bench/reads.py [--calls 1000000] [--small 10000] [--backends sqlite,postgres] [--runs 10]
                          [--database-url postgresql://postgres@127.0.0.1:5432/test] [--out FILE]

Targets: /metrics and /healthz under 10 ms; every ops page and API query, the filtered ones
included, under 50 ms. Each request goes through Flask's test client to the service's own app (no
HTTP server in between: the figure is the app's and the database's), signed in as ops; the median
of `--runs` after one untimed request, and the slowest of them.

The fill, in bulk (the writer's own path would take an hour for 8,000,000 events): calls spread over
the 90 days before now, from 50,000 numbers of 2,000 customers on the sample phonebook's four lines,
severity 1 for 60% of them; each call has 8 events (started, recognised, entitlement, severity,
routed, two dials, status), its summary made from them by `ivr.engine.outcomes.summarise` as the
writer makes it; three in four are answered, the rest go to voicemail or are abandoned. Each missed
L1 call has its alert, delivered; they open callbacks (a customer's missed calls within an hour
join one), all closed but the last few hundred; `call_counts` and `answer_counts` hold the counts the
writer would have kept. Then the planner's statistics: SQLite's as the writer refreshes them once
caught up (`ivr.store.database.refresh_statistics`), PostgreSQL's as autovacuum would after such a
load (`VACUUM ANALYZE`: done before the timing, not during it). PostgreSQL's logs are fresh
databases on --database-url's server, dropped after. The app is a gunicorn worker's (it reads;
`ivr writer` runs beside it in a process of its own).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask
from load import server_cpu_s
from sqlalchemy import Connection, Engine, insert, make_url, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.engine import events  # noqa: E402
from ivr.engine.outcomes import Event, Summary, summarise  # noqa: E402
from ivr.store.callbacks import alert_key  # noqa: E402
from ivr.store.database import make_engine, refresh_statistics  # noqa: E402
from ivr.store.migrate import new_sqlite, upgrade  # noqa: E402
from ivr.store.schema import (  # noqa: E402
    alerts,
    answer_bucket,
    answer_counts,
    call_counts,
    callback_steps,
    callbacks,
    calls,
)
from ivr.store.schema import events as event_rows  # noqa: E402
from ivr.web.app import create_app  # noqa: E402
from ivr.web.services import services_of  # noqa: E402

PASSWORD = "bench"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()}
DAYS = 90
CUSTOMERS = 2000
CALLERS = 50_000
LINES = ("+14155550100", "+442079460100", "+31205550100", "+61255501000")
TEAMS = ("san_francisco", "amsterdam", "sydney", "select")
# Callbacks still open at the end of the fill (the newest ones).
OPEN_CALLBACKS = 300
CHUNK = 5000
TARGET_HEALTH_MS = 10.0
TARGET_PAGE_MS = 50.0


def customer(k: int) -> tuple[str, str]:
    return f"SEN-{1_000_000 + k}", f"Customer {k}"


def call_events(rng: random.Random, sid: str, at: datetime) -> tuple[list[Event], str]:
    """A call's 8 events and its shape: answered at the second dial, or not (voicemail, abandoned)."""
    sen, name = customer(rng.randrange(CUSTOMERS))
    line = rng.choice(LINES)
    severity = 1 if rng.random() < 0.6 else rng.choice((2, 3, 4))
    team = rng.choice(TEAMS)
    shape = rng.choices(("answered", "voicemail", "abandoned"), (75, 15, 10))[0]
    second = {"answered": "completed", "voicemail": "no-answer", "abandoned": "canceled"}[shape]
    answered_by = "+31205550101" if shape == "answered" else None
    answer = rng.uniform(5, 60)
    records: list[tuple[float, events.CallEvent]] = [
        (0, events.Started(line=line, region="amer", caller=f"+1415{rng.randrange(CALLERS):07d}", to=line)),
        (4, events.Recognised(sen=sen, customer=name, tier="priority")),
        (5, events.Entitlement(sen=sen, customer=name, verdict="ok", tier="priority")),
        (9, events.Severity(severity=severity)),
        (9, events.Routed(action="connect", reason=f"on duty: {team}", candidates=(team, "fallback"))),
        (answer / 2, events.Dial(attempt=1, team=team, numbers=("+14155550101",), status="no-answer", duration=0)),
        (answer, events.Dial(attempt=2, team=team, numbers=("+31205550101",), status=second,
                             duration=600 if answered_by else 0, accepted_by=answered_by,
                             bridged=answered_by is not None)),
        (answer + 600, events.Status(call_status="completed", duration=int(answer) + 600)),
    ]
    return [Event(sid, record.key, at + timedelta(seconds=s), record) for s, record in records], shape


def fill(engine: Engine, count: int, now: datetime, seed: int = 4) -> dict[str, Any]:
    """`count` calls of 8 events, their alerts, callbacks and counts; what the pages ask for."""
    rng = random.Random(seed)
    start = now - timedelta(days=DAYS)
    step = DAYS * 86400 / count
    counted: Counter[tuple[str, int]] = Counter()
    answers: dict[int, list[float]] = {}
    missed: list[Summary] = []
    with engine.begin() as conn:
        batch_calls: list[dict[str, object]] = []
        batch_events: list[dict[str, object]] = []
        for n in range(count):
            # In time order, a few seconds apart, so the newest calls are the last made.
            at = start + timedelta(seconds=n * step + rng.uniform(0, step))
            sid = f"CA{n:032x}"
            timeline, _ = call_events(rng, sid, at)
            summary = summarise(sid, timeline)
            row = asdict(summary)
            row["outcome"] = summary.outcome.value if summary.outcome else None
            batch_calls.append({**row, "event_count": len(timeline)})
            batch_events.extend({"call_sid": sid, "key": e.key, "kind": e.record.kind, "at": e.at,
                                 "data": events.to_data(e.record)} for e in timeline)
            counted[(row["outcome"] or "in-progress", summary.severity or 0)] += 1
            if summary.answer_seconds is not None:
                answers.setdefault(answer_bucket(summary.answer_seconds), []).append(summary.answer_seconds)
            if summary.missed_l1:
                missed.append(summary)
            if len(batch_calls) == CHUNK:
                conn.execute(insert(calls), batch_calls)
                conn.execute(insert(event_rows), batch_events)
                batch_calls, batch_events = [], []
        if batch_calls:
            conn.execute(insert(calls), batch_calls)
            conn.execute(insert(event_rows), batch_events)
        conn.execute(insert(call_counts), [{"outcome": o, "severity": s, "calls": n} for (o, s), n in counted.items()])
        conn.execute(insert(answer_counts), [{"bucket": b, "calls": len(v), "seconds": sum(v)}
                                             for b, v in answers.items()])
        opened = _callbacks(conn, missed)
        conn.execute(insert(alerts), [
            {"sid": s.sid, "due_at": None, "leased_until": None, "attempts": 1,
             "done": {"webhook": {"sent_at": (s.started_at + timedelta(minutes=11)).isoformat()}},
             "last_error": None, "finished_at": s.started_at + timedelta(minutes=11)} for s in missed])
    last = batch_calls[-1]["sid"] if batch_calls else f"CA{count - 1:032x}"
    return {"sid": last, "callback": opened, "missed": len(missed), "day": (now - timedelta(days=30)).date()}


def _callbacks(conn: Connection, missed: list[Summary]) -> int:
    """The callbacks the missed L1 calls opened (joined within an hour by the same customer); all
    closed by a later call but the newest OPEN_CALLBACKS. The id of an open one."""
    rows: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    open_of: dict[str, dict[str, Any]] = {}
    for summary in missed:
        key = summary.sen or summary.caller or summary.sid
        current = open_of.get(key)
        if current is not None and summary.started_at - current["last_call_at"] < timedelta(hours=1):
            current["calls"] += 1
            current["last_call_at"] = summary.started_at
            steps.append({"callback_id": current["id"], "at": summary.started_at, "step": "joined",
                          "call_sid": summary.sid})
            continue
        current = {"id": len(rows) + 1, "key": key, "open_key": key, "sen": summary.sen, "customer": summary.customer,
                   "caller": summary.caller, "line": summary.line, "tier": "priority", "severity": 1,
                   "opened_at": summary.started_at, "due_at": summary.started_at + timedelta(minutes=30),
                   "last_call_at": summary.started_at, "first_call": summary.sid, "calls": 1}
        rows.append(current)
        open_of[key] = current
        steps.append({"callback_id": current["id"], "at": summary.started_at, "step": "opened",
                      "call_sid": summary.sid})
    # One open callback a customer at most: the newest of each, and of those the newest few.
    still_open = {row["id"] for row in sorted(open_of.values(), key=lambda row: row["id"])[-OPEN_CALLBACKS:]}
    for row in rows:
        if row["id"] in still_open:
            row.update(closed_at=None, closed_how=None, closed_by=None, note=None)
            continue
        closed = row["last_call_at"] + timedelta(minutes=20)
        row.update(open_key=None, closed_at=closed, closed_how="called-back", closed_by="ops", note="called back")
        steps.append({"callback_id": row["id"], "at": closed, "step": "closed", "who": "ops", "note": "called back"})
    for start in range(0, len(rows), CHUNK):
        conn.execute(insert(callbacks), [{**row, "closed_by_call": None, "voicemail_url": None}
                                         for row in rows[start:start + CHUNK]])
    for start in range(0, len(steps), CHUNK):
        conn.execute(insert(callback_steps), [{"call_sid": None, "who": None, "note": None, **step}
                                              for step in steps[start:start + CHUNK]])
    for alert_rows in (rows[start:start + CHUNK] for start in range(0, len(rows), CHUNK)):
        conn.execute(insert(alerts), [
            {"sid": alert_key(row["id"]), "due_at": None if row["closed_at"] else row["due_at"], "leased_until": None,
             "attempts": 0, "done": {}, "last_error": None, "finished_at": None} for row in alert_rows])
    return min(still_open) if still_open else 1


@contextlib.contextmanager
def serving(instance: Path, database: str | None) -> Iterator[Flask]:
    """The app as a gunicorn worker runs it (IVR_WRITER=process: it neither stores the journal nor
    sweeps for alerts), beside `ivr writer` in a process of its own, as gunicorn's master runs it.
    Timing starts once the writer has settled: its start-up work (a first ANALYZE on SQLite, about a
    second at a million calls, then hourly) is not the reads' steady state."""
    config: dict[str, str] = {
        "IVR_PHONEBOOK": str(ROOT / "phonebook.toml"),
        "IVR_INSTANCE_PATH": str(instance),
        "IVR_OPS_PASSWORD": PASSWORD,
        "TWILIO_AUTH_TOKEN": "0" * 32,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "IVR_PUBLIC_URL": "https://ivr.example.com",
        "IVR_LOG_LEVEL": "WARNING",
        "IVR_WRITER": "process",
    }
    if database:
        config["DATABASE_URL"] = database
    writer = subprocess.Popen([sys.executable, "-m", "ivr", "writer"], cwd=ROOT, env={**os.environ, **config},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _settled(writer.pid)
        if writer.poll() is not None:
            raise SystemExit(f"`ivr writer` exited with status {writer.returncode} before the timing")
        app = create_app(config)
        gc.freeze()  # as gunicorn_conf's post_worker_init does once a worker has loaded the app
        try:
            yield app
        finally:
            gc.unfreeze()
            services_of(app).calllog.close()
    finally:
        writer.terminate()
        writer.wait(30)


def _settled(pid: int, quiet_s: float = 1.0, at_most_s: float = 60.0) -> None:
    """Wait until process `pid` has used next to no CPU for `quiet_s`."""
    deadline = time.monotonic() + at_most_s
    last = server_cpu_s(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = server_cpu_s(pid)
        if now - last <= 0.02:
            return
        last = now
    raise SystemExit(f"the writer (pid {pid}) is still busy after {at_most_s:.0f} s")


def requests_of(filled: dict[str, Any]) -> list[tuple[str, str]]:
    """(group, path): every page and API the console and its users read."""
    sid, callback, day = filled["sid"], filled["callback"], filled["day"]
    some = customer(7)[1]
    return [
        ("health", "/healthz"),
        ("health", "/healthz?details"),
        ("health", "/metrics"),
        ("page", "/ops/"),
        ("page", "/ops/api/now"),
        ("page", "/ops/calls"),
        ("page", "/ops/calls?outcome=voicemail"),
        ("page", "/ops/calls?outcome=in-progress"),
        ("page", "/ops/calls?severity=1"),
        ("page", "/ops/calls?severity=4&outcome=answered"),
        ("page", "/ops/calls?line=%2B31205550100&outcome=abandoned&severity=2"),
        ("page", f"/ops/calls?customer={some.replace(' ', '+')}"),
        ("page", f"/ops/calls?customer={some.replace(' ', '+')}&outcome=voicemail&severity=1"),
        ("page", "/ops/calls?customer=Nobody"),
        ("page", f"/ops/calls?date={day}"),
        ("page", f"/ops/calls?date={day}&outcome=abandoned&customer={some.replace(' ', '+')}"),
        ("page", f"/ops/calls/{sid}"),
        ("page", "/ops/api/calls"),
        ("page", "/ops/api/calls?limit=500"),
        ("page", f"/ops/api/calls?customer={some.replace(' ', '+')}&outcome=voicemail"),
        ("page", f"/ops/api/calls?date={day}&severity=1"),
        ("page", f"/ops/api/calls/{sid}"),
        ("page", f"/ops/calls.csv?date={day}&customer={some.replace(' ', '+')}"),
        ("page", "/ops/callbacks"),
        ("page", "/ops/callbacks?state=overdue"),
        ("page", "/ops/callbacks?state=closed"),
        ("page", "/ops/callbacks?state=all"),
        ("page", f"/ops/callbacks/{callback}"),
        ("page", "/ops/api/callbacks"),
        ("page", "/ops/api/callbacks?state=closed&limit=500"),
        ("page", f"/ops/api/callbacks/{callback}"),
        ("page", "/ops/handoffs"),
        ("page", "/ops/api/handoffs"),
        ("page", "/ops/week"),
        ("page", "/ops/numbers"),
    ]


def timed(app: Flask, paths: list[tuple[str, str]], runs: int) -> dict[str, tuple[float, float]]:
    """Median and slowest ms of each path; every answer must be a 200 with a body."""
    client = app.test_client()
    found: dict[str, tuple[float, float]] = {}
    for _, path in paths:
        reply = client.get(path, headers=AUTH)  # untimed: the first reads the pages into the cache
        assert reply.status_code == 200 and reply.data, (path, reply.status_code, reply.data[:300])
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            reply = client.get(path, headers=AUTH)
            samples.append((time.perf_counter() - started) * 1000)
            assert reply.status_code == 200, (path, reply.status_code)
        found[path] = (statistics.median(samples), max(samples))
    return found


@contextlib.contextmanager
def database(backend: str, folder: Path, admin: str, name: str) -> Iterator[str]:
    if backend == "sqlite":
        path = folder / f"{name}.sqlite3"
        new_sqlite(str(path))
        yield f"sqlite:///{path}"
        return
    url = make_url(admin)
    database_name = f"ivr_reads_{os.getpid()}_{name}"
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database_name}"')
    fresh = url.set(drivername="postgresql+psycopg", database=database_name).render_as_string(hide_password=False)
    try:
        engine = make_engine(fresh)
        upgrade(engine)
        engine.dispose()
        yield fresh
    finally:
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')


def run(backend: str, args: argparse.Namespace, folder: Path, out: list[str]) -> bool:
    now = datetime.now(UTC)
    with database(backend, folder, args.database_url, "small") as small_url, \
            database(backend, folder, args.database_url, "full") as full_url:
        small, _, _ = filled_log(small_url, args.small, now)
        filled, fill_s, stored = filled_log(full_url, args.calls, now)
        with serving(folder / f"{backend}-small", small_url) as app:
            before = timed(app, requests_of(small), args.runs)
        with serving(folder / f"{backend}-full", full_url) as app:
            after = timed(app, requests_of(filled), args.runs)
    out.append(f"\n{backend}: {args.calls:,} calls, {stored:,} events, {filled['missed']:,} missed L1 calls "
               f"(filled in {fill_s:.0f} s); median and slowest of {args.runs} requests, ms")
    out.append(f"  {'request (at ' + format(args.calls, ',') + ' calls)':70} {format(args.small, ',') + ' calls':>12} "
               f"{format(args.calls, ',') + ' calls':>15} {'x':>5} {'slowest':>8}  target")
    met = True
    for (group, path), (_, small_path) in zip(requests_of(filled), requests_of(small), strict=True):
        median, slowest = after[path]
        target = TARGET_HEALTH_MS if group == "health" else TARGET_PAGE_MS
        ok = median < target
        met &= ok
        base = before[small_path][0]
        out.append(f"  {path:70} {base:12.2f} {median:15.2f} {median / base:5.1f} {slowest:8.2f}  "
                   f"< {target:.0f} {'ok' if ok else 'MISSED'}")
    return met


def filled_log(url: str, count: int, now: datetime) -> tuple[dict[str, Any], float, int]:
    """The log at `url` filled with `count` calls: what the pages ask for, the seconds it took, the
    events stored."""
    engine = make_engine(url)
    started = time.perf_counter()
    filled = fill(engine, count, now)
    took = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        # What autovacuum does after such a load, done before the timing rather than during it
        # (minutes at a million calls: no statement time-out, so not through the service's engine).
        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM call_events")).scalar_one()
    # SQLite's statistics as the writer refreshes them once caught up.
    refresh_statistics(engine)
    engine.dispose()
    return filled, took, int(stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000, help="the calls of the log compared with")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    logging.getLogger("ivr").setLevel(logging.WARNING)
    out = [f"bench/reads.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
           f"Python {sys.version.split()[0]}: /metrics and /healthz target < {TARGET_HEALTH_MS:.0f} ms, "
           f"pages and API < {TARGET_PAGE_MS:.0f} ms (the median)"]
    met = True
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends.split(","):
            print(f"{backend}: filling and reading ...", file=sys.stderr, flush=True)
            met &= run(backend, args, Path(folder), out)
    print("\n".join(out))
    if args.out:
        args.out.write_text("\n".join(out) + "\n")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
