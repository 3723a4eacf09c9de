"""Callbacks owed for missed L1 calls, and each callback's history (`ivr.store.callbacks`).
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    op.create_table(
        "callback_steps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("who", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("callback_steps_by_call", "callback_steps", ["call_sid"])
    op.create_index("callback_steps_of", "callback_steps", ["callback_id", "at"])
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=80), nullable=True),
        sa.Column("open_key", sa.String(length=80), nullable=True),
        sa.Column("sen", sa.String(length=32), nullable=True),
        sa.Column("customer", sa.Text(), nullable=True),
        sa.Column("caller", sa.String(length=64), nullable=True),
        sa.Column("line", sa.String(length=32), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("last_call_at", sa.DateTime(), nullable=False),
        sa.Column("first_call", sa.String(length=64), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("voicemail_url", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_how", sa.String(length=16), nullable=True),
        sa.Column("closed_by_call", sa.String(length=64), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("callbacks_due", "callbacks", ["closed_at", "due_at"])
    # One open callback a customer, whatever the writers do (`open_key` is NULL once closed).
    op.create_index("callbacks_one_open", "callbacks", ["open_key"], unique=True)
    op.create_index("callbacks_opened", "callbacks", ["opened_at"])


def downgrade() -> None:
    op.drop_table("callbacks")
    op.drop_table("callback_steps")
