"""Alembic runs this to migrate a store with no tables of its own; shared.migrations holds the
connection and the lock."""

from shared.migrations import run_history

run_history(version_table="alembic_version_mechanism_only")
