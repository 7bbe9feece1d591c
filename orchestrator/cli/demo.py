"""``orchestrator demo``: the whole disconnect story on one machine, against the TikTok simulator.

A newcomer sees every promise kept: the switch, the revocation (at a rate limit, judged against
it), TikTok's own answer on a sample of revoked tokens, the report delivered to a local mailbox,
a compliance summary, and the commands that look further into what was recorded.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import click

from orchestrator.drill import apps
from orchestrator.drill.stage import Stage
from orchestrator.errors import OrchestratorError
from orchestrator.timeline import kinds

__all__ = ["demo"]

_STATUS = {"met": "MET", "missed": "MISSED", "pending": "PENDING", "not_applicable": "N/A"}


@click.command()
@click.option(
    "--tokens", "count", default=1000, show_default=True, help="TikTok tokens to seed in the inventory."
)
@click.option(
    "--rate",
    default=200.0,
    show_default=True,
    help="Revocations per second across workers, the limit III.3(g) is judged by (0: no limit).",
)
def demo(count: int, rate: float) -> None:
    """Run the whole story on the embedded default, against the built-in TikTok simulator.

    Two TikTok apps (a Login Kit app and a Business app, each on a simulator of its own) with
    N tokens each; starts the API, a worker, the scheduler and a local mailbox, fires a critical
    leak of the first app's secret, and shows that app's kill switch engaged, every one of its
    tokens revoked and probed while the other app keeps working, the report delivered and the
    compliance summary; then a host compromise that disconnects every app. Then the timeline and
    the commands to look further. Touches no real TikTok API, inventory, mailbox or Slack. The
    demo folder is kept for those commands; delete it when done.
    """
    stage = Stage(tokens=count, rate=rate, apps=apps.TWO_APPS)
    try:
        with stage:
            incident_id, host_id = _tell(stage, count, rate)
    except OrchestratorError as exc:
        raise click.ClickException(f"demo: {exc} (demo folder: {stage.folder})") from None
    _look_further(stage, incident_id, host_id)


def _tell(stage: Stage, count: int, rate: float) -> tuple[str, str]:
    assert stage.mailbox is not None
    leaked, other = stage.apps
    click.echo(f"1. Two TikTok apps on the built-in simulator, {count} user tokens each:")
    for app in stage.apps:
        click.echo(
            f"   {app.name:<5} {app.kind:<9}  client key {app.client_key:<16}  TikTok at {app.sim.base_url}"
        )
    click.echo(
        f"2. Orchestrator up: API {stage.base_url}, worker and scheduler (store in {stage.folder}); "
        f"a local mailbox on port {stage.mailbox.port} stands in for TikTok's"
    )
    event = apps.leak_of(
        leaked, title=f"TikTok client secret of app {leaked.name} found in a public repository"
    )
    incident = apps.open_incident(stage, event, 30)
    click.echo(f"3. Critical event posted naming {leaked.name}'s client key: {event['title']}")
    click.echo(f"4. Incident {incident['id']} opened")
    path = f"/v1/incidents/{incident['id']}"
    engaged = stage.wait("the kill switch", lambda: stage.get(path)["disconnected_at"], 60)
    click.echo(
        f"5. Kill switch of {leaked.name} engaged at {engaged}: {leaked.name} makes no TikTok call "
        "from now on"
    )
    stage.wait("the revocation", lambda: stage.get(path)["revoked_at"], 600)
    revoked = sum(1 for r in leaked.records if leaked.sim.is_grant_revoked(r["access_token"]))
    requests = leaked.sim.stats()["revoke_requests"]
    limit = f"at most {rate:g}/s" if rate > 0 else "no client-side limit"
    after_leak = apps.app_states(stage)
    kept = _verdict(apps.broken_by_leak(after_leak), f"{other.name} keeps working")
    click.echo(
        f"6. Every token of {leaked.name} revoked: TikTok says {revoked} of {count} grants are gone "
        f"({requests} requests, {limit}); {kept}:"
    )
    _show_apps(after_leak)
    verified = stage.wait(
        "the probe of revoked tokens", lambda: _entry(stage, incident["id"], kinds.REVOCATION_VERIFIED), 120
    )
    click.echo(f"7. Probe: {verified['message'].removeprefix('Revocation verified by probing ')}")
    stage.wait("the report to TikTok", lambda: stage.get(path)["reported_at"], 60)
    delivered = _entry(stage, incident["id"], kinds.REPORT_DELIVERED) or {}
    data = delivered.get("data") or {}
    saved = stage.mailbox.files[-1] if stage.mailbox.files else "(not saved)"
    click.echo(
        f"8. Report delivered to {data.get('to')}: Message-ID {data.get('message_id')}; saved as {saved}"
    )
    click.echo("9. Compliance with TikTok's Developer Terms:")
    report = json.loads(stage.cli("compliance", incident["id"], "--format", "json"))
    for clause in report["clauses"]:
        click.echo(
            f"   {clause['clause']:<9} {clause['title']:<26} {_STATUS[clause['status']]:<7} "
            f"{clause['measured']}" + (f"  for app {clause['app']}" if clause.get("app") else "")
        )
    host_id = _host_compromise(stage, after_leak)
    click.echo("\nTimeline:\n")
    click.echo(stage.cli("timeline", incident["id"]))
    return str(incident["id"]), host_id


def _host_compromise(stage: Stage, after_leak: list[apps.AppState]) -> str:
    """Step 10: a host compromise naming no app disconnects the other app too; returns its incident."""
    leaked, other = stage.apps
    host = apps.open_incident(
        stage, apps.host_compromise(title="Build host that held every app's secret compromised"), 30
    )
    stage.wait("the second revocation", lambda: stage.get(f"/v1/incidents/{host['id']}")["revoked_at"], 600)
    after_host = apps.app_states(stage)
    done = _verdict(
        apps.broken_by_host(after_leak, after_host),
        f"every app disconnected, {other.name}'s tokens revoked, {leaked.name}'s not sent again",
    )
    click.echo(f"10. Critical host compromise naming no app: incident {host['id']}, {done}:")
    _show_apps(after_host)
    return str(host["id"])


def _verdict(broken: list[str], fine: str) -> str:
    """``fine`` when nothing is broken; else what is, loudly: the demo never claims what it did not see."""
    return fine if not broken else "NOT AS IT SHOULD BE: " + "; ".join(broken)


def _show_apps(states: list[apps.AppState]) -> None:
    for state in states:
        click.echo(f"    {state.line()}")


def _entry(stage: Stage, incident_id: str, kind: str) -> dict[str, Any] | None:
    """The incident's first entry of ``kind``, read through the CLI as an operator would."""
    exported = json.loads(stage.cli("timeline", incident_id, "--format", "json"))
    return next((e for e in exported["entries"] if e["kind"] == kind), None)


def _look_further(stage: Stage, incident_id: str, host_id: str) -> None:
    data = shlex.quote(str(stage.folder / "data"))
    credentials = shlex.quote(str(stage.folder / "data" / "credentials.json"))
    click.echo(f"Look further (the demo folder is kept: {stage.folder}):")
    for line in (
        f"export ORCH_DATA_DIR={data}",
        f"orchestrator postmortem {incident_id} -o postmortem.md      # and postmortem.svg beside it",
        f"orchestrator evidence export {incident_id} --out evidence.json",
        f"orchestrator timeline {host_id}                    # the host compromise: every app",
        "orchestrator evidence verify evidence.json                 # works on any machine",
        "orchestrator serve --port 8080",
        f"  then open http://127.0.0.1:8080/incidents/{incident_id} and sign in with the api_token",
        f"  that serve writes to {credentials} on first start",
        f"rm -r {shlex.quote(str(stage.folder))}                     # when done",
    ):
        click.echo(f"  {line}")
