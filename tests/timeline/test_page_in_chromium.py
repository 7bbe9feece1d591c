"""The incident page in real headless Chromium: sign in, key times, every entry, filters (real JS)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from orchestrator.api.app import create_app
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN
from tests.support.server import serve_app
from tests.support.services import unavailable
from tests.timeline.story import ENTRIES, build_incident

CHROMIUM = "/usr/bin/chromium"
INCIDENT = "inc-story000001"


def _require_chromium() -> None:
    if os.access(CHROMIUM, os.X_OK):
        return
    unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")


class Page:
    """One tab driven over the Chrome DevTools Protocol (flattened session on the browser socket)."""

    def __init__(self, socket: ClientConnection, session: str) -> None:
        self._socket, self._session, self._ids = socket, session, count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        self._socket.send(
            json.dumps({"id": ident, "method": method, "params": params, "sessionId": self._session})
        )
        while True:
            message = json.loads(self._socket.recv(timeout=15))
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise AssertionError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except AssertionError:
                value = None  # the page is navigating
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression}")


@contextmanager
def chromium(profile: Path) -> Iterator[Page]:
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while not (active.exists() and len(active.read_text().splitlines()) == 2):
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port, path = active.read_text().splitlines()
        with connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as socket:
            socket.send(
                json.dumps({"id": 1, "method": "Target.createTarget", "params": {"url": "about:blank"}})
            )
            target = _answer(socket, 1)["targetId"]
            socket.send(
                json.dumps(
                    {
                        "id": 2,
                        "method": "Target.attachToTarget",
                        "params": {"targetId": target, "flatten": True},
                    }
                )
            )
            yield Page(socket, _answer(socket, 2)["sessionId"])
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _answer(socket: ClientConnection, ident: int) -> dict[str, Any]:
    while True:
        message = json.loads(socket.recv(timeout=15))
        if message.get("id") == ident:
            result: dict[str, Any] = message["result"]
            return result


def _visible_kinds(page: Page) -> list[str]:
    return list(
        page.evaluate(
            "Array.from(document.querySelectorAll('#timeline tr.entry'))"
            ".filter(r => !r.hidden).map(r => r.dataset.kind)"
        )
    )


def _assert_time_axis_drawn_at_the_right_times(page: Page) -> None:
    """Where Chromium lays out the axis's points, ticks and target lines, in CSS pixels."""
    drawn = page.evaluate(
        "(() => { const mid = e => { const b = e.getBoundingClientRect(); return b.x + b.width / 2; };"
        "const all = s => Array.from(document.querySelectorAll('#time-axis svg ' + s));"
        "return {points: Object.fromEntries(all('circle.point').map(c => [c.dataset.key, mid(c)])),"
        "ticks: Object.fromEntries(all('line.tick').map(l => [l.dataset.seconds, mid(l)])),"
        "targets: all('line.target').map(mid), width: document.querySelector('#time-axis svg')"
        ".getBoundingClientRect().width}; })()"
    )
    points, ticks, targets = drawn["points"], drawn["ticks"], drawn["targets"]
    assert drawn["width"] > 300
    # The story: disconnected after 2 min, revoked after 8, reported after 26 h, resolved after 27 h;
    # targets 60 min and 24 h. On the log axis those land between (or on) the labelled ticks.
    assert points["aware_at"] < ticks["60"] < points["disconnected_at"] < points["revoked_at"] < ticks["600"]
    assert abs(targets[0] - ticks["3600"]) < 1 and abs(targets[1] - ticks["86400"]) < 1
    assert ticks["86400"] < points["reported_at"] < points["resolved_at"]

    def offset(seconds: float) -> float:  # the axis's scale: log(1 + t / 0.1 s)
        return math.log1p(seconds / 0.1)

    origin = points["aware_at"]
    per_unit = (ticks["60"] - origin) / offset(60)
    for key, seconds in (("disconnected_at", 120), ("revoked_at", 480), ("reported_at", 93600)):
        assert abs(points[key] - (origin + per_unit * offset(seconds))) < 1.5, key


def test_incident_page_in_chromium_shows_key_times_every_entry_and_filters(
    runtime: Runtime, tmp_path: Path
) -> None:
    _require_chromium()
    assert shutil.which(CHROMIUM)
    build_incident(runtime.store)
    with serve_app(create_app(runtime)) as base_url, chromium(tmp_path / "profile") as page:
        page.send("Page.navigate", url=f"{base_url}/incidents/{INCIDENT}")
        page.wait_for("location.pathname === '/incidents/login' && !!document.getElementById('token')")
        page.evaluate(
            f"document.getElementById('token').value = {json.dumps(API_TOKEN)};"
            "document.querySelector('form').submit(); true"
        )
        page.wait_for(f"location.pathname === '/incidents/{INCIDENT}' && document.readyState === 'complete'")

        times = page.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('#key-times .time'))"
            ".map(t => [t.dataset.name, t.querySelector('.value').textContent]))"
        )
        assert times["aware_at"] == "2026-11-26T10:00:00.123456+00:00"
        assert times["disconnected_at"] == "2026-11-26T10:02:00.123456+00:00"
        assert times["reported_at"] == "2026-11-27T12:00:00.123456+00:00"
        assert "Awareness to disconnect: 2 min" in page.evaluate(
            "document.getElementById('durations').textContent"
        )
        _assert_time_axis_drawn_at_the_right_times(page)
        assert page.evaluate("document.getElementById('chain').dataset.verified") == "true"
        assert len(_visible_kinds(page)) == ENTRIES and page.evaluate(
            "document.getElementById('shown-count').textContent"
        ) == str(ENTRIES)

        page.evaluate(
            "const k = document.getElementById('filter-kind'); k.value = 'switch.engaged';"
            "k.dispatchEvent(new Event('change')); true"
        )
        assert _visible_kinds(page) == ["switch.engaged"]
        assert page.evaluate("location.hash") == "#kind=switch.engaged"
        assert page.evaluate("document.getElementById('shown-count').textContent") == "1"

        page.send("Page.navigate", url=f"{base_url}/incidents/{INCIDENT}#actor=slack%3AU042ALICE")
        page.wait_for(
            "document.getElementById('filter-actor') && document.getElementById('filter-actor').value !== ''"
        )
        assert _visible_kinds(page) == [
            "approval.decided",
            "report.delivered",
            "note",
            "status.update",
            "switch.released",
        ]
        assert page.evaluate("document.getElementById('filter-kind').value") == ""

        page.evaluate("window.loadedBefore = true")
        page.send("Page.reload")
        page.wait_for("window.loadedBefore === undefined && document.readyState === 'complete'")
        assert page.evaluate("document.getElementById('shown-count').textContent") == "5"  # applied on load
