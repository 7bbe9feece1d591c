"""What an internet caller can reach on `orchestrator serve`, and with which token (issue 22).

One real `serve` process, every credential configured: bodies stop at their limit without
being buffered, an over-limit body gets a 413 every client sees, metadata needs a token, each
token opens its own routes only, and a captured signed delivery cannot be replayed however its
unsigned parts are changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from orchestrator.guard import Guard
from orchestrator.tiktok import simulator_webhook
from tests.chatops.slack_driver import slack_signature
from tests.support.processes import Proc, free_port, orchestrator_env, wait_for, wait_healthy
from tests.support.runtime import API_TOKEN, GUARD_TOKEN, INTAKE_TOKEN

METRICS_TOKEN = "metrics-token-for-tests-0003"
SIGNING_SECRET = "surface-signing-secret-0006"
CLIENT_SECRET = "surface-client-secret-0007"
PAGERDUTY_SECRET = "surface-pagerduty-secret-0008"
SAMPLES = Path(__file__).parents[1] / "intake" / "sources" / "samples"
MIB = 1024 * 1024


@dataclass
class Served:
    base_url: str
    proc: Proc
    data_dir: Path
    env: dict[str, str]

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
        slack_signing_secret=SIGNING_SECRET,
        tiktok_client_secret=CLIENT_SECRET,
        sources=json.dumps({"pagerduty": {"auth": {"kind": "hmac_body", "secret": PAGERDUTY_SECRET}}}),
    )
    proc = Proc(["serve"], env=env, cwd=tmp, log=tmp / "serve.log")
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url)
        yield Served(base_url, proc, tmp / "data", env)
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


def _switch(served: Served) -> tuple[bool, int]:
    state = httpx.get(served.base_url + "/v1/switch", headers=bearer(GUARD_TOKEN)).json()
    return state["engaged"], state["version"]


def test_a_pagerduty_delivery_resent_with_a_new_webhook_id_is_refused(served: Served) -> None:
    """Finding 1: the captured P1 engaged the switch once; resent under a new X-Webhook-Id (or its
    signature respelled) after the switch was released, it must not engage it again."""
    body = (SAMPLES / "pagerduty_triggered.json").read_bytes()
    digest = hmac.new(PAGERDUTY_SECRET.encode(), body, hashlib.sha256).hexdigest()
    url = served.base_url + "/v1/events/pagerduty"

    def send(signature: str, delivery: str) -> httpx.Response:
        headers = {
            "Content-Type": "application/json",
            "X-PagerDuty-Signature": signature,
            "X-Webhook-Id": delivery,
        }
        return httpx.post(url, content=body, headers=headers, timeout=30)

    assert send(f"v1={digest}", "delivery-1").status_code == 202
    assert wait_for(lambda: _switch(served)[0], timeout=10, what="the P1 to engage the switch")
    command = [sys.executable, "-m", "orchestrator", "switch", "release", "--reason", "host rebuilt"]
    released = subprocess.run(command, env=served.env, capture_output=True, text=True, timeout=120)
    assert released.returncode == 0, released.stderr
    after_release = _switch(served)
    assert not after_release[0]
    resends = [
        send(f"v1={digest}", "delivery-2"),
        send(f"v1={digest.upper()}", "delivery-3"),
        send(f"v1=00, v1={digest} ,v1=ff", "delivery-4"),
    ]
    assert [(a.status_code, a.json()) for a in resends] == [(401, {"error": "authentication failed"})] * 3
    assert _switch(served) == after_release


def test_a_slack_command_resent_with_its_unsigned_parts_changed_is_refused(served: Served) -> None:
    """Finding 1: Slack signs ``v0:timestamp:body``; headers outside it make no new delivery."""
    body = urlencode({"user_id": "UALICE", "command": "/ir", "text": "help", "channel_id": "C1"}).encode()
    stamp = str(int(time.time()))
    signature = slack_signature(SIGNING_SECRET, stamp, body)
    signed = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    url = served.base_url + "/slack/commands"
    first = httpx.post(url, content=body, headers=signed)
    assert first.status_code == 200 and "`/ir release REASON`" in first.json()["text"]
    changed = [
        signed,
        {**signed, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
        {**signed, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        {**signed, "X-Slack-Signature": signature.upper().replace("V0=", "v0=")},
    ]
    answers = [httpx.post(url, content=body, headers=headers) for headers in changed]
    assert [a.status_code for a in answers] == [401] * len(changed)


def test_an_old_genuine_tiktok_delivery_gets_the_same_401_as_a_forged_one(served: Served) -> None:
    """Finding 12: telling "stale" from "wrong" would confirm a captured, old delivery is genuine."""
    url = served.base_url + "/v1/tiktok/webhook"
    body = simulator_webhook.authorization_removed("surface-client-key", "open-id-surface", 5)

    def post(signature: str | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["TikTok-Signature"] = signature
        return httpx.post(url, content=body, headers=headers)

    now = int(time.time())
    refused = [
        post(simulator_webhook.sign(CLIENT_SECRET, body, now - 3600)),  # genuine, an hour old
        post(simulator_webhook.sign("forged-secret", body, now - 3600)),
        post(simulator_webhook.sign("forged-secret", body, now)),
        post(None),
    ]
    answers = {(a.status_code, a.text, a.headers["content-type"]) for a in refused}
    assert answers == {(401, '{"error":"invalid TikTok-Signature"}', "application/json")}
    fresh = simulator_webhook.sign(CLIENT_SECRET, body, now)
    assert post(fresh).status_code == 200  # the same secret, in time: genuine
    stamp, digest = fresh.split(",")
    respelled = [fresh, f"{digest}, {stamp}", f"{stamp},{digest.upper()}"]  # the same t and s
    assert [post(header).status_code for header in respelled] == [401] * 3
