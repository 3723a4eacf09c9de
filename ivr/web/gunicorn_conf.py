"""Gunicorn settings for Twilio webhooks (Procfile: `gunicorn -c ivr/web/gunicorn_conf.py "ivr:create_app()"`).

Twilio waits at most 15 s for TwiML and then plays its fallback; a worker stuck longer than
`timeout` is killed well before that, so one bad request cannot hold a call. Webhooks are short
single requests, so connections are not kept open for long.

Each worker counts its own events; the hooks below put prometheus_client in multiprocess mode so
/metrics and /healthz report the sum over all workers, whichever one answers (see `ivr.store.counters`).

The workers only append the call events they accept to the journal; the master starts `ivr writer`,
a process of its own that stores the journal in the database and sends the alerts it raises, so no
worker shares its interpreter with that work. The master starts another writer whenever it dies,
and stops it (it stores what is left first) when the master stops.
"""

import contextlib
import gc
import glob
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = 10
graceful_timeout = 10
keepalive = 2
# Gunicorn 27's control socket is one path per user: two servers on a machine would fight over
# it, and nothing here uses it.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
# One line format for gunicorn's logs and the service's (IVR_LOG_FORMAT, see ivr.logs); the time and
# the process are in every line, so the access log leaves out its own.
logger_class = "ivr.web.gunicorn_logging.ServiceLogger"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'

# ivr.counters.MULTIPROC_DIR, written again: importing ivr.counters would import prometheus_client in
# the master before on_starting sets the variable, and every forked worker would count in memory.
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_created_metrics_dir = None
# ivr.config's setting, written again for the same reason: the workers leave the writing to `ivr writer`.
WRITER_SETTING = "IVR_WRITER"
WRITER_COMMAND = [sys.executable, "-m", "ivr", "writer"]
# A writer that dies sooner than this after it started is started again only after this pause.
WRITER_RESTART_S = 1.0
# How long a stopping writer may take to store what is left (its own limit is 5 s) before it is killed.
WRITER_STOP_S = 15.0
# A writer on idle CPU only (it went there once caught up: `ivr writer`) that has not rewritten its
# status file for this long is starved by webhooks taking every core: killed (it loses nothing: each
# batch is one transaction with its journal position) and started again, at normal priority until it
# has caught up. This bounds how far the call log, and the alerts it raises, fall behind under overload.
WRITER_STARVED_S = 15.0
# How often the master looks whether the writer has exited, or starves.
WRITER_WATCH_S = 0.25


def on_starting(server):
    """Before any worker exists: refuse to start on a setting no worker could use, in one line, or
    on a broken phonebook with no last good copy of it, in one line per problem (rather than every
    worker failing to boot with a traceback); then (before any worker imports prometheus_client,
    which reads the variable at import) PROMETHEUS_MULTIPROC_DIR, a fresh temporary directory
    unless set, emptied of a previous run's files; then migrate the call log once, before any
    worker exists (workers never change the schema: `ivr.store.migrate`)."""
    from ivr.config import SettingsError, check_signing, load_settings
    from ivr.engine.phonebook import PhonebookError
    from ivr.store.reloading import LAST_GOOD_NAME, LastGoodCopy, phonebook_at_start

    try:
        settings = load_settings()
        check_signing(settings)
    except SettingsError as exc:
        server.log.error("cannot start: %s", exc)
        sys.exit(1)
    # The workers start the same way (`ivr.store.reloading.ReloadingPhonebook`): from the file, or
    # from the last good copy in the instance folder while the file is broken.
    instance = _instance(settings)
    try:
        phonebook_at_start(Path(settings["IVR_PHONEBOOK"]), LastGoodCopy(Path(instance) / LAST_GOOD_NAME))
    except PhonebookError as exc:
        for problem in exc.problems:
            if not problem.warning:
                where = f"{problem.path}: " if problem.path else ""
                server.log.error("cannot start: %s: %s%s", exc.source, where, problem.message)
        sys.exit(1)
    global _created_metrics_dir
    path = os.environ.get(METRICS_DIR)
    if not path:
        path = _created_metrics_dir = tempfile.mkdtemp(prefix="ivr-metrics-")
        os.environ[METRICS_DIR] = path
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)
    server.log.info("workers' metrics in %s", path)
    _migrate(server, settings["DATABASE_URL"], instance)


def _instance(settings):
    from ivr.config import default_instance_path

    return settings["IVR_INSTANCE_PATH"] or default_instance_path()


