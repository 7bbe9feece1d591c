"""``orchestrator playbook ...`` and ``orchestrator run ...``: write, check, start and steer runs."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import click

from orchestrator.actions.dry_run import dry_run_plan
from orchestrator.actions.registry import default_registry
from orchestrator.cli.common import State, pass_state
from orchestrator.errors import NotFound
from orchestrator.playbooks import decisions, flows, service
from orchestrator.playbooks.catalog import load_catalog, playbook_dirs
from orchestrator.playbooks.json_schema import playbook_json_schema
from orchestrator.playbooks.loader import load_playbook
from orchestrator.playbooks.templates import build_context

__all__ = ["playbook", "run"]


def _actor(as_person: str | None = None) -> str:
    return f"cli:{as_person or getpass.getuser()}"


_AS_PERSON = click.option(
    "--as",
    "as_person",
    metavar="NAME",
    help="Act as NAME, as the step names people (a Slack user id such as U024BE7LH, or a login); "
    "recorded as cli:NAME. Default: your login.",
)


@click.group()
def playbook() -> None:
    """List, check and start playbooks (YAML files in playbooks/ and the configured folders)."""


@playbook.command("list")
@pass_state
def list_playbooks(state: State) -> None:
    """List every loaded playbook and what starts it."""
    settings = state.settings()
    for name, book in sorted(load_catalog(settings, default_registry()).items()):
        trigger = "manual" if book.trigger.manual else "match"
        click.echo(f"{name:<28} {trigger:<7} {len(list(book.iter_steps())):>3} steps  {book.description}")
    click.echo(f"(from {', '.join(str(d) for d in playbook_dirs(settings)) or 'no folder'})", err=True)


@playbook.command("show")
@click.argument("name")
@pass_state
def show_playbook(state: State, name: str) -> None:
    """Print a playbook as loaded (JSON) with its content hash."""
    books = load_catalog(state.settings(), default_registry())
    if name not in books:
        raise NotFound(f"no playbook named '{name}'; known: {', '.join(sorted(books)) or 'none'}")
    book = books[name]
    click.echo(
        json.dumps({"hash": book.content_hash(), **book.model_dump(mode="json", by_alias=True)}, indent=2)
    )


@playbook.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@pass_state
def validate(state: State, paths: tuple[Path, ...]) -> None:
    """Check playbook files (default: every configured folder); errors read file:line:column."""
    registry = default_registry()
    if not paths:
        books = load_catalog(state.settings(), registry)
        click.echo(f"ok: {len(books)} playbooks valid")
        return
    files = [f for p in paths for f in (sorted(p.glob("*.y*ml")) if p.is_dir() else [p])]
    for file in files:
        book = load_playbook(file, registry=registry)
        click.echo(f"ok: {file} ({book.name})")


@playbook.command("schema")
def schema() -> None:
    """Print the playbook JSON Schema (point your editor's YAML plugin at it)."""
    click.echo(json.dumps(playbook_json_schema(), indent=2))


@playbook.command("run")
@click.argument("name")
@click.option(
    "--input", "inputs", multiple=True, metavar="KEY=VALUE", help="A manual input; repeat for more."
)
@click.option("--incident", "incident_id", default=None, help="Attach the run to this incident's timeline.")
@click.option(
    "--dry-run", is_flag=True, help="Resolve every template and condition; call no action with effects."
)
@pass_state
def run_playbook(
    state: State, name: str, inputs: tuple[str, ...], incident_id: str | None, dry_run: bool
) -> None:
    """Start playbook NAME now; workers run its steps. Follow it with `orchestrator run show`.

    \b
    Example:
      orchestrator playbook run termination-purge --input reason="contract ended" --dry-run
    """
    runtime = state.runtime()
    if name not in runtime.playbooks:
        raise NotFound(f"no playbook named '{name}'; known: {', '.join(sorted(runtime.playbooks)) or 'none'}")
    given: dict[str, str] = {}
    for item in inputs:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: write --input KEY=VALUE")
        given[key.strip()] = value
    book = runtime.playbooks[name]
    run_id = flows.start_manual_run(
        runtime.transaction,
        playbook=book,
        given_inputs=given,
        incident_id=incident_id,
        dry_run=dry_run,
        actor=_actor(),
    )
    if dry_run:
        context = build_context(inputs=book.resolve_inputs(given) if book.trigger.manual else given)
        for entry in dry_run_plan(book, context, registry=runtime.registry):
            shown = "skip" if entry["would_skip"] else json.dumps(entry["params"])
            click.echo(f"  {entry['step']:<20} {entry['action']:<22} {entry['error'] or shown}")
    click.echo(f"started {run_id} ({name}{', dry run' if dry_run else ''})")


@click.group()
def run() -> None:
    """Follow and steer playbook runs: show, approve, deny, cancel, rerun."""


@run.command("list")
@click.option("--incident", "incident_id", default=None, help="Only runs of this incident.")
@click.option("--status", default=None, help="running, succeeded, failed or cancelled.")
@pass_state
def list_runs(state: State, incident_id: str | None, status: str | None) -> None:
    """List runs, newest first."""
    runtime = state.runtime()
    with runtime.store.unit_of_work() as session:
        rows = [r.as_dict() for r in service.list_runs(session, incident_id=incident_id, status=status)]
    if not rows:
        click.echo("no runs")
    for r in rows:
        incident, created = r["incident_id"] or "-", r["created_at"][:19]
        click.echo(f"{r['id']:<17} {r['status']:<10} {r['playbook']:<28} {incident:<17} {created}")


@run.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def show_run(state: State, run_id: str, as_json: bool) -> None:
    """Show a run and the state of each step."""
    runtime = state.runtime()
    with runtime.store.unit_of_work() as session:
        found = service.get_run(session, run_id=run_id)
        data = {
            **found.as_dict(),
            "steps": [r.as_dict() for r in service.step_rows(session, run_id=found.id).values()],
        }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(
        f"{data['id']}  {data['playbook']}  {data['status']}{'  (dry run)' if data['dry_run'] else ''}"
    )
    for step in data["steps"]:
        extra = step["error"] or (
            f"approval: {step['approval']} by {step['approval_by']}" if step["approval"] else ""
        )
        click.echo(f"  {step['step']:<22} {step['status']:<17} attempt {step['attempt']}  {extra}")


def _decide(state: State, run_id: str, step: str, approve: bool, as_person: str | None) -> None:
    runtime = state.runtime()
    actor = _actor(as_person)
    decisions.decide_approval(runtime.transaction, run_id=run_id, step_id=step, approve=approve, actor=actor)
    click.echo(f"{'approved' if approve else 'denied'} {step} of {run_id} as {actor}")


@run.command("approve")
@click.argument("run_id")
@click.argument("step")
@_AS_PERSON
@pass_state
def approve(state: State, run_id: str, step: str, as_person: str | None) -> None:
    """Approve STEP of RUN_ID, which waits for approval (recorded with your user name).

    \b
    A step with approvers: [U024BE7LH] is approved by that person:
      orchestrator run approve RUN_ID gate --as U024BE7LH
    """
    _decide(state, run_id, step, True, as_person)


@run.command("deny")
@click.argument("run_id")
@click.argument("step")
@_AS_PERSON
@pass_state
def deny(state: State, run_id: str, step: str, as_person: str | None) -> None:
    """Deny STEP of RUN_ID; the step fails and its on_failure applies."""
    _decide(state, run_id, step, False, as_person)


@run.command("cancel")
@click.argument("run_id")
@pass_state
def cancel(state: State, run_id: str) -> None:
    """Cancel a running run; steps not finished are cancelled."""
    flows.cancel_run(state.runtime().transaction, run_id=run_id, actor=_actor())
    click.echo(f"cancelled {run_id}")


@run.command("rerun")
@click.argument("run_id")
@click.argument("step")
@pass_state
def rerun(state: State, run_id: str, step: str) -> None:
    """Rerun a failed STEP of RUN_ID (and the steps its failure cancelled)."""
    flows.rerun_step(state.runtime().transaction, run_id=run_id, step_id=step, actor=_actor())
    click.echo(f"rerunning {step} of {run_id}")


@run.command("done")
@click.argument("run_id")
@click.argument("step")
@click.option(
    "--input", "inputs", multiple=True, metavar="KEY=VALUE", help="The step's input, e.g. ticket_id=123."
)
@_AS_PERSON
@pass_state
def done(state: State, run_id: str, step: str, inputs: tuple[str, ...], as_person: str | None) -> None:
    """Mark the manual STEP of RUN_ID done (recorded with your user name and the input).

    \b
    Example, after filing the report in TikTok's developer support form:
      orchestrator run done RUN_ID file_tiktok_report --input ticket_id=TT-48213
    """
    given: dict[str, str] = {}
    for item in inputs:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: write --input KEY=VALUE")
        given[key.strip()] = value
    decisions.complete_manual_step(
        state.runtime().transaction, run_id=run_id, step_id=step, actor=_actor(as_person), inputs=given
    )
    click.echo(f"completed {step} of {run_id}")
