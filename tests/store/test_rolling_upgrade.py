"""Rolling upgrades on PostgreSQL (issue 30, item 2): this release keeps working, as real processes,
on the schema of a newer release whose migrations are additive; it refuses a newer schema that is
not, and a schema behind it, with a message that says what is true and exit status 78, which
stops the worker's supervisor instead of restarting it for ever.

The newer release is this one's migrations plus one more, run by Alembic from a copy of the
migration folder (the next release's folder is exactly that).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from orchestrator.config import load_settings
from orchestrator.errors import EXIT_SCHEMA
from orchestrator.incidents.models import IncidentRow
from orchestrator.store import migrate
from orchestrator.store.db import Store
from tests.support.kills import Site
from tests.support.processes import Proc, orchestrator_env, wait_for
from tests.support.services import REDIS_URL, flush_redis, postgres_database, require

pytestmark = [pytest.mark.services]

_NEXT = '''"""the next release: {what}"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
{additive}

def upgrade() -> None:
{body}


def downgrade() -> None:
    pass
'''
_ADDITIVE = """    op.create_table("next_release_notes", sa.Column("id", sa.Integer(), primary_key=True))
    op.add_column("incidents", sa.Column("next_release_note", sa.Text(), nullable=True))
    hint = sa.Column("next_release_hint", sa.Integer(), nullable=False, server_default="0")
    op.add_column("outbox", hint)"""
_DESTRUCTIVE = '    op.drop_column("incidents", "next_release_note")'


def newer_release(folder: Path, *, destructive: bool = False) -> Path:
    """This release's migration folder plus a newer additive 0031 (and a destructive 0032)."""
    scripts = folder / "migrations"
    shutil.copytree(
        Path(migrate.__file__).parent / "migrations", scripts, ignore=shutil.ignore_patterns("__pycache__")
    )
    versions = scripts / "versions"
    (versions / "0031_next.py").write_text(
        _NEXT.format(
            what="additive",
            revision="0031",
            down=migrate.head_revision(),
            additive="additive = True\n",
            body=_ADDITIVE,
        )
    )
    if destructive:
        (versions / "0032_after.py").write_text(
            _NEXT.format(what="destructive", revision="0032", down="0031", additive="", body=_DESTRUCTIVE)
        )
    return scripts


def upgrade_with(scripts: Path, url: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(scripts))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


@pytest.fixture
def store_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def run(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = orchestrator_env(tmp_path / "data", database_url=url)
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_this_release_keeps_working_on_a_newer_additive_schema(tmp_path: Path, store_url: str) -> None:
    require(REDIS_URL, "Redis")
    flush_redis()
    assert run(tmp_path, store_url, "db", "upgrade").returncode == 0
    upgrade_with(newer_release(tmp_path), store_url)
    again = run(tmp_path, store_url, "db", "upgrade")  # the old release's migrate step, in a rollout
    assert again.returncode == 0, again.stderr
    assert "from a newer release" in again.stdout and "nothing to do" in again.stdout
    site = Site(tmp_path, database_url=store_url, broker_url=REDIS_URL)
    try:
        site.start("serve")
        site.start("worker")
        site.start("scheduler")
        wait_for(
            lambda: httpx.get(f"{site.base_url}/readyz", timeout=5).status_code == 200,
            timeout=60,
            what="every role of the previous release running on the newer schema",
        )
        assert (
            site.post(
                {
                    "title": "Tokens used from a new country",
                    "kind": "credential.leak",
                    "severity": "critical",
                    "dedup_key": "rolling-1",
                }
            )
            == 202
        )
        engaged = wait_for(
            lambda: site.read(
                lambda s: s.scalar(
                    select(IncidentRow.disconnected_at).where(IncidentRow.dedup_key == "rolling-1")
                )
            ),
            timeout=60,
            what="the kill switch engaged by the previous release's worker",
        )
        assert engaged is not None
    finally:
        site.close()
    store = Store(store_url)
    try:
        assert migrate.current_revision(store) == "0031"
        with store.engine.connect() as conn:  # the new release's columns are still there, defaulted
            assert conn.execute(text("SELECT count(*) FROM outbox WHERE next_release_hint = 0")).scalar()
    finally:
        store.dispose()


def test_a_newer_schema_that_is_not_additive_is_refused_once_with_exit_78(
    tmp_path: Path, store_url: str
) -> None:
    assert run(tmp_path, store_url, "db", "upgrade").returncode == 0
    upgrade_with(newer_release(tmp_path, destructive=True), store_url)
    for args in (("worker",), ("db", "upgrade"), ("scheduler",)):
        result = run(tmp_path, store_url, *args)
        assert result.returncode == EXIT_SCHEMA, (args, result.stderr)
        head = migrate.head_revision()
        assert result.stderr.strip().splitlines() == [
            f"error: the store is at schema 0032, from a newer release than this one ({head}), "
            "and no longer runs releases before schema 0032: run this process from the newer release"
        ]


def test_a_schema_behind_this_release_names_the_command_that_fixes_it(tmp_path: Path, store_url: str) -> None:
    store = Store(store_url)
    try:
        migrate.upgrade(store, "0014")
    finally:
        store.dispose()
    refused = run(tmp_path, store_url, "scheduler")
    assert refused.returncode == EXIT_SCHEMA
    assert (
        f"older than this release's {migrate.head_revision()}: run 'orchestrator db upgrade'"
        in refused.stderr
    )
    upgraded = run(tmp_path, store_url, "db", "upgrade")
    assert upgraded.stdout.strip() == f"store schema: 0014 -> {migrate.head_revision()}"
    current = run(tmp_path, store_url, "db", "current")
    assert "this release's" in current.stdout and current.returncode == 0


@pytest.mark.slow
def test_the_worker_supervisor_stops_when_its_child_refuses_the_schema(tmp_path: Path) -> None:
    """Before, a child refusing the schema was restarted every 2.5 s for ever, looking alive."""
    data = tmp_path / "data"
    proc = Proc(["worker"], env=orchestrator_env(data), cwd=tmp_path, log=tmp_path / "worker.log")
    try:
        wait_for(lambda: " ready." in proc.log.read_text(errors="replace"), timeout=90, what="it consuming")
        store_url = load_settings(overrides={"data_dir": data}).store_url
        upgrade_with(newer_release(tmp_path, destructive=True), store_url)
        [child] = subprocess.check_output(["pgrep", "-P", str(proc.popen.pid)], text=True).split()
        os.kill(int(child), signal.SIGKILL)  # as a broker outage's "Unrecoverable error" ends it
        assert proc.popen.wait(60) == EXIT_SCHEMA
    finally:
        proc.stop()
    log = proc.log.read_text(errors="replace")
    assert log.count("child exited; restarting") == 1
    assert "child refused the store's schema; stopping" in log
    assert "no longer runs releases before schema 0032" in log
