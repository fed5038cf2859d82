"""notification's tables (webhook ones included) as create_all made them before this history began:
a store made then is adopted as it is (a table or index is created only where it is missing), an
empty one gets them all."""

import sqlalchemy as sa
from alembic import op

from shared.migrations.mechanism import create_inbox_and_outbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_inbox_and_outbox()
    _views_of_contracts_and_clients()
    _support()
    _notifications_and_webhooks()


def _views_of_contracts_and_clients() -> None:
    op.create_table(
        "contract_views",
        sa.Column("contract_id", sa.String(200), primary_key=True),
        sa.Column("freelancer_id", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=True),
        sa.Column("holds", sa.String(50), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("client_message", sa.Text, nullable=True),
        sa.Column("pauses_began", sa.Text, nullable=False),
        sa.Column("blocked_notice_at", sa.DateTime(timezone=True), nullable=True),
        if_not_exists=True,
    )
    op.create_index("ix_contract_views_client_id", "contract_views", ["client_id"], if_not_exists=True)
    op.create_table(
        "billing_notices",
        sa.Column("client_id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(50), primary_key=True),
        if_not_exists=True,
    )
    op.create_table(
        "client_problems",
        sa.Column("client_id", sa.String(200), primary_key=True),
        sa.Column("open_problems", sa.Text, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_event_time", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "client_nudges",
        sa.Column("contract_id", sa.String(200), primary_key=True),
        sa.Column("pause_began", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )


def _support() -> None:
    op.create_table(
        "support_inputs",
        sa.Column("input_type", sa.String(100), primary_key=True),
        sa.Column("input_id", sa.String(200), primary_key=True),
        sa.Column("contract_id", sa.String(200), nullable=False),
        sa.Column("requester_id", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(50), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "support_cases",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record", sa.String(50), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("contract_id", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("freelancer_id", sa.String(200), nullable=False),
        sa.Column("requester_id", sa.String(200), nullable=False),
        sa.Column("requester_role", sa.String(20), nullable=False),
        sa.Column("topic", sa.String(50), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("platform_paused", sa.Boolean, nullable=False),
        sa.Column("client_open_problems", sa.Text, nullable=False),
        sa.Column("client_nudged", sa.Boolean, nullable=False),
        sa.UniqueConstraint("record", "case_id"),
        if_not_exists=True,
    )
    op.create_index("ix_support_cases_contract_id", "support_cases", ["contract_id"], if_not_exists=True)


def _notifications_and_webhooks() -> None:
    op.create_table(
        "notifications",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(200), nullable=False, unique=True),
        sa.Column("recipient_id", sa.String(200), nullable=False),
        sa.Column("recipient_role", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("contract_ids", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        if_not_exists=True,
    )
    op.create_index("notifications_by_recipient", "notifications", ["recipient_id", "seq"], if_not_exists=True)
    op.create_table(
        "webhook_subscriptions",
        sa.Column("subscription_id", sa.String(64), primary_key=True),
        sa.Column("recipient_id", sa.String(200), nullable=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_index("ix_webhook_subscriptions_recipient_id", "webhook_subscriptions", ["recipient_id"], if_not_exists=True)
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(200), sa.ForeignKey("notifications.notification_id"), nullable=False),
        sa.Column("subscription_id", sa.String(64), sa.ForeignKey("webhook_subscriptions.subscription_id"), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("notification_id", "subscription_id"),
        if_not_exists=True,
    )
    op.create_index("webhook_deliveries_due", "webhook_deliveries", ["state", "next_attempt_at"], if_not_exists=True)
    op.create_table(
        "webhook_dead_letters",
        sa.Column("delivery_id", sa.Integer, primary_key=True),
        sa.Column("notification_id", sa.String(200), nullable=False),
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("recipient_id", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
