"""The schema history of time-tracking's store: Alembic revisions, run at start by shared.migrations."""
