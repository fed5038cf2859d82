"""Alembic runs this to migrate billing-monitor's store; shared.migrations holds the connection and the lock."""

from shared.migrations import run_history

run_history(version_table="alembic_version_billing_monitor")
