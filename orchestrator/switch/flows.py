"""The story of a switch change: store and timeline in one commit, mirrors on both sides of it.

Engage publishes ``engaged`` to every mirror while the switch row is still locked (before the
commit) and again after it: an application must stop calling TikTok as early as possible,
and blocking it a moment too early is harmless. Release publishes only after the commit, so
a crash can leave the application blocked but never unblocked by mistake. A mirror that fails
is logged and skipped; ``sync_mirrors`` (run at start-up and by ``switch status``) repairs it.
A mirror carries every switch (``service.SwitchBoard``), read in the changing transaction.
Changing an app's switch (``app``) needs that app configured (``settings.app_names``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from orchestrator.config import Settings
from orchestrator.errors import NotFound
from orchestrator.logging import get_logger
from orchestrator.store.db import Store, after_commit
from orchestrator.switch import mirror as switch_mirror
from orchestrator.switch import service
from orchestrator.switch.service import SwitchBoard, SwitchChange

__all__ = [
    "engage_in",
    "engage_switch",
    "publish",
    "release_in",
    "release_switch",
    "require_app",
    "switch_status",
    "sync_mirrors",
]

_log = get_logger(__name__)


def publish(
    board: SwitchBoard, mirrors: Sequence[switch_mirror.SwitchMirror], *, force: bool = False
) -> list[str]:
    """Write ``board`` to every mirror; return the names of those that failed."""
    failed: list[str] = []
    for target in mirrors:
        try:
            target.publish(board.mirror_dict(), force=force)
        except Exception as exc:  # a mirror outage must not undo or block the change itself
            failed.append(type(target).__name__)
            _log.warning("switch_mirror_failed", mirror=type(target).__name__, error=type(exc).__name__)
    return failed


def require_app(settings: Settings, app: str | None) -> None:
    """NotFound naming the configured apps unless ``app`` is one of them (None: every app)."""
    if app is not None and app not in settings.app_names:
        raise NotFound(f"no TikTok app {app!r} (configured: {', '.join(settings.app_names)})")


def engage_in(
    session: Session,
    settings: Settings,
    *,
    by: str,
    reason: str,
    app: str | None = None,
    incident_id: str | None = None,
    approved_by: str | None = None,
    mirrors: Sequence[switch_mirror.SwitchMirror] | None = None,
) -> SwitchChange:
    """Engage ``app``'s switch (None: every app's) inside the caller's transaction: publish to
    the mirrors before its commit and again after it (``store.db.after_commit``)."""
    require_app(settings, app)
    targets = switch_mirror.mirrors_for(settings) if mirrors is None else mirrors
    boards: list[SwitchBoard] = []

    def publish_early(_state: object) -> None:
        boards.append(service.board(session, settings.app_names))
        publish(boards[0], targets)

    change = service.engage(
        session,
        by=by,
        reason=reason,
        app=app,
        incident_id=incident_id,
        approved_by=approved_by,
        before_commit=publish_early,
    )
    after_commit(session, lambda: publish(boards[0], targets))
    return change


def engage_switch(
    store: Store,
    settings: Settings,
    *,
    by: str,
    reason: str,
    app: str | None = None,
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
            app=app,
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
    app: str | None = None,
    approved_by: str | None = None,
    incident_id: str | None = None,
    mirrors: Sequence[switch_mirror.SwitchMirror] | None = None,
) -> SwitchChange:
    """Release ``app``'s switch (None: the all-apps switch; never another) inside the caller's
    transaction; publish to the mirrors only after its commit."""
    require_app(settings, app)
    targets = switch_mirror.mirrors_for(settings) if mirrors is None else mirrors
    change = service.release(
        session, by=by, reason=reason, app=app, approved_by=approved_by, incident_id=incident_id
    )
    board = service.board(session, settings.app_names)
    after_commit(session, lambda: publish(board, targets))
    return change


def release_switch(
    store: Store,
    settings: Settings,
    *,
    by: str,
    reason: str,
    app: str | None = None,
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
            app=app,
            approved_by=approved_by,
            incident_id=incident_id,
            mirrors=mirrors,
        )


def switch_status(store: Store, settings: Settings) -> SwitchBoard:
    """Every switch as stored (the source of truth; mirrors follow it)."""
    with store.unit_of_work() as session:
        return service.board(session, settings.app_names)


def sync_mirrors(
    store: Store, settings: Settings, *, mirrors: Sequence[switch_mirror.SwitchMirror] | None = None
) -> SwitchBoard:
    """Overwrite every mirror with the stored switches (repairs a failed or rolled-back publish).

    It publishes while holding the all-apps switch's row, which every change locks first, so it
    cannot overwrite an engage that is between its early publish and its commit.
    """
    targets = switch_mirror.mirrors_for(settings) if mirrors is None else mirrors
    with store.unit_of_work() as session:
        board = service.board(session, settings.app_names, lock=True)
        publish(board, targets, force=True)
    return board
