"""The schema history of notification's store: Alembic revisions, run at start by shared.migrations."""
