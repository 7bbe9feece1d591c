"""replay keys: delivery ids and signatures the intake must not accept twice

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replay_keys",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("expires_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_replay_keys_expires_at", "replay_keys", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_replay_keys_expires_at", table_name="replay_keys")
    op.drop_table("replay_keys")
