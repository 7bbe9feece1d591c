"""Issue 27, item 4: each TikTok app's tokens are revoked with its own credentials, apps apart.

Two apps, ``shop`` (A) and ``ads`` (B), on simulators of their own (``apps.two_apps``), 500
tokens each.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from orchestrator import clock
from orchestrator.guard import Disconnected, Guard
from orchestrator.switch import flows as switch_flows
from orchestrator.tiktok.simulator import TikTokSimulator
from orchestrator.timeline.compliance import assess, render_compliance_markdown
from orchestrator.timeline.figures import load_record
from tests.revocation.apps import TwoApps, calls, entry, fire, revoked, two_apps
from tests.support.engine import Engine
from tests.support.processes import wait_for
from tests.support.services import postgres_database

TOKENS = 500


def _reports(setup: TwoApps, n: int) -> list[str]:
    """The first ``n`` reports TikTok received, as text."""
    bodies = wait_for(
        lambda: found if len(found := setup.hook.bodies("/report")) >= n else None,
        timeout=60,
        what=f"{n} report(s) to TikTok",
    )
    return [json.dumps(body) for body in bodies]


CLAUSES = ("Disconnect immediately", "Report immediately", "Confidentiality", "Deletion", "Request volume")


def _per_app(engine: Engine, incident_id: str) -> list[tuple[str, str, str]]:
    """The compliance report's rows per app: (app, clause title, status)."""
    with engine.runtime.store.unit_of_work() as session:
        record = load_record(session, incident_id=incident_id)
        report = assess(record, disconnect_target_minutes=60, report_target_minutes=1440, now=clock.utcnow())
    markdown = render_compliance_markdown(report)
    assert all(c.app in markdown for c in report.clauses if c.app)
    return [(c.app, c.title, c.status) for c in report.clauses if c.app is not None]


def _census(engine: Engine, chain: str) -> Any:
    """The census after the probe (the shipped playbook's last)."""
    return wait_for(
        lambda: next(
            (e for e in engine.entries(chain) if e.kind == "census" and e.data["phase"] == "verify"), None
        ),
        timeout=60,
        what=f"the census after verify on {chain}",
    )


def _figures(census: Any) -> dict[str, dict[str, Any]]:
    """Each app's census figures but ``confirmed_dead`` (the probe's sample: the config's size),
    which must be some."""
    apps = census.data["apps"]
    assert all(f["confirmed_dead"] > 0 for f in apps.values())
    return {app: {k: v for k, v in f.items() if k != "confirmed_dead"} for app, f in apps.items()}


def _counted(client_key: str, *, revoked: int, still_exposed: int) -> dict[str, Any]:
    """An app's census figures, every token revoked."""
    return {
        "client_key": client_key,
        "connected": TOKENS,
        "revoked": revoked,
        "already_dead": 0,
        "failed": 0,
        "gone": 0,
        "pending": 0,
        "still_live": 0,
        "still_exposed": still_exposed,
    }


def _refuses(engine: Engine, app: str) -> bool:
    try:
        Guard.from_settings(engine.runtime.settings, app=app).check()
    except Disconnected:
        return True
    return False


