"""bind a Slack release request to the switch version it was asked for

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 19:00:00.000000

A request asked while the switch was engaged for one compromise must not release a later
engagement for another (issue 22, finding 2): ``decide_release`` compares this column with the
switch's version and refuses a request the switch has moved past. Rows from before this
revision have none and are refused the same way (asking again takes one command).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None
additive = True


def upgrade() -> None:
    with op.batch_alter_table("slack_release_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("switch_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slack_release_requests", schema=None) as batch_op:
        batch_op.drop_column("switch_version")
