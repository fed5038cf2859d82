"""The schema history of a store with no tables of its own (the tests' services): Alembic
revisions, run at start by shared.migrations."""
