"""The writer yields the CPU to the webhooks: on idle CPU once caught up (`ivr writer`), and while
every core is busy it holds its batches back, for a bounded time, so that the database server does
not take the CPU from them either."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from conftest import SETTLE, migrated, utc
from sqlalchemy import func, select

from ivr.engine.events import Started
from ivr.store import cpu, writer
from ivr.store.calllog import CallLog
from ivr.store.database import database_url, make_engine
from ivr.store.schema import events

START = utc("2026-12-01T09:00:00Z")

pytestmark = pytest.mark.skipif(not hasattr(cpu.os, "SCHED_IDLE"), reason="Linux's SCHED_IDLE")


def stat(idle: int, total: int) -> str:
    """A /proc/stat of two cores whose summed counters are (idle, of total)."""
    busy = total - idle
    return (f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n"
            "cpu0 1 0 0 1 0 0 0 0 0 0\ncpu1 1 0 0 1 0 0 0 0 0 0\nintr 1 2 3\n")


@pytest.mark.parametrize("idle_ticks, busy", [
    pytest.param(10, True, id="a tenth of a core idle"),
    pytest.param(49, True, id="just under half a core idle"),
    pytest.param(50, False, id="half a core idle"),
    pytest.param(150, False, id="a core and a half idle"),
])
def test_the_cores_are_busy_when_less_than_half_a_core_went_idle_since_the_last_look(tmp_path, idle_ticks, busy):
    path = tmp_path / "stat"
    path.write_text(stat(idle=1000, total=5000))
    cores = cpu.Cores(path)
    path.write_text(stat(idle=1000 + idle_ticks, total=5000 + 200))  # 200 ticks: 100 on each core
    assert cores.busy() is busy
    path.write_text(stat(idle=1000 + idle_ticks + 200, total=5000 + 400))  # from the last look: all idle
    assert cores.busy() is False


@pytest.mark.parametrize("text", ["", "cpu  1 2\n", "cpu  x y z w v\n"])
def test_counters_that_cannot_be_read_never_hold_the_writer_back(tmp_path, text):
    path = tmp_path / "stat"
    path.write_text(text)
    assert cpu.Cores(path).busy() is False
    assert cpu.Cores(tmp_path / "missing").busy() is False


def test_the_machines_own_counters_are_read():
    assert cpu.Cores()._read() is not None


def test_only_a_thread_on_idle_cpu_says_it_is():
    seen: list[bool] = []

    def idle_thread() -> None:
        cpu.os.sched_setscheduler(0, cpu.os.SCHED_IDLE, cpu.os.sched_param(0))
        seen.append(cpu.on_idle_priority())

    thread = threading.Thread(target=idle_thread)
    thread.start()
    thread.join()
    assert seen == [True]
    assert cpu.on_idle_priority() is False


def test_a_process_put_on_idle_cpu_keeps_every_thread_there_including_later_ones():
    script = """
import threading
from ivr.store import cpu
before = threading.Thread(target=lambda: threading.Event().wait(1), daemon=True)
before.start()
assert cpu.to_idle_priority()
seen = []
later = threading.Thread(target=lambda: seen.append(cpu.on_idle_priority()))
later.start(); later.join()
import os
print(cpu.on_idle_priority(), seen[0], os.sched_getscheduler(before.native_id) == os.SCHED_IDLE)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True"]


def stored_events(log: CallLog) -> int:
    with log.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(events)).scalar_one()


def test_while_the_cores_are_busy_the_writer_holds_its_batches_back_for_the_hold_at_most(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(writer, "HOLD_S", 3.0)
    monkeypatch.setattr(writer, "_busy_on_idle_priority", lambda: lambda: True)  # busy all along
    log = CallLog(make_engine(migrated(database_url(None, str(tmp_path)))), journal=tmp_path / "journal",
                  clock=clock, alert_settle_seconds=SETTLE)
    started = time.monotonic()
    log.start()
    try:
        log.record("CA950", Started(to="+14155550100", caller="+14155551234"), START)
        time.sleep(2.0)
        # Held (the hold runs from the writer's start), and health says what waits.
        assert stored_events(log) == 0
        assert log.health()["pending_bytes"] > 0
        while stored_events(log) == 0 and time.monotonic() - started < 30:
            time.sleep(0.1)
        assert stored_events(log) == 1, "stored once the hold ran out, though the cores were still busy"
        assert time.monotonic() - started >= 3.0
    finally:
        log.close()
