"""outbox dead letters, the index the retention sweep finds old raw event bodies by, and
bounded incident entity lists with exact counts

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 22:30:00.000000

A row the relay sent ``outbox_max_attempts`` times without a worker finishing it gets
``dead_at``: the relay stops sending it until a person retries it. The retention sweep empties
the raw bodies of events older than ``retention_days``; a partial index on the events that
still hold one keeps each of its batches a range of that index, not a scan of every event
ever received (the events already emptied leave it).

An incident keeps the first 1,000 values of each entity kind on its row and the exact count of
distinct values in ``entity_counts``, kept through ``incident_entities`` (one row per distinct
value, by SHA-256 digest). Existing incidents are backfilled from their lists, which are cut to
1,000 values a kind.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None
additive = False  # it backfills entity counts and cuts existing entity lists: stop workers first

_RAW_KEPT = sa.text("raw IS NOT NULL")
_LIST_MAX = 1000  # incidents/entities.LIST_MAX when this migration was written

_incidents = sa.table(
    "incidents",
    sa.column("id", sa.String()),
    sa.column("entities", sa.JSON()),
    sa.column("entity_counts", sa.JSON()),
)
_entities = sa.table(
    "incident_entities",
    sa.column("incident_id", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("digest", sa.String()),
)


def _backfill_entities() -> None:
    bind = op.get_bind()
    for incident_id, lists in bind.execute(sa.select(_incidents.c.id, _incidents.c.entities)).all():
        distinct = {kind: list(dict.fromkeys(values or ())) for kind, values in (lists or {}).items()}
        rows = [
            {"incident_id": incident_id, "kind": kind, "digest": hashlib.sha256(value.encode()).hexdigest()}
            for kind, values in distinct.items()
            for value in values
        ]
        for start in range(0, len(rows), 2000):
            bind.execute(sa.insert(_entities), rows[start : start + 2000])
        bind.execute(
            sa.update(_incidents)
            .where(_incidents.c.id == incident_id)
            .values(
                entities={kind: values[:_LIST_MAX] for kind, values in distinct.items()},
                entity_counts={kind: len(values) for kind, values in distinct.items()},
            )
        )


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dead_at", orchestrator.store.db.UTCDateTime(), nullable=True))
    op.create_index(
        "ix_events_raw_kept",
        "events",
        ["received_at"],
        unique=False,
        sqlite_where=_RAW_KEPT,
        postgresql_where=_RAW_KEPT,
    )
    op.create_table(
        "incident_entities",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "kind", "digest"),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entity_counts", sa.JSON(), nullable=False, server_default="{}"))
    _backfill_entities()


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("entity_counts")
    op.drop_table("incident_entities")
    op.drop_index("ix_events_raw_kept", table_name="events")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("dead_at")
