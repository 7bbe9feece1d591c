"""Plan a revocation: stream each app's inventory, write the one ledger by app and fingerprint,
fan out batches of one app each.

Each app's inventory is streamed in batches and never loaded whole, the apps' chunks taken in
turn, so workers revoke every app at once, each with its own credentials and rate limit; each
batch of new ledger rows commits with its outbox row, so workers start revoking while planning goes on.
Named open_ids (from the compromise events) are planned first and marked ``first``. A token
another revocation already holds is not planned again: it joins this revocation as a member,
settled whenever its one ledger row is. Planning again after a crash skips members already
written.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, cast

from sqlalchemy import Table, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from orchestrator import clock, ids
from orchestrator.playbooks.flows import Transaction
from orchestrator.revocation.models import BatchRow, LedgerRow, MemberRow, RevocationRow
from orchestrator.settings_apps import DEFAULT_APP
from orchestrator.store import outbox
from orchestrator.tokens.fingerprint import fingerprint
from orchestrator.tokens.inventory import Scope, TokenInventory, TokenRecord

__all__ = ["BATCH_TOPIC", "get_or_create", "plan"]

BATCH_TOPIC = "revocation.batch"
_RETRIED = ("failed", "grant_lost", "gone")
_LEDGER = cast(Table, LedgerRow.__table__)
_MEMBERS = cast(Table, MemberRow.__table__)


def get_or_create(
    session: Session,
    *,
    key: str,
    scope: Scope,
    scope_text: str,
    priority_open_ids: Sequence[str],
    incident_id: str | None,
    run_id: str | None,
    rate_per_s: float,
    apps: Sequence[str],
    follows_incident: bool = False,
) -> tuple[RevocationRow, bool]:
    """The revocation for ``key`` (run:step) of the tokens of ``apps``, created on first call;
    True when created."""
    found = session.scalars(select(RevocationRow).where(RevocationRow.key == key)).first()
    if found is not None:
        return found, False
    row = RevocationRow(
        id="rev-" + ids.random_hex(12),
        key=key,
        incident_id=incident_id,
        run_id=run_id,
        scope={"spec": scope_text, **scope.as_dict()},
        apps=list(apps),
        priority_open_ids=list(dict.fromkeys(priority_open_ids)),
        status="planning",
        planned=0,
        plan_done=False,
        rate_per_s=rate_per_s,
        created_at=clock.utcnow(),
        follows_incident=follows_incident,
    )
    session.add(row)
    session.flush()
    return row, True


def _records(
    inventory: TokenInventory, scope: Scope, priority: Sequence[str], size: int
) -> Iterator[tuple[list[TokenRecord], bool]]:
    """The scope's records in chunks, the named open_ids first (flagged True)."""
    if priority:
        wanted = [oid for oid in priority if scope.open_ids is None or oid in scope.open_ids]
        if wanted:
            first = Scope(open_ids=tuple(wanted), label=scope.label, tenant=scope.tenant)
            for chunk in inventory.stream(first, size):
                yield chunk, True
    for chunk in inventory.stream(scope, size):
        yield chunk, False