def _migrate(server, configured_url, instance):
    """The quick start's one command needs no `ivr db upgrade` first; with Heroku's release phase
    this finds nothing to do. Under the migration's lock, so masters started at once take turns.
    A database that cannot be migrated now does not stop the service: its workers answer calls and
    keep the events in the journal, and /healthz says to run `ivr db upgrade`."""
    from ivr.clock import utc_now
    from ivr.store.database import database_url, make_engine
    from ivr.store.migrate import upgrade

    engine = make_engine(database_url(configured_url, instance))
    try:
        server.log.info("call log: %s", upgrade(engine, started_at=utc_now()).describe())
    except Exception as exc:  # noqa: BLE001 - calls are answered without the database
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        server.log.error("call log not migrated (%s): events wait in the journal until `ivr db upgrade` runs", error)
    finally:
        engine.dispose()


class WriterProcess:
    """`ivr writer`, watched from a thread of the master: started again whenever it exits, until `stop`.

    Started with posix_spawn, not subprocess: a worker forked while subprocess waits for its child's
    exec would inherit subprocess's pipe and hold it up until that worker exits. Gunicorn's own
    reaping may collect the writer first: waitpid then says there is no such child, all the same."""

    def __init__(self, log, status_file):
        self._log = log
        self._status_file = status_file
        self._lock = threading.Lock()
        self._stopping = False
        self._gone = threading.Event()
        self._pid = self._spawn()

    def start(self):
        threading.Thread(target=self._supervise, name="ivr-writer-supervisor", daemon=True).start()

    def _spawn(self):
        self._gone.clear()
        pid = os.posix_spawn(WRITER_COMMAND[0], WRITER_COMMAND, os.environ)
        self._log.info("call-log writer started (pid %s)", pid)
        return pid

    def _supervise(self):
        while True:
            started, pid = time.monotonic(), self._pid
            self._watch(pid)
            _forget_counts_of(pid)
            with self._lock:
                self._gone.set()
                if self._stopping:
                    return
            self._log.error("call-log writer (pid %s) is gone; starting another", pid)
            time.sleep(max(0.0, started + WRITER_RESTART_S - time.monotonic()))
            with self._lock:
                if self._stopping:
                    return
                self._pid = self._spawn()

    def _watch(self, pid):
        """Until the writer exits; killed if it starves on idle CPU."""
        while True:
            try:
                if os.waitpid(pid, os.WNOHANG) != (0, 0):
                    return
            except ChildProcessError:  # gunicorn's master reaped it
                return
            if self._starved(pid):
                self._log.error("call-log writer (pid %s) on idle CPU has stored nothing for %g s: every core is "
                                "busy with webhooks; starting another at normal priority", pid, WRITER_STARVED_S)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(WRITER_WATCH_S)

    def _starved(self, pid):
        from ivr.store.cpu import on_idle_priority

        try:
            return on_idle_priority(pid) and time.time() - os.stat(self._status_file).st_mtime > WRITER_STARVED_S
        except OSError:  # gone
            return False

    def _signal(self, sig):
        with self._lock:
            if not self._gone.is_set():
                os.kill(self._pid, sig)

    def restart(self):
        """Stop the writer; the supervisor starts a new one (with the code reloaded)."""
        self._signal(signal.SIGTERM)

    def stop(self):
        with self._lock:
            self._stopping = True
        self._signal(signal.SIGTERM)
        if not self._gone.wait(WRITER_STOP_S):
            self._log.error("call-log writer (pid %s) did not stop within %s s: killed", self._pid, WRITER_STOP_S)
            self._signal(signal.SIGKILL)


# The master's writer is kept on the master itself: a reload (SIGHUP) runs this file again, and its
# hooks then come from the new module, which never started a writer.
WRITER_ATTRIBUTE = "ivr_writer"


def when_ready(server):
    """The writer starts once the master is listening, before its workers, which are forked after
    this and told to leave the journal to it."""
    from ivr.config import load_settings
    from ivr.store.calllog import journal_folder
    from ivr.store.writer import STATUS_FILE

    os.environ[WRITER_SETTING] = "process"
    settings = load_settings()
    writer = WriterProcess(server.log, journal_folder(settings["IVR_JOURNAL_DIR"], _instance(settings)) / STATUS_FILE)
    setattr(server, WRITER_ATTRIBUTE, writer)
    writer.start()


def post_worker_init(worker):
    """Once the worker has loaded the app, its objects (some 100,000: code, phonebook, calendars,
    SQLAlchemy's tables) live as long as it does, yet every full garbage collection walked them all:
    35 to 45 ms, a stall for whichever request's garbage set it off. Frozen, collections leave them out."""
    gc.freeze()


def on_reload(server):
    """New workers run the code installed now, and so does a new writer."""
    writer = getattr(server, WRITER_ATTRIBUTE, None)
    if writer is not None:
        writer.restart()


def _forget_counts_of(pid):
    # Imported here, after on_starting set the directory; a dead process's counts still add up.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def child_exit(server, worker):
    _forget_counts_of(worker.pid)


def on_exit(server):
    writer = getattr(server, WRITER_ATTRIBUTE, None)
    if writer is not None:
        writer.stop()
    if _created_metrics_dir:
        shutil.rmtree(_created_metrics_dir, ignore_errors=True)
