"""Alembic's entry point for the store's migrations; axtui/store/schema.py runs it on open
with the store's own connection (no alembic.ini: the connection comes in as an attribute)."""

from alembic import context

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters a table by copying it, which batch operations do for us.
context.configure(connection=connection, render_as_batch=True, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
