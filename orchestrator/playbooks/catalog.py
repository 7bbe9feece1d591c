"""Where playbooks come from: the shipped ``playbooks/`` folder and the configured extra folders.

Loading is all-or-nothing: one invalid playbook stops the service from starting, so a
broken file is never silently skipped.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.actions.registry import ActionRegistry, default_registry
from orchestrator.config import Settings
from orchestrator.playbooks.loader import load_playbooks
from orchestrator.playbooks.schemas import Playbook

__all__ = ["SHIPPED_DIR", "load_catalog", "playbook_dirs"]

SHIPPED_DIR = Path(__file__).resolve().parent.parent.parent / "playbooks"
"""The repository's ``playbooks/`` folder (present in a source checkout or editable install)."""


def playbook_dirs(settings: Settings) -> list[Path]:
    """The shipped folder (when present) followed by every configured folder."""
    dirs = [SHIPPED_DIR] if SHIPPED_DIR.is_dir() else []
    return [*dirs, *(Path(d) for d in settings.playbook_dirs)]


def load_catalog(settings: Settings, registry: ActionRegistry | None = None) -> dict[str, Playbook]:
    """Every playbook by name; PlaybookError (file:line:column) when any is invalid."""
    return load_playbooks(playbook_dirs(settings), registry=registry or default_registry())
