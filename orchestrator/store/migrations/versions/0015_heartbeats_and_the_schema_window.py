"""heartbeats of workers and the scheduler; the schema window; the ledger by update time

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 22:30:00.000000

Workers and the scheduler answer no HTTP: each writes its heartbeat to ``heartbeats`` and any
API process reads them for ``/readyz`` and ``/metrics``. ``schema_window`` holds the oldest
revision whose code still runs on this store (written by the migration environment), so the
previous release can tell a rolling upgrade from a schema it must refuse. The ledger's
``updated_at`` index answers "when was a token last settled" at each scrape; it is built
``CONCURRENTLY`` so revocations keep writing while it builds. Additive: the previous release
runs on it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db
from orchestrator.store.migrate import create_index_concurrently

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None
additive = True


def upgrade() -> None:
    # First: the concurrent build commits what came before it, and a retry (lock timeout) must
    # not find half of this migration done.
    create_index_concurrently("ix_ledger_updated", "revocation_ledger", ["updated_at"])
    op.create_table(
        "heartbeats",
        sa.Column("process", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("queues", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=100), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", orchestrator.store.db.UTCDateTime(), nullable=False),
        sa.Column("beat_at", orchestrator.store.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("process"),
    )
    op.create_table(
        "schema_window",
        sa.Column("oldest_revision", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("oldest_revision"),
    )


def downgrade() -> None:
    with op.batch_alter_table("revocation_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_updated")
    op.drop_table("schema_window")
    op.drop_table("heartbeats")
