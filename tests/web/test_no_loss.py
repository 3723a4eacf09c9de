"""Issue 10: an event the service answered for is stored once, whatever happens to its workers
and its database, under the Procfile's real gunicorn (README: "How an event is recorded, and what
is guaranteed").

Each test places many whole calls side by side over HTTP (each step signed, following the TwiML's
actions), then waits until the database holds every event of every answered step, and checks
exact counts: the events of each call, the summary rows, and the running counts behind /metrics
(a batch stored twice would count its calls twice there)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import is_digest
from sqlalchemy import create_engine, select
from test_gunicorn import gunicorn
from webload import (
    Call,
    Load,
    Service,
    Stored,
    Tally,
    alert_webhook,
    checked_url,
    db_proxy,
    expected,
    fresh_database,
    health,
    journal_files,
    journal_names,
    kill_and_reap,
    metrics_folder,
    mixed_calls,
    phonebook,
    place,
    sqlite_url,
    through,
    wait_for_workers,
    wait_for_writer,
    wait_until,
    wait_until_stored,
    workers,
    writers,
)

from ivr.engine.callbacks import Step
from ivr.engine.handoffs import DIGEST_PREFIX
from ivr.store.callbacks import ALERT_PREFIX
from ivr.store.schema import alerts, callback_steps
from ivr.store.writer import STATUS_FILE
from ivr.web.gunicorn_conf import WRITER_STARVED_S

# Real processes read the real clock: the suite's shifted-clock run leaves these out.
pytestmark = pytest.mark.process

ACCESS_LOG = "--access-logformat 'served-by %(p)s %(r)s %(s)s'"
EVERY_KIND = ("short", "l1", "l1-sen", "l2")


def _place_all(calls: list[Call], service: Service, tally: Tally, threads: int = 8) -> None:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda call: place(call, lambda _step: service, tally), calls))


def _served_by(log, since: int = 0) -> set[str]:
    return set(re.findall(r"served-by <(\d+)> POST /voice", log.read_text()[since:]))


def _settled_health(base: str) -> dict:
    """/healthz once the writer has caught up: ok, nothing pending."""
    found: list[dict] = [{}]

    def settled() -> bool:
        found[0] = health(base)
        return found[0]["status"] == "ok" and found[0]["calllog"]["pending_bytes"] == 0

    wait_until(settled, "/healthz ok with nothing pending", evidence=lambda: found[0])
    return found[0]


# --- 2. any number of workers, with and without threads --------------------------------------------


@pytest.mark.parametrize("worker_args", ["", "--worker-class gthread --threads 4"], ids=["sync", "gthread"])
def test_every_call_is_stored_once_by_2_then_4_then_8_workers(tmp_path, worker_args):
    """One master grown from 2 to 4 to 8 workers (SIGTTIN), ~50 requests at each size."""
    with gunicorn(tmp_path, phonebook(tmp_path), GUNICORN_CMD_ARGS=f"{ACCESS_LOG} {worker_args}") as server:
        service, tally, placed = Service(server.base), Tally(), []
        master, metrics = server.process.pid, metrics_folder(server.log)
        for size in (2, 4, 8):
            while len(workers(master)) < size:  # one at a time: signals sent together arrive as one
                more = len(workers(master)) + 1
                os.kill(master, signal.SIGTTIN)
                wait_until(lambda more=more: len(workers(master)) >= more, f"{more} workers forked", seconds=30)
            wait_for_workers(master, metrics, size)
            log_from = len(server.log.read_text())
            calls = mixed_calls(len(placed), 15)
            _place_all(calls, service, tally)
            placed += calls
            wait_until_stored(sqlite_url(tmp_path / "instance"), placed)
            assert len(_served_by(server.log, log_from)) >= 2
        assert tally.unanswered == 0
        assert tally.requests == sum(c.steps for c in placed)
        assert _settled_health(server.base)["calllog"]["rejected"] == 0


# --- 1. workers killed under load, the writer among them --------------------------------------------


def test_workers_and_the_writer_killed_under_load_lose_nothing_they_answered_for(tmp_path):
    """kill -9 of a worker, of the writer (`ivr writer`, the master's process of its own), of the
    writer the master started instead, and of another worker, each while calls come in; a step whose
    worker died before answering is sent again, as Twilio retries."""
    journal = tmp_path / "instance" / "journal"
    with gunicorn(tmp_path, phonebook(tmp_path), WEB_CONCURRENCY="3") as server:
        master = server.process.pid
        wait_for_workers(master, metrics_folder(server.log), 3)
        load = Load(lambda _step: Service(server.base), EVERY_KIND, threads=6, limit=600, attempts=3)
        killed: list[int] = []
        dead_files: set[str] = set()

        def kill(pid: int) -> None:
            dead_files.update(journal_files(pid, journal))
            kill_and_reap(master, pid)
            killed.append(pid)

        load.wait_for(10)
        writer = wait_for_writer(journal)
        assert writers(master) == {writer} and writer not in workers(master)
        kill(min(workers(master)))
        load.wait_for(20)
        kill(writer)
        load.wait_for(30)
        kill(wait_for_writer(journal, other_than=killed))
        load.wait_for(40)
        # The worker killed last must have answered (so have a journal file), like the first.
        last = min(workers(master) - set(killed))
        wait_until(lambda: bool(journal_files(last, journal)), f"worker {last} answered a call")
        kill(last)
        load.wait_for(50)
        placed = load.stop()

        wait_until_stored(sqlite_url(tmp_path / "instance"), placed)
        # Every killed worker had answered calls (so had a journal file; a writer has none); each file
        # is stored to its end and then deleted, while the new workers' files stay.
        assert len(dead_files) == 2
        wait_until(lambda: not dead_files & journal_names(journal), "the dead workers' journal files deleted",
                   evidence=lambda: (dead_files, journal_names(journal)))
        assert not wait_for_workers(master, metrics_folder(server.log), 3) & set(killed)
        assert len(writers(master) - set(killed)) == 1
        health = _settled_health(server.base)
        assert health["calllog"]["rejected"] == 0
        assert load.tally.requests == sum(c.steps for c in placed)


def test_a_reload_starts_a_new_writer_and_every_call_before_and_after_is_stored(tmp_path):
    """SIGHUP (gunicorn's reload: new workers on the code installed now) stops the writer and starts
    a new one as well."""
    journal = tmp_path / "instance" / "journal"
    with gunicorn(tmp_path, phonebook(tmp_path)) as server:
        master, service, tally = server.process.pid, Service(server.base), Tally()
        before = mixed_calls(0, 10, EVERY_KIND)
        _place_all(before, service, tally)
        first = wait_for_writer(journal)
        os.kill(master, signal.SIGHUP)
        second = wait_for_writer(journal, other_than=[first])
        wait_until(lambda: writers(master) == {second}, "the first writer gone", evidence=lambda: writers(master))
        after = mixed_calls(10, 10, EVERY_KIND)
        _place_all(after, service, tally)
        wait_until_stored(sqlite_url(tmp_path / "instance"), before + after)
        assert tally.unanswered == 0


def _policies(pid: int) -> set[int]:
    """The scheduling policies of the threads of `pid`."""
    try:
        return {os.sched_getscheduler(int(thread)) for thread in os.listdir(f"/proc/{pid}/task")}
    except OSError:
        return set()


def test_the_writer_stores_on_idle_cpu_and_one_starved_there_is_replaced_at_normal_priority(tmp_path):
    """Once caught up, the writer leaves the CPU to the webhooks (every thread on SCHED_IDLE). A writer
    that starves there, as on a machine whose cores the webhooks fill, is killed by the master once
    its status file is WRITER_STARVED_S old, and the one started instead stores what waited."""
    journal = tmp_path / "instance" / "journal"
    with gunicorn(tmp_path, phonebook(tmp_path)) as server:
        master, service, tally = server.process.pid, Service(server.base), Tally()
        first = wait_for_writer(journal)
        wait_until(lambda: _policies(first) == {os.SCHED_IDLE}, "the writer on idle CPU",
                   evidence=lambda: _policies(first))
        # Starved: it never runs (so it neither stores nor rewrites its status file, last written long ago).
        os.kill(first, signal.SIGSTOP)
        calls = mixed_calls(0, 10, EVERY_KIND)
        _place_all(calls, service, tally)
        long_ago = time.time() - 2 * WRITER_STARVED_S
        os.utime(journal / STATUS_FILE, (long_ago, long_ago))
        second = wait_for_writer(journal, other_than=[first])
        wait_until_stored(sqlite_url(tmp_path / "instance"), calls)
        assert tally.unanswered == 0
        assert writers(master) == {second}
        assert f"call-log writer (pid {first}) on idle CPU has stored nothing" in server.log.read_text()
        # Caught up again, it leaves the CPU to the webhooks too.
        wait_until(lambda: _policies(second) == {os.SCHED_IDLE}, "the new writer on idle CPU",
                   evidence=lambda: _policies(second))


# --- 5. every worker killed the moment it answered --------------------------------------------------


def test_workers_killed_right_after_answering_lose_nothing_they_answered_for(tmp_path):
    """A burst of calls, and kill -9 of every worker as soon as the last step is answered (before
    the writer's next look at the journal); the writer stores it all, and the new workers answer as they did."""
    journal = tmp_path / "instance" / "journal"
    url = sqlite_url(tmp_path / "instance")
    with gunicorn(tmp_path, phonebook(tmp_path), WEB_CONCURRENCY="2") as server:
        master, metrics = server.process.pid, metrics_folder(server.log)
        service, tally = Service(server.base), Tally()
        first = wait_for_workers(master, metrics, 2)
        burst = mixed_calls(0, 30, EVERY_KIND)
        _place_all(burst, service, tally)
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        dead_files = journal_names(journal)
        assert dead_files, "the burst was journaled"
        wait_until(lambda: not first & workers(master), "the killed workers reaped")

        wait_until_stored(url, burst)
        wait_until(lambda: not dead_files & journal_names(journal), "the dead workers' journal files deleted",
                   evidence=lambda: (dead_files, journal_names(journal)))
        # The new workers answer and store calls as the first ones did.
        assert not wait_for_workers(master, metrics, 2) & first
        more = mixed_calls(30, 15, EVERY_KIND)
        _place_all(more, service, tally)
        wait_until_stored(url, burst + more)
        assert tally.unanswered == 0 and tally.requests == sum(c.steps for c in burst + more)
        assert _settled_health(server.base)["calllog"]["rejected"] == 0


# --- 3. PostgreSQL unreachable for a while, and connections cut mid-transaction ----------------------


def test_calls_go_on_while_postgresql_refuses_connections_and_are_all_stored_when_it_is_back(tmp_path, postgres_url):
    with fresh_database(postgres_url) as database, db_proxy(postgres_url) as proxy:
        url = checked_url(database)
        with gunicorn(tmp_path, phonebook(tmp_path), DATABASE_URL=through(database, proxy)) as server:
            service = Service(server.base)
            before = mixed_calls(0, 12, EVERY_KIND)
            tally = Tally()
            _place_all(before, service, tally)
            wait_until_stored(url, before)

            proxy.refuse()
            load = Load(lambda _step: service, EVERY_KIND, first=len(before), threads=4, limit=80)
            # Every call answered (the load fails on anything but 2xx), and /healthz (200) says the call
            # log is failing with events waiting, until 20 calls are in.
            seen: list[dict] = []

            def degraded_with_events_waiting() -> bool:
                seen.append(health(server.base))
                return seen[-1]["status"] == "degraded" and seen[-1]["calllog"]["pending_bytes"] > 0

            wait_until(degraded_with_events_waiting, "/healthz degraded, events waiting", evidence=lambda: seen[-1])
            degraded = seen[-1]["calllog"]
            assert degraded["ok"] is False and degraded["last_error"].startswith("OperationalError"), degraded
            load.wait_for(20)
            # Answered with the database out of reach: none of it is stored yet.
            assert Stored.read(url) == expected(before)
            proxy.accept()
            placed = before + load.stop()
            assert len(placed) > len(before) + 20 and load.tally.unanswered == 0

            wait_until_stored(url, placed)
            calllog = _settled_health(server.base)["calllog"]
            assert calllog["ok"] and calllog["pending_bytes"] == 0 and calllog["rejected"] == 0
            assert calllog["failures"] > 0 and proxy.counts()["reset"] > 0


def test_connections_cut_mid_transaction_neither_lose_nor_double_an_event(tmp_path, postgres_url):
    """Transactions cut before the COMMIT reaches PostgreSQL (rolled back), and after PostgreSQL
    committed but before the writer heard (the writer cannot tell): each batch is stored once. No
    L1 calls, so every transaction is the writer's (an alert's claim would be one too)."""
    with fresh_database(postgres_url) as database, db_proxy(postgres_url) as proxy:
        url = checked_url(database)
        with gunicorn(tmp_path, phonebook(tmp_path), DATABASE_URL=through(database, proxy)) as server:
            service = Service(server.base)
            wait_for_workers(server.process.pid, metrics_folder(server.log), 2)
            proxy.cut_commits(4)
            # The writer stores what waits in one transaction (up to 500 lines), so how many calls make
            # 4 commits depends on the machine's speed: the load goes on until they are cut.
            load = Load(lambda _step: service, ("short", "l2"), threads=4, limit=20_000)
            wait_until(lambda: sum(proxy.counts().values()) == 4 or load.done == load.limit, "4 transactions cut",
                       evidence=proxy.counts)
            load.wait_for(load.done + 10)
            placed = load.stop()
            assert proxy.counts() == {"cut_before": 2, "cut_after": 2, "reset": 0}
            assert load.tally.unanswered == 0

            wait_until_stored(url, placed)
            calllog = _settled_health(server.base)["calllog"]
            assert calllog["failures"] > 0 and calllog["rejected"] == 0


# --- 4. two instances, one database ------------------------------------------------------------------

PUBLIC_URL = "https://ivr.example.com"
SENT_FOR = re.compile(r"Timeline: https://ivr\.example\.com/ops/calls/(CA\d{32})$")


def test_calls_alternating_between_two_instances_are_stored_once_and_each_missed_l1_alerted_once(
    tmp_path, postgres_url
):
    """Two masters, each its own instance folder and journal, sharing one PostgreSQL database
    behind one public URL; each step of a call goes to the other instance than the step before."""
    with fresh_database(postgres_url) as database, alert_webhook(tmp_path) as webhook:
        book = phonebook(tmp_path, webhook.url)
        env = {"DATABASE_URL": database, "IVR_PUBLIC_URL": PUBLIC_URL, "REQUESTS_CA_BUNDLE": str(webhook.ca_bundle),
               "IVR_ALERT_SETTLE_SECONDS": "0", "IVR_ALERT_SWEEP_SECONDS": "0.5"}
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        with gunicorn(tmp_path / "a", book, **env) as a, gunicorn(tmp_path / "b", book, **env) as b:
            instances = (Service(a.base, PUBLIC_URL), Service(b.base, PUBLIC_URL))
            calls = mixed_calls(0, 30)
            tally = Tally()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda c: place(c, lambda step: instances[(c.number + step) % 2], tally), calls))
            url = checked_url(database)
            wait_until_stored(url, calls)
            assert _served_by(a.log) and _served_by(b.log)

            missed = {c.sid for c in calls if c.missed_l1}
            engine = create_engine(url)

            def finished() -> set[str]:
                with engine.connect() as conn:
                    return set(conn.execute(select(alerts.c.sid).where(alerts.c.finished_at.is_not(None))).scalars())

            try:
                wait_until(lambda: finished() >= missed, f"the {len(missed)} missed calls' alerts finished",
                           evidence=lambda: (len(finished()), len(webhook.posts)))
                with engine.connect() as conn:
                    # The calls' alerts; the callbacks' overdue alerts wait for their due times, and a
                    # handoff's digest (the real clock's) may be falling due.
                    unfinished = conn.execute(select(alerts).where(
                        alerts.c.finished_at.is_(None), alerts.c.sid.not_like(f"{ALERT_PREFIX}%"),
                        alerts.c.sid.not_like(f"{DIGEST_PREFIX}%"))).all()
                    members = conn.execute(select(callback_steps.c.call_sid).where(
                        callback_steps.c.step.in_([Step.OPENED, Step.JOINED]))).scalars().all()
            finally:
                engine.dispose()
            assert unfinished == []
            # Each missed call opened or joined one callback, once, whichever instance stored it.
            assert sorted(members) == sorted(missed)
            sent = Counter(SENT_FOR.search(text)[1] for text in webhook.posts if not is_digest(text))
            assert sent == dict.fromkeys(missed, 1)
            for instance in (a, b):
                assert _settled_health(instance.base)["calllog"]["rejected"] == 0
