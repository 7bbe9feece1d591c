"""Issue 27: each app's revocation goes on or stops on its own, and an app an incident learns of
mid-revocation is revoked by the step that was running.

Two apps, ``shop`` (A) and ``ads`` (B), on simulators of their own (``apps.two_apps``), 500 tokens
each, on a real engine (scheduler and worker).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from orchestrator.revocation.models import LedgerRow, RevocationRow
from tests.revocation.apps import SECRETS, TwoApps, calls, entry, fire, revoked, two_apps
from tests.support.processes import wait_for
from tests.support.services import postgres_database

TOKENS = 500
WRONG_SECRET = "shop-wrong-secret-7777cc"


def _figures(data: dict[str, object], app: str) -> tuple[object, ...]:
    apps = data["apps"]
    assert isinstance(apps, dict)
    figures = apps[app]
    return figures["total"], figures["revoked"], figures["failed"], figures["pending"]


def _story(setup: TwoApps, *chains: str) -> str:
    """Everything the orchestrator wrote where people read: its timelines and what it sent."""
    text = json.dumps([[e.message, e.data] for chain in chains for e in setup.engine.entries(chain)])
    return text + json.dumps(setup.hook.calls)


def _step(setup: TwoApps, chain: str, kind: str) -> Any:
    """The ``kind`` (step.failed, step.succeeded) entry of the revoke step, waited for."""
    return wait_for(
        lambda: next(
            (e for e in setup.engine.entries(chain) if e.kind == kind and e.data["step"] == "revoke"), None
        ),
        timeout=30,
        what=f"a {kind} entry of the revoke step",
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store: the engine's SQLite file, or a PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        yield ""
        return
    with postgres_database() as url:
        yield url


def test_refused_credentials_of_one_app_stop_that_app_only(tmp_path: Path, database_url: str) -> None:
    """A's simulator refuses the secret the orchestrator holds for A (invalid_client): B's 500
    tokens are all revoked all the same; A is named, by client key, in an alarm on the timeline
    and in the revoke step's failure; no secret appears anywhere."""
    with two_apps(
        tmp_path, tokens=TOKENS, secrets={"shop": WRONG_SECRET}, database_url=database_url
    ) as setup:
        engine = setup.engine
        incident = fire(engine, "host.compromise", "build-host")  # names no app: both
        revocation = revoked(engine, incident)
        assert revocation.apps == ["shop", "ads"]
        assert calls(setup, "ads") == [1] * TOKENS
        assert all(setup.sims["ads"].is_grant_revoked(t["access_token"]) for t in setup.tokens["ads"])
        assert setup.sims["shop"].stats()["revoked_grants"] == 0
        refused = setup.sims["shop"].stats()["requests_total"]
        assert 0 < refused < TOKENS  # A stopped after its first refusals, not one request per token
        (alarm,) = [e for e in engine.entries(incident) if e.kind == "revocation.alarm"]
        assert (alarm.data["app"], alarm.data["client_key"], alarm.data["reason"]) == (
            "shop",
            "shop-key",
            "invalid_client",
        )
        assert "credentials of app shop (client key shop-key) were refused" in alarm.message
        assert "the other apps' go on: ads" in alarm.message
        finished = entry(engine, incident, "revocation.finished")
        assert _figures(finished.data, "ads") == (TOKENS, TOKENS, 0, 0)
        assert _figures(finished.data, "shop") == (TOKENS, 0, TOKENS, 0)
        assert "stopped for app shop: credentials refused" in finished.message
        error = _step(setup, incident, "step.failed").data["error"]
        refusal = "invalid_client: our TikTok credentials of app shop (client key shop-key) were refused"
        assert refusal in error
        figures = f"(app shop: 0 of {TOKENS} revoked, {TOKENS} failed; app ads: {TOKENS} of {TOKENS} revoked)"
        assert figures in error
        story = _story(setup, incident)
    assert WRONG_SECRET not in story and SECRETS["shop"] not in story and SECRETS["ads"] not in story


