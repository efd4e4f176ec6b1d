"""Pending code scans are claimed: who took the row and when (SQLite; PostgreSQL locks rows).

Revision ID: 0005_scan_claims
Revises: 0004_verdict_batches
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_scan_claims"
down_revision = "0004_verdict_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("scan_claimed_by", sa.String(200), nullable=True))
    op.add_column("events", sa.Column("scan_claimed_at", sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("scan_claimed_at")
        batch.drop_column("scan_claimed_by")
