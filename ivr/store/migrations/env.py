"""Alembic's environment for the call log: always run through `ivr.store.migrate`, which hands over
an open connection (in its transaction, holding the migration lock) as `connection`."""

from alembic import context

from ivr.store.schema import metadata

connection = context.config.attributes["connection"]
# Batch mode: SQLite alters a table by copying it, which autogenerate then writes for us.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
