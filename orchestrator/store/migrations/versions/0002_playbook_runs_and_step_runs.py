"""playbook runs and step runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:45:47.053908
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "playbook_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("playbook_name", sa.String(length=128), nullable=False),
        sa.Column("playbook_hash", sa.String(length=80), nullable=False),
        sa.Column("playbook", sa.JSON(), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=True),
        sa.Column("event_id", sa.String(length=32), nullable=True),
        sa.Column("once_key", sa.String(length=200), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("wake_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("once_key"),
    )
    op.create_table(
        "step_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approval_requested_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approval", sa.String(length=16), nullable=True),
        sa.Column("approval_by", sa.String(length=128), nullable=True),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_until", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["playbook_runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "step_id", name="uq_step_runs_run_step"),
    )


def downgrade() -> None:

    op.drop_table("step_runs")
    op.drop_table("playbook_runs")
