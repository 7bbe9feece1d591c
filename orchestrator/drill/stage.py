"""A stage for a rehearsal: its own store, the TikTok simulator, a seeded inventory, a local
mailbox and the orchestrator's real processes. Nothing of the real deployment is touched:
the children's environment is built from scratch, not inherited.

By default the stage's one TikTok app is the single-app settings' ``default``; given ``apps``
(name and kind), each app has a simulator and an inventory of its own, listed in
``ORCH_TIKTOK_APPS``: a Login Kit app's client key is its simulator's OAuth client key, a
Business app's its simulator's Marketing API app id, so every app has its own key and secret."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from orchestrator.errors import OrchestratorError
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator

__all__ = ["Mailbox", "Stage", "StageApp"]

T = TypeVar("T")
_INTAKE = "rehearsal-intake-token-not-secret"
_API = "rehearsal-api-token-not-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    """A local SMTP server (aiosmtpd) that keeps every message it receives, in memory and as
    ``.eml`` files in ``folder`` (a mail program opens them)."""

    def __init__(self, folder: Path) -> None:
        self.messages: list[Any] = []
        self.files: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)
        box = self

        class Keep(Message):
            def handle_message(self, message: Any) -> None:
                path = folder / f"{len(box.messages) + 1:03d}.eml"
                path.write_bytes(message.as_bytes())
                box.files.append(path)
                box.messages.append(message)

        self.port = _free_port()
        self._controller = Controller(Keep(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


@dataclass
class StageApp:
    """One TikTok app of a stage: its simulator and the token records seeded in its inventory."""

    name: str
    kind: str  # login_kit or business (settings_apps.APP_KINDS)
    sim: TikTokSimulator
    records: list[dict[str, str]] = field(default_factory=list)

    @property
    def client_key(self) -> str:
        options = self.sim.options
        return options.business_app_id if self.kind == "business" else options.client_key

    def setting(self, inventory: Path, rate: float) -> dict[str, Any]:
        """The app as one entry of ``tiktok_apps``."""
        options = self.sim.options
        secret = options.business_secret if self.kind == "business" else options.client_secret
        return {
            "name": self.name,
            "kind": self.kind,
            "client_key": self.client_key,
            "client_secret": secret,
            "api_base": self.sim.base_url,
            "token_inventory": str(inventory),
            "revoke_rate": rate,
        }


class Stage:
    """Start with ``with Stage(folder, tokens=N) as stage``; stop() ends every process.

    ``apps``: (name, kind) of each TikTok app, ``tokens`` seeded for each; none: the one app
    ``default``. ``sim`` and ``records`` are the first app's."""

    def __init__(
        self,
        folder: Path | None = None,
        *,
        tokens: int = 1000,
        rate: float = 0.0,
        extra_env: Mapping[str, str] | None = None,
        mailbox: bool = True,
        apps: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.folder = folder or Path(tempfile.mkdtemp(prefix="orchestrator-rehearsal-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.tokens, self.rate, self.extra_env, self.want_mailbox = (
            tokens,
            rate,
            dict(extra_env or {}),
            mailbox,
        )
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.listed = bool(apps)  # in ORCH_TIKTOK_APPS, rather than the single-app settings
        self.apps = [
            StageApp(name, kind, TikTokSimulator(SimulatorOptions(seed=seed)))
            for seed, (name, kind) in enumerate(apps or [("default", "login_kit")], start=1)
        ]
        self.sim = self.apps[0].sim
        self.mailbox: Mailbox | None = None
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Stage:
        self.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
        if self.listed:
            apps = [app.setting(self.inventory(app), self.rate) for app in self.apps]
            env.update(ORCH_TIKTOK_APPS=json.dumps(apps))
        else:
            env.update(
                ORCH_TIKTOK_API_BASE=self.sim.base_url,
                ORCH_TIKTOK_CLIENT_KEY=self.sim.options.client_key,
                ORCH_TIKTOK_CLIENT_SECRET=self.sim.options.client_secret,
                ORCH_TOKEN_INVENTORY=str(self.inventory(self.apps[0])),
                ORCH_TIKTOK_REVOKE_RATE=str(self.rate),
            )
        env.update(
            ORCH_DATA_DIR=str(self.folder / "data"),
            ORCH_INTAKE_TOKEN=_INTAKE,
            ORCH_API_TOKEN=_API,
            ORCH_LOG_FORMAT="json",
            ORCH_LOG_LEVEL="warning",
            ORCH_RELAY_INTERVAL_SECONDS="0.2",
        )
        if self.mailbox is not None:
            env.update(
                ORCH_SMTP_URL=f"smtp://127.0.0.1:{self.mailbox.port}",
                ORCH_TIKTOK_REPORT_TO="tiktok@drill.invalid",
            )
        env.update(self.extra_env)
        return env

    api_token = _API  # the operators' token of the stage's API (not a secret: a rehearsal's)

    @property
    def records(self) -> list[dict[str, str]]:
        return self.apps[0].records

    def inventory(self, app: StageApp) -> Path:
        """The app's token inventory (a JSON-lines file)."""
        return self.folder / ("tokens.jsonl" if not self.listed else f"{app.name}-tokens.jsonl")

    def start(self) -> None:
        for app in self.apps:
            app.sim.start()
            prefix = "drill-user-" if not self.listed else f"{app.name}-user-"
            app.records = [r.as_json() for r in app.sim.iter_issue_tokens(self.tokens, open_id_prefix=prefix)]
            self.inventory(app).write_text("".join(json.dumps(r) + "\n" for r in app.records))
        if self.want_mailbox:
            self.mailbox = Mailbox(self.folder / "mail")
        parts = (
            ("api", ["serve", "--port", str(self.port)]),
            ("worker", ["worker"]),
            ("scheduler", ["scheduler"]),
        )
        for name, args in parts:
            log = (self.folder / f"{name}.log").open("wb")
            self._procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "orchestrator", *args],
                    env=self.env,
                    cwd=self.folder,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        self.wait("the API", lambda: httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200, 90)

    def stop(self) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._procs.clear()
        if self.mailbox is not None:
            self.mailbox.stop()
        for app in self.apps:
            app.sim.stop()

    def wait(self, what: str, probe: Callable[[], T | None], timeout: float) -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = probe()
                if value:
                    return value
            except (httpx.HTTPError, KeyError, IndexError, ValueError):
                pass
            time.sleep(0.1)
        raise OrchestratorError(f"timed out after {timeout:g}s waiting for {what}; logs are in {self.folder}")

    def post_event(self, event: dict[str, Any]) -> int:
        answer = httpx.post(
            f"{self.base_url}/v1/events", json=event, headers={"Authorization": f"Bearer {_INTAKE}"}
        )
        answer.raise_for_status()
        return answer.status_code

    def get(self, path: str) -> Any:
        return httpx.get(
            f"{self.base_url}{path}", headers={"Authorization": f"Bearer {_API}"}, timeout=5
        ).json()

    def cli(self, *args: str) -> str:
        shown = subprocess.run(
            [sys.executable, "-m", "orchestrator", *args],
            env=self.env,
            cwd=self.folder,
            capture_output=True,
            text=True,
            check=False,
        )
        return shown.stdout or shown.stderr
