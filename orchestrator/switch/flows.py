"""The story of a switch change: store and timeline in one commit, mirrors on both sides of it.

Engage publishes ``engaged`` to every mirror while the switch row is still locked (before the
commit) and again after it: an application must stop calling TikTok as early as possible,
and blocking it a moment too early is harmless. Release publishes only after the commit, so
a crash can leave the application blocked but never unblocked by mistake. A mirror that fails
is logged and skipped; ``sync_mirrors`` (run at start-up and by ``switch status``) repairs it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from orchestrator.config import Settings
from orchestrator.logging import get_logger
from orchestrator.store.db import Store, after_commit
from orchestrator.switch import mirror as switch_mirror
from orchestrator.switch import service
from orchestrator.switch.service import SwitchChange, SwitchState

__all__ = [
    "engage_in",
    "engage_switch",
    "publish",
    "release_in",
    "release_switch",
    "switch_status",
    "sync_mirrors",
]

_log = get_logger(__name__)


def publish(
    state: SwitchState, mirrors: Sequence[switch_mirror.SwitchMirror], *, force: bool = False
) -> list[str]:
    """Write ``state`` to every mirror; return the names of those that failed."""
    failed: list[str] = []
    for target in mirrors:
        try:
            target.publish(state.mirror_dict(), force=force)
        except Exception as exc:  # a mirror outage must not undo or block the change itself
            failed.append(type(target).__name__)
            _log.warning("switch_mirror_failed", mirror=type(target).__name__, error=type(exc).__name__)
    return failed


def engage_in(
    session: Session,
    settings: Settings,
    *,
    by: str,
    reason: str,
    incident_id: str | None = None,
    approved_by: str | None = None,
    mirrors: Sequence[switch_mirror.SwitchMirror] | None = None,
) -> SwitchChange:
    """Engage inside the caller's transaction: publish to the mirrors before its commit and
    again after it (``store.db.after_commit``)."""
    targets = switch_mirror.mirrors_for(settings) if mirrors is None else mirrors

    def publish_early(state: SwitchState) -> None:
        publish(state, targets)

    change = service.engage(
        session,
        by=by,
        reason=reason,
        incident_id=incident_id,
        approved_by=approved_by,
        before_commit=publish_early,
    )
    after_commit(session, lambda: publish(change.state, targets))
    return change


def engage_switch(
    store: Store,
    settings: Settings,
    *,
    by: str,
    reason: str,
    incident_id: str | None = None,
    approved_by: str | None = None,
    mirrors: Sequence[switch_mirror.SwitchMirror] | None = None,
) -> SwitchChange:
    """Engage in a transaction of its own (see ``engage_in``)."""
    with store.unit_of_work() as session:
        return engage_in(
            session,
            settings,
            by=by,
            reason=reason,
            incident_id=incident_id,
            approved_by=approved_by,
            mirrors=mirrors,
        )


def release_in(
    session: Session,
    settings: Settings,
    *,
    by: str,
    reason: str,
    approved_by: str | None = None,
    incident_id: str | None = None,
    mirrors: Sequence[switch_mirror.SwitchMirror] | None = None,
) -> SwitchChange:
    """Release inside the caller's transaction; publish to the mirrors only after its commit."""
    targets = switch_mirror.mirrors_for(settings) if mirrors is None else mirrors
    change = service.release(session, by=by, reason=reason, approved_by=approved_by, incident_id=incident_id)
    after_commit(session, lambda: publish(change.state, targets))
    return change


def release_switch(
    store: Store,
    settings: Settings,
    *,
    by: str,
    reason: str,
    approved_by: str | None = None,
    incident_id: str | None = None,
    mirrors: Sequence[switch_mirror.SwitchMirror] | None = None,
) -> SwitchChange:
    """Release (a person, with a reason) in a transaction of its own (see ``release_in``)."""
    with store.unit_of_work() as session:
        return release_in(
            session,
            settings,
            by=by,
            reason=reason,
            approved_by=approved_by,
            incident_id=incident_id,
            mirrors=mirrors,
        )


def switch_status(store: Store) -> SwitchState:
    """The stored state (the source of truth; mirrors follow it)."""
    with store.unit_of_work() as session:
        return service.status(session)


def sync_mirrors(
    store: Store, settings: Settings, *, mirrors: Sequence[switch_mirror.SwitchMirror] | None = None
) -> SwitchState:
    """Overwrite every mirror with the stored state (repairs a failed or rolled-back publish).

    It publishes while holding the switch row, so it cannot overwrite an engage that is
    between its early publish and its commit.
    """
    targets = switch_mirror.mirrors_for(settings) if mirrors is None else mirrors
    with store.unit_of_work() as session:
        state = service.status(session, lock=True)
        publish(state, targets, force=True)
    return state
