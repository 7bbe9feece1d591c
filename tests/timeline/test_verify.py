"""`incident verify`: an untouched chain passes; an edit, a deletion and a reorder made directly
in the database are found and named, on SQLite and PostgreSQL; PostgreSQL itself refuses both."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from orchestrator.config import Settings, load_settings
from orchestrator.timeline.service import ChainBreak, verify_chain
from orchestrator.worker.runtime import Runtime
from tests.support import services
from tests.support.processes import orchestrator_env
from tests.support.runtime import make_runtime
from tests.timeline.story import ENTRIES, build_incident

INCIDENT = "inc-story000001"


def _edit(conn: Connection) -> None:
    conn.execute(
        text(
            f"UPDATE timeline_entries SET message = 'nothing happened' WHERE chain = '{INCIDENT}' AND seq = 5"
        )
    )


def _delete(conn: Connection) -> None:
    conn.execute(text(f"DELETE FROM timeline_entries WHERE chain = '{INCIDENT}' AND seq = 5"))


def _reorder(conn: Connection) -> None:
    # Swap entries 5 and 6 in place: each keeps its own content, hashes and links.
    for old, new in ((5, -1), (6, 5), (-1, 6)):
        conn.execute(
            text(f"UPDATE timeline_entries SET seq = {new} WHERE chain = '{INCIDENT}' AND seq = {old}")
        )


FORGERIES: dict[str, tuple[Callable[[Connection], None], ChainBreak]] = {
    "edit": (_edit, ChainBreak(5, "content does not match its hash (edited)")),
    "delete": (_delete, ChainBreak(6, "expected entry 5 here, found 6")),
    "reorder": (_reorder, ChainBreak(6, "expected entry 5 here, found 6")),
}


@contextmanager
def _store(kind: str, settings: Settings) -> Iterator[Runtime]:
    if kind == "sqlite":
        runtime = make_runtime(settings)
        yield runtime
        runtime.close()
        return
    with services.postgres_database() as url:
        runtime = make_runtime(load_settings(overrides={**settings.model_dump(), "database_url": url}))
        yield runtime
        runtime.close()


@contextmanager
def _guard_off(runtime: Runtime) -> Iterator[Connection]:
    """A connection that may change timeline rows: PostgreSQL's trigger disabled as superuser."""
    with runtime.store.engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(text("ALTER TABLE timeline_entries DISABLE TRIGGER timeline_append_only"))
        yield conn
        if postgres:
            conn.execute(text("ALTER TABLE timeline_entries ENABLE TRIGGER timeline_append_only"))


def operator_cli(runtime: Runtime, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`orchestrator ARGS` in a fresh process on ``runtime``'s store and data folder."""
    env = orchestrator_env(runtime.settings.data_dir, api_token="api-token-for-tests-0002")
    env["PYTHONPATH"] = str(Path(__file__).parents[2])  # this checkout, whatever is installed
    if not runtime.store.is_sqlite:
        env["ORCH_DATABASE_URL"] = runtime.store.url
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_verify_names_the_first_bad_entry_after_a_forgery_in_the_database(
    store: str, forgery: str, settings: Settings
) -> None:
    forge, expected = FORGERIES[forgery]
    with _store(store, settings) as runtime:
        build_incident(runtime.store)
        with runtime.store.unit_of_work() as session:
            assert verify_chain(session, INCIDENT) is None
        with _guard_off(runtime) as conn:
            forge(conn)
        with runtime.store.unit_of_work() as session:
            assert verify_chain(session, INCIDENT) == expected


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def test_verify_command_passes_untouched_and_exits_1_naming_the_entry(
    store: str, settings: Settings, tmp_path: Path
) -> None:
    with _store(store, settings) as runtime:
        build_incident(runtime.store)
        build_incident(runtime.store, incident_id="inc-other0000001")
        ok = operator_cli(runtime, tmp_path, "incident", "verify", INCIDENT[:10])
        assert (ok.returncode, ok.stdout) == (0, f"{INCIDENT}: ok ({ENTRIES} entries)\n"), ok.stderr
        with _guard_off(runtime) as conn:
            _edit(conn)
        bad = operator_cli(runtime, tmp_path, "incident", "verify", "--all")
        assert bad.returncode == 1
        assert bad.stdout.splitlines() == [
            f"inc-other0000001: ok ({ENTRIES} entries)",
            f"{INCIDENT}: BROKEN at entry 5: content does not match its hash (edited)",
        ]
        assert bad.stderr == (
            f"Error: 1 chain(s) broken; first: {INCIDENT}: BROKEN at entry 5: "
            "content does not match its hash (edited)\n"
        )


@pytest.mark.services
def test_postgres_refuses_update_and_delete_of_timeline_rows(settings: Settings) -> None:
    with _store("postgres", settings) as runtime:
        build_incident(runtime.store)
        for forge in (_edit, _delete):
            with (
                pytest.raises(DBAPIError, match="timeline entries are append-only"),
                runtime.store.engine.begin() as conn,
            ):
                forge(conn)
        with runtime.store.unit_of_work() as session:
            assert verify_chain(session, INCIDENT) is None
