"""How long an entitlement check holds a webhook.

1. Warm: a check answered from the licensing-service cache (and from the CSV file source),
   against the phonebook's own [[customers]] in the same run. Target: under 1 ms added.
2. Cold: a lookup against a slow licensing service on 127.0.0.1, in every way a server can be
   slow (late headers, a trickled body, silence). Target: never longer than timeout_seconds
   plus 100 ms; the worst case is printed.
3. Crowded: 64 calls arrive at once at 2 sync workers (32 queued in each, answered one after the
   other, as gunicorn's sync workers do), each looking a new caller up with the default
   timeout_seconds (2 s), breaker and time budget, while the service misbehaves in each way (and
   when it is down). Target: every call's lookup done within 5 s of its arrival, well inside
   Twilio's 15 s; next to the same calls against a healthy service.

Run: python bench/entitlements.py
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ivr.config import default
from ivr.engine.entitlement import PhonebookSource, Source, Verdict, check
from ivr.engine.phonebook_loader import load_phonebook
from ivr.outside.licensing import Breaker, FileSource, UrlSource, WaitBudget

ROOT = Path(__file__).resolve().parent.parent
AT = datetime(2026, 12, 1, 9, tzinfo=UTC)
WARM_CALLS = 20_000
COLD_RUNS = 5
TIMEOUT = 0.5
BUDGET = 0.1
CROWD = 64
WORKERS = 2
CROWD_TIMEOUT = 2.0  # the phonebook's default timeout_seconds
CROWD_TARGET = 5.0
ACME = json.dumps(
    {"sen": "SEN-1234567", "name": "Acme Corporation", "tier": "priority",
     "maintenance_until": "2027-06-30", "admins": ["+14155551234"]}
).encode()


def per_call_us(source: Source, sen: str) -> float:
    """Median of 5 rounds of WARM_CALLS checks, in microseconds per check."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(WARM_CALLS):
            check(source, sen, AT)
        rounds.append((time.perf_counter() - start) / WARM_CALLS * 1e6)
    return statistics.median(rounds)


class SlowLicensing(BaseHTTPRequestHandler):
    """/fast, /in-time (answers after 80% of the timeout), /late-headers, /trickle, /silent, /error (500)."""

    # The lookups' timeout_seconds, which the delays follow.
    timeout = TIMEOUT

    def do_GET(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up first, as it should
            self.answer(self.path.split("/")[1])

    def answer(self, kind: str) -> None:
        timeout = SlowLicensing.timeout
        if kind == "silent":
            time.sleep(timeout * 6)
            return
        if kind == "error":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind in ("in-time", "late-headers"):
            time.sleep(timeout * (0.8 if kind == "in-time" else 6))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ACME)))
        self.end_headers()
        if kind == "trickle":
            # Each byte arrives within requests' per-read timeout, the whole body far beyond it.
            for byte in ACME[:12]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(timeout * 0.4)
            self.wfile.write(ACME[12:])
        else:
            self.wfile.write(ACME)

    def log_message(self, format: str, *args: object) -> None:
        pass


def cold(base: str, kind: str) -> tuple[float, Verdict]:
    """The slowest of COLD_RUNS lookups of a never-seen SEN (seconds) and its verdict."""
    # Neither breaker nor budget: every lookup goes to the service and runs to its deadline.
    source = UrlSource(f"{base}/{kind}/{{sen}}", timeout_seconds=TIMEOUT, cache_seconds=0,
                       breaker=Breaker(COLD_RUNS + 1, 60), budget=WaitBudget(0))
    worst, verdict = 0.0, None
    for _run in range(COLD_RUNS):
        start = time.perf_counter()
        verdict = check(source, "1234567", AT).verdict
        worst = max(worst, time.perf_counter() - start)
    source.close()
    assert verdict is not None  # COLD_RUNS > 0
    return worst, verdict


