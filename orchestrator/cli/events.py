"""``orchestrator event send FILE``: post a compromise event from a JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import click
import httpx

from orchestrator import clock
from orchestrator.cli.common import State, pass_state
from orchestrator.errors import ValidationFailed
from orchestrator.events import accept as intake
from orchestrator.events.schemas import Severity
from orchestrator.intake.sources import SourceContext, parse_body, source_names
from orchestrator.worker.app import publisher

__all__ = ["event"]


@click.group()
def event() -> None:
    """Send compromise events."""


@event.command("send")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--source", default="generic", show_default=True, help="Body format: " + ", ".join(source_names())
)
@click.option(
    "--url", default=None, help="Post to a running API (e.g. http://127.0.0.1:8080) instead of the store."
)
@pass_state
def send(state: State, file: Path, source: str, url: str | None) -> None:
    """Send the event in FILE (JSON; the generic schema by default).

    \b
    Minimal generic event:
      {"title": "Secrets found on build host", "kind": "host.compromise",
       "severity": "critical", "entities": {"hosts": ["ci-7"]}}

    Without --url the event is written straight to the store's outbox (durable at
    once) and any running worker picks it up; with --url it goes through the API
    with the intake token, as a detector would send it.
    """
    if source not in source_names():
        raise click.BadParameter(f"unknown source {source!r}; known: {', '.join(source_names())}")
    raw = file.read_bytes()
    if url:
        _post(state, url, source, raw, file)
        return
    runtime = state.runtime()
    context = SourceContext(source=source, received_at=clock.utcnow(), default_severity=Severity.MEDIUM)
    try:
        events = parse_body(source, raw, context)
    except ValidationFailed as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    now = clock.utcnow()
    ids = intake.accept_events(runtime.store, events, now=now)
    intake.dispatch_now(runtime.store, publisher(runtime.celery), ids, now=now)
    for item in events:
        click.echo(f"accepted {item.id}: {item.severity.value} {item.kind}: {item.title}")


def _post(state: State, url: str, source: str, raw: bytes, file: Path) -> None:
    settings = state.runtime(require_schema=False).settings
    token = settings.intake_token.get_secret_value() if settings.intake_token else ""
    path = "/v1/events" if source == "generic" else f"/v1/events/{source}"
    try:
        answer = httpx.post(
            url.rstrip("/") + path,
            content=raw,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {url}: {type(exc).__name__}") from None
    if answer.status_code != 202:
        try:
            reason = answer.json().get("error", answer.text)
        except json.JSONDecodeError:
            reason = answer.text
        raise click.ClickException(f"{file}: refused with HTTP {answer.status_code}: {reason}")
    for event_id in answer.json().get("event_ids", []):
        click.echo(f"accepted {event_id}")
