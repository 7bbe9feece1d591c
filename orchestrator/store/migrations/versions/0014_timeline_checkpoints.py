"""signed checkpoints of each timeline chain's head

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:30:00.000000

A hash chain cannot show that its last entries were cut off. Each checkpoint is an Ed25519
signature over a chain's head (seq, hash, time), taken at lifecycle milestones and at least every
minute while entries arrive, and handed out beyond the store (Slack card, report email, evidence
bundles): a chain that no longer reaches a checkpoint, or differs from it, is broken. Like the
entries, checkpoints are append-only: PostgreSQL refuses UPDATE and DELETE on them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None
additive = True


def upgrade() -> None:
    op.create_table(
        "timeline_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("at", orchestrator.store.db.UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=80), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("timeline_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_timeline_checkpoints_chain"), ["chain"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER timeline_checkpoints_append_only BEFORE UPDATE OR DELETE ON timeline_checkpoints "
            "FOR EACH ROW EXECUTE FUNCTION timeline_refuse_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS timeline_checkpoints_append_only ON timeline_checkpoints")
    with op.batch_alter_table("timeline_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timeline_checkpoints_chain"))
    op.drop_table("timeline_checkpoints")
