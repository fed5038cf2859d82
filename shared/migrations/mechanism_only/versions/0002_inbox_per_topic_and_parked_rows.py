"""Stores made before the inbox was kept per topic and outbox rows could be parked (both came in
3c4710a): their inbox is rebuilt per topic with its rows kept, their outbox gains the parking columns."""

from shared.migrations.mechanism import keep_the_inbox_per_topic, let_outbox_rows_be_parked

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    keep_the_inbox_per_topic()
    let_outbox_rows_be_parked()
