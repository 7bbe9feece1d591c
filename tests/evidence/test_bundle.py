"""Evidence bundles: exported, then verified in a fresh process with no store and no configuration;
an edit, a deletion, a reorder or a cut-off end made in the database (SQLite and PostgreSQL) is
named; a bundle changed after export, or checked with another operator's key, is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from referencing import Registry, Resource
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from orchestrator import clock
from orchestrator.config import Settings
from orchestrator.evidence.bundle import verify_bundle
from orchestrator.evidence.export import export_incident
from orchestrator.evidence.keys import PublicKey
from orchestrator.timeline import checkpoints
from orchestrator.timeline.service import ChainBreak, verify_chain
from orchestrator.worker.runtime import Runtime
from tests.timeline.story import ENTRIES, build_incident
from tests.timeline.test_verify import FORGERIES, INCIDENT, _guard_off, _store, operator_cli


def _truncate(conn: Connection) -> None:
    conn.execute(text(f"DELETE FROM timeline_entries WHERE chain = '{INCIDENT}' AND seq > 29"))


CUT_OFF = (
    f"entries 30..{ENTRIES} are missing: the chain was cut off after entry 29, "
    f"but entry {ENTRIES} was checkpointed"
)
TAMPERING = {name: (forge, expected.seq, expected.reason) for name, (forge, expected) in FORGERIES.items()}
TAMPERING["truncate"] = (_truncate, 30, CUT_OFF)


def _signed_story(runtime: Runtime) -> None:
    """The story's incident with its head checkpointed, as the scheduler does at its close."""
    build_incident(runtime.store)
    with runtime.store.unit_of_work() as session:
        checkpoints.take(
            session, chain=INCIDENT, signer=runtime.evidence_key(), reason="milestone", now=clock.utcnow()
        )


def _bundle(runtime: Runtime) -> dict[str, Any]:
    """What `orchestrator evidence export` writes (its head signed again at export)."""
    key, now = runtime.evidence_key(), clock.utcnow()
    return export_incident(runtime.store, runtime.settings, key, incident_id=INCIDENT, now=now).bundle


def _bare_cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`orchestrator ...` as an auditor runs it: no ORCH_* setting, an empty folder, no store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    folder = tmp / "auditor"
    folder.mkdir(exist_ok=True)
    shown = subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=60,
    )
    assert list(folder.iterdir()) == [], "verifying wrote nothing: no store, no key, no config"
    return shown


