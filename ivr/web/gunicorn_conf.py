"""Gunicorn settings for Twilio webhooks (Procfile: `gunicorn -c ivr/web/gunicorn_conf.py "ivr:create_app()"`).

Twilio waits at most 15 s for TwiML and then plays its fallback; a worker stuck longer than
`timeout` is killed well before that, so one bad request cannot hold a call. Webhooks are short
single requests, so connections are not kept open for long.

Each worker counts its own events; the hooks below put prometheus_client in multiprocess mode so
/metrics and /healthz report the sum over all workers, whichever one answers (see `ivr.store.counters`).
"""

import glob
import os
import shutil
import sys
import tempfile
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


def on_starting(server):
    """Before any worker exists: refuse to start on a setting no worker could use, in one line, or
    on a broken phonebook with no last good copy of it, in one line per problem (rather than every
    worker failing to boot with a traceback); then (before any worker imports prometheus_client,
    which reads the variable at import) PROMETHEUS_MULTIPROC_DIR, a fresh temporary directory
    unless set, emptied of a previous run's files; then migrate the call log once, before any
    worker exists (workers never change the schema: `ivr.store.migrate`)."""
    from ivr.config import SettingsError, check_signing, default_instance_path, load_settings
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
    instance = settings["IVR_INSTANCE_PATH"] or default_instance_path()
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


def _migrate(server, configured_url, instance):
    """The quick start's one command needs no `ivr db upgrade` first; with Heroku's release phase
    this finds nothing to do. Under the migration's lock, so masters started at once take turns.
    A database that cannot be migrated now does not stop the service: its workers answer calls and
    keep the events in the journal, and /healthz says to run `ivr db upgrade`."""
    from ivr.store.database import database_url, make_engine
    from ivr.store.migrate import upgrade

    engine = make_engine(database_url(configured_url, instance))
    try:
        server.log.info("call log: %s", upgrade(engine).describe())
    except Exception as exc:  # noqa: BLE001 - calls are answered without the database
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        server.log.error("call log not migrated (%s): events wait in the journal until `ivr db upgrade` runs", error)
    finally:
        engine.dispose()


def child_exit(server, worker):
    # Imported here, after on_starting set the directory; a dead worker's counts still add up.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _created_metrics_dir:
        shutil.rmtree(_created_metrics_dir, ignore_errors=True)
