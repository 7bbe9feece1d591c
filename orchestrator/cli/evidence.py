"""``orchestrator evidence export|verify|key``: signed evidence an auditor checks offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from orchestrator import clock
from orchestrator.cli.common import State, fail, pass_state
from orchestrator.evidence import keys
from orchestrator.evidence.bundle import counted, verify_bundle
from orchestrator.evidence.export import export_incident

__all__ = ["evidence"]


@click.group()
def evidence() -> None:
    """Evidence for auditors: one signed file per incident, verifiable with only the public key."""


@evidence.command("export")
@click.argument("incident_id")
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The bundle file."
)
@pass_state
def export_bundle(state: State, incident_id: str, out: Path) -> None:
    """Write the incident's evidence bundle: timeline, compliance report, postmortem, picture and
    the chain's signed checkpoints, signed as a whole. The chain is verified first and its head
    signed now only if it holds: a broken chain is still written, its head not signed anew, and
    the command says where it broke (stderr) and exits 1."""
    runtime = state.runtime()
    key = runtime.evidence_key()
    done = export_incident(runtime.store, runtime.settings, key, incident_id=incident_id, now=clock.utcnow())
    try:
        out.write_text(json.dumps(done.bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"{out}: cannot write the bundle: {exc.strerror}")
    broken = done.chain_break
    chain_state = "chain verified" if broken is None else f"CHAIN BROKEN at entry {broken.seq}"
    click.echo(
        f"wrote {out}: {len(done.record.entries)} entries, {counted(done.checkpoints)}, {chain_state}; "
        f"key {key.fingerprint}"
    )
    if broken is not None:
        fail(
            f"{done.record.incident.id}: BROKEN at entry {broken.seq}: {broken.reason}; the head was not "
            "signed anew (a signature now would vouch for the break), and the bundle names it"
        )


@evidence.command("verify")
@click.argument("bundle_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The operator's public key (PEM, from `orchestrator evidence key`); else the bundle's own.",
)
def verify(bundle_file: Path, public_key: Path | None) -> None:
    """Check a bundle with no store and no configuration; exit 1 naming the first entry that was
    edited, removed, reordered or cut off, or when another key signed it."""
    try:
        data = json.loads(bundle_file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{bundle_file}: cannot read: {exc.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{bundle_file}: not a JSON evidence bundle ({exc})")
    given = None
    if public_key is not None:
        try:
            pem = public_key.read_bytes()
        except OSError as exc:
            fail(f"{public_key}: cannot read: {exc.strerror}")
        given = keys.PublicKey.from_pem(pem, source=str(public_key))
    verdict = verify_bundle(data, public_key=given, source=str(bundle_file))
    click.echo(verdict.line())
    if given is None and verdict.ok:
        click.echo(
            "note: checked with the key inside the bundle; compare its fingerprint with the one the "
            "operator gave you, or pass --public-key"
        )
    sys.exit(0 if verdict.ok else 1)


@evidence.command("key")
@pass_state
def key(state: State) -> None:
    """Print the public key (PEM) and its fingerprint, to hand to auditors (made on first use)."""
    evidence_key = keys.load_or_create(state.settings())
    click.echo(evidence_key.public.pem(), nl=False)
    click.echo(f"fingerprint: {evidence_key.fingerprint}")
