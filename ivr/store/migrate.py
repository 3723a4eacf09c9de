"""The call log's schema, changed only by the Alembic migrations shipped in `ivr/store/migrations`.

Who migrates (see the README's Deployment): `ivr db upgrade` (and `ivr release`, Heroku's release
phase), and gunicorn's master before it forks, so a quick start needs no extra step. A worker never
changes the schema: it reads `schema_state` and, while the database is not at this release's head,
its writer leaves the events in the journal and /healthz says to run `ivr db upgrade`.

An upgrade holds a lock for its whole run (PostgreSQL: an advisory lock in its transaction; SQLite:
a lock file beside the database), so masters and release phases started at once migrate one after
the other, and each later one finds nothing to do. A database made before the migrations existed
(`create_all`, by `ivr init-db` or a worker) is adopted: its tables are there but no version, so it is
stamped at the baseline, which is exactly that schema, and upgraded from there.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import make_url

from ivr.store.alert_queue import owe_digests_from
from ivr.store.database import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")
# The first migration: the schema every release before the migrations made with create_all.
BASELINE = "0001"
# A table every release has made: its presence without a version marks a database to adopt.
ADOPTION_MARK = "calls"
# pg_advisory_xact_lock's key for "the call log's schema is being migrated" (any fixed number).
PG_LOCK_KEY = 0x1C4_10C
# A migration may wait for a worker's transaction to end, and may take long on a big table: the
# service's own 1 s lock and 5 s statement limits (`ivr.store.database`) are lifted while it runs.
PG_LOCK_WAIT = "60s"
UPGRADE_COMMAND = "ivr db upgrade"


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands against this release's migrations."""

    revision: str | None  # the database's Alembic revision; None when it has none
    head: str  # this release's last migration
    tables: bool  # whether the call log's tables exist (a database made before the migrations)

    @property
    def ready(self) -> bool:
        return self.revision == self.head

    @property
    def storable(self) -> bool:
        """Whether this release may store calls: at its head, or at a newer release's revision (a
        rollback: migrations add to the schema, so this release's rows still fit)."""
        return self.ready or (self.revision is not None and self.revision not in known_revisions())

    @property
    def problem(self) -> str | None:
        """What stops the service from storing calls in this database, in one line; None if nothing."""
        if self.ready:
            return None
        if self.revision is None:
            made = "was made before the migrations" if self.tables else "is empty"
            return f"the call log's database {made}: run `{UPGRADE_COMMAND}`"
        if self.revision not in known_revisions():
            return (f"the call log's database is at revision {self.revision}, which this release does not know "
                    f"(a newer release migrated it): deploy that release again")
        return (f"the call log's database is at revision {self.revision}, behind this release's {self.head}: "
                f"run `{UPGRADE_COMMAND}`")


@dataclass(frozen=True)
class Upgraded:
    before: str | None
    after: str
    adopted: bool  # stamped at the baseline first: its tables came from create_all

    def describe(self) -> str:
        if self.before == self.after:
            return f"at {self.after}, nothing to do"
        adopted = f" (tables made before migrations, adopted at {BASELINE})" if self.adopted else ""
        return f"upgraded from {self.before or 'nothing'} to {self.after}{adopted}"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the shipped migrations, run on `connection` (see `migrations/env.py`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    found = _scripts().get_current_head()
    assert found is not None, "ivr/store/migrations has no migration"
    return found


def known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def schema_state(conn: Connection) -> SchemaState:
    revision = MigrationContext.configure(conn).get_current_revision()
    tables = revision is not None or inspect(conn).has_table(ADOPTION_MARK)
    return SchemaState(revision, head(), tables)


def current(engine: Engine) -> SchemaState:
    with engine.connect() as conn:
        return schema_state(conn)


def upgrade(engine: Engine, started_at: datetime | None = None) -> Upgraded:
    """Bring the database to this release's head, adopting a database made before the migrations;
    one process at a time (the lock), in one transaction where the backend allows (PostgreSQL).
    A service starting (`started_at`) is then marked as the call log's first start unless one was
    (`alert_queue.owe_digests_from`); the tests' template databases are not."""
    with _migration_lock(engine), engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL statement_timeout = 0"))
            conn.execute(text(f"SET LOCAL lock_timeout = '{PG_LOCK_WAIT}'"))
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        before = schema_state(conn)
        config = alembic_config(conn)
        adopted = before.revision is None and before.tables
        if adopted:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
        conn.commit()
    if started_at is not None:
        owe_digests_from(engine, started_at)
    return Upgraded(before.revision, head(), adopted)


def new_sqlite(path: str) -> None:
    """A new SQLite call log at `path`, at this release's head: a copy of one migration made once per
    process, for the many short-lived call logs of the in-process simulator and the tests (copying a
    file is ~50 times faster than running the migrations again)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)  # as `make_engine` makes it
    shutil.copyfile(_migrated_sqlite_file(), path)
    os.chmod(path, 0o600)  # it will hold callers' numbers, as the service's own file does


@cache
def _migrated_sqlite_file() -> str:
    folder = tempfile.mkdtemp(prefix="ivr-calllog-template-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = os.path.join(folder, "calllog.sqlite3")
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()  # the last connection checkpoints the WAL: the file alone holds the schema
    return path


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """For SQLite, a lock file beside the database (its DDL is not transactional under the driver);
    PostgreSQL's lock is taken in the migration's own transaction."""
    database = make_url(engine.url).database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{os.path.abspath(database)}.migrating", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
