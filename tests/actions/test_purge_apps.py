"""``tiktok.purge`` with several TikTok apps (issue 27, clause VI): every app's tokens go, each
app's count is on the timeline, and ``apps`` narrows it to the apps named."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.engine import running_engine

PURGE = """
name: purge
trigger: {manual: {inputs: {apps: {type: string, default: all}}}}
steps:
  - {id: purge, action: tiktok.purge, with: {apps: "{{ inputs.apps }}"}}
"""


def _inventory(path: Path, prefix: str, n: int) -> str:
    rows = [{"open_id": f"{prefix}{i}", "access_token": f"act.{prefix}.planted.{i}"} for i in range(n)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def _apps(tmp_path: Path) -> list[dict[str, object]]:
    return [
        {"name": name, "kind": "login_kit", "client_key": f"{name}-key",
         "client_secret": f"{name}-planted-secret", "api_base": "http://127.0.0.1:9",
         "token_inventory": _inventory(tmp_path / f"{name}.jsonl", name, n)}
        for name, n in (("shop", 5), ("ads", 3))
    ]  # fmt: skip


def test_purge_deletes_every_apps_tokens_and_names_each_count(tmp_path: Path) -> None:
    apps = _apps(tmp_path)
    with running_engine(tmp_path, {"purge": PURGE}, tiktok_apps=apps, tiktok_client_secret=None) as engine:
        run_id = engine.start("purge")
        run = engine.finished(run_id)
        [entry] = [e for e in engine.entries(run_id) if e.kind == "purge.finished"]  # a run's own chain
    assert run["status"] == "succeeded"
    assert [Path(str(app["token_inventory"])).read_text() for app in apps] == ["", ""]
    assert entry.data["apps"] == {"shop": 5, "ads": 3} and entry.data["tokens_deleted"] == 8
    assert entry.message.startswith("Purged 8 tokens (shop 5, ads 3)")
    assert "planted" not in json.dumps(entry.data) + entry.message


def test_purge_of_one_app_leaves_the_others_tokens(tmp_path: Path) -> None:
    apps = _apps(tmp_path)
    with running_engine(tmp_path, {"purge": PURGE}, tiktok_apps=apps, tiktok_client_secret=None) as engine:
        run = engine.finished(engine.start("purge", apps="ads"))
    assert run["status"] == "succeeded"
    shop, ads = (Path(str(app["token_inventory"])).read_text() for app in apps)
    assert (shop.count("\n"), ads) == (5, "")
