"""Issue 27, item 5 (Slack): with two TikTok apps, `/ir disconnect app=NAME`, `/ir status` and the
card speak per app.

Two apps, ``shop`` and ``ads``, each on a TikTok simulator of its own with its own client key,
secret and tokens, under a real engine (scheduler and worker). People act over signed Slack
requests; Slack is the stand-in, and the card is read where a person reads it, in its channel.
Each app's guard reads the file mirror, as an application would.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.api.app import create_app
from orchestrator.guard import Disconnected, Guard
from orchestrator.incidents import service as incidents
from orchestrator.switch import flows
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from tests.chatops.slack_driver import SlackDriver
from tests.support.engine import BOT_TOKEN, SIGNING_SECRET, Engine, running_engine, slack_settings
from tests.support.processes import wait_for
from tests.support.receiver import receiver
from tests.support.runtime import INTAKE_TOKEN
from tests.support.server import serve_app
from tests.support.slack_standin import SlackStandIn, slack_standin

TOKENS = 30
PLAYBOOKS = {
    "contain": """
name: contain
trigger: {match: {kinds: ["*"], min_severity: critical}}
steps:
  - {id: disconnect, action: tiktok.kill_switch, with: {reason: "{{ incident.title }}"}}
  - {id: revoke, action: tiktok.revoke_tokens, with: {scope: all}}
  - {id: room, action: slack.open_channel}
""",
}


@dataclass
class World:
    engine: Engine
    slack: SlackStandIn
    driver: SlackDriver
    sims: dict[str, TikTokSimulator]
    base_url: str

    def switches(self) -> tuple[bool, bool, bool]:
        """(all apps, shop, ads): each switch as stored."""
        board = flows.switch_status(self.engine.runtime.store, self.engine.runtime.settings)
        return board.all.engaged, board.apps["shop"].engaged, board.apps["ads"].engaged

    def refuses(self, app: str) -> bool:
        """Whether ``app``'s guard refuses a TikTok call now."""
        try:
            Guard.from_settings(self.engine.runtime.settings, app=app).check()
        except Disconnected:
            return True
        return False

    def release_all(self) -> None:
        runtime = self.engine.runtime
        for app in (None, "shop", "ads"):
            flows.release_switch(runtime.store, runtime.settings, by="cli:carol", reason="rotated", app=app)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path: Path = tmp_path_factory.mktemp("slack-apps")
    with contextlib.ExitStack() as stack:
        sims: dict[str, TikTokSimulator] = {}
        apps = []
        for name, secret in (("shop", "shop-secret-1111aa"), ("ads", "ads-secret-2222bb")):
            sim = stack.enter_context(
                TikTokSimulator(SimulatorOptions(client_key=f"{name}-key", client_secret=secret, seed=7))
            )
            inventory = tmp_path / f"{name}-tokens.jsonl"
            tokens = [json.dumps(r.as_json()) + "\n" for r in sim.iter_issue_tokens(TOKENS)]
            inventory.write_text("".join(tokens))
            sims[name] = sim
            apps.append(
                {
                    "name": name,
                    "kind": "login_kit",
                    "client_key": f"{name}-key",
                    "client_secret": secret,
                    "api_base": sim.base_url,
                    "token_inventory": str(inventory),
                    "revoke_rate": 0,
                }
            )
        slack = stack.enter_context(slack_standin(BOT_TOKEN))
        replies = stack.enter_context(receiver())
        engine = stack.enter_context(
            running_engine(
                tmp_path,
                PLAYBOOKS,
                tiktok_apps=apps,
                tiktok_client_secret=None,
                guard_cache_seconds=0,
                **slack_settings(slack.url),
            )
        )
        flows.sync_mirrors(engine.runtime.store, engine.runtime.settings)  # as every process at start
        base_url = stack.enter_context(serve_app(create_app(engine.runtime)))
        yield World(engine, slack, SlackDriver(base_url, SIGNING_SECRET, replies), sims, base_url)


@pytest.fixture
def released(world: World) -> Iterator[World]:
    """Every switch released before and after a test (the world is shared)."""
    world.release_all()
    yield world
    world.release_all()


def test_disconnect_naming_an_app_engages_that_apps_switch_only(released: World) -> None:
    world = released
    assert (world.refuses("shop"), world.refuses("ads")) == (False, False)
    reply = world.driver.ir("UALICE", "disconnect app=shop shop secret on a paste site")
    assert reply["response_type"] == "in_channel"
    assert reply["text"] == (
        "🛑 <@UALICE>: kill switch of app shop engaged. No TikTok call leaves app shop; "
        "the other apps' switches are unchanged."
    )
    assert world.switches() == (False, True, False)
    assert (world.refuses("shop"), world.refuses("ads")) == (True, False)  # ads keeps working
    again = world.driver.ir("UBOB", "disconnect --app shop")  # the command line's spelling
    assert again["text"].startswith("🛑 <@UBOB>: kill switch of app shop was already engaged.")
    assert world.switches() == (False, True, False)


