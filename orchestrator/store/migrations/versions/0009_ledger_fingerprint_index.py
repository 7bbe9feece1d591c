"""an index on the revocation ledger's fingerprints, for planning

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 23:55:00.000000

Planning a batch asks whether an earlier revocation already killed its tokens (fingerprint IN
..., another revocation). With no index led by the fingerprint, PostgreSQL scanned every revoked
row of the ledger for each batch: planning slowed as the ledger grew, quadratic over a
revocation, and it set the pace of the 1M-token benchmark.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("revocation_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_fingerprint", ["fingerprint"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("revocation_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_fingerprint")
