"""Engine speed: routing decisions per second, and `ivr coverage` over a year as a subprocess.

Run from the repository root: `python bench/engine.py [--phonebook FILE] [--decisions N]`.
Every figure is printed next to a baseline measured in the same run on the same machine (a
loop that only looks the line up; `python -c pass` start-up), so a busy machine shows up in
both. Targets (issue 2): >= 50,000 decisions/s on one core; coverage for a year < 0.5 s wall.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.engine.phonebook import Phonebook
from ivr.engine.phonebook_loader import load_phonebook
from ivr.engine.routing import route

ROOT = Path(__file__).resolve().parent.parent
YEAR = datetime(2026, 1, 1, tzinfo=UTC)
DECISIONS_TARGET = 50_000
COVERAGE_TARGET = 0.5


Call = tuple[str, datetime, int]


def random_calls(phonebook: Phonebook, count: int, seed: int = 2026) -> list[tuple[str, datetime, int]]:
    """Calls on every line (and one unpublished number) at random instants over the year."""
    rng = random.Random(seed)
    numbers = [line.number for line in phonebook.lines] + ["+14155550199"]
    return [
        (rng.choice(numbers), YEAR + timedelta(seconds=rng.randrange(365 * 86400)), rng.choice((1, 1, 1, 2)))
        for _ in range(count)
    ]


def rate(body: Callable[[list[Call]], None], calls: list[Call]) -> float:
    start = time.perf_counter()
    body(calls)
    return len(calls) / (time.perf_counter() - start)


def bench_routing(phonebook: Phonebook, count: int) -> None:
    calls = random_calls(phonebook, count)

    def decide(calls: list[Call]) -> None:
        for to, at, severity in calls:
            route(phonebook, to, at, severity)

    def baseline(calls: list[Call]) -> None:
        # The part of a decision that is not the engine: iterate and look the line up.
        for to, _at, _severity in calls:
            phonebook.line(to)

    start = time.perf_counter()
    decide(calls)
    cold = time.perf_counter() - start
    warm = statistics.median(rate(decide, calls) for _ in range(3))
    base = statistics.median(rate(baseline, calls) for _ in range(3))
    verdict = "meets" if warm >= DECISIONS_TARGET else "MISSES"
    print(f"routing: {count:,} random calls over 2026")
    print(f"  first pass (compiles the year's timelines): {cold:.3f} s, {count / cold:,.0f} decisions/s")
    print(f"  warm: {warm:,.0f} decisions/s "
          f"({verdict} the {DECISIONS_TARGET:,}/s target: {warm / DECISIONS_TARGET:.2f}x)")
    print(f"  baseline (line lookup only): {base:,.0f} loops/s; a decision costs {base / warm:.1f}x a bare loop step")


def wall(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def bench_coverage(phonebook_path: str, repeat: int) -> None:
    python = sys.executable
    ivr = [python, "-c", "from ivr.cli.commands import main; main()"]
    year = ["coverage", "--phonebook", phonebook_path, "--from", "2026-01-01", "--to", "2027-01-01"]
    startup = wall([python, "-c", "pass"], repeat)
    imports = wall([python, "-c", "import ivr.cli.commands"], repeat)
    check = wall([*ivr, "check", "--phonebook", phonebook_path], repeat)
    as_json = wall(ivr + year + ["--json"], repeat)
    picture = wall(ivr + year, repeat)
    print(f"ivr coverage for 2026 as a subprocess (best of {repeat}):")
    print(f"  python -c pass:         {startup:.3f} s (1.0x)")
    print(f"  import ivr.cli.commands:         {imports:.3f} s ({imports / startup:.1f}x)")
    print(f"  ivr check:              {check:.3f} s ({check / startup:.1f}x)")
    for label, seconds in (("ivr coverage --json:", as_json), ("ivr coverage (weeks):", picture)):
        verdict = "meets" if seconds < COVERAGE_TARGET else "MISSES"
        print(f"  {label:<23} {seconds:.3f} s ({seconds / startup:.1f}x; {verdict} the {COVERAGE_TARGET} s target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phonebook", default=str(ROOT / "phonebook.toml"))
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench_routing(load_phonebook(args.phonebook), args.decisions)
    bench_coverage(args.phonebook, args.repeat)


if __name__ == "__main__":
    main()
