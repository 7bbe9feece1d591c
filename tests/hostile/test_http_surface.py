"""What an internet caller can reach on `orchestrator serve`, and with which token (issue 22).

One real `serve` process, every credential configured: bodies stop at their limit without
being buffered, an over-limit body gets a 413 every client sees, metadata needs a token, and
each token opens its own routes only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from orchestrator.guard import Guard
from tests.support.processes import Proc, free_port, orchestrator_env, wait_healthy
from tests.support.runtime import API_TOKEN, GUARD_TOKEN, INTAKE_TOKEN

METRICS_TOKEN = "metrics-token-for-tests-0003"
MIB = 1024 * 1024


@dataclass
class Served:
    base_url: str
    proc: Proc
    data_dir: Path

    def peak_rss_mib(self) -> float:
        """The serve process's high-water resident memory (VmHWM), in MiB."""
        status = Path(f"/proc/{self.proc.popen.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("surface")
    port = free_port()
    env = orchestrator_env(
        tmp / "data",
        port=str(port),
        intake_token=INTAKE_TOKEN,
        api_token=API_TOKEN,
        metrics_token=METRICS_TOKEN,
        guard_token=GUARD_TOKEN,
        slack_bot_token="xoxb-surface-bot-token-0005",
        slack_signing_secret="surface-signing-secret-0006",
        tiktok_client_secret="surface-client-secret-0007",
    )
    proc = Proc(["serve"], env=env, cwd=tmp, log=tmp / "serve.log")
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url)
        yield Served(base_url, proc, tmp / "data")
    finally:
        proc.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _stream(total: int) -> Iterator[bytes]:
    chunk = b"token=" + b"a" * (MIB - 6)
    for _ in range(total // MIB):
        yield chunk


def test_unauthenticated_routes_stop_reading_at_their_limit(served: Served) -> None:
    routes = ["/incidents/login", "/slack/commands", "/slack/interactions", "/v1/tiktok/webhook"]
    httpx.post(served.base_url + "/incidents/login", content=b"token=warm-up")
    before = served.peak_rss_mib()
    with httpx.Client(base_url=served.base_url, timeout=60) as client:
        answers = [
            client.post(
                route,
                content=_stream(40 * MIB),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            for route in routes
        ]
    assert [(a.status_code, a.json()["error"].startswith("body larger than")) for a in answers] == [
        (413, True)
    ] * len(routes)
    assert served.peak_rss_mib() - before < 20, "a refused body was buffered"


def _urllib_post(url: str, body: bytes) -> int | str:
    request = urllib.request.Request(
        url, data=body, headers={**bearer(INTAKE_TOKEN), "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:  # a reset connection: the client never saw the answer
        return type(exc).__name__


def test_an_over_limit_body_gets_its_413_in_a_client_that_sends_it_all_first(served: Served) -> None:
    url = served.base_url + "/v1/events"
    small = [_urllib_post(url, b"x" * (2 * MIB)) for _ in range(40)]
    large = [_urllib_post(url, b"x" * (50 * 1000 * 1000)) for _ in range(3)]
    assert (small, large) == ([413] * 40, [413] * 3)


def test_metrics_schema_and_docs_answer_only_their_tokens(served: Served) -> None:
    callers = {
        "nobody": {},
        "intake": bearer(INTAKE_TOKEN),
        "guard": bearer(GUARD_TOKEN),
        "metrics": bearer(METRICS_TOKEN),
        "operator": bearer(API_TOKEN),
    }
    seen = {
        (who, path): httpx.get(served.base_url + path, headers=headers).status_code
        for who, headers in callers.items()
        for path in ("/metrics", "/openapi.json", "/docs")
    }
    allowed = {
        ("metrics", "/metrics"),
        ("operator", "/metrics"),
        ("operator", "/openapi.json"),
        ("operator", "/docs"),
    }
    assert seen == {key: 200 if key in allowed else 401 for key in seen}
    browser = httpx.get(served.base_url + "/docs", headers={"Accept": "text/html"})
    assert (browser.status_code, browser.headers["location"]) == (303, "/incidents/login?next=/docs")
    scraped = httpx.get(served.base_url + "/metrics", headers=bearer(METRICS_TOKEN)).text
    assert "orchestrator_events_total" in scraped


def test_the_guard_token_reads_the_switch_and_nothing_else(served: Served) -> None:
    guard = bearer(GUARD_TOKEN)
    switch = httpx.get(served.base_url + "/v1/switch", headers=guard)
    assert (switch.status_code, sorted(switch.json())) == (200, ["apps", "changed_at", "engaged", "version"])
    event = {"title": "guard token tries to disconnect", "kind": "host.compromise", "severity": "critical"}
    refused = [
        httpx.post(served.base_url + "/v1/events", json=event, headers=guard).status_code,
        httpx.get(served.base_url + "/v1/incidents", headers=guard).status_code,
        httpx.get(served.base_url + "/v1/switch", headers=bearer(INTAKE_TOKEN)).status_code,
    ]
    assert refused == [401, 401, 401]
    app_guard = Guard.from_env(
        {"ORCH_GUARD_SOURCES": "http", "ORCH_GUARD_URL": served.base_url, "ORCH_GUARD_TOKEN": GUARD_TOKEN}
    )
    reading = app_guard.reading()
    assert (reading.source, reading.engaged) == ("http", False)


def test_the_data_folder_and_the_store_are_the_owners_only(served: Served) -> None:
    event = {"title": "make the store write", "kind": "host.compromise", "severity": "low"}
    assert (
        httpx.post(served.base_url + "/v1/events", json=event, headers=bearer(INTAKE_TOKEN)).status_code
        == 202
    )
    store = sorted(p.name for p in served.data_dir.glob("orchestrator.sqlite*"))
    assert "orchestrator.sqlite-wal" in store
    modes = {
        p.name: oct(p.stat().st_mode & 0o777) for p in [served.data_dir, *served.data_dir.glob("*sqlite*")]
    }
    assert modes == {"data": "0o700", **dict.fromkeys(store, "0o600")}


def test_a_trailing_slash_redirect_names_no_host(served: Served) -> None:
    answer = httpx.get(
        served.base_url + "/v1/incidents/?status=open", headers={**bearer(API_TOKEN), "Host": "evil.example"}
    )
    assert (answer.status_code, answer.headers["location"]) == (307, "/v1/incidents?status=open")


def test_one_delivery_of_100000_alerts_is_refused_with_413_naming_the_cap(served: Served) -> None:
    alerts = [
        {"status": "firing", "labels": {"alertname": f"A{i}"}, "fingerprint": f"{i:016x}"}
        for i in range(100_000)
    ]
    body = json.dumps({"version": "4", "status": "firing", "alerts": alerts}).encode()
    assert 8 * MIB < len(body) < 16 * MIB  # under the grouped sources' body limit
    before = served.peak_rss_mib()
    answer = httpx.post(
        served.base_url + "/v1/events/alertmanager",
        content=body,
        headers={**bearer(INTAKE_TOKEN), "Content-Type": "application/json"},
        timeout=120,
    )
    assert (answer.status_code, answer.json()["error"]) == (
        413,
        "100000 alerts in one delivery; alertmanager takes at most 2000 (sources.alertmanager.max_events):"
        " have the tool send fewer per delivery",
    )
    assert served.peak_rss_mib() - before < 150, "the alerts were built into events before the refusal"
    listed = httpx.get(served.base_url + "/v1/incidents", headers=bearer(API_TOKEN)).json()["incidents"]
    assert not [i for i in listed if i["source"] == "alertmanager"]
