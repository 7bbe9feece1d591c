"""A real Prometheus Alertmanager posts its own webhook to the intake: it opens the incident, and
its resolved notification is recorded while the incident stays open."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.api.app import create_app
from orchestrator.incidents import service as incidents
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime
from tests.support.processes import free_port, wait_for
from tests.support.runtime import INTAKE_TOKEN
from tests.support.server import serve_app
from tests.support.services import unavailable
from tests.support.worker import in_process_worker

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
ALERT_LABELS = {"alertname": "TikTokTokenExfiltration", "severity": "critical", "instance": "api-3:9100"}


def _require_alertmanager() -> str:
    if BINARY:
        return BINARY
    unavailable("Alertmanager is not installed (apt-get install prometheus-alertmanager)")


@pytest.fixture
def alertmanager(tmp_path: Path, runtime: Runtime) -> Iterator[str]:
    binary = _require_alertmanager()
    with (
        in_process_worker(runtime, concurrency=2),
        serve_app(create_app(runtime)) as intake_url,
    ):
        config = tmp_path / "alertmanager.yml"
        config.write_text(
            f"""
route:
  receiver: orchestrator
  group_by: [alertname]
  group_wait: 50ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: orchestrator
    webhook_configs:
      - url: {intake_url}/v1/events/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {INTAKE_TOKEN}
"""
        )
        port = free_port()
        log = (tmp_path / "alertmanager.log").open("wb")
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, timeout=20, what="am")
            yield url
        finally:
            process.terminate()
            process.wait(10)
            log.close()


def _push(url: str, *, ends_at: datetime) -> None:
    starts_at = datetime.now(UTC) - timedelta(minutes=1)
    alert: dict[str, Any] = {
        "labels": ALERT_LABELS,
        "annotations": {"summary": "TikTok token used from an unknown network"},
        "startsAt": starts_at.isoformat(),
        "endsAt": ends_at.isoformat(),
    }
    assert httpx.post(f"{url}/api/v2/alerts", json=[alert], timeout=5).status_code == 200


def _timeline_kinds(runtime: Runtime) -> tuple[list[Any], list[str]]:
    with runtime.store.unit_of_work() as session:
        rows = incidents.list_incidents(session)
        if not rows:
            return [], []
        entries = timeline.entries(session, rows[0].id)
        return [(r.status, r.event_count) for r in rows], [e.kind for e in entries]


def test_alertmanager_opens_the_incident_and_its_resolved_notice_is_recorded(
    alertmanager: str, runtime: Runtime
) -> None:
    _push(alertmanager, ends_at=datetime.now(UTC) + timedelta(hours=1))
    opened = wait_for(
        lambda: found if (found := _timeline_kinds(runtime))[0] else None,
        timeout=20,
        what="the incident opened from Alertmanager's webhook",
    )
    assert opened[1][:2] == ["event.received", "incident.opened"]

    _push(alertmanager, ends_at=datetime.now(UTC) - timedelta(seconds=5))
    incidents_now, kinds_now = wait_for(
        lambda: found if (found := _timeline_kinds(runtime))[1].count("event.resolved") else None,
        timeout=20,
        what="the resolved notification on the timeline",
    )
    assert len(incidents_now) == 1
    status, count = incidents_now[0]
    assert status in incidents.OPEN_STATUSES and count == 2
    assert kinds_now.count("incident.opened") == 1
