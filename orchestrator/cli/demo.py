"""``orchestrator demo``: the whole disconnect story on one machine, against the TikTok simulator."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import httpx

from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator

__all__ = ["demo"]

_INTAKE = "demo-intake-token-not-secret"
_API = "demo-api-token-not-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(folder: Path, sim: TikTokSimulator, rate: float) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(
        ORCH_DATA_DIR=str(folder / "data"),
        ORCH_TIKTOK_API_BASE=sim.base_url,
        ORCH_TIKTOK_CLIENT_KEY=sim.options.client_key,
        ORCH_TIKTOK_CLIENT_SECRET=sim.options.client_secret,
        ORCH_TOKEN_INVENTORY=str(folder / "tokens.jsonl"),
        ORCH_TIKTOK_REVOKE_RATE=str(rate),
        ORCH_INTAKE_TOKEN=_INTAKE,
        ORCH_API_TOKEN=_API,
        ORCH_LOG_FORMAT="json",
        ORCH_LOG_LEVEL="warning",
        ORCH_RELAY_INTERVAL_SECONDS="0.2",
    )
    return env


def _get(url: str) -> Any:
    return httpx.get(url, headers={"Authorization": f"Bearer {_API}"}, timeout=5).json()


def _wait(what: str, probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (httpx.HTTPError, KeyError, IndexError, ValueError):
            pass
        time.sleep(0.1)
    raise click.ClickException(f"demo: timed out waiting for {what}; logs are in the demo folder")


@click.command()
@click.option(
    "--tokens", "count", default=1000, show_default=True, help="TikTok tokens to seed in the inventory."
)
@click.option(
    "--rate", default=0.0, show_default=True, help="Revocations per second (0: no client-side limit)."
)
@click.option("--keep", is_flag=True, help="Keep the demo folder (store, logs, inventory) afterwards.")
def demo(count: int, rate: float, keep: bool) -> None:
    """Run the whole story on the embedded default, against the built-in TikTok simulator.

    Seeds an inventory of tokens, starts the API, a worker and the scheduler, fires a
    critical compromise event, and shows the kill switch engaged and every token revoked,
    then the incident's timeline. Touches no real TikTok API, inventory or Slack.
    """
    folder = Path(tempfile.mkdtemp(prefix="orchestrator-demo-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    with TikTokSimulator(SimulatorOptions(seed=1)) as sim:
        records = [r.as_json() for r in sim.iter_issue_tokens(count, open_id_prefix="demo-user-")]
        (folder / "tokens.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        click.echo(
            f"1. TikTok simulator on {sim.base_url}; {count} user tokens seeded in {folder / 'tokens.jsonl'}"
        )
        env = _env(folder, sim, rate)
        try:
            for name, args in (
                ("api", ["serve", "--port", str(port)]),
                ("worker", ["worker"]),
                ("scheduler", ["scheduler"]),
            ):
                log = (folder / f"{name}.log").open("wb")
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "orchestrator", *args],
                        env=env,
                        cwd=folder,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            _wait("the API", lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, 60)
            click.echo(f"2. Orchestrator up: API {base}, worker and scheduler (store in {folder / 'data'})")
            event = {
                "title": "TikTok client secret found in a public repository",
                "kind": "credential.leak",
                "severity": "critical",
                "dedup_key": "demo-leak",
                "entities": {"open_ids": [records[0]["open_id"]], "hosts": ["ci-runner-7"]},
            }
            answer = httpx.post(
                f"{base}/v1/events", json=event, headers={"Authorization": f"Bearer {_INTAKE}"}
            )
            answer.raise_for_status()
            click.echo(f"3. Critical event posted: {event['title']} -> HTTP {answer.status_code}")
            incident = _wait("the incident", lambda: _get(f"{base}/v1/incidents")["incidents"][0], 30)
            click.echo(f"4. Incident {incident['id']} opened")
            url = f"{base}/v1/incidents/{incident['id']}"
            engaged = _wait("the kill switch", lambda: _get(url)["disconnected_at"], 60)
            click.echo(f"5. Kill switch engaged at {engaged}: the app makes no TikTok call from now on")
            _wait("the revocation", lambda: _get(url)["revoked_at"], 600)
            stats = sim.stats()
            revoked = sum(1 for r in records if sim.is_grant_revoked(r["access_token"]))
            click.echo(
                f"6. Every token revoked: TikTok says {revoked} of {count} grants are gone "
                f"({stats['revoke_requests']} revoke requests)"
            )
            click.echo("\nTimeline:\n")
            shown = subprocess.run(
                [sys.executable, "-m", "orchestrator", "timeline", incident["id"]],
                env=env,
                cwd=folder,
                capture_output=True,
                text=True,
                check=False,
            )
            click.echo(shown.stdout or shown.stderr)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    if keep:
        click.echo(f"demo folder kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
