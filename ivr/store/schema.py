"""The call log's tables: events as they happened, a summary row per call, each L1 call's alert,
the callbacks owed for missed L1 calls, what the writer has stored of each journal file, and
running counts for /metrics."""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from ivr.engine.outcomes import Summary
from ivr.store.database import UTCDateTime

metadata = MetaData()

events = Table(
    "call_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_sid", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    Index("call_events_once", "call_sid", "key", unique=True),
)

calls = Table(
    "calls",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("line", String(32)),
    Column("region", String(32)),
    Column("caller", String(64)),
    Column("caller_name", Text),
    Column("sen", String(32)),
    Column("customer", Text),
    Column("severity", Integer),
    Column("outcome", String(16)),
    Column("team", String(64)),
    Column("answer_seconds", Float),
    Column("duration", Integer),
    Column("voicemail_url", Text),
    Column("no_candidates", Boolean, nullable=False, default=False),
    Column("reason", Text),
    Column("event_count", Integer, nullable=False, default=0),
    # The newest page, unfiltered or filtered by one column, is an index range scan.
    Index("calls_newest", "started_at", "sid"),
    Index("calls_by_outcome", "outcome", "started_at", "sid"),
    Index("calls_by_severity", "severity", "started_at", "sid"),
    Index("calls_by_line", "line", "started_at", "sid"),
    Index("calls_by_customer", "customer", "started_at", "sid"),
    Index("calls_by_sen", "sen", "started_at", "sid"),
    # A calling number's recent calls: its unknown SENs within the hour (`CallLog.failed_sens`).
    Index("calls_by_caller", "caller", "started_at"),
    # Filtered by outcome and severity together (every combination, a rare one too), a range scan.
    Index("calls_by_outcome_severity", "outcome", "severity", "started_at", "sid"),
)

# One row per call ops hears about (an L1 call; the first call in an hour a number ended for giving
# too many unknown SENs): the state of its alert, shared by every worker and instance, so an alert
# survives the worker that noticed it. `due_at` is when a worker should next take it (NULL: nothing
# to do, now or ever); a worker holds it until `leased_until` while it sends; `attempts` counts
# the rounds begun, and fences a round's writes against a worker whose lease ran out; `done`
# maps each destination that needs nothing more to {"sent_at": ...} or {"refused": reason}.
alerts = Table(
    "alerts",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("due_at", UTCDateTime),
    Column("leased_until", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("done", JSON, nullable=False, default=dict),
    Column("last_error", Text),
    Column("finished_at", UTCDateTime),
    # The sweep reads the due alerts only: a range at the start of this index (NULLs never match).
    Index("alerts_due", "due_at"),
    # Health reads the alert finished last: the end of this index, however many alerts are on record.
    Index("alerts_finished", "finished_at"),
)

# What ops is told about the service rather than a call (a phonebook version refused, then one
# accepted again), under the key its row in `alerts` has (`notice:...`, never a CallSid): the
# workers that notice the same thing write the same key, so ops hears of it once. One row is no
# notice and is never alerted: `digests-owed-from`, the call log's first start (`alert_queue`).
notices = Table(
    "notices",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("text", Text, nullable=False),
    Column("noticed_at", UTCDateTime, nullable=False),
)

# Callbacks owed to customers whose L1 call was missed (`ivr.engine.callbacks`), opened, joined and
# closed by the writer with the events that decide them. `open_key` is the customer's key while the
# callback is open and NULL once closed: one open callback a customer, whatever the writers do.
# Listed by time window: opened, due and closed instants are each an index's leading column.
callbacks = Table(
    "callbacks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(80)),
    Column("open_key", String(80)),
    Column("sen", String(32)),
    Column("customer", Text),
    Column("caller", String(64)),
    Column("line", String(32)),
    Column("tier", String(16)),
    Column("severity", Integer, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("last_call_at", UTCDateTime, nullable=False),
    Column("first_call", String(64), nullable=False),
    Column("calls", Integer, nullable=False, default=1),
    Column("voicemail_url", Text),
    Column("closed_at", UTCDateTime),
    Column("closed_how", String(16)),
    Column("closed_by_call", String(64)),
    Column("closed_by", String(64)),
    Column("note", Text),
    Index("callbacks_one_open", "open_key", unique=True),
    Index("callbacks_opened", "opened_at"),
    Index("callbacks_due", "closed_at", "due_at"),
)

# Each callback's history: the missed calls that opened and joined it, and how it was closed (by
# which call, or by whom on the console and why). `call_sid` finds a call's callback.
callback_steps = Table(
    "callback_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("callback_id", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("step", String(16), nullable=False),
    Column("call_sid", String(64)),
    Column("who", String(64)),
    Column("note", Text),
    Index("callback_steps_of", "callback_id", "at"),
    Index("callback_steps_by_call", "call_sid"),
)

# How far each journal file (one per worker process, named uniquely across instances) has been
# stored: written in the same transaction as the events, so each event is stored exactly once.
journal_progress = Table(
    "journal_progress",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("stored_to", BigInteger, nullable=False),
)

# Calls by outcome and severity, and answered calls by time to answer, kept up to date with every
# summary change, so /metrics reads a few rows whatever the size of the log. Severity 0: none yet.
call_counts = Table(
    "call_counts",
    metadata,
    Column("outcome", String(16), primary_key=True),
    Column("severity", Integer, primary_key=True),
    Column("calls", BigInteger, nullable=False),
)
ANSWER_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0)


def answer_bucket(seconds: float) -> int:
    """The `answer_counts` bucket of an answer time."""
    return next((i for i, bound in enumerate(ANSWER_BUCKETS) if seconds <= bound), len(ANSWER_BUCKETS))


# Bucket i counts answer times in (ANSWER_BUCKETS[i-1], ANSWER_BUCKETS[i]]; the last, above them all.
answer_counts = Table(
    "answer_counts",
    metadata,
    Column("bucket", Integer, primary_key=True),
    Column("calls", BigInteger, nullable=False),
    Column("seconds", Float, nullable=False),
)

# Facts about the database itself, e.g. that the counts were filled from the calls already there.
store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# The summary's fields are the `calls` table's columns (besides event_count; a test checks).
SUMMARY_COLUMNS = tuple(f.name for f in fields(Summary))
