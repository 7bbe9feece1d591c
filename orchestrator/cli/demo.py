"""``orchestrator demo``: the whole disconnect story on one machine, against the TikTok simulator."""

from __future__ import annotations

import shutil

import click

from orchestrator.drill.stage import Stage
from orchestrator.errors import OrchestratorError

__all__ = ["demo"]


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
    stage = Stage(tokens=count, rate=rate, mailbox=False)
    try:
        with stage:
            click.echo(f"1. TikTok simulator on {stage.sim.base_url}; {count} user tokens seeded")
            click.echo(
                f"2. Orchestrator up: API {stage.base_url}, worker and scheduler (store in {stage.folder})"
            )
            event = {
                "title": "TikTok client secret found in a public repository",
                "kind": "credential.leak",
                "severity": "critical",
                "dedup_key": "demo-leak",
                "entities": {"open_ids": [stage.records[0]["open_id"]], "hosts": ["ci-runner-7"]},
            }
            status = stage.post_event(event)
            click.echo(f"3. Critical event posted: {event['title']} -> HTTP {status}")
            incident = stage.wait("the incident", lambda: stage.get("/v1/incidents")["incidents"][0], 30)
            click.echo(f"4. Incident {incident['id']} opened")
            path = f"/v1/incidents/{incident['id']}"
            engaged = stage.wait("the kill switch", lambda: stage.get(path)["disconnected_at"], 60)
            click.echo(f"5. Kill switch engaged at {engaged}: the app makes no TikTok call from now on")
            stage.wait("the revocation", lambda: stage.get(path)["revoked_at"], 600)
            revoked = sum(1 for r in stage.records if stage.sim.is_grant_revoked(r["access_token"]))
            requests = stage.sim.stats()["revoke_requests"]
            gone = f"TikTok says {revoked} of {count} grants are gone ({requests} requests)"
            click.echo(f"6. Every token revoked: {gone}")
            click.echo("\nTimeline:\n")
            click.echo(stage.cli("timeline", incident["id"]))
    except OrchestratorError as exc:
        raise click.ClickException(f"demo: {exc}") from None
    if keep:
        click.echo(f"demo folder kept: {stage.folder}")
    else:
        shutil.rmtree(stage.folder, ignore_errors=True)
