"""The baseline: the call log exactly as `create_all` made it before the migrations (ivr/store/schema.py
at that time). A database made then is stamped at this revision (`ivr.store.migrate.upgrade`).

Instants are naive UTC `DateTime` columns (`ivr.store.database.UTCDateTime` converts them).
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None

TABLES = ("store_meta", "journal_progress", "calls", "call_events", "call_counts", "answer_counts", "alerts")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("leased_until", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("sid"),
    )
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.create_index("alerts_due", ["due_at"], unique=False)

    op.create_table(
        "answer_counts",
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
    )
    op.create_table(
        "call_counts",
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("outcome", "severity"),
    )
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("call_events") as batch_op:
        batch_op.create_index("call_events_once", ["call_sid", "key"], unique=True)

    op.create_table(
        "calls",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("line", sa.String(length=32), nullable=True),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("caller", sa.String(length=64), nullable=True),
        sa.Column("caller_name", sa.Text(), nullable=True),
        sa.Column("sen", sa.String(length=32), nullable=True),
        sa.Column("customer", sa.Text(), nullable=True),
        sa.Column("severity", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("answer_seconds", sa.Float(), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("voicemail_url", sa.Text(), nullable=True),
        sa.Column("no_candidates", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    with op.batch_alter_table("calls") as batch_op:
        batch_op.create_index("calls_by_caller", ["caller", "started_at"], unique=False)
        batch_op.create_index("calls_by_customer", ["customer", "started_at", "sid"], unique=False)
        batch_op.create_index("calls_by_line", ["line", "started_at", "sid"], unique=False)
        batch_op.create_index("calls_by_outcome", ["outcome", "started_at", "sid"], unique=False)
        batch_op.create_index("calls_by_sen", ["sen", "started_at", "sid"], unique=False)
        batch_op.create_index("calls_by_severity", ["severity", "started_at", "sid"], unique=False)
        batch_op.create_index("calls_newest", ["started_at", "sid"], unique=False)
        batch_op.create_index("calls_outcome_severity", ["outcome", "severity"], unique=False)

    op.create_table(
        "journal_progress",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("stored_to", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
