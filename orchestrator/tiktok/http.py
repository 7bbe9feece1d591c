"""The TikTok clients' HTTP transport: a thread-safe urllib3 pool, one attempt, no redirects.

Why urllib3 rather than httpx (which the rest of the project uses): a mass revocation sends
hundreds of requests a second from one worker process, so the client's CPU per request bounds
it, and against the simulator urllib3 spent a fraction of httpx's CPU per request (the
revocation:throughput benchmark, docs/benchmarks.md, runs through this layer). The clients
classify every answer themselves, so this layer only sends: no retries, no redirects, and
transport failures raised as :class:`TransportError` whose text never quotes the URL or the body
(they carry tokens and the client secret).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import urllib3

__all__ = ["Answer", "TransportError", "make_http_client", "send"]

_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as the classifiers read it: status, headers (case-insensitive), raw body."""

    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""


class TransportError(Exception):
    """No answer: refused, dropped or timed out. ``timeout`` tells the two classes apart."""

    def __init__(self, kind: str, *, timeout: bool) -> None:
        super().__init__(f"{kind} (no answer)")
        self.timeout = timeout


def make_http_client(pool_size: int = 256) -> urllib3.PoolManager:
    """A pool sized for a revocation fan-out across many threads (one host, keep-alive)."""
    return urllib3.PoolManager(num_pools=4, maxsize=pool_size, block=False, retries=False)


def send(
    pool: urllib3.PoolManager,
    method: str,
    url: str,
    *,
    timeout: float,
    form: Mapping[str, str] | None = None,
    json_body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> Answer:
    """ONE request; the answer whatever its status, or :class:`TransportError` when none came."""
    sent_headers = dict(headers or {})
    body: bytes | None = None
    if form is not None:
        body, sent_headers["Content-Type"] = urlencode(form).encode(), _FORM
    elif json_body is not None:
        body, sent_headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    if params:
        url = f"{url}?{urlencode(params)}"
    try:
        response = pool.request(
            method,
            url,
            body=body,
            headers=sent_headers,
            timeout=urllib3.Timeout(total=timeout),
            redirect=False,
            retries=False,
        )
    except urllib3.exceptions.NewConnectionError as exc:  # before TimeoutError: urllib3 2 subclasses it
        raise TransportError("could not connect", timeout=False) from exc
    except urllib3.exceptions.TimeoutError as exc:
        raise TransportError("timed out", timeout=True) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransportError("connection dropped", timeout=False) from exc
    return Answer(response.status, response.headers, response.data)