def crowded(base: str) -> float:
    """Seconds from the arrival of CROWD calls at once until the last of them has its answer, on
    WORKERS sync workers, each with its own source (breaker and budget are a worker's own)."""
    arrived = time.monotonic()
    done: list[float] = []

    def worker(number: int) -> None:
        breaker = Breaker(default("IVR_LICENSING_FAILURES"), default("IVR_LICENSING_COOL_DOWN_SECONDS"))
        budget = WaitBudget(default("IVR_LICENSING_BUDGET_SECONDS"))
        # No cache: each call is a lookup, as for callers with SENs of their own.
        source = UrlSource(f"{base}/sen/{{sen}}", timeout_seconds=CROWD_TIMEOUT, cache_seconds=0, breaker=breaker,
                           budget=budget)
        for _call in range(number, CROWD, WORKERS):
            check(source, "1234567", AT)
            done.append(time.monotonic() - arrived)
        source.close()

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return max(done)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> int:
    # Each time-out is logged as a warning; the figures are what matters here.
    logging.getLogger("ivr").setLevel(logging.ERROR)
    phonebook = load_phonebook(ROOT / "phonebook.toml")
    baseline = per_call_us(PhonebookSource(phonebook), "1234567")

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowLicensing)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    url_source = UrlSource(f"{base}/fast/{{sen}}", timeout_seconds=TIMEOUT)
    assert check(url_source, "1234567", AT).verdict is Verdict.OK
    warm_url = per_call_us(url_source, "1234567")
    url_source.close()

    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "customers.csv"
        rows = [f"SEN-{1000000 + i},Customer {i},priority,2027-06-30,\n" for i in range(50_000)]
        csv.write_text("sen,name,tier,maintenance_until,admins\n" + "".join(rows), encoding="utf-8")
        start = time.perf_counter()
        file_source = FileSource(csv)
        load_seconds = time.perf_counter() - start
        warm_file = per_call_us(file_source, "1049999")

    print(f"warm check, phonebook [[customers]] (baseline): {baseline:8.2f} us")
    print(f"warm check, licensing service cache:            {warm_url:8.2f} us  "
          f"(+{(warm_url - baseline) / 1000:.4f} ms)")
    print(f"warm check, CSV file of 50,000 customers:       {warm_file:8.2f} us  "
          f"(+{(warm_file - baseline) / 1000:.4f} ms)")
    print(f"CSV file of 50,000 customers loaded in {load_seconds * 1000:.0f} ms (once per change)")
    added_ms = max(warm_url, warm_file) / 1000 - baseline / 1000
    ok = added_ms < 1.0

    print(f"\ncold lookups, timeout_seconds={TIMEOUT:g}, limit {TIMEOUT + BUDGET:.3f} s, worst of {COLD_RUNS}:")
    worst_all = 0.0
    for kind in ("fast", "in-time", "late-headers", "trickle", "silent"):
        worst, verdict = cold(base, kind)
        worst_all = max(worst_all, worst)
        print(f"  {kind:13s} {worst * 1000:7.1f} ms  verdict {verdict.value}")
    over = worst_all - TIMEOUT
    print(f"worst case: {worst_all * 1000:.1f} ms = timeout + {over * 1000:.1f} ms (limit +{BUDGET * 1000:.0f} ms)")
    ok = ok and over < BUDGET

    SlowLicensing.timeout = CROWD_TIMEOUT
    baseline_crowd = crowded(f"{base}/fast")
    print(f"\n{CROWD} calls at once on {WORKERS} sync workers, timeout_seconds={CROWD_TIMEOUT:g}, "
          f"last lookup done after (limit {CROWD_TARGET:g} s):")
    print(f"  {'fast':13s} {baseline_crowd:7.2f} s  (baseline)")
    worst_crowd = 0.0
    for kind in ("in-time", "late-headers", "trickle", "silent", "error"):
        worst_crowd = max(worst_crowd, last := crowded(f"{base}/{kind}"))
        print(f"  {kind:13s} {last:7.2f} s")
    worst_crowd = max(worst_crowd, last := crowded(f"http://127.0.0.1:{closed_port()}"))
    print(f"  {'refused':13s} {last:7.2f} s")
    print(f"worst case: {worst_crowd:.2f} s (limit {CROWD_TARGET:g} s)")
    ok = ok and worst_crowd < CROWD_TARGET
    server.shutdown()
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
