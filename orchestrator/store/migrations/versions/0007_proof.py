"""proof of revocation: verifications, proofs by fingerprint and census snapshots

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 17:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proof_verifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("revocation_id", sa.String(length=32), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("escalate", sa.Boolean(), nullable=False),
        sa.Column("created_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("proof_verifications", schema=None) as batch_op:
        batch_op.create_index("ix_proof_verifications_chain", ["chain"], unique=False)

    op.create_table(
        "proof_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("revocation_id", sa.String(length=32), nullable=False),
        sa.Column("verification_id", sa.Integer(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("open_id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("proof_results", schema=None) as batch_op:
        batch_op.create_index("ix_proof_results_revocation", ["revocation_id", "fingerprint"], unique=False)
        batch_op.create_index("ix_proof_results_verification", ["verification_id", "result"], unique=False)

    op.create_table(
        "proof_census",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=40), nullable=False),
        sa.Column("taken_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("proof_census", schema=None) as batch_op:
        batch_op.create_index("ix_proof_census_chain", ["chain", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("proof_census", schema=None) as batch_op:
        batch_op.drop_index("ix_proof_census_chain")
    op.drop_table("proof_census")
    with op.batch_alter_table("proof_results", schema=None) as batch_op:
        batch_op.drop_index("ix_proof_results_verification")
        batch_op.drop_index("ix_proof_results_revocation")
    op.drop_table("proof_results")
    with op.batch_alter_table("proof_verifications", schema=None) as batch_op:
        batch_op.drop_index("ix_proof_verifications_chain")
    op.drop_table("proof_verifications")