def test_exported_bundle_verifies_in_a_fresh_process_with_no_configuration(
    runtime: Runtime, tmp_path: Path
) -> None:
    _signed_story(runtime)
    bundle_file, key_file = tmp_path / "evidence.json", tmp_path / "operator.pem"
    exported = operator_cli(runtime, tmp_path, "evidence", "export", INCIDENT[:10], "--out", str(bundle_file))
    assert exported.returncode == 0, exported.stderr
    fingerprint = runtime.evidence_key().fingerprint
    assert exported.stdout == (
        f"wrote {bundle_file}: {ENTRIES} entries, 1 signed checkpoint, chain verified; key {fingerprint}\n"
    )
    shown = operator_cli(runtime, tmp_path, "evidence", "key")
    key_file.write_text(shown.stdout.split("fingerprint:")[0])
    assert shown.stdout.endswith(f"fingerprint: {fingerprint}\n")
    assert "PRIVATE" not in shown.stdout + bundle_file.read_text()

    checked = _bare_cli(tmp_path, "evidence", "verify", str(bundle_file), "--public-key", str(key_file))
    assert (checked.returncode, checked.stdout, checked.stderr) == (
        0,
        f"{INCIDENT}: ok ({ENTRIES} entries, 1 signed checkpoint, key {fingerprint})\n",
        "",
    )
    bundle = json.loads(bundle_file.read_text())
    assert bundle["postmortem"]["figures_svg"].startswith("<svg")
    assert {"timeline", "compliance", "postmortem", "checkpoints", "public_key", "signature"} <= set(bundle)


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_tampering_in_the_database_is_named_by_verify_and_by_the_bundle(
    store: str, tampering: str, settings: Settings
) -> None:
    forge, seq, reason = TAMPERING[tampering]
    with _store(store, settings) as runtime:
        _signed_story(runtime)
        with _guard_off(runtime) as conn:
            forge(conn)
        with runtime.store.unit_of_work() as session:
            found = verify_chain(session, INCIDENT)
        assert found is not None and (found.seq, found.reason[: len(reason)]) == (seq, reason)
        verdict = verify_bundle(_bundle(runtime), public_key=runtime.evidence_key().public, source="b.json")
        with runtime.store.unit_of_work() as session:
            signed = [c.seq for c in checkpoints.for_chain(session, INCIDENT)]
    assert signed == [ENTRIES], "a broken chain's head is not signed at export"
    assert (verdict.ok, verdict.entry, verdict.problem and verdict.problem[: len(reason)]) == (
        False,
        seq,
        reason,
    )
    assert verdict.line().startswith(f"{INCIDENT}: BROKEN at entry {seq}: {reason}")


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def test_a_cut_off_chain_is_exported_as_it_is_and_its_cut_head_is_not_signed(
    store: str, settings: Settings, tmp_path: Path
) -> None:
    """Signing the cut head at export would vouch for the cut: once the checkpoints past it were
    deleted too (SQLite does not refuse), the shorter chain would verify."""
    bundle_file = tmp_path / "evidence.json"
    with _store(store, settings) as runtime:
        _signed_story(runtime)
        with _guard_off(runtime) as conn:
            _truncate(conn)
        exported = operator_cli(runtime, tmp_path, "evidence", "export", INCIDENT, "--out", str(bundle_file))
        with runtime.store.unit_of_work() as session:
            signed = [c.seq for c in checkpoints.for_chain(session, INCIDENT)]
        key = runtime.evidence_key()
    assert signed == [ENTRIES]  # none at entry 29, the cut head
    assert exported.returncode == 1
    assert exported.stdout == (
        f"wrote {bundle_file}: 29 entries, 1 signed checkpoint, CHAIN BROKEN at entry 30; "
        f"key {key.fingerprint}\n"
    )
    assert exported.stderr.startswith(f"Error: {INCIDENT}: BROKEN at entry 30: {CUT_OFF}")
    assert exported.stderr.rstrip().endswith(
        "the head was not signed anew (a signature now would vouch for the break), and the bundle names it"
    )
    verdict = verify_bundle(json.loads(bundle_file.read_text()), public_key=key.public, source="b.json")
    assert verdict.line().startswith(f"{INCIDENT}: BROKEN at entry 30: {CUT_OFF}")


def test_without_a_checkpoint_a_cut_off_end_would_pass_which_is_why_heads_are_signed(
    runtime: Runtime,
) -> None:
    build_incident(runtime.store)
    with _guard_off(runtime) as conn:
        _truncate(conn)
    with runtime.store.unit_of_work() as session:
        assert verify_chain(session, INCIDENT) is None  # the hash chain alone cannot tell


def test_a_bundle_edited_after_export_is_named_or_refused(runtime: Runtime) -> None:
    _signed_story(runtime)
    bundle = _bundle(runtime)
    key = runtime.evidence_key().public

    edited = json.loads(json.dumps(bundle))
    edited["timeline"]["entries"][6]["message"] = "nothing happened"
    assert verify_bundle(edited, public_key=key, source="b.json").line() == (
        f"{INCIDENT}: BROKEN at entry 7: content does not match its hash (edited)"
    )
    cut = json.loads(json.dumps(bundle))
    del cut["timeline"]["entries"][-2:]
    assert verify_bundle(cut, public_key=key, source="b.json").entry == ENTRIES - 1
    softened = json.loads(json.dumps(bundle))
    [report] = [c for c in softened["compliance"]["json"]["clauses"] if c["title"] == "Report immediately"]
    assert report["status"] == "missed"
    report["status"] = "met"
    assert verify_bundle(softened, public_key=key, source="b.json").line() == (
        f"{INCIDENT}: REFUSED: the bundle's signature does not verify: the file was changed after export"
    )


