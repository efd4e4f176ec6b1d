"""The shared stream state: a log position on every event, scorer checkpoints, a lock row.

`events.seq` is the event's place in the one log every replica scores in (assigned under
the stream lock, see `service.stream_log`); existing rows get positions in event-time
order. `scorer_checkpoints` holds versioned JSON checkpoints of the detector's whole
stream state at a log position. `stream_lock` is the row SQLite writers lock (PostgreSQL
uses an advisory lock instead).

Revision ID: 0003_stream_log
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_stream_log"
down_revision = "0002_ui_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger, nullable=True))
    # one pass (UPDATE ... FROM: PostgreSQL, SQLite 3.33+)
    op.execute(
        "UPDATE events SET seq = ordered.n FROM (SELECT id, ROW_NUMBER() OVER "
        "(ORDER BY ts, received_at, id) AS n FROM events) AS ordered "
        "WHERE ordered.id = events.id")
    op.create_index("ix_events_seq", "events", ["seq"], unique=True)
    op.create_table(
        "scorer_checkpoints",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "stream_lock",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("turns", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO stream_lock (id, turns) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("stream_lock")
    op.drop_table("scorer_checkpoints")
    op.drop_index("ix_events_seq", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("seq")
