"""PagerDuty Events API v2 and Opsgenie's Alert API: trigger a page, resolve it, classify the answer.

PagerDuty: ``POST /v2/enqueue`` with the routing key in the body, ``event_action`` trigger or
resolve, and our ``dedup_key``; it answers 202 ``{"status": "success", "dedup_key": ...}``.
Opsgenie: ``POST /v2/alerts`` with ``Authorization: GenieKey ...`` and our key as the ``alias``,
closed by ``POST /v2/alerts/{alias}/close?identifierType=alias``; it answers 202
``{"result": "Request will be processed", "requestId": ...}``. Both: 429, 408 and 5xx (and a
connection that fails) may succeed later, other answers will not. Keys never leave this module:
an ``Answer`` holds the provider's reply only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

import httpx

from orchestrator import redaction
from orchestrator.errors import OrchestratorError
from orchestrator.settings_paging import PagingSettings

__all__ = ["Answer", "Opsgenie", "Page", "Pager", "PagerDuty", "PagingFailed", "pagers_for"]

_RETRYABLE = frozenset({408, 425, 429})
_PAGERDUTY_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning"}
_OPSGENIE_PRIORITY = {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4"}
_ANSWER_KEYS = ("status", "message", "dedup_key", "errors", "result", "requestId", "took")


class PagingFailed(OrchestratorError):
    """A paging service did not take the request; ``retryable`` when it may later."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Page:
    """What the on-call is paged about; ``key`` is PagerDuty's dedup_key and Opsgenie's alias."""

    key: str
    summary: str
    severity: str
    source: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A service's reply: its HTTP status and the documented keys of its JSON body."""

    status_code: int
    body: dict[str, Any]


class Pager(Protocol):
    """One paging service: open a page under a key, and resolve it by that key."""

    name: ClassVar[str]
    label: ClassVar[str]

    def trigger(self, page: Page) -> Answer: ...

    def resolve(self, key: str, note: str) -> Answer: ...


def _post(label: str, url: str, body: dict[str, Any], headers: dict[str, str], timeout: float) -> Answer:
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise PagingFailed(f"{label}: {type(exc).__name__}", retryable=True) from None
    try:
        raw = response.json()
    except ValueError:
        raw = {}
    kept = {k: raw[k] for k in _ANSWER_KEYS if isinstance(raw, dict) and k in raw}
    answer = Answer(response.status_code, redaction.redact(kept))
    if not response.is_success:
        code = response.status_code
        said = answer.body.get("message") or answer.body.get("errors") or ""
        raise PagingFailed(
            f"{label} answered HTTP {code} {said}".rstrip(), retryable=code >= 500 or code in _RETRYABLE
        )
    return answer


class PagerDuty:
    """PagerDuty Events API v2 through one integration's routing key."""

    name: ClassVar[str] = "pagerduty"
    label: ClassVar[str] = "PagerDuty"

    def __init__(self, *, url: str, routing_key: str, timeout: float = 10.0) -> None:
        self._url = url.rstrip("/") + "/v2/enqueue"
        self._routing_key = routing_key
        self._timeout = timeout

    def trigger(self, page: Page) -> Answer:
        payload = {
            "summary": page.summary[:1024],
            "source": page.source,
            "severity": _PAGERDUTY_SEVERITY.get(page.severity, "info"),
            "custom_details": page.details,
        }
        return self._send({"event_action": "trigger", "dedup_key": page.key, "payload": payload})

    def resolve(self, key: str, note: str) -> Answer:
        return self._send({"event_action": "resolve", "dedup_key": key})

    def _send(self, event: dict[str, Any]) -> Answer:
        body = {"routing_key": self._routing_key, **event}
        return _post(self.label, self._url, body, {}, self._timeout)


class Opsgenie:
    """Opsgenie's Alert API through an API integration's key."""

    name: ClassVar[str] = "opsgenie"
    label: ClassVar[str] = "Opsgenie"

    def __init__(self, *, url: str, api_key: str, timeout: float = 10.0) -> None:
        self._url = url.rstrip("/") + "/v2/alerts"
        self._headers = {"Authorization": f"GenieKey {api_key}"}
        self._timeout = timeout

    def trigger(self, page: Page) -> Answer:
        body = {
            "message": page.summary[:130],
            "alias": page.key,
            "description": page.summary[:15000],
            "priority": _OPSGENIE_PRIORITY.get(page.severity, "P5"),
            "source": page.source,
            "details": {k: str(v) for k, v in page.details.items()},
        }
        return _post(self.label, self._url, body, self._headers, self._timeout)

    def resolve(self, key: str, note: str) -> Answer:
        url = f"{self._url}/{quote(key, safe='')}/close?identifierType=alias"
        body = {"source": "orchestrator", "note": note[:25000]}
        return _post(self.label, url, body, self._headers, self._timeout)


def pagers_for(settings: PagingSettings) -> list[Pager]:
    """The configured services, PagerDuty first; empty when paging is off."""
    found: list[Pager] = []
    if settings.pagerduty_routing_key is not None:
        key = settings.pagerduty_routing_key.get_secret_value()
        found.append(PagerDuty(url=settings.pagerduty_url, routing_key=key, timeout=settings.timeout_seconds))
    if settings.opsgenie_api_key is not None:
        key = settings.opsgenie_api_key.get_secret_value()
        found.append(Opsgenie(url=settings.opsgenie_url, api_key=key, timeout=settings.timeout_seconds))
    return found