def _run(tmp_path: Path, database_url: str = "") -> None:
    with two_apps(tmp_path, tokens=TOKENS, database_url=database_url) as setup:
        engine = setup.engine
        leak = fire(engine, "credential.leak", "leak-shop", "shop-key")
        first = revoked(engine, leak)
        assert first.apps == ["shop"]
        assert calls(setup, "shop") == [1] * TOKENS  # every token of A, once
        verified = entry(engine, leak, "revocation.verified")
        assert list(verified.data["apps"]) == ["shop"] and verified.data["apps"]["shop"]["dead"] > 0
        assert setup.sims["ads"].stats()["requests_total"] == 0  # B's TikTok saw nothing, not even a probe
        (report,) = _reports(setup, 1)  # to TikTok: app A by its client key, never a secret
        assert "shop-key" in report and "ads-key" not in report
        census = _census(engine, leak)
        assert _figures(census) == {"shop": _counted("shop-key", revoked=TOKENS, still_exposed=0)}
        assert "app shop (client key shop-key): 0 still exposed of 500" in census.message
        # B's TikTok says B's user of the same open_id left: signed with B's secret, it is B's
        # receipt, and B's tokens are in no revocation yet (A's row of that open_id is not B's)
        webhook = setup.base_url + "/v1/tiktok/webhook"
        open_id = setup.tokens["ads"][0]["open_id"]
        assert setup.sims["ads"].send_authorization_removed(open_id, 5, url=webhook) == 200
        assert not [e for e in engine.entries(leak) if e.kind == "tiktok.receipt"]
        board = switch_flows.switch_status(engine.runtime.store, engine.runtime.settings)
        assert (board.all.engaged, board.apps["shop"].engaged, board.apps["ads"].engaged) == (
            False,
            True,
            False,
        )
        assert (_refuses(engine, "shop"), _refuses(engine, "ads")) == (True, False)
        started = [e for e in engine.entries(leak) if e.kind == "revocation.started"]
        assert "of app shop (client key shop-key)" in started[0].message
        finished = next(e for e in engine.entries(leak) if e.kind == "revocation.finished").data
        shop = finished["apps"]["shop"]
        assert list(finished["apps"]) == ["shop"] and shop.pop("duration_ms") >= 0
        assert shop == {
            "total": TOKENS, "revoked": TOKENS, "already_dead": 0, "failed": 0, "gone": 0, "pending": 0,
            "requests": TOKENS,
        }  # fmt: skip

        host = fire(engine, "host.compromise", "build-host")
        second = revoked(engine, host)
        assert second.apps == ["shop", "ads"]
        assert calls(setup, "ads") == [1] * TOKENS  # B's tokens, with B's credentials
        assert calls(setup, "shop") == [1] * TOKENS  # A's were not sent again
        assert all(setup.sims["ads"].is_grant_revoked(t["access_token"]) for t in setup.tokens["ads"])
        assert (_refuses(engine, "shop"), _refuses(engine, "ads")) == (True, True)
        figures = next(e for e in engine.entries(host) if e.kind == "revocation.finished").data
        assert {app: (f["total"], f["revoked"]) for app, f in figures["apps"].items()} == {
            "shop": (TOKENS, TOKENS),
            "ads": (TOKENS, TOKENS),
        }
        assert figures["requests"] == TOKENS  # only B's went out; A's were settled by the first
        verified = entry(engine, host, "revocation.verified")  # each app probed with its own client
        assert {app: f["client_key"] for app, f in verified.data["apps"].items()} == {
            "shop": "shop-key",
            "ads": "ads-key",
        }
        assert all(f["dead"] == f["sample_size"] > 0 for f in verified.data["apps"].values())
        assert "app ads (client key ads-key)" in verified.message
        assert setup.sims["ads"].stats()["requests_by_endpoint"].get("user_info", 0) > 0
        report = _reports(setup, 2)[1]
        assert "shop-key" in report and "ads-key" in report
        census = _census(engine, host)
        assert _figures(census) == {
            "shop": _counted("shop-key", revoked=TOKENS, still_exposed=0),
            "ads": _counted("ads-key", revoked=TOKENS, still_exposed=0),
        }
        assert setup.sims["ads"].send_authorization_removed(open_id, 5, url=webhook) == 200
        receipt = entry(engine, host, "tiktok.receipt")
        assert (receipt.data["app"], receipt.data["client_key"]) == ("ads", "ads-key")
        rows = _per_app(engine, leak)  # the compliance report: a row per app and clause
        assert {(app, clause) for app, clause, _ in rows} == {
            ("shop (client key shop-key)", title) for title in CLAUSES
        }
        assert ("shop (client key shop-key)", "Disconnect immediately", "met") in rows
        rows = _per_app(engine, host)
        assert {app for app, _, _ in rows} == {"shop (client key shop-key)", "ads (client key ads-key)"}
        assert ("ads (client key ads-key)", "Disconnect immediately", "met") in rows
        story = json.dumps([[e.message, e.data] for e in engine.entries(leak) + engine.entries(host)])
        story += json.dumps(setup.hook.calls)
        assert "shop-secret" not in story and "ads-secret" not in story
        for sim in setup.sims.values():
            assert sim.stats()["tokens_revoked_more_than_once"] == 0


