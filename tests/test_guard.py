"""The application's guard: refuses TikTok calls while engaged, cheaply, from any source."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests

from orchestrator import guard
from orchestrator.api.app import create_app
from orchestrator.config import load_settings
from orchestrator.guard import (
    Disconnected,
    FileSource,
    Guard,
    HttpSource,
    RedisSource,
    Source,
    SwitchUnknown,
)
from orchestrator.switch import flows
from orchestrator.switch.mirror import FileMirror, RedisMirror
from orchestrator.worker.runtime import Runtime
from tests.support.processes import free_port
from tests.support.runtime import GUARD_TOKEN
from tests.support.server import serve_app
from tests.support.services import REDIS_URL, flush_redis, require

TIKTOK_REVOKE = "https://open.tiktokapis.com/v2/oauth/revoke/"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _switch_file(tmp_path: Path, engaged: bool, version: int = 1) -> Path:
    path = tmp_path / "kill_switch.json"
    FileMirror(path).publish({"engaged": engaged, "version": version, "changed_at": None}, force=True)
    return path


@pytest.fixture
def other_host() -> Iterator[str]:
    """A real HTTP server on loopback standing for any non-TikTok host."""

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"hello": "world"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_importing_the_guard_pulls_in_no_heavy_dependency() -> None:
    code = (
        "import orchestrator.guard, sys; "
        "heavy = {'sqlalchemy', 'httpx', 'requests', 'redis', 'fastapi', 'celery'}; "
        "heavy &= set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1], timeout=60)


def test_check_raises_while_the_file_mirror_says_engaged(tmp_path: Path) -> None:
    path = _switch_file(tmp_path, engaged=True)
    engaged_guard = Guard([FileSource(path)], cache_seconds=0)
    with pytest.raises(Disconnected, match="kill switch engaged"):
        engaged_guard.check()
    _switch_file(tmp_path, engaged=False, version=2)
    engaged_guard.check()
    assert engaged_guard.engaged() is False
    assert engaged_guard.reading().version == 2


@pytest.mark.services
def test_check_reads_the_redis_key_first_and_falls_back_to_the_file(tmp_path: Path) -> None:
    require(REDIS_URL, "Redis")
    flush_redis()
    path = _switch_file(tmp_path, engaged=False)
    checker = Guard([RedisSource(REDIS_URL), FileSource(path)], cache_seconds=0)
    assert checker.reading().source == "file"  # no key yet: the next source answers
    RedisMirror(REDIS_URL).publish({"engaged": True, "version": 5, "changed_at": None})
    with pytest.raises(Disconnected):
        checker.check()
    assert checker.reading().source == "redis"


def test_check_reads_the_switch_over_http_with_the_guard_token(runtime: Runtime) -> None:
    with serve_app(create_app(runtime)) as base_url:
        checker = Guard([HttpSource(base_url, token=GUARD_TOKEN)], cache_seconds=0)
        checker.check()
        flows.engage_switch(runtime.store, runtime.settings, by="alice", reason="compromise")
        with pytest.raises(Disconnected):
            checker.check()
        assert GUARD_TOKEN not in repr(checker.sources)
        unauthorised = Guard([HttpSource(base_url, token="wrong")], cache_seconds=0)
        with pytest.raises(SwitchUnknown):
            unauthorised.check()


def test_a_reading_is_reused_until_the_cache_expires(tmp_path: Path) -> None:
    path = _switch_file(tmp_path, engaged=False)
    fake = FakeClock()
    checker = Guard([FileSource(path)], cache_seconds=1.0, monotonic=fake)
    checker.check()
    _switch_file(tmp_path, engaged=True, version=2)
    fake.now += 0.9
    checker.check()  # still the cached "released"
    fake.now += 0.2
    with pytest.raises(Disconnected):
        checker.check()


def test_a_cached_check_costs_well_under_a_millisecond(tmp_path: Path) -> None:
    checker = Guard([FileSource(_switch_file(tmp_path, engaged=False))], cache_seconds=60)
    checker.check()
    started = time.perf_counter()
    for _ in range(10_000):
        checker.check()
    assert (time.perf_counter() - started) / 10_000 < 0.0001


def test_an_unknown_state_blocks_when_failing_closed_and_passes_when_failing_open(tmp_path: Path) -> None:
    missing = FileSource(tmp_path / "never-written.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    sources: list[Source] = [missing, FileSource(broken), HttpSource("http://127.0.0.1:9", timeout=0.2)]
    with pytest.raises(SwitchUnknown, match="unknown"):
        Guard(sources, cache_seconds=0).check()
    assert Guard(sources, cache_seconds=0).engaged() is True
    open_guard = Guard(sources, cache_seconds=0, fail_closed=False)
    open_guard.check()
    assert open_guard.engaged() is False


def test_guard_from_the_environment_reads_its_sources_and_options(tmp_path: Path) -> None:
    path = _switch_file(tmp_path, engaged=True)
    env = {
        "ORCH_GUARD_SOURCES": "file,http",
        "ORCH_GUARD_FILE": str(path),
        "ORCH_GUARD_URL": "http://127.0.0.1:8080",
        "ORCH_GUARD_TOKEN": "t",
        "ORCH_GUARD_CACHE_SECONDS": "0.5",
        "ORCH_GUARD_FAIL_CLOSED": "false",
        "ORCH_GUARD_TIKTOK_HOSTS": "example.org, *.example.net",
    }
    built = Guard.from_env(env)
    assert [s.name for s in built.sources] == ["file", "http"]
    assert (built.cache_seconds, built.fail_closed, built.tiktok_hosts) == (
        0.5,
        False,
        ("example.org", "*.example.net"),
    )
    default = Guard.from_env({"ORCH_DATA_DIR": str(tmp_path)})
    assert [s.name for s in default.sources] == ["file"]
    assert default.fail_closed is True
    with pytest.raises(Disconnected):
        default.check()


@pytest.mark.parametrize(
    ("host", "blocked"),
    [
        ("open.tiktokapis.com", True),
        ("OPEN.TIKTOKAPIS.COM.", True),
        ("business-api.tiktok.com", True),
        ("sandbox.tiktokapis.com", True),
        ("www.tiktok.com", True),
        ("tiktok.com", True),
        ("nottiktok.com", False),
        ("tiktok.com.evil.example", False),
        ("127.0.0.1", False),
    ],
)
def test_tiktok_hosts_are_recognised_by_name_and_subdomain(host: str, blocked: bool) -> None:
    assert guard.is_tiktok_host(host) is blocked


def test_httpx_transport_refuses_tiktok_before_any_io_and_lets_other_hosts_through(
    tmp_path: Path, other_host: str
) -> None:
    path = _switch_file(tmp_path, engaged=True)
    checker = Guard([FileSource(path)], cache_seconds=0)
    sent: list[str] = []

    def network(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(200, json={})

    with httpx.Client(transport=guard.httpx_transport(httpx.MockTransport(network), guard=checker)) as client:
        with pytest.raises(Disconnected):
            client.post(TIKTOK_REVOKE, data={"token": "act.secret"})
        assert sent == []
    with httpx.Client(transport=guard.httpx_transport(guard=checker)) as client:
        assert client.get(other_host).json() == {"hello": "world"}

    _switch_file(tmp_path, engaged=False, version=2)
    with httpx.Client(transport=guard.httpx_transport(httpx.MockTransport(network), guard=checker)) as client:
        assert client.post(TIKTOK_REVOKE, data={"token": "x"}).status_code == 200
    assert sent == [TIKTOK_REVOKE]


async def _async_get(transport: httpx.AsyncBaseTransport, url: str) -> int:
    async with httpx.AsyncClient(transport=transport) as client:
        return (await client.get(url)).status_code


def test_async_httpx_transport_refuses_tiktok_while_engaged(tmp_path: Path) -> None:
    import asyncio

    checker = Guard([FileSource(_switch_file(tmp_path, engaged=True))], cache_seconds=0)
    inner = httpx.MockTransport(lambda request: httpx.Response(204))
    with pytest.raises(Disconnected):
        asyncio.run(_async_get(guard.httpx_async_transport(inner, guard=checker), TIKTOK_REVOKE))
    assert asyncio.run(_async_get(guard.httpx_async_transport(inner, guard=checker), "http://x.test/")) == 204


def test_requests_adapter_refuses_tiktok_while_engaged_and_allows_it_when_released(
    tmp_path: Path, other_host: str
) -> None:
    checker = Guard([FileSource(_switch_file(tmp_path, engaged=True))], cache_seconds=0)
    session = requests.Session()
    adapter = guard.requests_adapter(guard=checker)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    with pytest.raises(Disconnected):
        session.post(TIKTOK_REVOKE, data={"token": "act.secret"}, timeout=5)
    assert session.get(other_host, timeout=5).json() == {"hello": "world"}

    # "localhost" plays a TikTok host here, so the released case needs no Internet.
    local_tiktok = Guard(
        [FileSource(tmp_path / "kill_switch.json")], cache_seconds=0, tiktok_hosts=["localhost"]
    )
    local = requests.Session()
    local.mount("http://", guard.requests_adapter(guard=local_tiktok))
    url = other_host.replace("127.0.0.1", "localhost")
    with pytest.raises(Disconnected):
        local.get(url, timeout=5)
    _switch_file(tmp_path, engaged=False, version=2)
    assert local.get(url, timeout=5).json() == {"hello": "world"}
    session.close()
    local.close()


def test_the_process_wide_guard_is_configured_once_and_used_by_check(tmp_path: Path) -> None:
    path = _switch_file(tmp_path, engaged=True)
    try:
        guard.configure(Guard([FileSource(path)], cache_seconds=0))
        with pytest.raises(Disconnected):
            guard.check()
        assert guard.engaged() is True
    finally:
        guard.configure(Guard([], fail_closed=False))
    guard.check()


def test_mirror_json_shape_is_what_the_guard_reads(tmp_path: Path) -> None:
    path = tmp_path / "kill_switch.json"
    path.write_text(json.dumps({"engaged": "yes"}))  # not a bool: not a reading
    with pytest.raises(SwitchUnknown):
        Guard([FileSource(path)], cache_seconds=0).check()


def test_guard_from_settings_reads_the_mirrors_the_orchestrator_writes(runtime: Runtime) -> None:
    checker = Guard.from_settings(runtime.settings)
    assert [s.name for s in checker.sources] == ["file"]
    assert (checker.cache_seconds, checker.fail_closed) == (1.0, True)
    flows.engage_switch(runtime.store, runtime.settings, by="alice", reason="compromise")
    with pytest.raises(Disconnected):
        checker.check()


def test_a_fallback_cannot_release_with_an_older_answer_than_the_guard_has_seen(
    runtime: Runtime, tmp_path: Path
) -> None:
    stale = _switch_file(tmp_path, engaged=False, version=0)  # left behind before the engage
    with serve_app(create_app(runtime)) as base_url:
        checker = Guard([HttpSource(base_url, token=GUARD_TOKEN), FileSource(stale)], cache_seconds=0)
        flows.engage_switch(runtime.store, runtime.settings, by="alice", reason="compromise")
        with pytest.raises(Disconnected):
            checker.check()
    # The API is gone: only the file answers, and it is older than what the guard saw.
    with pytest.raises(SwitchUnknown):
        checker.check()
    _switch_file(tmp_path, engaged=False, version=2)  # a release after that engage: it counts
    checker.check()


def test_a_switch_state_with_a_duplicate_key_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "kill_switch.json"
    path.write_text('{"engaged": true, "version": 3, "changed_at": null, "engaged": false}')
    with pytest.raises(SwitchUnknown):
        Guard([FileSource(path)], cache_seconds=0).check()


def test_guard_from_settings_reads_the_api_with_the_configured_guard_token(runtime: Runtime) -> None:
    with serve_app(create_app(runtime)) as base_url:
        # The guard gives the API 1 s; a fresh in-process app's first answer took longer in a loaded CI.
        assert httpx.get(f"{base_url}/healthz", timeout=30).status_code == 200
        http = Guard.from_settings(runtime.settings, api_url=base_url).sources[-1]
        assert http.name == "http" and http.read() == {
            "engaged": False,
            "version": 0,
            "changed_at": None,
            "apps": {"default": {"engaged": False, "version": 0, "changed_at": None}},
        }


def test_a_stale_file_with_redis_unreachable_fails_closed(tmp_path: Path) -> None:
    """The store says engaged, Redis is cut off and the file's last refresh said released."""
    path = _switch_file(tmp_path, engaged=False, version=7)
    old = time.time() - 61
    os.utime(path, (old, old))
    env = {
        "ORCH_GUARD_SOURCES": "redis,file",
        "ORCH_GUARD_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "ORCH_GUARD_FILE": str(path),
        "ORCH_GUARD_CACHE_SECONDS": "0",
    }
    checker = Guard.from_env(env)
    assert [s.name for s in checker.sources] == ["redis", "file"]
    with pytest.raises(SwitchUnknown):
        checker.check()
    os.utime(path)  # a host's `switch mirror` refreshed it: the same state, fresh, counts again
    checker.check()
    assert checker.reading().source == "file"


def test_the_file_age_limit_comes_from_the_environment_and_the_settings(tmp_path: Path) -> None:
    path = _switch_file(tmp_path, engaged=False)
    old = time.time() - 30
    os.utime(path, (old, old))
    env = {"ORCH_GUARD_SOURCES": "file", "ORCH_GUARD_FILE": str(path), "ORCH_GUARD_CACHE_SECONDS": "0"}
    Guard.from_env(env).check()  # 30 s old, within the default 60
    with pytest.raises(SwitchUnknown):
        Guard.from_env({**env, "ORCH_GUARD_FILE_MAX_AGE_SECONDS": "20"}).check()
    for bad in ("soon", "nan", "-1"):
        with pytest.raises(ValueError, match=f"ORCH_GUARD_FILE_MAX_AGE_SECONDS: '{bad}' is not a finite"):
            Guard.from_env({**env, "ORCH_GUARD_FILE_MAX_AGE_SECONDS": bad})
    settings = load_settings(overrides={"data_dir": tmp_path, "guard_file_max_age_seconds": 20})
    with pytest.raises(SwitchUnknown):
        Guard.from_settings(settings).check()
