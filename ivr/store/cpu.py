"""The writer's place on the CPU: behind the webhooks, which callers wait on (Linux; elsewhere the
writer simply runs at normal priority and never holds back).

`to_idle_priority` puts every thread of the process on idle CPU only; `Cores.busy` tells whether
the machine's cores were all busy since it was last asked, which an idle-priority writer reads to
hold its batches back: on idle CPU its own work already waits for the webhooks, but the database
server it sends a batch to (PostgreSQL on the same machine) does not.
"""

from __future__ import annotations

import os
from pathlib import Path

STAT = Path("/proc/stat")
# Busy: less than half a core's worth of time went idle since the last look.
SPARE_CORES = 0.5


def to_idle_priority() -> bool:
    """Run every thread of this process (and each one they start) only when a core would otherwise
    be idle; False where the system has no SCHED_IDLE. There is no way back: raising a priority
    needs privileges."""
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is None:
        return False
    try:
        for thread in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(thread), policy, os.sched_param(0))
    except OSError:
        return False
    return True


def on_idle_priority(pid: int = 0) -> bool:
    """Whether the thread or process `pid` (by default the calling thread) runs on idle CPU only;
    raises OSError when there is no such one."""
    policy = getattr(os, "SCHED_IDLE", None)
    return policy is not None and os.sched_getscheduler(pid) == policy


class Cores:
    """The machine's cores, from the kernel's counters of time spent (`/proc/stat`)."""

    def __init__(self, stat: Path = STAT, spare_cores: float = SPARE_CORES):
        self._stat = stat
        self._spare = spare_cores
        self._last = self._read()

    def busy(self) -> bool:
        """Whether less than `spare_cores` of a core went idle since the last call (or since
        construction); False when the counters cannot be read."""
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None:
            return False
        (idle, total, cores), (idle_before, total_before, _) = now, last
        elapsed = total - total_before
        if elapsed <= 0:
            return False
        return (idle - idle_before) * cores < self._spare * elapsed

    def _read(self) -> tuple[int, int, int] | None:
        """(idle ticks, all ticks, cores), summed over the cores; None where there is no /proc/stat."""
        try:
            lines = self._stat.read_text().splitlines()
        except OSError:
            return None
        try:
            ticks = [int(n) for n in lines[0].split()[1:]]
        except (IndexError, ValueError):
            return None
        if len(ticks) < 5:
            return None
        cores = sum(1 for line in lines[1:] if line.startswith("cpu"))
        # user nice system idle iowait ...: a core waiting on I/O is idle to a runnable thread.
        return ticks[3] + ticks[4], sum(ticks[:8]), max(cores, 1)