def test_an_app_the_incident_learns_of_mid_revocation_is_revoked_by_the_running_step(
    tmp_path: Path, database_url: str
) -> None:
    """A leak naming A starts revoking A's tokens, slowly (25/s); a second event of the same
    incident naming B arrives half way: the same revocation (the one step) takes B in, B's 500
    tokens are revoked once, A's once, and the step finishes only after both."""
    with two_apps(tmp_path, tokens=TOKENS, rates=(25, 0), database_url=database_url) as setup:
        engine = setup.engine
        incident = fire(engine, "credential.leak", "leak-1", "shop-key")
        wait_for(
            lambda: setup.sims["shop"].stats().get("revoke_requests", 0) >= 50,
            timeout=60,
            what="A's revocation to be under way",
        )
        assert fire(engine, "credential.leak", "leak-1", "ads-key") == incident  # extends the incident
        at_extension = setup.sims["shop"].stats()["revoke_requests"]
        revocation = revoked(engine, incident, timeout=180)
        assert at_extension < TOKENS  # B came while A's revocation was under way
        assert revocation.apps == ["shop", "ads"]
        assert calls(setup, "ads") == [1] * TOKENS
        assert calls(setup, "shop") == [1] * TOKENS
        for sim in setup.sims.values():
            assert sim.stats()["tokens_revoked_more_than_once"] == 0
        with engine.runtime.store.unit_of_work() as session:
            count = session.scalar(
                select(func.count()).select_from(RevocationRow).where(RevocationRow.incident_id == incident)
            )
        assert count == 1  # the running step took B in; no second revocation
        (extended,) = [e for e in engine.entries(incident) if e.message.startswith("Revocation extends")]
        assert extended.message == (
            "Revocation extends to app ads (client key ads-key): the incident concerns it now"
        )
        with engine.runtime.store.unit_of_work() as session:
            last_of_a = session.scalar(select(func.max(LedgerRow.updated_at)).where(LedgerRow.app == "shop"))
        assert extended.at < last_of_a  # B was taken in at once, not once A's tokens were all settled
        finished = entry(engine, incident, "revocation.finished")
        assert _figures(finished.data, "shop") == (TOKENS, TOKENS, 0, 0)
        assert _figures(finished.data, "ads") == (TOKENS, TOKENS, 0, 0)
        assert _step(setup, incident, "step.succeeded").data["output"]["revoked"] == 2 * TOKENS
        census = wait_for(  # the playbook goes on, counting both apps
            lambda: next(
                (e for e in engine.entries(incident) if e.kind == "census" and e.data["phase"] == "verify"),
                None,
            ),
            timeout=60,
            what="the census after the revocation",
        )
        assert {app: f["still_exposed"] for app, f in census.data["apps"].items()} == {"shop": 0, "ads": 0}


def test_an_app_the_incident_learns_of_after_its_revocation_finished_is_revoked_too(tmp_path: Path) -> None:
    """The event naming B comes after the revocation of A's tokens finished: a revocation of the
    incident's apps follows, which sends B's tokens once and none of A's again."""
    tokens = 60
    with two_apps(tmp_path, tokens=tokens) as setup:
        engine = setup.engine
        incident = fire(engine, "credential.leak", "leak-1", "shop-key")
        first = revoked(engine, incident)
        assert first.apps == ["shop"] and setup.sims["ads"].stats()["requests_total"] == 0
        fire(engine, "credential.leak", "leak-1", "ads-key")

        def followed() -> RevocationRow | None:
            with engine.runtime.store.unit_of_work() as session:
                row = session.scalars(
                    select(RevocationRow).where(
                        RevocationRow.incident_id == incident,
                        RevocationRow.id != first.id,
                        RevocationRow.status == "finished",
                    )
                ).first()
                if row is not None:
                    session.expunge(row)
                return row

        second = wait_for(followed, timeout=60, what="a revocation of the apps the incident now concerns")
        assert (second.key, second.apps) == (f"{first.key}+shop+ads", ["shop", "ads"])
        assert calls(setup, "ads") == [1] * tokens
        assert calls(setup, "shop") == [1] * tokens  # settled by the first, not sent again
