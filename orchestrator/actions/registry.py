"""The one lookup of actions by name; ``default_registry()`` lists every shipped action."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from orchestrator.actions import (
    email,
    http_post,
    log,
    manual,
    note,
    page,
    proof,
    report,
    slack,
    tiktok,
    wait,
    webhook,
)
from orchestrator.actions.base import Action
from orchestrator.errors import NotFound

__all__ = ["ActionRegistry", "default_registry"]


class ActionRegistry:
    """Maps action names (``note``, ``http.post``, ``tiktok.revoke``...) to action instances."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            self.register(action)

    def register(self, action: Action) -> None:
        """Add ``action`` under its ``name``; a second action with the same name is a bug."""
        if action.name in self._actions:
            raise ValueError(f"action {action.name!r} is already registered")
        self._actions[action.name] = action

    def get(self, name: str) -> Action:
        """The action called ``name``; NotFound names the closest known actions."""
        try:
            return self._actions[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._actions), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise NotFound(f"unknown action {name!r}{hint}") from None

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._actions)

    def __contains__(self, name: object) -> bool:
        return name in self._actions


def default_registry() -> ActionRegistry:
    """A registry of every shipped action; new action modules are added to this list."""
    return ActionRegistry(
        [
            note.NoteAction(),
            log.LogAction(),
            wait.WaitAction(),
            manual.ManualAction(),
            http_post.HttpPostAction(),
            tiktok.KillSwitchAction(),
            tiktok.RevokeTokensAction(),
            tiktok.PurgeAction(),
            proof.VerifyRevokedAction(),
            proof.CensusAction(),
            slack.SlackOpenChannelAction(),
            slack.SlackPostAction(),
            email.EmailSendAction(),
            report.TikTokReportAction(),
            webhook.WebhookPostAction(),
            page.PageOncallAction(),
        ]
    )
