"""Issue 29, items 3 and 8: the pinned card never contradicts the switch, and reads at a glance.

Events arrive over the real intake, people act over signed Slack requests, and Slack is the
stand-in: the card is read where a person reads it, in the stand-in's channel.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.api.app import create_app
from orchestrator.incidents import service as incidents
from orchestrator.playbooks.catalog import load_catalog
from orchestrator.playbooks.schemas import ParallelBlock
from orchestrator.switch import flows
from orchestrator.switch import service as switch
from tests.chatops.slack_driver import SlackDriver
from tests.support import services
from tests.support.engine import BOT_TOKEN, SIGNING_SECRET, Engine, running_engine, slack_settings
from tests.support.processes import orchestrator_env, wait_for
from tests.support.receiver import receiver
from tests.support.runtime import INTAKE_TOKEN
from tests.support.server import serve_app
from tests.support.slack_standin import SlackStandIn, slack_standin

PLAYBOOKS = {
    "room": """
name: room
trigger: {manual: {}}
steps:
  - {id: open, action: slack.open_channel}
""",
    "two-rooms": """
name: two-rooms
trigger: {manual: {}}
steps:
  - parallel:
      id: both
      steps:
        - {id: one, action: slack.open_channel}
        - {id: two, action: slack.open_channel}
""",
    "contain": """
name: contain
trigger: {match: {kinds: ["*"], min_severity: critical}}
steps:
  - {id: disconnect, action: tiktok.kill_switch, with: {reason: "{{ incident.title }}"}}
""",
    "people": """
name: people
trigger: {manual: {}}
steps:
  - parallel:
      id: people
      steps:
        - id: rotate_client_secret
          action: manual
          with:
            title: Rotate the client secret
            instructions: In the developer portal, generate a new client secret and load it.
        - id: file_tiktok_report
          action: manual
          with:
            title: File the report in TikTok's portal
            instructions: Paste the report into the support form and record the ticket id.
            input: ticket_id
            evidence: report
