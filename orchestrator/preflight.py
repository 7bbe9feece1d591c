"""``orchestrator config check``: every part a deployment needs, tried for real and named.

A deployment that starts healthy can still fail the one time it matters: a TikTok secret
rotated away, a Slack token revoked, no address to send the report to, no playbook that
disconnects. Each check here does what the orchestrator will do when a compromise comes
(connects, asks TikTok for a client token, calls Slack's ``auth.test``, logs in to SMTP), sends
nothing, and says ``ok``, ``missing`` (not configured), ``failed`` (configured, but it does not
work) or ``off`` (an optional part, paging, not configured). A detail never holds a secret:
URLs lose their passwords and error text is redacted.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal, TypeVar

from orchestrator import redaction, retry
from orchestrator.actions.email import mailer_for
from orchestrator.actions.registry import default_registry
from orchestrator.chatops.client import SlackClient, SlackError
from orchestrator.config import Settings
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.playbooks.catalog import critical_handlers, load_catalog
from orchestrator.settings_apps import DEFAULT_APP, TikTokApp
from orchestrator.settings_secrets import scrub_url
from orchestrator.store import migrate
from orchestrator.store.db import Store
from orchestrator.tiktok.client import TikTokClient
from orchestrator.tiktok.provider import provider_for
from orchestrator.worker.app import broker_ping, make_celery

__all__ = ["PART_CHECKS", "PartCheck", "check_parts"]

T = TypeVar("T")
Status = Literal["ok", "missing", "failed", "off"]
"""``off``: an optional part (paging) left unconfigured on purpose; not a reason to fail."""


@dataclass(frozen=True)
class PartCheck:
    """What one part's check found; ``detail`` is safe to print."""

    part: str
    status: Status
    detail: str


def _failure(exc: BaseException) -> str:
    return redaction.redact_text(str(exc) or type(exc).__name__)


def _store(settings: Settings) -> PartCheck:
    store = Store.for_settings(settings)
    try:
        current, head = migrate.current_revision(store), migrate.head_revision()
    finally:
        store.dispose()
    where = scrub_url(settings.store_url)
    if current != head:
        detail = f"{where}: schema {current or 'empty'}, needs {head}: run 'orchestrator db upgrade'"
        return PartCheck("store", "failed", detail)
    return PartCheck("store", "ok", f"{where}, schema {head}")


def _broker(settings: Settings) -> PartCheck:
    broker_ping(make_celery(settings), settings)
    return PartCheck("broker", "ok", scrub_url(settings.broker_url))


def _tiktok(settings: Settings) -> list[PartCheck]:
    """A row per app (``tiktok`` alone when only the single-app settings are set): each app's
    credentials are its own, and one app's refused secret says nothing of another's."""
    named = settings.app_names != [DEFAULT_APP]
    return [
        _tried(part, partial(_tiktok_app, part, app))
        for part, app in ((f"tiktok {app.name}" if named else "tiktok", app) for app in settings.apps)
    ]


def _tiktok_app(part: str, app: TikTokApp) -> PartCheck:
    try:
        provider = provider_for(app)
    except ConfigError as exc:
        return PartCheck(part, "missing", str(exc))
    with provider:
        if not isinstance(provider, TikTokClient):
            return PartCheck(part, "ok", "Marketing API: no call proves its credentials without a token")
        token = provider.client_token()
    return PartCheck(part, "ok", f"{app.api_base}: client token for {token.expires_in}s")


def _slack(settings: Settings) -> PartCheck:
    if settings.slack_bot_token is None:
        return PartCheck("slack", "missing", "slack_bot_token (ORCH_SLACK_BOT_TOKEN) is not set")
    client = SlackClient(
        settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        policy=retry.RetryPolicy(max_attempts=1),
    )
    try:
        who = client.auth_test()
    except SlackError as exc:
        return PartCheck("slack", "failed", f"auth.test: {exc.code}: {_failure(exc)}")
    return PartCheck("slack", "ok", f"auth.test: team {who.get('team')}, user {who.get('user')}")


def _smtp(settings: Settings) -> PartCheck:
    mailer = mailer_for(settings)
    if mailer is None or settings.smtp_url is None:
        return PartCheck("smtp", "missing", "smtp_url (ORCH_SMTP_URL) is not set")
    where = scrub_url(settings.smtp_url.get_secret_value())
    try:
        mailer.check()
    except (OSError, smtplib.SMTPException) as exc:
        return PartCheck("smtp", "failed", f"{where}: {_failure(exc)}")
    return PartCheck("smtp", "ok", f"{where}: connected, NOOP answered")


def _paging(settings: Settings) -> PartCheck:
    """Says who a critical incident pages; sends nothing (neither service has a dry-run call)."""
    paging = settings.paging
    where = [
        f"{label} at {url}"
        for label, key, url in (
            ("PagerDuty", paging.pagerduty_routing_key, paging.pagerduty_url),
            ("Opsgenie", paging.opsgenie_api_key, paging.opsgenie_url),
        )
        if key is not None
    ]
    if not where:
        return PartCheck(
            "paging",
            "off",
            "paging is off: set paging.pagerduty_routing_key (ORCH_PAGING__PAGERDUTY_ROUTING_KEY) "
            "or paging.opsgenie_api_key (ORCH_PAGING__OPSGENIE_API_KEY)",
        )
    if paging.mention:
        where.append(f"the room mentions @{paging.slack_mention}")
    return PartCheck("paging", "ok", "; ".join(scrub_url(w) for w in where))


def _report_destination(settings: Settings) -> PartCheck:
    if not settings.tiktok_report_to:
        detail = "tiktok_report_to (ORCH_TIKTOK_REPORT_TO) is not set: the report to TikTok goes nowhere"
        return PartCheck("report destination", "missing", detail)
    also = (
        f", POST to {scrub_url(settings.tiktok_report_http_url)}" if settings.tiktok_report_http_url else ""
    )
    return PartCheck("report destination", "ok", f"email to {settings.tiktok_report_to}{also}")


def _playbooks(settings: Settings) -> PartCheck:
    books = load_catalog(settings, default_registry())
    handlers = critical_handlers(books)
    listed = ", ".join(sorted(books)) or "none"
    if not handlers:
        return PartCheck(
            "playbooks", "failed", f"{listed}; none engages the kill switch on a critical compromise"
        )
    return PartCheck("playbooks", "ok", f"{listed}; a critical compromise starts {', '.join(handlers)}")


PART_CHECKS: tuple[Callable[[Settings], PartCheck | list[PartCheck]], ...] = (
    _store,
    _broker,
    _tiktok,
    _slack,
    _smtp,
    _paging,
    _report_destination,
    _playbooks,
)
"""In the order a compromise needs them; each part is checked even when an earlier one failed."""


def check_parts(settings: Settings) -> list[PartCheck]:
    """Every part's check; one part's error is its ``failed`` row, never the end of the list."""
    found: list[PartCheck] = []
    for check in PART_CHECKS:
        outcome = _tried(check.__name__.lstrip("_").replace("_", " "), partial(check, settings))
        found += outcome if isinstance(outcome, list) else [outcome]
    return found


def _tried(part: str, check: Callable[[], T]) -> T | PartCheck:
    """``check``'s answer, or its error as the part's ``failed`` row."""
    try:
        return check()
    except (OrchestratorError, OSError) as exc:
        return PartCheck(part, "failed", _failure(exc))
