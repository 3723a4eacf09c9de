"""Where the call log lives: the database URL (DATABASE_URL as Heroku writes it, else SQLite in
the instance folder), engines with the time limits the service needs, and UTC instants on every
backend."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Dialect, Engine, Table, TypeDecorator, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

SQLITE_FILE = "calllog.sqlite3"
# Patience with a locked, dead or unreachable database: the writer retries, so a short wait is fine.
BUSY_TIMEOUT_MS = 1000
CONNECT_TIMEOUT_S = 2
STATEMENT_TIMEOUT_MS = 5000
# Unacknowledged data on a connection whose server vanished: give up after this, not minutes.
TCP_USER_TIMEOUT_MS = 3000


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("call log instants must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        # combine, not replace(tzinfo=...): a fifth of the time, on each of a page's thousands of instants.
        return None if value is None else datetime.combine(value, value.time(), UTC)


def database_url(configured: str | None, instance_path: str) -> str:
    """The SQLAlchemy URL: DATABASE_URL as Heroku writes it, else SQLite in the instance folder."""
    if not configured:
        return f"sqlite:///{os.path.join(instance_path, SQLITE_FILE)}"
    for prefix in ("postgres://", "postgresql://"):
        if configured.startswith(prefix):
            return "postgresql+psycopg://" + configured[len(prefix):]
    return configured


def _private_file(path: str) -> None:
    """The SQLite file, readable by this user only (0600) in a folder of its own (0700, when made
    here): it holds callers' numbers. SQLite gives the -wal and -shm files the database file's
    mode; a log made by an older version is tightened too."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        with contextlib.suppress(FileNotFoundError, PermissionError):  # someone else's file: theirs to set
            os.chmod(name, 0o600)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)  # data may hold instants


# orjson reads a whole number beyond 64 bits as a float; such a number has 19 digits or more, which
# show as a run of 19 nines once every digit is made a nine (a fifth of the time a regex takes).
_ALL_NINES = bytes.maketrans(b"012345678", b"999999999")
_LONG_NUMBER = b"9" * 19


def loads(text: str | bytes) -> Any:
    """What `json.loads` reads from the stored JSON, read by orjson where the two agree (in less than
    half the time: the ops API's largest page reads 4,000 events). `json.loads` reads what orjson
    refuses (Infinity and NaN, which `json.dumps` writes; a lone surrogate) and any text with 19
    digits in a row, which may hold a number that orjson would read as a float."""
    try:
        raw = text if isinstance(text, bytes) else text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return json.loads(text)
    if _LONG_NUMBER not in raw.translate(_ALL_NINES):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


# Connections a process keeps open: the writer process's alert rounds (up to 20 at once,
# `ivr.outside.alerts.BATCH`) each take one for their claim, beside its batches and its sweep. The
# default pool (5, and 10 more closed again after each use) opened and closed PostgreSQL connections
# by the dozen a second during a burst of missed calls, each a server process forked and set up on
# the cores the webhooks need. Only what is used at once is ever opened.
POOL_SIZE = 25
POOL_OVERFLOW = 5

# The tables the console reads with filters, whose index SQLite's planner chooses by their statistics.
ANALYSED = ("calls", "alerts", "callbacks")
# SQLite loads the statistics when a connection opens: a pooled one is reopened after this long.
STATISTICS_RELOAD_S = 600


def make_engine(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    # hide_parameters: a failed statement's error never carries callers' numbers into logs or health.
    common: dict[str, Any] = {"json_serializer": _dumps, "json_deserializer": loads, "hide_parameters": True,
                              "pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    if make_url(url).get_backend_name() == "sqlite":
        path = make_url(url).database
        if path and path != ":memory:":
            _private_file(os.path.abspath(path))
        engine = create_engine(
            url,
            **common,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
            # A connection reads the planner's statistics when it opens (`refresh_statistics`).
            pool_recycle=STATISTICS_RELOAD_S,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.close()

        return engine
    # The URL's own `?options=` (e.g. `-csearch_path=calllog`, the call log in a schema of its own)
    # are kept after the service's limits rather than replaced by them.
    own = make_url(url).query.get("options")
    options = " ".join([f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={BUSY_TIMEOUT_MS}",
                        *([own] if isinstance(own, str) else own or ())])
    return create_engine(
        url,
        **common,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            "options": options,
        },
    )


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT with the backend's ON CONFLICT clauses (PostgreSQL's or SQLite's)."""
    return insert_for(conn.dialect.name, table)


def insert_for(dialect: str, table: Table) -> Any:
    """An INSERT with the ON CONFLICT clauses of the backend named `dialect` (`postgresql`, else SQLite's)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def refresh_statistics(engine: Engine) -> None:
    """SQLite's planner statistics (`ANALYZE`), so a filtered page walks its most selective index
    (a customer's calls rather than every L1 call); about a second at a million calls. Connections
    opened since plan with them, and every pooled one within STATISTICS_RELOAD_S. PostgreSQL keeps
    its own (autovacuum)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as conn:
        for table in ANALYSED:
            conn.exec_driver_sql(f"ANALYZE {table}")
