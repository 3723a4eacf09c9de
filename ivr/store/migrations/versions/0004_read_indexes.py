"""Indexes that keep health and the filtered call pages flat as the log grows: the alert finished
last (`alerts_finished`), and calls by outcome and severity in time order (`calls_by_outcome_severity`,
instead of the unordered `calls_outcome_severity`, which no query used since the counts have a table).
"""

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    op.create_index("alerts_finished", "alerts", ["finished_at"], unique=False)
    op.create_index("calls_by_outcome_severity", "calls", ["outcome", "severity", "started_at", "sid"], unique=False)
    op.drop_index("calls_outcome_severity", table_name="calls")


def downgrade() -> None:
    op.create_index("calls_outcome_severity", "calls", ["outcome", "severity"], unique=False)
    op.drop_index("calls_by_outcome_severity", table_name="calls")
    op.drop_index("alerts_finished", table_name="alerts")
