"""What the record says about each TikTok app of an incident, for the compliance report's rows
per app and clause: when the app was disconnected, and each revocation's requests to its client key.

Read from the record alone: the apps and their client keys from ``revocation.started`` (an
incident with no revocation yet, or one of a release before issue 27, has no rows per app), an app's
disconnection from the first ``switch.engaged`` of its own switch or of the all-apps switch, its
requests and their duration from ``revocation.finished`` (``data.apps``). An incident of the
app ``default`` alone has no rows per app: its report is the one it always had.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from orchestrator.settings_apps import DEFAULT_APP
from orchestrator.timeline import kinds
from orchestrator.timeline.figures import Record

__all__ = ["AppFacts", "Send", "app_facts", "number"]


class Send(NamedTuple):
    """One finished revocation's requests (to one client key, or all), with the limit in force."""

    revocation_id: str
    requests: int
    seconds: float
    limit: float
    evidence: list[int]


class AppFacts(NamedTuple):
    """One app: its name, client key, the entry that disconnected it and its revocations' requests."""

    name: str
    client_key: str | None
    disconnected: Any  # the first switch.engaged entry that covers it, or None
    sends: list[Send]

    @property
    def label(self) -> str:
        return f"{self.name} (client key {self.client_key or 'unknown'})"


def number(value: Any) -> float:
    """A count or rate another writer recorded; anything that is not a number counts as 0."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _data(entry: Any) -> Mapping[str, Any]:
    return entry.data if isinstance(entry.data, dict) else {}


def _names(record: Record) -> dict[str, str | None]:
    """Each app the incident's revocations covered, in order, with its client key."""
    found: dict[str, str | None] = {}
    for entry in (e for e in record.entries if e.kind == kinds.REVOCATION_STARTED):
        apps = _data(entry).get("apps")
        for name, figures in apps.items() if isinstance(apps, dict) else ():
            key = figures.get("client_key") if isinstance(figures, dict) else None
            found[str(name)] = str(key) if key else found.get(str(name))
    return found


def app_facts(record: Record) -> list[AppFacts]:
    """The facts of each app the incident concerns; none for the app ``default`` alone."""
    names = _names(record)
    if list(names) in ([], [DEFAULT_APP]):
        return []
    started = {_data(e).get("revocation_id"): e for e in record.entries if e.kind == kinds.REVOCATION_STARTED}
    engaged = [e for e in record.entries if e.kind == kinds.SWITCH_ENGAGED]
    facts = []
    for name, client_key in names.items():
        covering = next((e for e in engaged if _data(e).get("app") in (None, name)), None)
        sends = []
        for entry in (e for e in record.entries if e.kind == kinds.REVOCATION_FINISHED):
            apps = _data(entry).get("apps")
            figures = apps.get(name) if isinstance(apps, dict) else None
            if not isinstance(figures, dict):
                continue
            revocation_id = str(_data(entry).get("revocation_id"))
            start = started.get(revocation_id)
            limit = (
                number(((_data(start).get("apps") or {}).get(name) or {}).get("rate_per_s")) if start else 0.0
            )
            sends.append(
                Send(
                    revocation_id,
                    round(number(figures.get("requests"))),
                    max(number(figures.get("duration_ms")) / 1000, 1.0),
                    limit,
                    ([start.seq] if start is not None else []) + [entry.seq],
                )
            )
        facts.append(AppFacts(name, client_key, covering, sends))
    return facts
