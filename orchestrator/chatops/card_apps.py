"""Each TikTok app's state for the card and `/ir status`: its switch, and its tokens revoked of total.

Shown only when it says something: several apps configured, or an incident concerning named
apps. A single-app deployment's card and status read as before. An app is disconnected while its
own switch or the all-apps switch is engaged (``switch.service.SwitchBoard.engaged_for``); the
counts are the revocation ledger's, over every revocation of the incident (``revocation.members``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from orchestrator.incidents.models import IncidentRow
from orchestrator.revocation import members
from orchestrator.switch.service import SwitchBoard

__all__ = ["AppState", "app_states", "apps_text", "shows_apps", "switch_text"]


@dataclass(frozen=True)
class AppState:
    """One app on the card: its own switch, whether the incident concerns it, its revocation."""

    name: str
    engaged: bool  # its own switch (the all-apps switch is the card's ``switch_engaged``)
    concerned: bool
    figures: Mapping[str, int] | None = None  # ``revocation.members.figures``; None: no revocation


def shows_apps(app_names: Sequence[str], incident_apps: Sequence[str] | None = None) -> bool:
    """Whether the apps are worth showing: several configured, or the incident names some."""
    return len(app_names) > 1 or incident_apps is not None


def app_states(
    session: Session, incident: IncidentRow, board: SwitchBoard, app_names: Sequence[str]
) -> tuple[AppState, ...]:
    """Every configured app's state for ``incident``'s card; none when ``shows_apps`` says no."""
    if not shows_apps(app_names, incident.apps):
        return ()
    counted = members.incident_figures(session, incident.id)
    return tuple(
        AppState(
            name=name,
            engaged=board.apps[name].engaged,
            concerned=incident.apps is None or name in incident.apps,
            figures=counted.get(name),
        )
        for name in app_names
    )


def switch_text(own: bool, all_apps: bool) -> str:
    """An app's switch in words: its own engaged, disconnected by the all-apps switch, or released."""
    if own:
        return "🛑 switch engaged"
    if all_apps:
        return "🛑 disconnected (all-apps switch engaged)"
    return "🟢 switch released"


def _revoked_text(figures: Mapping[str, int] | None) -> str:
    if figures is None:
        return "no revocation"
    text = f"revoked {figures['revoked']:,} of {figures['total']:,}"
    extra = [(key.replace("_", " "), figures[key]) for key in ("already_dead", "failed", "pending")]
    shown = ", ".join(f"{word} {n:,}" for word, n in extra if n)
    return f"{text} ({shown})" if shown else text


def apps_text(apps: Sequence[AppState], all_engaged: bool) -> str:
    """The card's section: which apps the incident concerns, then a line per app."""
    concerned = [app.name for app in apps if app.concerned]
    which = "every app" if len(concerned) == len(apps) else ", ".join(concerned) or "no app"
    lines = [
        f"• `{app.name}`: {switch_text(app.engaged, all_engaged)} · {_revoked_text(app.figures)}"
        for app in apps
    ]
    return f"*TikTok apps* (this incident concerns {which})\n" + "\n".join(lines)
