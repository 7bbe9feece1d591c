"""``orchestrator drill``: rehearse the disconnect end to end and fail when it is too slow."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click

from orchestrator.cli.common import State, pass_state
from orchestrator.drill import run as drills

__all__ = ["drill"]


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else (f"{seconds:.2f} s" if seconds < 120 else f"{seconds / 60:.1f} min")


@click.group(invoke_without_command=True)
@click.option(
    "--tokens", type=int, default=None, help="Tokens to seed (default: config drill.tokens, 1,000)."
)
@click.option("--slo-disconnect", type=float, default=None, help="Seconds from awareness to switch engaged.")
@click.option("--slo-revoke", type=float, default=None, help="Seconds from awareness to revocation done.")
@click.option("--slo-report", type=float, default=None, help="Seconds from awareness to report delivered.")
@click.option(
    "--playbook", default="tiktok-compromise", show_default=True, help="The shipped playbook to rehearse."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def drill(
    ctx: click.Context,
    tokens: int | None,
    slo_disconnect: float | None,
    slo_revoke: float | None,
    slo_report: float | None,
    playbook: str,
    as_json: bool,
) -> None:
    """Rehearse the whole disconnect against the built-in TikTok simulator, on a store of its own.

    Seeds N tokens, fires a critical compromise, and measures awareness -> switch engaged,
    -> revocation done, -> report delivered against the SLOs (defaults: the compliance targets
    in the config). Touches no real inventory, TikTok API, Slack or mailbox unless
    `drill.env` in the config names drill ones. Exit status 0 when every SLO is met, 1 when
    one is missed. The result is kept; `orchestrator drill history` shows the trend.
    """
    if ctx.invoked_subcommand is not None:
        return
    state: State = ctx.ensure_object(State)
    settings = state.settings()
    targets = {
        "disconnect": slo_disconnect
        or settings.drill.slo_disconnect_seconds
        or settings.compliance_disconnect_target_minutes * 60.0,
        "revoke": slo_revoke or settings.drill.slo_revoke_seconds,
        "report": slo_report
        or settings.drill.slo_report_seconds
        or settings.compliance_report_target_minutes * 60.0,
    }
    folder = Path(tempfile.mkdtemp(prefix="orchestrator-drill-"))
    result = drills.run_drill(
        tokens=tokens or settings.drill.tokens,
        targets=targets,
        playbook=playbook,
        folder=folder,
        extra_env=settings.drill.env,
        report_wait_s=min(targets["report"], 30.0),
    )
    drills.record(state.runtime(tokens=False).store, result)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(f"DRILL {result.incident_id}: {result.tokens} tokens, playbook {result.playbook}")
        click.echo(f"{'measure':<32} {'measured':>12} {'SLO':>12}  verdict")
        for slo in result.slos:
            verdict = "met" if slo.met else ("missed" if slo.measured_s is not None else "missed (not done)")
            click.echo(
                f"awareness -> {slo.name:<19} {_fmt(slo.measured_s):>12} {_fmt(slo.target_s):>12}  {verdict}"
            )
        if result.revocation_latency_s:
            lat = result.revocation_latency_s
            click.echo(
                f"per-token revocation after awareness: p50 {_fmt(lat['p50'])}, p99 {_fmt(lat['p99'])}"
            )
        click.echo(f"revoked {result.revoked} of {result.tokens}; drill store, logs and reports in {folder}")
    sys.exit(0 if result.passed else 1)


@drill.command("history")
@pass_state
def history(state: State) -> None:
    """Show past drills, oldest first: the disconnect time trend."""
    rows = drills.history(state.runtime(tokens=False).store)
    if not rows:
        click.echo("no drills yet: run `orchestrator drill`")
    for row in rows:
        figures = {s["name"]: s["measured_s"] for s in row["slos"]}
        verdict = "passed" if row["passed"] else "MISSED"
        times = ", ".join(f"{name} {_fmt(figures.get(name))}" for name in ("disconnect", "revoke", "report"))
        click.echo(f"{row['at'][:19]}  {verdict:<7} {times}  ({row['tokens']} tokens)")
