"""The simulator itself: sliding window, per-token counters, seeding, control endpoints."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from orchestrator.tiktok import TikTokClient
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from orchestrator.tiktok.simulator_state import RateWindow
from orchestrator.tokens.provider import RevokeResult

MakeSim = Callable[..., TikTokSimulator]
ClientFor = Callable[..., TikTokClient]


def test_rate_window_slides_over_one_minute() -> None:
    window = RateWindow()
    assert [window.admit(3, t) for t in (0.0, 10.0, 20.0, 30.0)] == [True, True, True, False]
    assert window.admit(3, 59.9) is False
    assert window.admit(3, 60.5) is True  # the call at 0.0 left the window
    assert window.admit(3, 61.0) is False
    assert window.admit(0, 61.0) is True  # 0 = unlimited


def test_stats_count_revokes_per_token(make_sim: MakeSim, client_for: ClientFor) -> None:
    sim = make_sim()
    client = client_for(sim)
    records = sim.issue_tokens(3)
    for record in records:
        client.revoke(record.access_token)
    assert sim.stats()["tokens_revoked_more_than_once"] == 0
    client.revoke(records[1].access_token)
    assert [sim.revoke_calls(r.access_token) for r in records] == [1, 2, 1]
    stats = sim.stats()
    assert {k: stats[k] for k in ("revoke_requests", "revoked_grants")} == {
        "revoke_requests": 4,
        "revoked_grants": 3,
    }
    assert stats["tokens_revoked_more_than_once"] == 1
    assert stats["requests_by_endpoint"] == {"revoke": 4}


def test_seeded_tokens_look_like_tiktok_tokens(make_sim: MakeSim) -> None:
    sim = make_sim(seed=11)
    records = sim.issue_tokens(3, open_id_prefix="acme-")
    assert [r.open_id for r in records] == ["acme-0", "acme-1", "acme-2"]
    sim.issue_tokens(1, open_id_prefix="other-")
    assert [r.open_id for r in sim.issue_tokens(2, open_id_prefix="acme-")] == ["acme-3", "acme-4"]
    assert len({r.access_token for r in records}) == 3
    for record in records:
        assert record.access_token.startswith("act.") and record.access_token.endswith(".va")
        assert record.refresh_token.startswith("rft.") and "!" in record.refresh_token
        assert record.access_token not in repr(record)


def test_seeding_is_cheap() -> None:
    with TikTokSimulator(SimulatorOptions()) as sim:
        records = sim.issue_tokens(100_000)
        assert records[-1].open_id == "sim-user-99999"
        assert sim.stats()["grants_issued"] == 100_000


def test_control_endpoints_drive_an_outage_and_recovery(make_sim: MakeSim, client_for: ClientFor) -> None:
    sim = make_sim()
    client = client_for(sim)
    with httpx.Client(base_url=sim.base_url) as control:
        seeded = control.post("/_simulator/tokens", json={"count": 3, "open_id_prefix": "x-"})
        records = [json.loads(line) for line in seeded.text.splitlines()]
        assert [r["open_id"] for r in records] == ["x-0", "x-1", "x-2"]
        assert control.post("/_simulator/options", json={"error_rate": 1.0}).status_code == 200
        assert client.revoke(records[0]["access_token"]).result is RevokeResult.RETRYABLE
        assert control.post("/_simulator/options", json={"error_rate": 0}).json()["error_rate"] == 0
        assert client.revoke(records[0]["access_token"]).result is RevokeResult.REVOKED
        control.post("/_simulator/expire", json={"access_token": records[1]["access_token"]})
        assert client.revoke(records[1]["access_token"]).result is RevokeResult.ALREADY_DEAD
        stats = control.get("/_simulator/stats").json()
        assert (stats["answered_5xx"], stats["revoked_grants"]) == (1, 1)
        refused = control.post("/_simulator/options", json={"client_secret": "x"})
        assert refused.status_code == 400
        assert control.post("/_simulator/options", json={"error_rate": 2}).status_code == 400


def test_update_options_refuses_credentials(make_sim: MakeSim) -> None:
    sim = make_sim()
    with pytest.raises(ValueError):
        sim.update_options(client_secret="changed-secret")
    assert sim.update_options(rate_limit_per_minute=600).rate_limit_per_minute == 600


@pytest.mark.parametrize(
    "bad",
    [{"error_rate": 1.5}, {"dead_token_behaviour": "maybe"}, {"errors_with_200": 1}],
)
def test_options_are_checked_when_made(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulatorOptions(**bad)  # type: ignore[arg-type]


def test_options_repr_hides_the_credentials() -> None:
    text = repr(SimulatorOptions(client_secret="hidden-secret-1", business_secret="hidden-2"))
    assert "hidden-secret-1" not in text and "hidden-2" not in text