def test_a_leak_of_one_app_revokes_that_app_then_a_host_compromise_revokes_the_other(tmp_path: Path) -> None:
    _run(tmp_path)


@pytest.mark.services
def test_the_same_on_postgresql(tmp_path: Path) -> None:
    with postgres_database() as url:
        _run(tmp_path, url)


def _rate(sim: TikTokSimulator, tokens: int, until: float) -> list[tuple[float, int]]:
    """(monotonic time, revoke requests answered) every 50 ms until all ``tokens`` arrived."""
    samples: list[tuple[float, int]] = []
    while time.monotonic() < until:
        samples.append((time.monotonic(), int(sim.stats().get("revoke_requests", 0))))
        if samples[-1][1] >= tokens:
            return samples
        time.sleep(0.05)
    raise AssertionError(f"only {samples[-1][1]} of {tokens} revoke requests arrived in time")


def test_each_apps_rate_limit_holds_on_its_own_while_both_revoke(tmp_path: Path) -> None:
    """A at 40/s and B at 10/s, 120 tokens each, one incident for both apps: both revoke at once,
    neither faster than its own rate, and A is not held to B's (one limiter per client key)."""
    rates, tokens = {"shop": 40.0, "ads": 10.0}, 120
    with two_apps(tmp_path, tokens=tokens, rates=(rates["shop"], rates["ads"])) as setup:
        incident_id = fire(setup.engine, "host.compromise", "build-host")
        until = time.monotonic() + 120
        with ThreadPoolExecutor(max_workers=2) as pool:
            watched = {app: pool.submit(_rate, setup.sims[app], tokens, until) for app in rates}
            samples = {app: future.result() for app, future in watched.items()}
        revoked(setup.engine, incident_id)
        volume = _per_app(setup.engine, incident_id)
    spans, overall = {}, {}
    for app, rate in rates.items():
        first, at_first = next((t, n) for t, n in samples[app] if n > 0)
        last, at_last = samples[app][-1]
        overall[app] = (at_last - at_first) / (last - first)
        assert overall[app] <= rate * 1.1, f"{app}: {overall[app]:.1f} requests/s against its {rate:g}/s"
        spans[app] = (first, last)
    assert spans["ads"][0] < spans["shop"][1] and spans["shop"][0] < spans["ads"][1]  # at once
    assert overall["shop"] > rates["ads"], f"A at {overall['shop']:.1f}/s: held to B's {rates['ads']:g}/s"
    # the compliance report judges each client key's volume against its own limit
    assert [(app, status) for app, title, status in volume if title == "Request volume"] == [
        ("shop (client key shop-key)", "met"),
        ("ads (client key ads-key)", "met"),
    ]


def test_tokens_revoke_for_one_app_sends_nothing_for_the_other(tmp_path: Path) -> None:
    """`orchestrator tokens revoke --app shop` (the revoke-tokens playbook with input app): only
    shop's tokens are revoked, with shop's credentials; ads's TikTok sees no request. A name that
    is no app fails the step, naming the configured apps."""
    with two_apps(tmp_path, tokens=60) as setup:
        run_id = setup.engine.start("revoke-tokens", scope="all", app="shop")
        assert setup.engine.finished(run_id, timeout=60)["steps"]["revoke"] == "succeeded"
        assert calls(setup, "shop") == [1] * 60
        assert setup.sims["ads"].stats()["requests_total"] == 0
        typo = setup.engine.finished(setup.engine.start("revoke-tokens", scope="all", app="adz"), timeout=60)
    assert typo["steps"]["revoke"] == "failed"
    assert "no TikTok app named 'adz' is configured (tiktok_apps: shop, ads)" in str(typo["detail"]["revoke"])
