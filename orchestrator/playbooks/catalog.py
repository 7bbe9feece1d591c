"""Where playbooks come from: the shipped ones (inside the package) and the configured folders.

The shipped YAML lives in the repository's ``playbooks/`` folder; ``orchestrator/playbooks/shipped``
links to it and the wheel carries it as package data, so every install, editable or not, has
the same playbooks at the same place. Loading is all-or-nothing: one invalid playbook stops the
service from starting, so a broken file is never silently skipped. A worker also refuses to
start when no playbook would engage the kill switch for a critical compromise: without one, a
critical event would open an incident and nothing would disconnect the application.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator import clock
from orchestrator.config import Settings
from orchestrator.errors import PlaybookError
from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.playbooks.loader import load_playbooks
from orchestrator.playbooks.schemas import Playbook
from orchestrator.switch import KILL_SWITCH_ACTION

if TYPE_CHECKING:  # annotations only: the registry sits above the domain and is handed in
    from orchestrator.playbooks.action import ActionRegistry

__all__ = [
    "CRITICAL_COMPROMISE_KIND",
    "SHIPPED_DIR",
    "critical_handlers",
    "load_catalog",
    "playbook_dirs",
    "require_critical_handler",
]

SHIPPED_DIR = Path(__file__).parent / "shipped"
"""The shipped playbooks: package data in a wheel, a link to ``playbooks/`` in a checkout."""

CRITICAL_COMPROMISE_KIND = "host.compromise"


def playbook_dirs(settings: Settings) -> list[Path]:
    """The shipped folder (unless ``shipped_playbooks`` is off) followed by every configured folder."""
    shipped = [SHIPPED_DIR] if settings.shipped_playbooks else []
    return [*shipped, *(Path(d) for d in settings.playbook_dirs)]


def load_catalog(settings: Settings, registry: ActionRegistry) -> dict[str, Playbook]:
    """Every playbook by name, checked against ``registry``; PlaybookError (file:line:column)
    when any is invalid."""
    return load_playbooks(playbook_dirs(settings), registry=registry)


def critical_handlers(playbooks: Mapping[str, Playbook]) -> list[str]:
    """The playbooks a critical compromise (a critical ``host.compromise`` posted to the generic
    intake, with no labels or entities) starts and that engage the kill switch."""
    now = clock.utcnow()
    probe = CompromiseEvent(
        source="generic",
        kind=CRITICAL_COMPROMISE_KIND,
        severity=Severity.CRITICAL,
        title="a critical compromise",
        observed_at=now,
        received_at=now,
        dedup_key="critical-compromise-probe",
    )
    return sorted(
        name
        for name, book in playbooks.items()
        if book.matches(probe) and any(step.action == KILL_SWITCH_ACTION for step in book.iter_steps())
    )


def require_critical_handler(playbooks: Mapping[str, Playbook], settings: Settings) -> None:
    """PlaybookError unless some playbook engages the kill switch for a critical compromise."""
    if critical_handlers(playbooks):
        return
    folders = ", ".join(str(d) for d in playbook_dirs(settings)) or "no folder"
    raise PlaybookError(
        f"no playbook engages the kill switch ({KILL_SWITCH_ACTION}) for a critical "
        f"{CRITICAL_COMPROMISE_KIND} (playbooks from {folders}): a critical event would open an "
        "incident and disconnect nothing; load the shipped playbooks (shipped_playbooks: true) or add one"
    )
