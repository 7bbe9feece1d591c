"""revocations, batches and the token ledger

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 17:12:31.423870
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("priority_open_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("plan_done", sa.Boolean(), nullable=False),
        sa.Column("rate_per_s", sa.Double(), nullable=False),
        sa.Column("created_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("alarm", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "revocation_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("revocation_id", sa.String(length=32), nullable=False),
        sa.Column("open_ids", sa.JSON(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("lease_until", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["revocation_id"],
            ["revocations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("revocation_batches", schema=None) as batch_op:
        batch_op.create_index("ix_revocation_batches_revocation", ["revocation_id", "done"], unique=False)

    op.create_table(
        "revocation_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("revocation_id", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("open_id", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=40), nullable=True),
        sa.Column("claimed_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("log_id", sa.String(length=100), nullable=True),
        sa.Column("updated_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["revocation_id"],
            ["revocations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("revocation_id", "fingerprint", name="uq_ledger_revocation_fingerprint"),
    )
    with op.batch_alter_table("revocation_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_batch", ["batch_id", "status"], unique=False)
        batch_op.create_index("ix_ledger_status", ["revocation_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("revocation_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_status")
        batch_op.drop_index("ix_ledger_batch")

    op.drop_table("revocation_ledger")
    with op.batch_alter_table("revocation_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_revocation_batches_revocation")

    op.drop_table("revocation_batches")
    op.drop_table("revocations")
