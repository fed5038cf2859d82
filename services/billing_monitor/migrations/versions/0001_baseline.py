"""billing-monitor's tables as create_all made them before this history began: a store made then
is adopted as it is (a table is created only where it is missing), an empty one gets them all."""

import sqlalchemy as sa
from alembic import op

from shared.migrations.mechanism import create_inbox_and_outbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_inbox_and_outbox()
    op.create_table(
        "client_standings",
        sa.Column("client_id", sa.String(200), primary_key=True),
        sa.Column("standing", sa.JSON, nullable=False),
        if_not_exists=True,
    )
