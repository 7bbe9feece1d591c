"""TikTok's documented endpoints as a real HTTP server on 127.0.0.1, for demos, drills and tests.

It follows TikTok's published contracts (OAuth v2 revoke and token, ``/v2/user/info/``, the
Marketing API revoke) and can misbehave on purpose (rate limits, latency, 5xx, random 429s,
errors on HTTP 200) so the orchestrator is exercised against what TikTok really does. It is
also the baseline of the throughput benchmark, so each request does O(1) work.

    with TikTokSimulator(SimulatorOptions(rate_limit_per_minute=600)) as sim:
        client = TikTokClient(sim.base_url, sim.options.client_key, sim.options.client_secret)
        record = sim.issue_tokens(1)[0]
        client.revoke(record.access_token)

Control endpoints let another process drive it: ``GET /_simulator/stats``,
``POST /_simulator/tokens`` (``{"count": N, "open_id_prefix": "u-"}`` -> JSON lines),
``POST /_simulator/options`` (e.g. ``{"error_rate": 1.0}`` for an outage, then back to 0),
``POST /_simulator/expire`` (``{"access_token": ...}``). With the ``webhook_url`` option it
sends TikTok's signed ``authorization.removed`` webhook after each revoke; with
``revoke_lie_rate`` some revokes answer success but leave the grant alive.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Self

import uvicorn

from orchestrator.errors import ConfigError
from orchestrator.tiktok import simulator_webhook
from orchestrator.tiktok.simulator_app import build_app
from orchestrator.tiktok.simulator_state import (
    SimulatorOptions,
    SimulatorState,
    TokenRecord,
)

__all__ = ["SimulatorOptions", "TikTokSimulator", "TokenRecord"]


class TikTokSimulator:
    """A simulated TikTok served by uvicorn in a background thread.

    ``port=0`` picks a free port; ``base_url`` is known as soon as the object exists, and
    the server accepts connections once :meth:`start` (or ``with``) returns.
    """

    def __init__(
        self, options: SimulatorOptions | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._state = SimulatorState(options or SimulatorOptions())
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        self._host, self._port = self._socket.getsockname()[:2]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Where the simulated ``open.tiktokapis.com`` (and Business API) answers."""
        return f"http://{self._host}:{self._port}"

    @property
    def options(self) -> SimulatorOptions:
        return self._state.options

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 10.0) -> None:
        """Serve in a daemon thread; returns once the server accepts connections."""
        if self._thread is not None:
            return
        config = uvicorn.Config(
            build_app(self._state),
            log_level="warning",
            log_config=None,  # keep the host process's logging set-up (tests, demo, CLI)
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
            backlog=4096,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name="tiktok-sim", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError("the TikTok simulator did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        self._socket.close()

    def wait(self) -> None:
        """Block until the server stops (the CLI's foreground loop)."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)

    # -- in-process helpers -------------------------------------------------------------------

    def issue_tokens(self, n: int, open_id_prefix: str = "sim-user-") -> list[TokenRecord]:
        """Seed ``n`` live authorisations and return them (1,000,000 take a few seconds)."""
        return list(self.iter_issue_tokens(n, open_id_prefix))

    def iter_issue_tokens(self, n: int, open_id_prefix: str = "sim-user-") -> Iterator[TokenRecord]:
        """Seed ``n`` authorisations now; yield their records lazily (for streaming to disk)."""
        if n < 0:
            raise ValueError("n must not be negative")
        first, _, _ = self._state.reserve(n, open_id_prefix)
        return self._state.iter_records(first, n)

    def expire_access_token(self, token: str) -> None:
        """Make an access token expired now (its grant stays alive: refresh still works)."""
        parsed = self._state.parse(token, "act")
        if parsed is None:
            raise ValueError("not an access token of this simulator")
        with self._state.lock:
            self._state.expire(parsed[0])

    def is_grant_revoked(self, token: str) -> bool:
        """True when the authorisation behind an access or refresh token is revoked."""
        parsed = self._state.parse(token, "act") or self._state.parse(token, "rft")
        if parsed is None:
            raise ValueError("not a token of this simulator")
        with self._state.lock:
            return self._state.is_revoked(parsed[0])

    def revoke_calls(self, token: str) -> int:
        """How many revoke requests named this exact access token (0 for unknown tokens)."""
        parsed = self._state.parse(token, "act")
        if parsed is None:
            return 0
        with self._state.lock:
            return self._state.revoke_calls(*parsed)

    def revoke_failures(self, token: str) -> int:
        """How many revoke requests naming this access token an injected 5xx refused (an outage:
        ``error_rate``); such a token is rightly sent again, unlike one ``revoke_calls`` counts twice."""
        parsed = self._state.parse(token, "act")
        if parsed is None:
            return 0
        with self._state.lock:
            return self._state.revoke_5xx(*parsed)

    def stats(self) -> dict[str, Any]:
        """Counters: requests_total, requests_by_endpoint, answered_429, answered_5xx,
        revoke_answered_5xx, tokens_answered_5xx (distinct tokens a 5xx refused), revoke_requests,
        revoked_grants, tokens_revoked_more_than_once, refreshes, ..."""
        return self._state.snapshot()

    def send_authorization_removed(
        self, open_id: str, reason: int, *, url: str | None = None, timestamp: int | None = None
    ) -> int:
        """POST TikTok's signed ``authorization.removed`` (``reason`` as TikTok numbers them) to
        ``url`` (default: the ``webhook_url`` option); returns the HTTP status, 0 if none."""
        target = url or self.options.webhook_url
        if not target:
            raise ValueError("no webhook_url: pass url= or set the webhook_url option")
        body = simulator_webhook.authorization_removed(self.options.client_key, open_id, reason)
        return simulator_webhook.deliver(target, self.options.client_secret, body, timestamp=timestamp)

    def update_options(self, **changes: Any) -> SimulatorOptions:
        """Change runtime options (see ``SimulatorOptions.RUNTIME``), e.g. start an outage."""
        return self._state.update_options(changes)