def test_an_unknown_app_is_refused_naming_the_configured_apps(released: World) -> None:
    world = released
    for typed in ("disconnect app=shpo secret leaked", "disconnect app=", "release app=adz rotated"):
        reply = world.driver.ir("UALICE", typed)
        assert reply["response_type"] == "ephemeral", typed
        assert reply["text"].startswith("⚠️ "), typed
    assert (
        "no TikTok app 'shpo' (configured: shop, ads)"
        in world.driver.ir("UALICE", "disconnect app=shpo")["text"]
    )
    assert "name the app: `app=NAME`" in world.driver.ir("UALICE", "disconnect app=")["text"]
    assert world.switches() == (False, False, False)


def test_a_reason_beginning_with_an_apps_name_disconnects_every_app_and_says_how_to_name_one(
    released: World,
) -> None:
    """Only ``app=NAME`` names an app: a reason stays a reason (a wider disconnect is the safe mistake)."""
    world = released
    reply = world.driver.ir("UBOB", "disconnect ads secret leaked")
    assert reply["text"] == (
        "🛑 <@UBOB>: kill switch engaged. No TikTok call leaves any app (shop, ads). "
        "To disconnect app ads only: `/ir disconnect app=ads REASON`."
    )
    assert world.switches() == (True, False, False)
    assert (world.refuses("shop"), world.refuses("ads")) == (True, True)


def test_status_lists_the_all_apps_switch_and_every_apps_own(released: World) -> None:
    world = released
    world.driver.ir("UALICE", "disconnect app=ads ads secret in a public repo")
    lines = world.driver.ir("URANDOM", "status")["text"].splitlines()
    assert lines[0].startswith("Kill switch (all apps): 🟢 released")
    assert lines[1].startswith("• `shop`: 🟢 switch released")
    assert lines[2].startswith("• `ads`: 🛑 switch engaged since ") and lines[2].endswith("by slack:UALICE")
    assert lines[3].startswith("Open incidents: ")
    world.driver.ir("UALICE", "disconnect everything")
    lines = world.driver.ir("URANDOM", "status")["text"].splitlines()
    assert lines[0].startswith("Kill switch (all apps): 🛑 ENGAGED: every app is disconnected from TikTok")
    assert lines[1].startswith("• `shop`: 🛑 disconnected (all-apps switch engaged) since ")
    assert lines[2].startswith("• `ads`: 🛑 switch engaged since ")


def test_releasing_one_app_from_slack_takes_a_second_person_and_releases_that_app_only(
    released: World,
) -> None:
    world = released
    world.driver.ir("UALICE", "disconnect app=shop shop leak")
    world.driver.ir("UALICE", "disconnect app=ads ads leak")
    asked = world.driver.ir("UALICE", "release app=ads ads secret rotated")
    assert asked["text"].startswith("<@UALICE> asks to release the kill switch of app ads (rel-")
    request_id = asked["blocks"][1]["elements"][0]["value"]
    own = world.driver.click("UALICE", "ir_release_approve", request_id)
    assert own is not None and "a second person must approve" in own["text"]
    approved = world.driver.click("UBOB", "ir_release_approve", request_id)
    assert approved is not None
    assert approved["text"] == "🟢 Kill switch of app ads released: asked by <@UALICE>, approved by <@UBOB>."
    assert world.switches() == (False, True, False)
    assert (world.refuses("shop"), world.refuses("ads")) == (True, False)


def _post_event(world: World, **fields: Any) -> str:
    """A critical event through the intake's HTTP door; the incident it opened."""
    headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
    answer = httpx.post(f"{world.base_url}/v1/events", json=fields, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text

    def opened() -> str | None:
        with world.engine.runtime.store.unit_of_work() as session:
            found = [i.id for i in incidents.list_incidents(session) if i.dedup_key == fields["dedup_key"]]
        return found[0] if found else None

    return wait_for(opened, timeout=20, what="the incident to open")


def test_the_card_shows_each_apps_switch_and_its_tokens_revoked_of_total(released: World) -> None:
    """A leak of shop's secret: shop's switch engaged and its tokens revoked, ads untouched; the
    card says so per app, and follows when a person disconnects ads from the room."""
    world = released
    incident_id = _post_event(
        world,
        title="shop client secret on a paste site",
        kind="credential.leak",
        severity="critical",
        dedup_key="paste-shop",
        entities={"client_keys": ["shop-key"]},
    )
    channel = wait_for(
        lambda: next((c for c in world.slack.channels.values() if incident_id in c.get("topic", "")), None),
        timeout=30,
        what="the incident's room",
    )

    def card() -> str:
        [ts] = wait_for(lambda: world.slack.pins.get(channel["id"]), timeout=20, what="the pinned card")
        return str(world.slack.messages[channel["id"]][ts]["blocks"])

    def card_says(*texts: str) -> None:
        wait_for(lambda: all(t in card() for t in texts), timeout=60, what=f"the card to say {texts}")

    card_says(
        "*TikTok apps* (this incident concerns shop)",
        f"• `shop`: 🛑 switch engaged · revoked {TOKENS} of {TOKENS}",
        "• `ads`: 🟢 switch released · no revocation",
        "*Kill switch (all apps)*\\n🟢 released",
    )
    assert world.sims["ads"].stats()["requests_total"] == 0  # ads's TikTok saw nothing
    assert world.switches() == (False, True, False)
    reply = world.driver.ir(
        "UBOB", "disconnect app=ads ads secret shared the same vault", channel=channel["id"]
    )
    assert reply["text"].startswith("🛑 <@UBOB>: kill switch of app ads engaged.")
    card_says("• `ads`: 🛑 switch engaged · no revocation")
