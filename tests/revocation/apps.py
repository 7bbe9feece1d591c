"""Two TikTok apps, ``shop`` (A) and ``ads`` (B), each on a TikTok simulator of its own with its
own client key and secret, under the shipped playbooks on a real engine (scheduler and worker).

Both simulators are seeded alike, so the two inventories hold the very same token strings: only
a ledger keyed by app and fingerprint sends B's tokens after A's were revoked.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from orchestrator import clock
from orchestrator.api.app import create_app
from orchestrator.events import accept as intake
from orchestrator.events.schemas import CompromiseEvent, Entities
from orchestrator.incidents.models import IncidentRow
from orchestrator.revocation.models import RevocationRow
from orchestrator.switch import flows as switch_flows
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from tests.support.engine import Engine, running_engine
from tests.support.processes import wait_for
from tests.support.receiver import Receiver, receiver
from tests.support.server import serve_app

SECRETS = {"shop": "shop-secret-1111aa", "ads": "ads-secret-2222bb"}


@dataclass
class TwoApps:
    engine: Engine
    sims: dict[str, TikTokSimulator]
    tokens: dict[str, list[dict[str, str]]]
    base_url: str
    hook: Receiver


def _app(name: str, sim: TikTokSimulator, inventory: Path, rate: float, secret: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "login_kit",
        "client_key": sim.options.client_key,
        "client_secret": secret,
        "api_base": sim.base_url,
        "token_inventory": str(inventory),
        "revoke_rate": rate,
    }


@contextlib.contextmanager
def two_apps(
    tmp_path: Path,
    *,
    tokens: int,
    rates: tuple[float, float] = (0, 0),
    database_url: str = "",
    secrets: dict[str, str] | None = None,
) -> Iterator[TwoApps]:
    """The engine with both apps; ``secrets`` the secret the orchestrator holds for an app (by
    default the one its simulator expects)."""
    with contextlib.ExitStack() as stack:
        sims: dict[str, TikTokSimulator] = {}
        issued: dict[str, list[dict[str, str]]] = {}
        apps = []
        for name, rate in zip(SECRETS, rates, strict=True):
            options = SimulatorOptions(client_key=f"{name}-key", client_secret=SECRETS[name], seed=7)
            sim = stack.enter_context(TikTokSimulator(options))
            issued[name] = [r.as_json() for r in sim.iter_issue_tokens(tokens)]
            inventory = tmp_path / f"{name}-tokens.jsonl"
            inventory.write_text("".join(json.dumps(r) + "\n" for r in issued[name]))
            sims[name] = sim
            apps.append(_app(name, sim, inventory, rate, (secrets or SECRETS).get(name, SECRETS[name])))
        hook = stack.enter_context(receiver())
        engine = stack.enter_context(
            running_engine(
                tmp_path,
                None,
                concurrency=6,
                tiktok_apps=apps,
                tiktok_client_secret=None,
                tiktok_userinfo_rate=0,
                revocation_batch_size=50,
                redeliver_after_seconds=3,
                guard_cache_seconds=0,
                tiktok_report_http_url=f"{hook.url}/report",
                **({"database_url": database_url} if database_url else {}),
            )
        )
        switch_flows.sync_mirrors(engine.runtime.store, engine.runtime.settings)
        base_url = stack.enter_context(serve_app(create_app(engine.runtime)))
        yield TwoApps(engine, sims, issued, base_url, hook)


def fire(engine: Engine, kind: str, dedup_key: str, *client_keys: str) -> str:
    """Accept a critical event of ``kind`` naming ``client_keys``; the id of its incident."""
    now = clock.utcnow()
    event = CompromiseEvent(
        source="generic",
        kind=kind,
        severity="critical",
        title=f"{kind} seen",
        observed_at=now,
        received_at=now,
        dedup_key=dedup_key,
        entities=Entities(client_keys=list(client_keys)),
    )
    intake.accept_events(engine.runtime.store, [event], now=now)

    def opened() -> str | None:
        with engine.runtime.store.unit_of_work() as session:
            row = session.scalars(select(IncidentRow).where(IncidentRow.dedup_key == dedup_key)).first()
            return row.id if row is not None else None

    return str(wait_for(opened, timeout=30, what=f"the incident of {dedup_key}"))


def revoked(engine: Engine, incident_id: str, timeout: float = 120) -> RevocationRow:
    """The incident's first revocation to finish."""

    def finished() -> RevocationRow | None:
        with engine.runtime.store.unit_of_work() as session:
            row = session.scalars(
                select(RevocationRow).where(
                    RevocationRow.incident_id == incident_id, RevocationRow.status == "finished"
                )
            ).first()
            if row is not None:
                session.expunge(row)
            return row

    return wait_for(finished, timeout=timeout, what=f"the revocation of {incident_id} to finish")


def entry(engine: Engine, chain: str, kind: str) -> Any:
    """The first entry of ``kind`` on ``chain``, waited for."""
    return wait_for(
        lambda: next((e for e in engine.entries(chain) if e.kind == kind), None),
        timeout=60,
        what=f"a {kind} entry on {chain}",
    )


def calls(setup: TwoApps, app: str) -> list[int]:
    """How many revoke requests each of ``app``'s tokens got."""
    return [setup.sims[app].revoke_calls(t["access_token"]) for t in setup.tokens[app]]
