"""contract-state's tables as create_all made them before this history began: a store made then
is adopted as it is (a table or index is created only where it is missing), an empty one gets them all."""

import sqlalchemy as sa
from alembic import op

from shared.migrations.mechanism import create_inbox_and_outbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_inbox_and_outbox()
    op.create_table(
        "contracts",
        sa.Column("contract_id", sa.String(200), primary_key=True),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("freelancer_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("weekly_limit_hours", sa.Float, nullable=True),
        sa.Column("ended", sa.Boolean, nullable=False),
        sa.Column("platform_hold", sa.Boolean, nullable=False),
        sa.Column("client_hold", sa.Boolean, nullable=False),
        sa.Column("client_message", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_index("contracts_by_client", "contracts", ["client_id", "ended"], if_not_exists=True)
    op.create_table(
        "contract_history",
        sa.Column("contract_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("holds", sa.JSON, nullable=False),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "billing_standings",
        sa.Column("client_id", sa.String(200), primary_key=True),
        sa.Column("open_problems", sa.JSON, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_event_time", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
