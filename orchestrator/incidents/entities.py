"""An incident's entities: the first ``LIST_MAX`` values of each kind on the row, exact counts beside.

A storm from a million addresses must not grow the incident's row (every commit that touches the
incident rewrites it) yet its count must stay exact. Every distinct value is recorded once in
``incident_entities`` by digest, with one multi-row ``INSERT ... ON CONFLICT DO NOTHING`` per
flush for all the values a transaction met for the first time; the rows it really inserted are
the new distinct values, and ``entity_counts`` grows by them. Within a transaction a value
already met costs nothing: the incident's lists and the values met so far are kept in a set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from orchestrator.events.schemas import Entities
from orchestrator.incidents.models import IncidentEntityRow, IncidentRow
from orchestrator.store.db import transaction_scoped

__all__ = ["LIST_MAX", "NAMES", "merge"]

LIST_MAX = 1000
"""Values of one kind kept on the incident's row (the first seen): what playbooks, cards and
reports name; priority revocation of named open_ids covers these, the rest are revoked in turn."""

NAMES = tuple(Entities.model_fields)

_KNOWN = "incidents.entities.known"
"""transaction_scoped: incident id -> (its entities dict, the values met per kind)."""
_NEW = "incidents.entities.new"
"""transaction_scoped: incident id -> (the incident, [(kind, digest)] met first in this transaction)."""


_CHUNK = 2000
"""Rows of one INSERT: three parameters each, well under SQLite's 32,766."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def merge(session: Session, incident: IncidentRow, entities: Mapping[str, Any]) -> None:
    """Add an event's entities to its incident's, in first-seen order, up to ``LIST_MAX`` a kind;
    the values met for the first time in this transaction are counted at the next flush."""
    known_by_incident: dict[str, tuple[dict[str, list[str]], dict[str, set[str]]]]
    known_by_incident = transaction_scoped(session, _KNOWN, dict)
    current: dict[str, list[str]] = incident.entities if incident.entities is not None else {}
    known = known_by_incident.get(incident.id)
    if known is None or known[0] is not current:
        known = known_by_incident[incident.id] = (
            current,
            {name: set(current.get(name) or ()) for name in NAMES},
        )
    met = known[1]
    new: list[tuple[str, str]] = []
    changed = not all(name in current for name in NAMES)
    for name in NAMES:
        values = current.setdefault(name, [])
        for value in entities.get(name) or ():
            if value in met[name]:
                continue
            met[name].add(value)
            new.append((name, _digest(value)))
            if len(values) < LIST_MAX:
                values.append(value)
                changed = True
    if new:
        pending: dict[str, tuple[IncidentRow, list[tuple[str, str]]]]
        pending = transaction_scoped(session, _NEW, dict)
        pending.setdefault(incident.id, (incident, []))[1].extend(new)
    if changed:
        if incident.entities is not current:
            incident.entities = current
        flag_modified(incident, "entities")  # a JSON column: the ORM does not see in-place changes


@event.listens_for(Session, "before_flush")
def _count_new_values(session: Session, _context: Any, _instances: Any) -> None:
    """Record the values met first in this transaction and count those no earlier one recorded."""
    pending: dict[str, tuple[IncidentRow, list[tuple[str, str]]]]
    pending = transaction_scoped(session, _NEW, dict)
    if not pending:
        return
    rows = [
        {"incident_id": incident_id, "kind": kind, "digest": digest}
        for incident_id, (_, values) in pending.items()
        for kind, digest in values
    ]
    incidents = {incident_id: incident for incident_id, (incident, _) in pending.items()}
    pending.clear()
    dialect: Any = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    table = IncidentEntityRow.__table__
    counted: dict[str, dict[str, int]] = {}
    for start in range(0, len(rows), _CHUNK):
        statement = dialect.insert(table).values(rows[start : start + _CHUNK]).on_conflict_do_nothing()
        for incident_id, kind in session.execute(statement.returning(table.c.incident_id, table.c.kind)):
            counts = counted.setdefault(incident_id, dict(incidents[incident_id].entity_counts or {}))
            counts[kind] = counts.get(kind, 0) + 1
    for incident_id, counts in counted.items():
        incidents[incident_id].entity_counts = counts
