"""Alembic's environment for the call log: always run through `ivr.store.migrate`, which hands over
an open connection (in its transaction, holding the migration lock) as `connection`."""

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from ivr.store.database import UTCDateTime
from ivr.store.schema import metadata


def render_item(kind: str, obj: Any, autogen: AutogenContext) -> str | Literal[False]:
    """A drafted migration stores instants as plain DateTime (UTCDateTime only converts them in the
    code), so it never imports the application."""
    return "sa.DateTime()" if kind == "type" and isinstance(obj, UTCDateTime) else False


connection = context.config.attributes["connection"]
# Batch mode: SQLite alters a table by copying it, which autogenerate then writes for us.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True,
                  render_item=render_item)
with context.begin_transaction():
    context.run_migrations()
