"""Two TikTok apps on one stage: a leak of one app disconnects it alone, a host compromise all.

The demo and the drill walk the same story (issue 27): a Login Kit app and a Business app, each
on a simulator of its own; a critical ``credential.leak`` naming the first app's client key,
then a critical ``host.compromise`` naming no app. What they show of each app is read as an
operator and the app would read it: its switch from the API, its guard's answer (the check the
guarded HTTP transport makes before every TikTok call), and TikTok's own (the simulator's)
count of revoked grants and revoke requests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.drill.stage import Stage, StageApp
from orchestrator.guard import Disconnected, Guard, HttpSource

__all__ = [
    "TWO_APPS",
    "AppState",
    "app_states",
    "broken_by_host",
    "broken_by_leak",
    "host_compromise",
    "leak_of",
    "open_incident",
]

TWO_APPS = (("shop", "login_kit"), ("ads", "business"))
"""The apps of the two-app story: (name, kind); the first one's secret leaks."""


@dataclass(frozen=True)
class AppState:
    """One app as its operator sees it: its switch, its guard, and TikTok's count of its tokens."""

    name: str
    kind: str
    engaged: bool
    guard_allows: bool
    revoked: int
    total: int
    revoke_requests: int

    def line(self) -> str:
        """One aligned line: name, kind, switch, guard, revoked of total, requests TikTok saw."""
        switch = "ENGAGED" if self.engaged else "released"
        guard = "allows calls" if self.guard_allows else "refuses calls"
        return (
            f"{self.name:<5} {self.kind:<9}  switch {switch:<8}  guard {guard:<13}  "
            f"revoked {self.revoked} of {self.total} ({self.revoke_requests} revoke requests)"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def leak_of(app: StageApp, *, title: str, **extra: Any) -> dict[str, Any]:
    """A critical leak of ``app``'s client secret: the event names its client key, and only it."""
    entities = {"client_keys": [app.client_key], "open_ids": [app.records[0]["open_id"]]}
    return {"title": title, "kind": "credential.leak", "severity": "critical", "entities": entities, **extra}


def host_compromise(*, title: str, **extra: Any) -> dict[str, Any]:
    """A critical compromise of a host that held every app's secret: it names no app, so all."""
    entities = {"hosts": ["build-host-3"]}
    return {"title": title, "kind": "host.compromise", "severity": "critical", "entities": entities, **extra}


def open_incident(stage: Stage, event: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Post ``event`` and wait for the incident it opens (found by its title)."""
    stage.post_event(event)

    def opened() -> dict[str, Any] | None:
        found = stage.get("/v1/incidents")["incidents"]
        return next((i for i in found if i["title"] == event["title"]), None)

    return stage.wait(f"the incident '{event['title']}'", opened, timeout)


def app_states(stage: Stage) -> list[AppState]:
    """Every app of the stage, now."""
    states = []
    for app in stage.apps:
        guard = Guard([HttpSource(stage.base_url, token=stage.api_token)], app=app.name, cache_seconds=0)
        try:
            guard.check()
            allows = True
        except Disconnected:
            allows = False
        states.append(
            AppState(
                name=app.name,
                kind=app.kind,
                engaged=bool(stage.get(f"/v1/switch?app={app.name}")["engaged"]),
                guard_allows=allows,
                revoked=sum(1 for r in app.records if app.sim.is_grant_revoked(r["access_token"])),
                total=len(app.records),
                revoke_requests=int(app.sim.stats()["revoke_requests"]),
            )
        )
    return states


def broken_by_leak(after_leak: list[AppState]) -> list[str]:
    """What the leak of the first app should have done and did not: disconnect and revoke it
    alone (the others' switches released, their guards allowing, their TikTok sent nothing)."""
    broken = []
    leaked, *others = after_leak
    if not leaked.engaged or leaked.guard_allows or leaked.revoked != leaked.total:
        broken.append(f"the leak of {leaked.name} did not disconnect it and revoke its tokens")
    for other in others:
        if other.engaged or not other.guard_allows or other.revoke_requests:
            broken.append(
                f"the leak of {leaked.name} reached {other.name}: switch "
                f"{'engaged' if other.engaged else 'released'}, {other.revoke_requests} revoke requests"
            )
    return broken


def broken_by_host(after_leak: list[AppState], after_host: list[AppState]) -> list[str]:
    """What the host compromise should have done and did not: disconnect and revoke every app,
    sending none of the first app's (already revoked) tokens again."""
    broken = [
        f"the host compromise did not disconnect {state.name} and revoke its tokens"
        for state in after_host
        if not state.engaged or state.guard_allows or state.revoked != state.total
    ]
    if after_host[0].revoke_requests != after_leak[0].revoke_requests:
        broken.append(f"the host compromise sent {after_leak[0].name}'s revoked tokens again")
    return broken
