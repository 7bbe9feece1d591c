"""``orchestrator drill``: rehearse the disconnect end to end and fail when it is too slow."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click

from orchestrator.cli.common import State, pass_state
from orchestrator.drill import run as drills
from orchestrator.drill import trend
from orchestrator.drill.apps import AppState
from orchestrator.drill.people import ManualAsk
from orchestrator.timeline.figures import duration_text

__all__ = ["drill"]


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
@click.option(
    "--with-people",
    is_flag=True,
    help="Ask the on-call people for the manual steps (Slack if drill.env has it, else here) and time them.",
)
@click.option(
    "--two-apps",
    is_flag=True,
    help="Two apps (Login Kit and Business), N tokens each: a leak of one, then a host compromise of all.",
)
@click.pass_context
def drill(
    ctx: click.Context,
    tokens: int | None,
    slo_disconnect: float | None,
    slo_revoke: float | None,
    slo_report: float | None,
    playbook: str,
    as_json: bool,
    with_people: bool,
    two_apps: bool,
) -> None:
    """Rehearse the whole disconnect against the built-in TikTok simulator, on a store of its own.

    Seeds N tokens, fires a critical compromise, and measures awareness -> switch engaged,
    -> revocation done, -> report delivered against the SLOs (defaults: the compliance targets
    in the config). Touches no real inventory, TikTok API, Slack or mailbox unless
    `drill.env` in the config names drill ones. Exit status 0 when every SLO is met, 1 when
    one is missed. The result is kept; `orchestrator drill history` shows the trend.

    With --with-people, each manual step of the playbook (rotating the client secret, filing
    the report in TikTok's portal) is asked of a person as the run reaches it, on this terminal,
    or on the drill incident's Slack card when drill.env configures Slack, and the time from
    asked to Done is reported beside the SLOs.

    With --two-apps, a Login Kit app and a Business app (each on a simulator of its own): the
    leak names the first app's client key and must leave the second working; a host compromise
    naming no app then disconnects both. Their disconnect and revocation are timed too, and the
    drill fails when the apps were not kept apart (one app's leak reaching the other, or a
    token sent twice).
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
    in_slack = "ORCH_SLACK_BOT_TOKEN" in settings.drill.env
    if with_people and in_slack:
        click.echo("Manual steps are asked on the drill incident's Slack card: press Done there.")
    result = drills.run_drill(
        tokens=tokens or settings.drill.tokens,
        targets=targets,
        playbook=playbook,
        folder=folder,
        extra_env=settings.drill.env,
        report_wait_s=min(targets["report"], 30.0),
        with_people=with_people,
        answer=None if in_slack else _ask_here,
        apps=two_apps,
    )
    drills.record(state.runtime(tokens=False).store, result)
    total_apps = [s["name"] for s in next(iter(result.apps.values()), [])]
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        each = f" each of {len(total_apps)} apps ({', '.join(total_apps)})" if total_apps else ""
        click.echo(f"DRILL {result.incident_id}: {result.tokens} tokens{each}, playbook {result.playbook}")
        click.echo(f"{'measure':<32} {'measured':>12} {'SLO':>12}  verdict")
        for slo in result.slos:
            verdict = "met" if slo.met else ("missed" if slo.measured_s is not None else "missed (not done)")
            click.echo(
                f"awareness -> {slo.name:<19} {duration_text(slo.measured_s):>12} "
                f"{duration_text(slo.target_s):>12}  {verdict}"
            )
        if result.revocation_latency_s:
            lat = result.revocation_latency_s
            click.echo(
                f"per-token revocation after awareness: p50 {duration_text(lat['p50'])}, "
                f"p99 {duration_text(lat['p99'])}"
            )
        for person in result.people:
            click.echo(
                f"person -> {person['step']:<24} asked "
                f"{duration_text(person['asked_after_awareness_s'])} after awareness, "
                f"done in {duration_text(person['took_s'])} by {person['by']}"
            )
        total = result.tokens * max(len(total_apps), 1)
        _show_apps(result)
        click.echo(f"revoked {result.revoked} of {total}; drill store, logs and reports in {folder}")
    sys.exit(0 if result.passed else 1)


def _show_apps(result: drills.DrillResult) -> None:
    """A two-app drill: every app after each phase, then whether the apps were kept apart."""
    if not result.apps:
        return
    for phase, states in result.apps.items():
        click.echo(f"after the {phase}:")
        for state in states:
            click.echo(f"    {AppState(**state).line()}")
    verdict = "; ".join(result.broken) if result.broken else "yes"
    click.echo(f"apps kept apart: {verdict}")


def _ask_here(ask: ManualAsk) -> dict[str, str]:
    """A manual step asked on this terminal; the drill marks it done as this user."""
    click.echo(f"\nMANUAL STEP {ask.step}: {ask.title}\n  {ask.instructions}")
    if ask.input:
        return {ask.input: click.prompt(f"  {ask.input} (a drill: any value will do)", type=str)}
    click.prompt("  press Enter when done", default="", show_default=False)
    return {}


@drill.command("history")
@click.option(
    "--svg",
    "svg",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the trend as an SVG picture to this file.",
)
@pass_state
def history(state: State, svg: Path | None) -> None:
    """Show past drills, oldest first: the disconnect, revocation, report and people time trend."""
    rows = drills.history(state.runtime(tokens=False).store)
    if not rows:
        click.echo("no drills yet: run `orchestrator drill`")
    for row in rows:
        figures = trend.measures(row)
        verdict = "passed" if row["passed"] else "MISSED"
        times = ", ".join(f"{name} {duration_text(figures.get(name))}" for name, _ in trend.SERIES)
        click.echo(f"{row['at'][:19]}  {verdict:<7} {times}  ({row['tokens']} tokens)")
    if svg is not None:
        svg.write_text(trend.trend_svg(rows), encoding="utf-8")
        click.echo(f"wrote {svg}", err=True)
