"""Events scored without their files are marked, so a replay scores them the same way.

Revision ID: 0008_files_deferred
Revises: 0007_stream_marks
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_files_deferred"
down_revision = "0007_stream_marks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Older rows keep false: they were deferred by size alone, which a replay still
    # recognises (service.ingest.scored_form).
    op.add_column("events", sa.Column("files_deferred", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("files_deferred")
