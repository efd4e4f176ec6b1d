"""Verdicts that change the stream state, in the one log: `stream_marks`.

A benign verdict on a campaign or a member unlinks it in the detector's state; the change
is stored at its own log position (drawn with `events.seq`, under the stream lock), so
every replica and every replay applies it after exactly the events it followed.

Revision ID: 0007_stream_marks
Revises: 0006_cohort_scopes
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_stream_marks"
down_revision = "0006_cohort_scopes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_marks",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("campaign", sa.String(200), nullable=True),
        sa.Column("accounts", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stream_marks")
