"""Initial schema: events, verdicts, tokens, breaker state and audit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("type", sa.String(40), nullable=False, index=True),
        sa.Column("ts", TS, nullable=False, index=True),
        sa.Column("received_at", TS, nullable=False, index=True),
        sa.Column("username", sa.String(200), nullable=False, index=True),
        sa.Column("project", sa.String(200), nullable=True, index=True),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("score", sa.Float, nullable=False, index=True),
        sa.Column("decision", sa.String(10), nullable=False, index=True),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("campaign", sa.String(200), nullable=True, index=True),
        sa.Column("signals", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("pending", sa.Boolean, nullable=False, index=True),
        sa.Column("verdict", sa.String(20), nullable=True, index=True),
        sa.Column("verdict_at", TS, nullable=True),
        sa.Column("verdict_by", sa.String(200), nullable=True),
    )
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), sa.ForeignKey("events.id"), nullable=False,
                  index=True),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("campaign", sa.String(200), nullable=True),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_table(
        "breaker_state",
        sa.Column("scope", sa.String(40), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(12), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("since", TS, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("confirmed", sa.Boolean, nullable=False),
    )
    op.create_table(
        "breaker_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("scope", sa.String(40), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("previous_state", sa.String(10), nullable=False),
    )
    op.bulk_insert(
        sa.table("breaker_state", sa.column("scope"), sa.column("state"),
                 sa.column("confirmed")),
        [{"scope": s, "state": "open", "confirmed": False}
         for s in ("account.created", "project.created", "release.uploaded")],
    )


def downgrade() -> None:
    for table in ("breaker_audit", "breaker_state", "tokens", "verdicts", "events"):
        op.drop_table(table)
