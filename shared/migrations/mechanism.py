"""The inbox and outbox every store keeps, as steps the revisions of every history call.

Frozen like a revision: a later change to these tables is a new step, not an edit here.
"""

import sqlalchemy as sa
from alembic import context, op

_UNSENT = sa.text("sent_at IS NULL")


def create_inbox_and_outbox() -> None:
    """The inbox and outbox as create_all made them (but for the retention indexes, a later step);
    a store that has them keeps its own."""
    _create_inbox()
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parked_reason", sa.String(500), nullable=True),
        if_not_exists=True,
    )
    op.create_index("outbox_unsent", "outbox", ["seq"], sqlite_where=_UNSENT, postgresql_where=_UNSENT, if_not_exists=True)


def keep_the_inbox_per_topic() -> None:
    """A store made before the inbox was kept per topic: its rows name no topic, so each stays a
    duplicate on every topic consumed now, as it was judged before."""
    if "topic" in _columns("inbox"):
        return
    op.rename_table("inbox", "inbox_before_topics")
    if op.get_bind().dialect.name == "postgresql":  # its primary key's name would clash with the new one's
        op.execute("ALTER TABLE inbox_before_topics RENAME CONSTRAINT inbox_pkey TO inbox_before_topics_pkey")
    _create_inbox()
    copy = sa.text("INSERT INTO inbox (topic, event_id, received_at) "
                   "SELECT :topic, event_id, received_at FROM inbox_before_topics")
    for topic in context.config.attributes["consumed"]:
        op.execute(copy.bindparams(topic=topic))
    op.drop_table("inbox_before_topics")


def let_outbox_rows_be_parked() -> None:
    """A store made before outbox rows could be parked gains the columns saying when and why. The
    fix-up that came before migrations added parked_at without a time zone (on PostgreSQL a naive
    local time, unlike every other time we keep): it gains one."""
    parked_at = _columns("outbox").get("parked_at")
    if parked_at is None:
        op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column("outbox", sa.Column("parked_reason", sa.String(500), nullable=True))
    elif op.get_bind().dialect.name == "postgresql" and not parked_at["type"].timezone:
        # The naive times are read in the session's time zone, the one they were written in.
        op.alter_column("outbox", "parked_at", type_=sa.DateTime(timezone=True))


def index_for_retention() -> None:
    """Retention prunes the oldest inputs and sent outputs: it finds them by time, not by a scan."""
    op.create_index("inbox_by_received_at", "inbox", ["received_at"], if_not_exists=True)
    op.create_index("outbox_by_sent_at", "outbox", ["sent_at"], if_not_exists=True)


def _create_inbox() -> None:
    op.create_table(
        "inbox",
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )


def _columns(table: str) -> dict[str, dict]:
    return {column["name"]: column for column in sa.inspect(op.get_bind()).get_columns(table)}
