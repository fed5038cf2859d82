"""The schema history of contract-state's store: Alembic revisions, run at start by shared.migrations."""
