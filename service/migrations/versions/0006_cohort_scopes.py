"""Breaker cohort scopes: a scope may name one cohort of an event type
(``account.created|email_domain:uni.edu``, ``detector.breaker_scope``), longer than the
40 characters an event type needed.

Revision ID: 0006_cohort_scopes
Revises: 0005_scan_claims
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_cohort_scopes"
down_revision = "0005_scan_claims"
branch_labels = None
depends_on = None

SCOPE_CHARS = 400


def upgrade() -> None:
    for table in ("breaker_state", "breaker_audit"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("scope", type_=sa.String(SCOPE_CHARS),
                               existing_type=sa.String(40), existing_nullable=False)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM breaker_state WHERE scope LIKE '%|%'"))
    for table in ("breaker_state", "breaker_audit"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("scope", type_=sa.String(40),
                               existing_type=sa.String(SCOPE_CHARS), existing_nullable=False)
