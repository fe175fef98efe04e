"""Alembic's entry point for the store's migrations; axtui/store/schema.py runs it on open
with the store's own connection (no alembic.ini: the connection comes in as an attribute)."""

from alembic import context


def run(connection) -> None:
    # render_as_batch: SQLite alters a table by copying it, which batch operations do for us.
    context.configure(connection=connection, render_as_batch=True, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


# Alembic runs this file with its context set up; a plain import (a tool walking the
# package) has no context and does nothing.
if hasattr(context, "config"):
    run(context.config.attributes["connection"])
