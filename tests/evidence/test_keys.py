"""The evidence key: made once, 0600, in the data folder; a configured one must exist and its path
is never shown (it says where secrets are mounted)."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from orchestrator.config import load_settings, masked_dump
from orchestrator.errors import ConfigError
from orchestrator.evidence import keys
from orchestrator.scheduler import run_scheduler
from orchestrator.worker.runtime import Runtime


def test_the_key_is_made_once_in_the_data_folder_readable_by_its_owner_only(tmp_path: Path) -> None:
    settings = load_settings(overrides={"data_dir": tmp_path / "data"})
    first, again = keys.load_or_create(settings), keys.load_or_create(settings)
    path = tmp_path / "data" / "evidence-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.fingerprint == again.fingerprint and first.fingerprint.startswith("sha256:")
    assert first.public.verifies(first.sign(b"head"), b"head") and not first.public.verifies(
        first.sign(b"head"), b"other"
    )


def test_a_configured_key_is_used_and_a_missing_one_refused_without_showing_its_path(tmp_path: Path) -> None:
    made = keys.load_or_create(load_settings(overrides={"data_dir": tmp_path / "a"}))
    mounted = tmp_path / "run-secrets-evidence.pem"
    mounted.write_bytes((tmp_path / "a" / "evidence-key.pem").read_bytes())
    settings = load_settings(overrides={"data_dir": tmp_path / "b", "evidence_key_file": mounted})
    assert keys.load_or_create(settings).fingerprint == made.fingerprint
    assert not (tmp_path / "b" / "evidence-key.pem").exists()
    assert masked_dump(settings)["evidence_key_file"] == "********"
    missing = load_settings(overrides={"evidence_key_file": tmp_path / "run-secrets-gone.pem"})
    with pytest.raises(
        ConfigError, match=r"^evidence_key_file \(ORCH_EVIDENCE_KEY_FILE\): cannot read"
    ) as err:
        keys.load_or_create(missing)
    assert "run-secrets" not in str(err.value)


def test_the_scheduler_makes_the_key_when_it_starts_before_any_incident(runtime: Runtime) -> None:
    """Operators hand the public key to auditors before the first incident, not after it."""
    path = runtime.settings.data_dir / "evidence-key.pem"
    assert not path.exists()
    stop = threading.Event()
    stop.set()  # it starts, and stops before its first tick: no job has run
    run_scheduler(runtime, stop)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_or_create(runtime.settings).fingerprint == runtime.evidence_key().fingerprint
