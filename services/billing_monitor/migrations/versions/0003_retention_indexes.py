"""Indexes by time on the inbox and outbox, for retention (Store.prune)."""

from shared.migrations.mechanism import index_for_retention

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    index_for_retention()
