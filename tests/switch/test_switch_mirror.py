"""Mirrors: the application reads the flag from a Redis key or a file; stale writes never win."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.config import Settings
from orchestrator.switch import flows
from orchestrator.switch.mirror import REDIS_KEY, FileMirror, RedisMirror, SwitchMirror, mirrors_for
from orchestrator.worker.runtime import Runtime
from tests.support.services import REDIS_URL, flush_redis, require


@pytest.fixture
def redis_mirror() -> RedisMirror:
    require(REDIS_URL, "Redis")
    flush_redis()
    return RedisMirror(REDIS_URL)


def test_file_mirror_is_replaced_whole_and_refuses_an_older_version(tmp_path: Path) -> None:
    mirror = FileMirror(tmp_path / "kill_switch.json")
    assert mirror.read() is None
    assert mirror.publish({"engaged": True, "version": 2, "changed_at": None}) is True
    assert mirror.publish({"engaged": False, "version": 1, "changed_at": None}) is False
    assert json.loads((tmp_path / "kill_switch.json").read_text()) == {
        "engaged": True,
        "version": 2,
        "changed_at": None,
    }
    assert mirror.publish({"engaged": False, "version": 1, "changed_at": None}, force=True) is True
    assert mirror.read() == {"engaged": False, "version": 1, "changed_at": None}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kill_switch.json", "kill_switch.json.lock"]


@pytest.mark.services
def test_redis_mirror_sets_one_json_key_and_refuses_an_older_version(redis_mirror: RedisMirror) -> None:
    import redis

    assert redis_mirror.publish({"engaged": True, "version": 3, "changed_at": "t"}) is True
    assert redis_mirror.publish({"engaged": False, "version": 2, "changed_at": "t"}) is False
    raw = redis.Redis.from_url(REDIS_URL).get(REDIS_KEY)
    assert raw is not None and json.loads(raw) == {"engaged": True, "version": 3, "changed_at": "t"}
    assert redis_mirror.publish({"engaged": False, "version": 3, "changed_at": "u"}) is True
    assert redis_mirror.read() == {"engaged": False, "version": 3, "changed_at": "u"}


@pytest.mark.services
def test_engage_and_release_publish_only_the_flag_to_every_mirror(
    runtime: Runtime, redis_mirror: RedisMirror, tmp_path: Path
) -> None:
    file_mirror = FileMirror(tmp_path / "switch.json")
    mirrors: list[SwitchMirror] = [file_mirror, redis_mirror]
    change = flows.engage_switch(
        runtime.store, runtime.settings, by="alice", reason="secret leaked", mirrors=mirrors
    )
    assert change.state.changed_at is not None
    expected = {
        "engaged": True,
        "version": 1,
        "changed_at": change.state.changed_at.isoformat(),
        "apps": {"default": {"engaged": False, "version": 0, "changed_at": None}},
    }
    assert file_mirror.read() == expected
    assert redis_mirror.read() == expected
    flows.release_switch(runtime.store, runtime.settings, by="bob", reason="rotated", mirrors=mirrors)
    assert [m.read()["engaged"] for m in (file_mirror, redis_mirror)] == [False, False]  # type: ignore[index]


def test_sync_mirrors_repairs_a_mirror_that_disagrees_with_the_store(
    runtime: Runtime, tmp_path: Path
) -> None:
    mirror = FileMirror(tmp_path / "switch.json")
    mirror.publish({"engaged": True, "version": 9, "changed_at": None})  # e.g. a rolled-back engage
    state = flows.sync_mirrors(runtime.store, runtime.settings, mirrors=[mirror])
    assert mirror.read() == {
        "engaged": False,
        "version": 0,
        "changed_at": None,
        "apps": {"default": {"engaged": False, "version": 0, "changed_at": None}},
    }
    assert state.version == 0


def test_a_failing_mirror_does_not_stop_the_engage(runtime: Runtime, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the mirror wants a directory")
    good = FileMirror(tmp_path / "switch.json")
    change = flows.engage_switch(
        runtime.store,
        runtime.settings,
        by="alice",
        reason="compromise",
        mirrors=[FileMirror(blocked / "switch.json"), good],
    )
    assert change.state.engaged is True
    assert good.read() == {
        **change.state.mirror_dict(),
        "apps": {"default": {"engaged": False, "version": 0, "changed_at": None}},
    }


def test_the_embedded_default_mirrors_to_a_file_in_data_dir_only(settings: Settings) -> None:
    mirrors = mirrors_for(settings)
    assert [type(m).__name__ for m in mirrors] == ["FileMirror"]
    assert isinstance(mirrors[0], FileMirror) and mirrors[0].path == settings.data_dir / "kill_switch.json"


def test_a_redis_broker_adds_the_redis_key(settings: Settings) -> None:
    redis_settings = settings.model_copy(update={"broker_url": "redis://127.0.0.1:6379/0"})
    assert [type(m).__name__ for m in mirrors_for(redis_settings)] == ["FileMirror", "RedisMirror"]
