"""the TikTok apps an incident concerns

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 06:00:00.000000

Issue 27: an event's ``entities.client_keys`` names the apps it concerns and the incident records
them (``incidents.apps``, the configured app names; null: every app). Null is what the previous
release meant by every incident, so its workers run on as before: additive.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None
additive = True


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("apps", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("apps")
