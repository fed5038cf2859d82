"""time-tracking's tables as create_all made them before this history began: a store made then
is adopted as it is (a table or index is created only where it is missing), an empty one gets them all."""

import sqlalchemy as sa
from alembic import op

from shared.migrations.mechanism import create_inbox_and_outbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_inbox_and_outbox()
    op.create_table(
        "contract_versions",
        sa.Column("contract_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("freelancer_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "contract_parties",
        sa.Column("contract_id", sa.String(200), primary_key=True),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("freelancer_id", sa.String(200), nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "time_entries",
        sa.Column("entry_id", sa.String(200), primary_key=True),
        sa.Column("contract_id", sa.String(200), nullable=False),
        sa.Column("freelancer_id", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("rejection", sa.String(40), nullable=True),
        sa.Column("minutes", sa.Integer, nullable=False),
        sa.Column("payment_protection", sa.String(20), nullable=True),
        sa.Column("protection_revoked", sa.Boolean, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        if_not_exists=True,
    )
    op.create_index("time_entries_by_contract", "time_entries", ["contract_id", "ended_at"], if_not_exists=True)
