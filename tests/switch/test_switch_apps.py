"""Issue 27, item 3: a kill switch per TikTok app and one for all, seen by each app's guard.

Two apps are configured (``shop``, a Login Kit app, and ``ads``, a Business app). Each app's
guard reads the mirrors the orchestrator writes (the file in its data dir) or its API, as an
application would; the switches are changed through the CLI, the flows and Slack's two-person
release, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from orchestrator.api.app import create_app
from orchestrator.chatops.release import decide_release, request_release
from orchestrator.cli.main import cli
from orchestrator.config import Settings, load_settings
from orchestrator.errors import NotFound
from orchestrator.guard import Disconnected, Guard, SwitchUnknown
from orchestrator.store.outbox import OutboxRow
from orchestrator.switch import flows
from orchestrator.switch.service import CHANGED_TOPIC
from orchestrator.timeline import kinds
from orchestrator.timeline.models import TimelineEntryRow
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN, GUARD_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.server import serve_app
from tests.support.services import postgres_database

APPS = [
    {"name": "shop", "kind": "login_kit", "client_key": "shop-key", "client_secret": "shop-secret-1234"},
    {"name": "ads", "kind": "business", "client_key": "ads-key", "client_secret": "ads-secret-5678"},
]


def _settings(data_dir: Path, database_url: str = "") -> Settings:
    return load_settings(
        overrides={
            "data_dir": data_dir,
            "database_url": database_url,
            "tiktok_apps": APPS,
            "intake_token": INTAKE_TOKEN,
            "api_token": API_TOKEN,
            "guard_token": GUARD_TOKEN,
            "guard_cache_seconds": 0,
        }
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def two_apps(
    request: pytest.FixtureRequest, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """A runtime whose settings list two apps, on either store."""
    if request.param == "sqlite":
        other = make_runtime(_settings(tmp_path / "apps"))
        yield other
        other.close()
    else:
        with postgres_database() as url:
            other = make_runtime(_settings(tmp_path / "pg", url))
            yield other
            other.close()


def _refuses(runtime: Runtime, app: str) -> bool:
    guard = Guard.from_settings(runtime.settings, app=app)
    try:
        guard.check()
    except Disconnected:
        return True
    return False


def _engage(runtime: Runtime, app: str | None, reason: str = "secret leaked") -> bool:
    return flows.engage_switch(runtime.store, runtime.settings, by="alice", reason=reason, app=app).changed


def _release(runtime: Runtime, app: str | None) -> bool:
    return flows.release_switch(runtime.store, runtime.settings, by="bob", reason="rotated", app=app).changed


def test_engaging_one_app_disconnects_that_app_only(two_apps: Runtime) -> None:
    assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (True, True)  # no mirror yet: closed
    flows.sync_mirrors(two_apps.store, two_apps.settings)  # what every process does at start
    assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (False, False)
    assert _engage(two_apps, "shop")
    assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (True, False)
    assert not _engage(two_apps, "shop")  # already engaged: recorded, not changed


def test_the_all_apps_switch_disconnects_both_and_releasing_one_releases_no_other(two_apps: Runtime) -> None:
    assert _engage(two_apps, "shop") and _engage(two_apps, None)
    assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (True, True)
    assert _release(two_apps, None)  # all apps released: shop's own switch holds
    assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (True, False)
    assert _engage(two_apps, "ads")
    assert _release(two_apps, "shop")  # ads's engagement stays
    assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (False, True)
    board = flows.switch_status(two_apps.store, two_apps.settings)
    assert (board.all.engaged, board.apps["shop"].engaged, board.apps["ads"].engaged) == (False, False, True)
    assert (board.all.version, board.apps["shop"].version, board.apps["ads"].version) == (2, 2, 1)
    assert board.version == 5


def test_every_change_owes_one_switch_changed_row_and_a_timeline_entry_naming_the_app(
    two_apps: Runtime,
) -> None:
    _engage(two_apps, "shop")
    _engage(two_apps, None)
    _engage(two_apps, "shop")  # no change, no row
    _release(two_apps, "shop")
    with two_apps.store.unit_of_work() as session:
        rows = session.scalars(
            select(OutboxRow).where(OutboxRow.topic == CHANGED_TOPIC).order_by(OutboxRow.id)
        )
        owed = [(row.ref_id, row.payload) for row in rows]
        entries = session.scalars(
            select(TimelineEntryRow)
            .where(TimelineEntryRow.kind.in_([kinds.SWITCH_ENGAGED, kinds.SWITCH_RELEASED]))
            .order_by(TimelineEntryRow.id)
        )
        messages = [entry.message for entry in entries]
    assert owed == [("1", {"app": "shop"}), ("2", {}), ("3", {"app": "shop"})]
    assert messages == [
        "kill switch of app shop engaged: secret leaked",
        "kill switch engaged: secret leaked",
        "kill switch of app shop already engaged: secret leaked",
        "kill switch of app shop released: rotated",
    ]


def test_an_app_not_configured_has_no_switch(two_apps: Runtime) -> None:
    with pytest.raises(NotFound, match="no TikTok app 'default' \\(configured: shop, ads\\)"):
        _engage(two_apps, "default")
    assert _refuses(two_apps, "default")  # the guard of an app the orchestrator does not know fails closed
    with pytest.raises(SwitchUnknown):
        Guard.from_settings(two_apps.settings, app="default").check()


def test_the_two_person_release_releases_its_app_only(two_apps: Runtime) -> None:
    _engage(two_apps, "shop")
    _engage(two_apps, "ads")
    asked = request_release(two_apps, user_id="U1", reason="shop secret rotated", app="shop")
    _engage(two_apps, None)  # another switch changed: shop's request still holds
    _release(two_apps, None)
    decision = decide_release(two_apps, request_id=asked, user_id="U2", approve=True)
    assert decision.released
    assert (_refuses(two_apps, "shop"), _refuses(two_apps, "ads")) == (False, True)
    again = request_release(two_apps, user_id="U1", reason="ads secret rotated", app="ads")
    _release(two_apps, "ads")
    _engage(two_apps, "ads", reason="leaked again")
    with pytest.raises(Exception, match="void"):  # ads's switch changed since it was asked
        decide_release(two_apps, request_id=again, user_id="U2", approve=True)
    assert _refuses(two_apps, "ads")


@pytest.fixture
def apps_runtime(tmp_path: Path, runtime: Runtime) -> Iterator[Runtime]:
    other = make_runtime(_settings(tmp_path / "apps"))
    yield other
    other.close()


def test_the_http_view_lists_every_app_and_answers_for_one(apps_runtime: Runtime) -> None:
    _engage(apps_runtime, "ads")
    operator = {"Authorization": f"Bearer {API_TOKEN}"}
    guard = {"Authorization": f"Bearer {GUARD_TOKEN}"}
    with serve_app(create_app(apps_runtime)) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        full = http.get("/v1/switch", headers=operator).json()
        ads = http.get("/v1/switch", params={"app": "ads"}, headers=operator).json()
        shop = http.get("/v1/switch", params={"app": "shop"}, headers=guard).json()
        flags = http.get("/v1/switch", headers=guard).json()
        unknown = http.get("/v1/switch", params={"app": "nope"}, headers=guard)
    assert full["engaged"] is False
    assert {name: app["engaged"] for name, app in full["apps"].items()} == {"shop": False, "ads": True}
    assert full["apps"]["ads"]["by"] == "alice"
    assert (ads["app"], ads["engaged"], ads["switch"]["reason"], ads["all_apps"]["engaged"]) == (
        "ads",
        True,
        "secret leaked",
        False,
    )
    assert shop == {"app": "shop", "engaged": False, "version": 1, "changed_at": None}
    assert sorted(flags) == ["apps", "changed_at", "engaged", "version"]
    assert sorted(flags["apps"]["ads"]) == ["changed_at", "engaged", "version"]  # the flag, not who or why
    assert (unknown.status_code, unknown.json()) == (404, {"error": "no TikTok app 'nope'"})


def test_the_guard_of_each_app_reads_the_api(apps_runtime: Runtime) -> None:
    _engage(apps_runtime, "shop")
    with serve_app(create_app(apps_runtime)) as base_url:
        assert httpx.get(f"{base_url}/healthz", timeout=30).status_code == 200
        env = {"ORCH_GUARD_SOURCES": "http", "ORCH_GUARD_URL": base_url, "ORCH_GUARD_TOKEN": GUARD_TOKEN}
        with pytest.raises(Disconnected):
            Guard.from_env({**env, "ORCH_GUARD_APP": "shop"}).check()
        Guard.from_env({**env, "ORCH_GUARD_APP": "ads"}).check()
        with pytest.raises(SwitchUnknown):
            Guard.from_env(env).check()  # default: no such app here


def test_the_cli_lists_every_app_and_changes_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, apps_runtime: Runtime
) -> None:
    for name in [n for n in os.environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ORCH_DATA_DIR", str(apps_runtime.settings.data_dir))
    monkeypatch.setenv("ORCH_TIKTOK_APPS", json.dumps(APPS))
    monkeypatch.setenv("ORCH_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("ORCH_INTAKE_TOKEN", INTAKE_TOKEN)
    monkeypatch.setenv("ORCH_LOG_LEVEL", "warning")
    runner = CliRunner()
    engaged = runner.invoke(
        cli, ["switch", "engage", "--app", "ads", "--reason", "ads secret leaked", "--json"]
    )
    assert engaged.exit_code == 0, engaged.output
    assert (json.loads(engaged.output)["app"], json.loads(engaged.output)["engaged"]) == ("ads", True)
    assert runner.invoke(cli, ["switch", "engage", "--reason", "host compromised"]).exit_code == 0
    assert runner.invoke(cli, ["switch", "release", "--reason", "host rebuilt"]).exit_code == 0
    status = runner.invoke(cli, ["switch", "status"])
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert lines[0] == "released"
    apps = lines[lines.index("apps:") + 1 :]
    assert [line.split()[:4] for line in apps] == [
        ["shop", "released", "connected", "version"],
        ["ads", "ENGAGED", "disconnected", "version"],
    ]
    assert "ads secret leaked" in apps[1]
    shown = json.loads(runner.invoke(cli, ["switch", "status", "--json"]).output)
    assert {name: app["engaged"] for name, app in shown["apps"].items()} == {"shop": False, "ads": True}
    mirror = json.loads((apps_runtime.settings.data_dir / "kill_switch.json").read_text())
    assert (mirror["engaged"], mirror["apps"]["ads"]["engaged"], mirror["version"]) == (False, True, 3)
    unknown = runner.invoke(cli, ["switch", "release", "--app", "nope", "--reason", "x"])
    assert unknown.exit_code != 0 and "no TikTok app 'nope'" in str(unknown.exception)