def _insert_ignoring_conflicts(session: Session, table: Any) -> Any:
    """An INSERT that skips rows whose unique key is taken (by another revocation's planning)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _interleaved(
    streams: dict[str, Iterator[tuple[list[TokenRecord], bool]]],
) -> Iterator[tuple[str, list[TokenRecord], bool]]:
    """The apps' chunks in turn (app, chunk, named), so no app waits for another's planning."""
    live = dict(streams)
    while live:
        for app, stream in list(live.items()):
            chunk = next(stream, None)
            if chunk is None:
                del live[app]
            else:
                yield app, *chunk


def _write_batch(
    session: Session, revocation_id: str, app: str, records: list[TokenRecord], *, named: bool
) -> int:
    """Put a chunk of ``app``'s scope in the one ledger; return how many tokens joined the revocation.

    A token no revocation holds yet gets a ledger row in a new batch of this revocation; one
    another revocation holds stays with it (it is sent once) and only becomes a member here,
    named ones marked to go first. A token that failed (or was gone) in a finished revocation is
    tried again in this one's batch.
    """
    unique = {fingerprint(r.access_token): r.open_id for r in records}
    now = clock.utcnow()
    batch = BatchRow(revocation_id=revocation_id, app=app, open_ids=sorted(set(unique.values())), done=False)
    session.add(batch)
    session.flush()
    connection = session.connection()
    fresh = {"revocation_id": revocation_id, "batch_id": batch.id, "status": "pending", "first": named}
    inserted = {
        row_id
        for (row_id,) in connection.execute(
            _insert_ignoring_conflicts(session, _LEDGER).returning(_LEDGER.c.id),
            [
                {"app": app, "fingerprint": fp, "open_id": oid, "attempts": 0, **fresh}
                for fp, oid in unique.items()
            ],
        )
    }
    held = [
        row
        for row in connection.execute(
            select(_LEDGER.c.id, _LEDGER.c.status, _LEDGER.c.revocation_id).where(
                _LEDGER.c.app == app, _LEDGER.c.fingerprint.in_(list(unique))
            )
        )
        if row.id not in inserted
    ]
    owners_done = set(
        connection.scalars(
            select(RevocationRow.id).where(
                RevocationRow.id.in_({row.revocation_id for row in held}), RevocationRow.status == "finished"
            )
        )
    )
    retried = [row.id for row in held if row.status in _RETRIED and row.revocation_id in owners_done]
    if retried:
        connection.execute(
            update(_LEDGER)
            .where(_LEDGER.c.id.in_(retried), _LEDGER.c.status.in_(_RETRIED))
            .values(**fresh, claimed_by=None, error=None, updated_at=now)
        )
    waiting = [row.id for row in held if row.status == "pending"]
    if named and waiting:
        connection.execute(update(_LEDGER).where(_LEDGER.c.id.in_(waiting)).values(first=True))
    if inserted or retried:
        outbox.enqueue(session, topic=BATCH_TOPIC, ref_id=str(batch.id), now=now)
    else:
        session.delete(batch)
    joined = connection.execute(
        _insert_ignoring_conflicts(session, _MEMBERS).returning(_MEMBERS.c.ledger_id),
        [
            {"revocation_id": revocation_id, "ledger_id": row_id}
            for row_id in [*inserted, *(r.id for r in held)]
        ],
    ).all()
    return len(joined)


def plan(
    transaction: Transaction, *, revocation_id: str, inventories: dict[str, TokenInventory], batch_size: int
) -> int:
    """Write every token in scope of each app (name -> its inventory) not planned yet to the
    ledger, a batch at a time; return how many joined the revocation.

    An app is marked planned once its inventory was streamed in full, and planning is done
    (``plan_done``) when every app of the revocation is: an app taken in later (``extension``)
    is planned by another worker meanwhile, and the revocation does not finish before it is.
    """
    with transaction() as session:
        row = session.get(RevocationRow, revocation_id)
        if row is None:
            return 0
        planned = _planned(row)
        scope = Scope.parse(str(row.scope.get("spec", "all")))
        priority = list(row.priority_open_ids or [])
    todo = {app: inventory for app, inventory in inventories.items() if app not in planned}
    if not todo:
        return 0
    total, seen, analyse_at = 0, 0, batch_size
    streams = {app: _records(inventory, scope, priority, batch_size) for app, inventory in todo.items()}
    for app, records, named in _interleaved(streams):
        for chunk in _chunks(records, batch_size):
            seen += len(chunk)
            with transaction() as session:
                added = _write_batch(session, revocation_id, app, chunk, named=named)
                # An UPDATE, not SELECT ... FOR UPDATE: on PostgreSQL its lock lets the foreign-key
                # checks of workers moving named rows to this revocation through; a FOR UPDATE held
                # while this waited on those rows was a deadlock.
                _revocation(session, revocation_id, planned=RevocationRow.planned + added)
                if seen >= analyse_at:
                    _refresh_statistics(session)
                    analyse_at = 2 * seen
            total += added
    with transaction() as session:
        row = session.get(RevocationRow, revocation_id, with_for_update={"key_share": True})
        if row is not None:
            done = _planned(row) | set(todo)
            apps = row.apps or [DEFAULT_APP]
            row.planned_apps = [app for app in apps if app in done]
            row.plan_done = set(apps) <= done
            if row.plan_done and row.status == "planning":
                row.status = "running"
    return total


def _planned(row: RevocationRow) -> set[str]:
    """The apps of the revocation planned in full (all of them for one planned before 0022)."""
    if row.planned_apps is None and row.plan_done:
        return set(row.apps or [DEFAULT_APP])
    return set(row.planned_apps or [])


def _revocation(session: Session, revocation_id: str, **values: Any) -> None:
    session.execute(update(RevocationRow).where(RevocationRow.id == revocation_id).values(**values))


def _refresh_statistics(session: Session) -> None:
    """ANALYZE the ledger on PostgreSQL each time planning has doubled it.

    The planning queries look up a batch's fingerprints in a table growing by thousands of rows
    a second. Without fresh statistics PostgreSQL guesses a revocation holds a few hundred rows
    and scans all of its rows for every batch, slower as the ledger grows (autovacuum's analyse
    lags behind a table growing this fast). Doubling keeps every
    estimate within a factor of two for about twenty ANALYZEs in a million rows.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE revocation_ledger"))


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
