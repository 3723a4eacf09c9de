"""How long an entitlement check holds a webhook.

1. Warm: a check answered from the licensing-service cache (and from the CSV file source),
   against the phonebook's own [[customers]] in the same run. Target: under 1 ms added.
2. Cold: a lookup against a slow licensing service on 127.0.0.1, in every way a server can be
   slow (late headers, a trickled body, silence). Target: never longer than timeout_seconds
   plus 100 ms; the worst case is printed.

Run: python bench/entitlements.py
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ivr.engine.entitlement import PhonebookSource, Source, Verdict, check
from ivr.engine.phonebook_loader import load_phonebook
from ivr.outside.licensing import FileSource, UrlSource

ROOT = Path(__file__).resolve().parent.parent
AT = datetime(2026, 12, 1, 9, tzinfo=UTC)
WARM_CALLS = 20_000
COLD_RUNS = 5
TIMEOUT = 0.5
BUDGET = 0.1
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
    """/fast, /in-time (answers after 80% of the timeout), /late-headers, /trickle, /silent."""

    def do_GET(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up first, as it should
            self.answer(self.path.split("/")[1])

    def answer(self, kind: str) -> None:
        if kind == "silent":
            time.sleep(TIMEOUT * 6)
            return
        if kind in ("in-time", "late-headers"):
            time.sleep(TIMEOUT * (0.8 if kind == "in-time" else 6))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ACME)))
        self.end_headers()
        if kind == "trickle":
            # Each byte arrives within requests' per-read timeout, the whole body far beyond it.
            for byte in ACME[:12]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(TIMEOUT * 0.4)
            self.wfile.write(ACME[12:])
        else:
            self.wfile.write(ACME)

    def log_message(self, format: str, *args: object) -> None:
        pass


def cold(base: str, kind: str) -> tuple[float, Verdict]:
    """The slowest of COLD_RUNS lookups of a never-seen SEN (seconds) and its verdict."""
    source = UrlSource(f"{base}/{kind}/{{sen}}", timeout_seconds=TIMEOUT, cache_seconds=0)
    worst, verdict = 0.0, None
    for _run in range(COLD_RUNS):
        start = time.perf_counter()
        verdict = check(source, "1234567", AT).verdict
        worst = max(worst, time.perf_counter() - start)
    source.close()
    assert verdict is not None  # COLD_RUNS > 0
    return worst, verdict


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
    server.shutdown()
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
