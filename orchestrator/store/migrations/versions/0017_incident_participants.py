"""who takes part in an incident: the people invited to its room, its lead, those who acted

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 02:00:00.000000

Non-admins invited to an incident's room may add notes and mark their manual steps done there;
the incident commander (`/ir lead`) and the people involved are shown on the card. A new table
only: rooms opened before it have no participants recorded (their people act as before, through
the admins and the steps that name them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None
additive = True


def upgrade() -> None:
    op.create_table(
        "incident_participants",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("joined", sa.String(length=16), nullable=False),
        sa.Column("lead", sa.Boolean(), nullable=False),
        sa.Column("since", orchestrator.store.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("incident_participants")
