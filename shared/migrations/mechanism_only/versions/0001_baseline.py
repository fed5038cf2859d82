"""The inbox and outbox, all a store with no tables of its own has."""

from shared.migrations.mechanism import create_inbox_and_outbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_inbox_and_outbox()
