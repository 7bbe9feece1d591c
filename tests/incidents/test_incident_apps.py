"""Issue 27, item 2: events say which apps are hit, and the kill switch disconnects those apps.

Three apps are configured (``shop``, ``ads`` and ``brand``). Events are posted to the real HTTP intake (whose
critical-first lane engages before any worker) or accepted and correlated as the worker does
(the task function, with the shipped playbooks: ``tiktok-compromise`` engages the switch first).
Each app's guard reads the file mirror its orchestrator writes, as an application would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from orchestrator import clock
from orchestrator.api.app import create_app
from orchestrator.config import Settings, load_settings
from orchestrator.events import accept as intake
from orchestrator.events.schemas import CompromiseEvent, Entities
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks.loader import parse_playbook
from orchestrator.switch import flows as switch_flows
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.worker import tasks
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import INTAKE_TOKEN, make_runtime
from tests.support.server import serve_app
from tests.support.services import postgres_database
from tests.switch.test_switch_apps import APPS, _refuses

BRAND = {
    "name": "brand",
    "kind": "login_kit",
    "client_key": "brand-key",
    "client_secret": "brand-secret-9012",
}

AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


def _settings(data_dir: Path, database_url: str) -> Settings:
    overrides = {"data_dir": data_dir, "database_url": database_url, "tiktok_apps": [*APPS, BRAND]}
    overrides["intake_token"] = INTAKE_TOKEN
    return load_settings(overrides={**overrides, "guard_cache_seconds": 0})


@pytest.fixture(params=["sqlite", "postgresql"])
def two_apps(request: pytest.FixtureRequest, runtime: Runtime, tmp_path: Path) -> Iterator[Runtime]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if request.param == "postgresql" else ""
        other = make_runtime(_settings(tmp_path / "apps", url))
        switch_flows.sync_mirrors(other.store, other.settings)  # what every process does at start
        yield other
        other.close()


def _event(kind: str, dedup_key: str, *client_keys: str, severity: str = "critical") -> CompromiseEvent:
    now = clock.utcnow()
    return CompromiseEvent(
        source="generic",
        kind=kind,
        severity=severity,
        title=f"{kind} seen",
        observed_at=now,
        received_at=now,
        dedup_key=dedup_key,
        entities=Entities(client_keys=list(client_keys)),
    )


def _correlate(rt: Runtime, event: CompromiseEvent) -> None:
    (outbox_id,) = intake.accept_events(rt.store, [event], now=event.received_at)
    tasks.correlate_event(rt, outbox_id)  # as the worker does; no worker consumes the broker here


def _switches(rt: Runtime) -> tuple[bool, bool, bool]:
    """(all apps, shop, ads) engaged (brand's own switch is never engaged here)."""
    board = switch_flows.switch_status(rt.store, rt.settings)
    return board.all.engaged, board.apps["shop"].engaged, board.apps["ads"].engaged


def _incident(rt: Runtime) -> IncidentRow:
    with rt.store.unit_of_work() as session:
        return session.scalars(select(IncidentRow)).one()


def test_a_leak_naming_one_app_disconnects_that_app_only(two_apps: Runtime) -> None:
    _correlate(two_apps, _event("credential.leak", "leak-shop", "shop-key"))
    assert _switches(two_apps) == (False, True, False)
    assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (True, False)
    incident = _incident(two_apps)
    assert incident.apps == ["shop"] and incident.disconnected_at is not None


def test_an_event_naming_no_app_or_only_unknown_keys_disconnects_every_app(two_apps: Runtime) -> None:
    _correlate(two_apps, _event("credential.leak", "leak-unknown", "someone-elses-key"))
    assert _switches(two_apps) == (True, False, False)
    assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (True, True)
    _correlate(two_apps, _event("host.compromise", "build-host"))
    with two_apps.store.unit_of_work() as session:
        incidents = session.scalars(select(IncidentRow)).all()
        opened = [
            next(e for e in timeline.entries(session, i.id) if e.kind == kinds.INCIDENT_OPENED).data["apps"]
            for i in incidents
        ]
    assert [i.apps for i in incidents] == [None, None] and opened == ["all", "all"]


def test_an_event_naming_another_app_extends_the_incident_and_disconnects_that_app(two_apps: Runtime) -> None:
    _correlate(two_apps, _event("credential.leak", "leak", "shop-key"))
    _correlate(two_apps, _event("credential.leak", "leak", "ads-key", severity="low"))
    assert _switches(two_apps) == (False, True, True)
    assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (True, True)
    incident = _incident(two_apps)
    with two_apps.store.unit_of_work() as session:
        story = [(e.kind, e.message) for e in timeline.entries(session, incident.id)]
    assert incident.apps == ["shop", "ads"]
    assert (kinds.INCIDENT_EXTENDED, "Incident extends to app ads") in story
    assert [m for k, m in story if k == kinds.SWITCH_ENGAGED and "app ads" in m] == [
        f"kill switch of app ads engaged: incident {incident.id} extends to app ads"
    ]
    assert _refuses(two_apps, "brand") is False
    _correlate(two_apps, _event("credential.leak", "leak", "ads-key", "shop-key"))  # nothing new
    with two_apps.store.unit_of_work() as session:
        extended = [e for e in timeline.entries(session, incident.id) if e.kind == kinds.INCIDENT_EXTENDED]
    assert len(extended) == 1
    _correlate(two_apps, _event("credential.leak", "leak", severity="low"))  # names no app: every app
    assert _switches(two_apps) == (True, True, True) and _incident(two_apps).apps is None
    assert _refuses(two_apps, "brand") is True


def test_the_intake_engages_the_switch_of_the_app_an_event_names_before_any_worker(two_apps: Runtime) -> None:
    leak = {
        "title": "shop secret on a paste site",
        "kind": "credential.leak",
        "severity": "critical",
        "dedup_key": "paste-shop",
        "entities": {"client_keys": ["shop-key"]},
    }
    host = {
        "title": "shell on build host",
        "kind": "host.compromise",
        "severity": "critical",
        "dedup_key": "bh",
    }
    with (
        serve_app(create_app(two_apps)) as url,
        httpx.Client(base_url=url, timeout=60, headers=AUTH) as client,
    ):
        assert client.post("/v1/events", json=leak).status_code == 202
        assert _switches(two_apps) == (False, True, False)  # no worker has correlated it
        assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (True, False)
        assert client.post("/v1/events", json=host).status_code == 202
        assert _switches(two_apps) == (True, True, False)
        assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (True, True)


ALL_OUT = """
name: all-out
trigger: {match: {kinds: ["*"], min_severity: critical}}
steps:
  - id: disconnect
    action: tiktok.kill_switch
    with: {reason: "every app", apps: all}
"""


def test_a_playbook_saying_apps_all_engages_the_all_apps_switch_in_the_intake_and_the_worker(
    two_apps: Runtime,
) -> None:
    book = parse_playbook(ALL_OUT, "all-out.yaml", registry=two_apps.registry)
    two_apps.playbooks = {book.name: book}
    leak = {"title": "shop leak", "kind": "credential.leak", "severity": "critical", "dedup_key": "x"}
    with (
        serve_app(create_app(two_apps)) as url,
        httpx.Client(base_url=url, timeout=60, headers=AUTH) as client,
    ):
        assert (
            client.post("/v1/events", json={**leak, "entities": {"client_keys": ["shop-key"]}}).status_code
            == 202
        )
    assert _switches(two_apps) == (True, False, False)  # the intake, before any worker
    switch_flows.release_switch(two_apps.store, two_apps.settings, by="bob", reason="drill", app=None)
    _correlate(two_apps, _event("credential.leak", "worker-only", "shop-key"))
    assert _switches(two_apps) == (True, False, False) and _incident_of(two_apps, "worker-only").apps == [
        "shop"
    ]


def _incident_of(rt: Runtime, dedup_key: str) -> IncidentRow:
    with rt.store.unit_of_work() as session:
        return session.scalars(select(IncidentRow).where(IncidentRow.dedup_key == dedup_key)).one()
