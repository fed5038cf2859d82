"""The schema history of billing-monitor's store: Alembic revisions, run at start by shared.migrations."""
