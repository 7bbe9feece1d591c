"""Who may run restricted `/ir` commands and which playbooks: Slack user and user-group ids from config."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from orchestrator.config import Settings

__all__ = ["OPEN_COMMANDS", "Access"]

OPEN_COMMANDS: Final = frozenset({"help", "status", "list", "timeline"})
_GROUP_CACHE_SECONDS: Final = 60.0


class Access:
    """Decides from ``slack_admins`` (``U...``/``W...`` users, ``S...`` user groups) and
    ``slack_playbooks_allowed``; group members are fetched with ``members`` and cached a minute.
    A group that cannot be read grants nothing (fail closed)."""

    def __init__(
        self,
        settings: Settings,
        members: Callable[[str], Sequence[str]] | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admins = frozenset(a.strip() for a in settings.slack_admins if a.strip())
        self._playbooks = frozenset(settings.slack_playbooks_allowed)
        self._members = members
        self._now = now
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def _group(self, group: str) -> frozenset[str]:
        with self._lock:
            cached = self._cache.get(group)
            if cached is not None and cached[0] > self._now():
                return cached[1]
        if self._members is None:
            return frozenset()
        try:
            found = frozenset(self._members(group))
        except Exception:  # Slack down or the group gone: nobody gets in through it
            return frozenset()
        with self._lock:
            self._cache[group] = (self._now() + _GROUP_CACHE_SECONDS, found)
        return found

    def may_run(self, user_id: str, command: str) -> bool:
        """True for the open commands, and for admins (directly or through a user group)."""
        if command in OPEN_COMMANDS:
            return True
        if user_id in self._admins:
            return True
        return any(user_id in self._group(g) for g in sorted(self._admins) if g.startswith("S"))

    def admin_users(self) -> list[str]:
        """Every admin, named directly or through a user group (for a refusal that says who can)."""
        users = [a for a in sorted(self._admins) if not a.startswith("S")]
        for group in sorted(a for a in self._admins if a.startswith("S")):
            users += sorted(self._group(group))
        return list(dict.fromkeys(users))

    def groups_of(self, user_id: str, names: Sequence[str]) -> frozenset[str]:
        """The user groups (``S...``) among ``names`` that ``user_id`` belongs to."""
        return frozenset(g for g in names if g.startswith("S") and user_id in self._group(g))

    def may_start(self, playbook: str) -> bool:
        return "*" in self._playbooks or playbook in self._playbooks

    def allowed_playbooks(self, names: Sequence[str]) -> list[str]:
        return [n for n in names if self.may_start(n)]
