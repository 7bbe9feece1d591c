"""Issue 27 end to end: `orchestrator up` with two TikTok apps, each on a simulator of its own.

A critical leak naming app A's client key disconnects and revokes A alone (B's TikTok sees no
request, B's guard lets calls through); a critical host compromise naming no app then revokes
B's tokens, and A's are not sent again.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from tests.support.processes import Proc, free_port, orchestrator_env, wait_for, wait_healthy
from tests.support.runtime import API_TOKEN, GUARD_TOKEN, INTAKE_TOKEN

pytestmark = pytest.mark.slow

TOKENS = 500
INTAKE = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
API = {"Authorization": f"Bearer {API_TOKEN}"}


def test_a_leak_of_one_app_then_a_host_compromise_on_orchestrator_up(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        sims, tokens, apps = {}, {}, []
        for name, secret in (("shop", "shop-secret-e2e-1111"), ("ads", "ads-secret-e2e-2222")):
            sim = stack.enter_context(
                TikTokSimulator(SimulatorOptions(client_key=f"{name}-key", client_secret=secret, seed=11))
            )
            tokens[name] = [r.as_json() for r in sim.iter_issue_tokens(TOKENS)]
            inventory = tmp_path / f"{name}.jsonl"
            inventory.write_text("".join(json.dumps(r) + "\n" for r in tokens[name]))
            sims[name] = sim
            apps.append(
                {"name": name, "kind": "login_kit", "client_key": f"{name}-key", "client_secret": secret,
                 "api_base": sim.base_url, "token_inventory": str(inventory), "revoke_rate": 0}
            )  # fmt: skip
        env = orchestrator_env(
            tmp_path / "data",
            port=str(port),
            intake_token=INTAKE_TOKEN,
            api_token=API_TOKEN,
            guard_token=GUARD_TOKEN,
            tiktok_apps=json.dumps(apps),
            relay_interval_seconds="0.2",
            tiktok_userinfo_rate="0",
        )
        proc = Proc(["up"], env=env, cwd=tmp_path, log=tmp_path / "up.log")
        stack.callback(proc.stop)
        wait_healthy(base)

        def revoked(title: str) -> dict[str, Any] | None:
            found = httpx.get(f"{base}/v1/incidents", headers=API, timeout=5).json()["incidents"]
            return next((i for i in found if i["title"] == title and i.get("revoked_at")), None)

        def engaged(app: str) -> bool:
            answer = httpx.get(f"{base}/v1/switch", params={"app": app}, headers=API, timeout=5)
            return bool(answer.json()["engaged"])

        def calls(app: str) -> list[int]:
            return [sims[app].revoke_calls(t["access_token"]) for t in tokens[app]]

        leak: dict[str, Any] = {"title": "shop secret on a paste site", "kind": "credential.leak",
                                "severity": "critical", "dedup_key": "paste-1",
                                "entities": {"client_keys": ["shop-key"]}}  # fmt: skip
        assert httpx.post(f"{base}/v1/events", json=leak, headers=INTAKE).status_code == 202
        wait_for(lambda: revoked(leak["title"]), timeout=120, what="app A's tokens revoked")
        assert calls("shop") == [1] * TOKENS
        assert sims["ads"].stats()["requests_total"] == 0  # B's TikTok saw no request
        assert (engaged("shop"), engaged("ads")) == (True, False)  # A's guard refuses, B's allows

        host: dict[str, Any] = {"title": "build host compromised", "kind": "host.compromise",
                                "severity": "critical", "dedup_key": "host-1",
                                "entities": {"hosts": ["ci-7"]}}  # fmt: skip
        assert httpx.post(f"{base}/v1/events", json=host, headers=INTAKE).status_code == 202
        wait_for(lambda: revoked(host["title"]), timeout=120, what="every app's tokens revoked")
        assert calls("ads") == [1] * TOKENS
        assert calls("shop") == [1] * TOKENS  # A's were not sent again
        assert (engaged("shop"), engaged("ads")) == (True, True)