def test_a_bundle_checked_with_another_key_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    _signed_story(runtime)
    bundle_file, other_key = tmp_path / "evidence.json", tmp_path / "other.pem"
    bundle_file.write_text(json.dumps(_bundle(runtime)))
    stranger = Ed25519PrivateKey.generate().public_key()
    other_key.write_bytes(
        stranger.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    refused = _bare_cli(tmp_path, "evidence", "verify", str(bundle_file), "--public-key", str(other_key))
    ours = runtime.evidence_key().fingerprint
    theirs = PublicKey.from_pem(other_key.read_bytes(), source="other.pem").fingerprint
    assert (refused.returncode, refused.stdout) == (
        1,
        f"{INCIDENT}: REFUSED: signed by key {ours}, not by the key given ({theirs}): "
        "this bundle is not from the operator whose key you hold\n",
    )


def test_a_forged_checkpoint_proves_nothing(runtime: Runtime) -> None:
    """Someone with the database but not the key adds a checkpoint: verify with the key refuses it."""
    build_incident(runtime.store)
    key = runtime.evidence_key()

    class Forger:
        fingerprint = key.fingerprint

        def sign(self, message: bytes) -> str:
            return key.sign(message + b"!")

    with runtime.store.unit_of_work() as session:
        checkpoints.take(session, chain=INCIDENT, signer=Forger(), reason="milestone", now=clock.utcnow())
    with runtime.store.unit_of_work() as session:
        assert verify_chain(session, INCIDENT) is None
        found = verify_chain(
            session,
            INCIDENT,
            signature_ok=lambda c: key.public.verifies(c.signature, c.message()),
        )
    assert found == ChainBreak(
        ENTRIES, f"the checkpoint of entry {ENTRIES} is not signed by the expected key (forged?)"
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "not a JSON evidence bundle"),
        (b'{"format": "something-else"}', "not an evidence bundle (format is not 'orchestrator-evidence')"),
    ],
)
def test_a_file_that_is_not_a_bundle_gets_a_clear_error_naming_it(
    tmp_path: Path, content: bytes, says: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    shown = _bare_cli(tmp_path, "evidence", "verify", str(bad))
    assert shown.returncode == 1 and str(bad) in shown.stderr and says in shown.stderr


def test_the_bundle_validates_against_its_schema_which_embeds_the_timeline_schema(runtime: Runtime) -> None:
    _signed_story(runtime)
    folder = Path(__file__).parents[2] / "schemas"
    schemas = {
        name: json.loads((folder / name).read_text())
        for name in ("evidence.schema.json", "timeline.schema.json")
    }
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    validator = jsonschema.Draft202012Validator(
        schemas["evidence.schema.json"], registry=registry, format_checker=jsonschema.FormatChecker()
    )
    bundle = _bundle(runtime)
    validator.validate(bundle)
    broken = json.loads(json.dumps(bundle))
    del broken["timeline"]["entries"][0]["hash"]
    assert not validator.is_valid(broken)


@pytest.mark.services
def test_postgres_refuses_to_change_or_delete_a_checkpoint(settings: Settings) -> None:
    with _store("postgres", settings) as runtime:
        _signed_story(runtime)
        for change in ("UPDATE timeline_checkpoints SET seq = 1", "DELETE FROM timeline_checkpoints"):
            with (
                pytest.raises(DBAPIError, match="append-only"),
                runtime.store.engine.begin() as conn,
            ):
                conn.execute(text(change))
        with runtime.store.unit_of_work() as session:
            assert [c.seq for c in checkpoints.for_chain(session, INCIDENT)] == [ENTRIES]
