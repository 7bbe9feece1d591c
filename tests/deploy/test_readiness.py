"""Real processes on PostgreSQL + Redis (issue 30, item 4): /readyz fails within 30 s of the
scheduler stopping while /livez and /healthz stay 200; /metrics shows every process's heartbeat
and every Redis queue's depth (an empty queue is 0, not unknown); every line the worker and the
API write is JSON, and the API's line for an accepted event carries its event_id."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.events.models import EventRow
from orchestrator.routing import QUEUES
from tests.revocation.concurrent import deployment
from tests.support.processes import wait_for
from tests.support.runtime import API_TOKEN

pytestmark = [pytest.mark.slow, pytest.mark.services]


def _samples(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _json_lines(log: Path) -> list[dict[str, object]]:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    assert lines, f"{log.name} is empty"
    for line in lines:
        assert line.startswith("{"), f"{log.name}: not a JSON line: {line[:120]!r}"
    return [json.loads(line) for line in lines]


def test_readyz_fails_within_30s_of_the_scheduler_stopping(tmp_path: Path) -> None:
    with deployment(tmp_path, "redis", tokens=5, rate=100) as incidents:
        site = incidents.site
        wait_for(
            lambda: httpx.get(f"{site.base_url}/readyz", timeout=5).status_code == 200,
            timeout=30,
            what="/readyz once the worker and the scheduler beat",
        )
        samples = _samples(site.base_url)
        for queue in QUEUES:
            assert samples[("orchestrator_queue_depth_known", (("queue", queue),))] == 1
            assert ("orchestrator_queue_depth", (("queue", queue),)) in samples
        beats = "orchestrator_heartbeat_age_seconds"
        ages = {labels: v for (name, labels), v in samples.items() if name == beats}
        assert sorted(dict(labels)["role"] for labels in ages) == ["scheduler", "worker"]
        assert all(age < 20 for age in ages.values())

        incidents.post_critical(1)
        [scheduler] = [p for p in site.procs if p.log.name.startswith("scheduler")]
        scheduler.kill()  # SIGKILL: no goodbye, the heartbeat just stops
        killed = time.monotonic()
        wait_for(
            lambda: httpx.get(f"{site.base_url}/readyz", timeout=5).status_code == 503,
            timeout=30,
            what="/readyz to fail",
        )
        failed_after = time.monotonic() - killed
        answer = httpx.get(f"{site.base_url}/readyz", timeout=5).json()
        assert answer["missing"] == ["scheduler"]
        assert httpx.get(f"{site.base_url}/livez").status_code == 200
        assert httpx.get(f"{site.base_url}/healthz", timeout=10).status_code == 200
        print(f"FIGURE: /readyz failed {failed_after:.1f}s after the scheduler was killed")
        [worker] = [p for p in site.procs if p.log.name.startswith("worker")]
        [api] = [p for p in site.procs if p.log.name.startswith("serve")]
        worker_lines = _json_lines(worker.log)
        accepted = [line for line in _json_lines(api.log) if line.get("event") == "events accepted"]
        assert len(accepted) == 1
        assert site.read(lambda s: s.get(EventRow, accepted[0]["event_id"])) is not None
    assert any(" ready." in str(line.get("event")) for line in worker_lines)
