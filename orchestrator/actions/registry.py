"""``default_registry()``: every shipped action, in the registry the engine defines."""

from __future__ import annotations

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
from orchestrator.playbooks.action import ActionRegistry

__all__ = ["ActionRegistry", "default_registry"]


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
