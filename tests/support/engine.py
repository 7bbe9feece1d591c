"""A real engine for tests: migrated store, scheduler thread and in-process Celery worker, with
helpers to open incidents, start runs, wait for them and read timelines."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrator import clock
from orchestrator.config import load_settings
from orchestrator.events import accept as intake
from orchestrator.events.schemas import CompromiseEvent
from orchestrator.incidents import service as incidents
from orchestrator.playbooks import flows, service
from orchestrator.scheduler import run_scheduler
from orchestrator.timeline import service as timeline
from orchestrator.worker.app import publisher
from orchestrator.worker.runtime import Runtime
from tests.support.processes import wait_for
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.worker import in_process_worker

__all__ = ["Engine", "running_engine", "scheduler_thread", "slack_settings"]

BOT_TOKEN = "xoxb-planted-bot-token-000111222"
SIGNING_SECRET = "planted-signing-secret-8c1f3e"
CLIENT_SECRET = "planted-tiktok-client-secret-77aa"


def slack_settings(api_url: str) -> dict[str, Any]:
    """Slack on, against the stand-in at ``api_url``: admins UALICE and UBOB, cards refreshed at
    most every half second, and only the test's own playbooks."""
    return {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": api_url,
        "slack_admins": ["UALICE", "UBOB"],
        "slack_card_min_interval_seconds": 0.5,
        "shipped_playbooks": False,
    }


class Engine:
    """The runtime plus helpers to open incidents, start runs and read timelines."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def open_incident(self, title: str = "Secrets found on build host") -> str:
        """Post a low-severity event through the intake and wait for its incident."""
        key = "chatops-" + uuid.uuid4().hex[:8]
        now = clock.utcnow()
        event = CompromiseEvent(
            source="generic",
            kind="drill.chatops",
            severity="low",
            title=title,
            observed_at=now,
            received_at=now,
            dedup_key=key,
            entities={"hosts": ["ci-7"], "open_ids": ["open-id-aaa", "open-id-bbb"]},
        )
        ids = intake.accept_events(self.runtime.store, [event], now=now)
        intake.dispatch_now(self.runtime.store, publisher(self.runtime.celery), ids, now=now)

        def opened() -> str | None:
            with self.runtime.store.unit_of_work() as session:
                found = [i.id for i in incidents.list_incidents(session) if i.dedup_key == key]
            return found[0] if found else None

        return wait_for(opened, timeout=20, what="the incident to open")

    def start(self, name: str, incident_id: str | None = None, dry_run: bool = False, **inputs: Any) -> str:
        return flows.start_manual_run(
            self.runtime.transaction,
            playbook=self.runtime.playbooks[name],
            given_inputs=inputs,
            incident_id=incident_id,
            dry_run=dry_run,
            actor="cli:tester",
        )

    def run(self, run_id: str) -> dict[str, Any]:
        with self.runtime.store.unit_of_work() as session:
            found = service.get_run(session, run_id=run_id)
            steps = {k: v.as_dict() for k, v in service.step_rows(session, run_id=run_id).items()}
            return {
                "status": found.status,
                "steps": {k: v["status"] for k, v in steps.items()},
                "detail": steps,
            }

    def wait(
        self, run_id: str, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 20
    ) -> dict[str, Any]:
        return wait_for(
            lambda: r if (r := self.run(run_id)) and predicate(r) else None, timeout=timeout, what=what
        )

    def finished(self, run_id: str, timeout: float = 20) -> dict[str, Any]:
        return self.wait(run_id, lambda r: r["status"] != "running", "the run to finish", timeout)

    def kinds(self, chain: str) -> list[str]:
        return [entry.kind for entry in self.entries(chain)]

    def entries(self, chain: str) -> list[Any]:
        with self.runtime.store.unit_of_work() as session:
            rows = timeline.entries(session, chain)
            for row in rows:
                session.expunge(row)
            return rows


@contextmanager
def running_engine(
    tmp_path: Path, playbooks: dict[str, str] | None, *, concurrency: int = 4, **overrides: Any
) -> Iterator[Engine]:
    """An engine on a fresh store with ``playbooks`` (name -> YAML; None: the shipped ones), a
    worker of ``concurrency`` threads and settings ``overrides``."""
    books: dict[str, Any] = {}
    if playbooks is not None:
        folder = tmp_path / "books"
        folder.mkdir()
        for name, text in playbooks.items():
            (folder / f"{name}.yaml").write_text(text)
        books["playbook_dirs"] = [folder]
    settings = load_settings(
        overrides={
            "data_dir": tmp_path / "data",
            "intake_token": INTAKE_TOKEN,
            "api_token": API_TOKEN,
            **books,
            "redeliver_after_seconds": 2,
            "relay_interval_seconds": 0.1,
            "tiktok_client_secret": CLIENT_SECRET,
            **overrides,
        }
    )
    runtime = make_runtime(settings)
    try:
        with (
            scheduler_thread(runtime),
            in_process_worker(runtime, concurrency=concurrency),
        ):
            yield Engine(runtime)
    finally:
        runtime.close()


@contextmanager
def scheduler_thread(runtime: Runtime) -> Iterator[None]:
    """The scheduler in a thread of the test process, stopped on the way out, failed test or not.

    It is joined before the caller closes the store: a scheduler left running (its test failed)
    or still in a job when the store closed (a short join under load) used the store after it
    closed, and the connection it took then was never closed; its warning, when the garbage
    collector found it, failed whichever later test was running (CI, 2026-12-07)."""
    stop = threading.Event()
    scheduler = threading.Thread(target=run_scheduler, args=(runtime, stop), daemon=True)
    scheduler.start()
    try:
        yield
    finally:
        stop.set()
        scheduler.join(120)
        if scheduler.is_alive():
            raise RuntimeError("the scheduler did not stop within 120 s of being asked")
