"""Verdict batches: every verdict action is a batch that can be undone; where a verdict
came from (single, wave, undo) on the verdict rows and on the event.

Revision ID: 0004_verdict_batches
Revises: 0003_stream_log
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_verdict_batches"
down_revision = "0003_stream_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("verdicts") as batch:
        batch.alter_column("verdict", existing_type=sa.String(20), nullable=True)
        batch.add_column(sa.Column("source", sa.String(10), nullable=False,
                                   server_default="single"))
        batch.add_column(sa.Column("batch", sa.String(40), nullable=True))
        batch.add_column(sa.Column("previous", sa.String(20), nullable=True))
        batch.add_column(sa.Column("undoes", sa.String(40), nullable=True))
        batch.create_index("ix_verdicts_batch", ["batch"])
        batch.create_index("ix_verdicts_undoes", ["undoes"])
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("verdict_source", sa.String(10), nullable=True))
        batch.add_column(sa.Column("verdict_batch", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("verdict_batch")
        batch.drop_column("verdict_source")
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_index("ix_verdicts_undoes")
        batch.drop_index("ix_verdicts_batch")
        batch.drop_column("undoes")
        batch.drop_column("previous")
        batch.drop_column("batch")
        batch.drop_column("source")
        batch.alter_column("verdict", existing_type=sa.String(20), nullable=False)