""",
}


@dataclass
class World:
    engine: Engine
    slack: SlackStandIn
    driver: SlackDriver
    base_url: str

    def post_event(self, **fields: Any) -> str:
        """An event through the intake's HTTP door; the incident it opened."""
        key = fields.setdefault("dedup_key", f"card-{len(self.slack.calls)}-{fields['title']}")
        fields.setdefault("kind", "host.compromise")
        headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
        answer = httpx.post(f"{self.base_url}/v1/events", json=fields, headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text

        def opened() -> str | None:
            with self.engine.runtime.store.unit_of_work() as session:
                found = [i.id for i in incidents.list_incidents(session) if i.dedup_key == key]
            return found[0] if found else None

        return wait_for(opened, timeout=20, what="the incident to open")

    def room(self, incident_id: str) -> dict[str, Any]:
        """Open the incident's room (a run of ``room``); its channel in the stand-in."""
        run = self.engine.start("room", incident_id=incident_id)
        assert self.engine.finished(run)["status"] == "succeeded"
        return next(c for c in self.slack.channels.values() if incident_id in c["topic"])

    def card(self, channel: dict[str, Any]) -> dict[str, Any]:
        """The pinned card as Slack holds it now."""
        [ts] = self.slack.pins[channel["id"]]
        message: dict[str, Any] = self.slack.messages[channel["id"]][ts]
        return message

    def card_says(self, channel: dict[str, Any], text: str, what: str) -> None:
        wait_for(lambda: text in str(self.card(channel)["blocks"]), timeout=10, what=what)

    def release(self) -> None:
        runtime = self.engine.runtime
        flows.release_switch(runtime.store, runtime.settings, by="cli:carol", reason="host rebuilt")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path: Path = tmp_path_factory.mktemp("cards")
    with (
        slack_standin(BOT_TOKEN) as slack,
        receiver() as replies,
        running_engine(
            tmp_path,
            PLAYBOOKS,
            **slack_settings(slack.url),
        ) as engine,
        serve_app(create_app(engine.runtime)) as base_url,
    ):
        yield World(engine, slack, SlackDriver(base_url, SIGNING_SECRET, replies), base_url)


ENGAGED, RELEASED = "🛑 ENGAGED (disconnected from TikTok)", "🟢 released"


def test_every_open_card_shows_a_switch_change_made_for_another_incident(world: World) -> None:
    """The switch is global: a change from the CLI, from Slack or by the intake shows on every
    open incident's card, not only on the card of the incident it was made for."""
    first = world.room(world.post_event(title="Build host compromised", severity="low"))
    other_id = world.post_event(title="Token dump on a pastebin", severity="low")
    other = world.room(other_id)
    assert RELEASED in str(world.card(other)["blocks"])

    runtime = world.engine.runtime  # the CLI's path, for the first incident
    flows.engage_switch(runtime.store, runtime.settings, by="cli:carol", reason="attacker on ci-7")
    world.card_says(other, ENGAGED, "the other incident's card engaged")
    world.card_says(first, ENGAGED, "the first incident's card engaged")
    world.release()
    world.card_says(other, RELEASED, "the other incident's card released")

    reply = world.driver.ir("UBOB", "disconnect attacker back", channel=first["id"])  # Slack, in a room
    assert reply["text"].startswith("🛑 <@UBOB>: kill switch engaged")
    world.card_says(other, ENGAGED, "the other card engaged from Slack")
    world.release()
    world.card_says(other, RELEASED, "the other card released again")

    world.post_event(title="Signing key stolen", severity="critical")  # the intake engages
    with runtime.store.unit_of_work() as session:
        assert switch.status(session).engaged
    world.card_says(other, ENGAGED, "the other card engaged by a critical event")
    world.card_says(first, ENGAGED, "the first card engaged by a critical event")
    world.release()
    world.card_says(first, RELEASED, "the first card released at the end")


def test_the_card_and_the_room_read_at_a_glance(world: World) -> None:
    """The title, the kind and host, a link back to the SIEM's alert; the room named after the
    title and day, with a topic; a namesake's room gets a suffix, never taken over."""
    incident_id = world.post_event(
        title="TikTok secret leaked",
        kind="credential.leak",
        severity="low",
        source_ref="https://siem.example/alerts/42?view=full&tab=raw",
        entities={"hosts": ["ci-7"]},
    )
    channel = world.room(incident_id)
    with world.engine.runtime.store.unit_of_work() as session:
        day = incidents.get_incident(session, incident_id=incident_id).aware_at.strftime("%Y-%m-%d")
    assert channel["name"] == f"ir-{day}-tiktok-secret-leaked"
    assert channel["topic"] == f"LOW · TikTok secret leaked · credential.leak · {incident_id}"
    blocks = world.card(channel)["blocks"]
    assert blocks[0]["text"]["text"] == "🔵 TikTok secret leaked"
    assert blocks[1]["text"]["text"] == (
        f"`{incident_id}` · `credential.leak` on ci-7 · from generic · "
        "<https://siem.example/alerts/42?view=full&amp;tab=raw|Open the alert in the SIEM>"
    )
    namesake = world.post_event(title="TikTok secret leaked!", severity="low", dedup_key="another-leak")
    second = world.room(namesake)
    assert second["name"] == f"ir-{day}-tiktok-secret-leaked-2" and namesake in second["topic"]
    again = world.engine.start("room", incident_id=incident_id)  # a redone room step: same room
    assert world.engine.finished(again)["status"] == "succeeded"
    assert [c["name"] for c in world.slack.channels.values()].count(channel["name"]) == 1
    topics = [a["channel"] for a in world.slack.answered("conversations.setTopic")]
    assert (topics.count(channel["id"]), topics.count(second["id"])) == (1, 1)  # set once, not on a redo


def test_two_steps_opening_one_incidents_room_at_once_open_one_room(world: World) -> None:
    """Two playbooks (or two steps) race to open the room: the loser finds the winner's channel,
    never a second one with a suffix."""
    incident_id = world.post_event(title="Racing rooms", severity="low")
    run = world.engine.start("two-rooms", incident_id=incident_id)
    assert world.engine.finished(run)["status"] == "succeeded"
    rooms = [c for c in world.slack.channels.values() if incident_id in c["topic"]]
    assert [c["name"].endswith("-racing-rooms") for c in rooms] == [True]
    assert not [c for c in world.slack.channels.values() if c["name"].endswith("-racing-rooms-2")]


def _finished(step: str) -> Callable[[dict[str, Any]], bool]:
    return lambda run: bool(run["steps"][step] == "succeeded")


def _step(world: World, run: str, step: str) -> str:
    return str(world.engine.run(run)["steps"][step])


def test_independent_manual_steps_wait_together_and_are_done_in_either_order(world: World) -> None:
    """A ticket id already in hand is recorded before the secret is rotated, and the other way round."""
    incident_id = world.post_event(title="Client secret in a public repository", severity="low")
    channel = world.room(incident_id)
    for first, then in (
        ("file_tiktok_report", "rotate_client_secret"),
        ("rotate_client_secret", "file_tiktok_report"),
    ):
        run = world.engine.start("people", incident_id=incident_id)
        world.engine.wait(
            run,
            lambda r: set(r["steps"].values()) == {"waiting_approval"} and len(r["steps"]) == 2,
            "both manual steps waiting for a person at once",
        )
        world.card_says(channel, f"{run}|{first}", "the steps on the card")
        card = str(world.card(channel)["blocks"])
        assert "Paste the report into the support form and record the ticket id." in card  # instructions
        assert "In the developer portal, generate a new client secret and load it." in card
        value = f" TT-{run[-4:]}" if first == "file_tiktok_report" else ""
        done = world.driver.ir("UALICE", f"done {run} {first}{value}", channel=channel["id"])
        assert done["text"].startswith(f"✅ <@UALICE> completed `{first}`"), done
        world.engine.wait(run, _finished(first), f"{first} done")
        assert _step(world, run, then) == "waiting_approval"  # the other still waits, the run too
        value = f" TT-{run[-4:]}" if then == "file_tiktok_report" else ""
        assert world.driver.ir("UBOB", f"done {run} {then}{value}", channel=channel["id"])["text"].startswith(
            "✅"
        )
        assert world.engine.finished(run)["status"] == "succeeded"
    world.card_says(channel, "🎫 filed in TikTok's portal: ticket TT-", "the filed ticket on the card")


def test_the_shipped_compromise_playbook_asks_both_people_steps_at_once(world: World) -> None:
    settings = world.engine.runtime.settings.model_copy(
        update={"playbook_dirs": [], "shipped_playbooks": True}
    )
    book = load_catalog(settings, world.engine.runtime.registry)["tiktok-compromise"]
    last = book.steps[-1]
    assert isinstance(last, ParallelBlock)
    assert [s.id for s in last.steps] == ["rotate_client_secret", "file_tiktok_report"]


@pytest.mark.services
@pytest.mark.slow
def test_on_postgresql_and_redis_a_change_from_the_cli_process_reaches_every_open_card(
    tmp_path: Path,
) -> None:
    """Deployed: PostgreSQL store, Redis broker, a worker and a scheduler; the switch changed by the
    CLI, a process of its own that publishes nothing: the outbox row it committed reaches a worker."""
    services.require(services.REDIS_URL, "Redis")
    services.flush_redis()
    with (
        services.postgres_database() as database_url,
        slack_standin(BOT_TOKEN) as slack,
        running_engine(
            tmp_path,
            {"room": PLAYBOOKS["room"]},
            broker_url=services.REDIS_URL,
            database_url=database_url,
            slack_bot_token=BOT_TOKEN,
            slack_api_url=slack.url,
            slack_card_min_interval_seconds=0.5,
            shipped_playbooks=False,
        ) as engine,
    ):
        rooms = []
        for title in ("Build host compromised", "Token dump on a pastebin"):
            run = engine.start("room", incident_id=engine.open_incident(title))
            assert engine.finished(run)["status"] == "succeeded"
            [channel] = [
                c for c in slack.channels.values() if c["name"].endswith(title.lower().replace(" ", "-"))
            ]
            rooms.append(channel)

        def cards_say(text: str) -> bool:
            return all(text in str(slack.messages[c["id"]][slack.pins[c["id"]][0]]["blocks"]) for c in rooms)

        env = orchestrator_env(tmp_path / "data", database_url=database_url, broker_url=services.REDIS_URL)

        def switch(*args: str) -> None:
            command = [sys.executable, "-m", "orchestrator", "switch", *args]
            cli = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            assert cli.returncode == 0, cli.stderr

        switch("engage", "--reason", "attacker on ci-7")
        wait_for(lambda: cards_say(ENGAGED), timeout=20, what="both cards engaged")
        switch("release", "--reason", "host rebuilt")
        wait_for(lambda: cards_say(RELEASED), timeout=20, what="both cards released")
