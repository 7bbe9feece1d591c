"""The ``tiktok.report`` action: the compromise report to TikTok, rendered from a template, sent once.

The report carries counts, never tokens or secrets: the template sees no entity values, and
the rendered text is redacted again before it leaves. It is emailed to
``ORCH_TIKTOK_REPORT_TO`` (and POSTed to ``tiktok_report_http_url`` when set); each channel
has a ledger row keyed by incident, so a second trigger sends nothing more. SMTP trouble is a
retryable failure (``report.failed`` on the timeline); delivery writes ``report.delivered``
and sets the incident's ``reported_at`` in the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator import clock, redaction, reporting
from orchestrator.actions import http_post
from orchestrator.actions.email import Mailer, SendOnce, mailer_for, send_once
from orchestrator.config import Settings
from orchestrator.errors import ActionError, ConfigError
from orchestrator.evidence.export import sign_if_intact
from orchestrator.incidents import lifecycle
from orchestrator.incidents.models import IncidentRow
from orchestrator.logging import get_logger
from orchestrator.playbooks.action import Action, ActionContext, ActionParams
from orchestrator.reporting.models import TikTokReportRow
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import TimelineEntryRow

__all__ = ["DEFAULT_TEMPLATE", "TikTokReportAction", "TikTokReportParams", "render_report"]

_log = get_logger(__name__)
DEFAULT_TEMPLATE = Path(reporting.__file__).resolve().parent / "templates" / "tiktok_report.txt.j2"
_ACTION_KINDS = (
    kinds.SWITCH_ENGAGED,
    kinds.SWITCH_RELEASED,
    kinds.REVOCATION_STARTED,
    kinds.REVOCATION_FINISHED,
    kinds.REVOCATION_ALARM,
    kinds.PURGE_FINISHED,
    kinds.APPROVAL_DECIDED,
    kinds.MANUAL_COMPLETED,
)
_ENTITY_KINDS = ("hosts", "ips", "users", "open_ids", "client_keys")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _apps(
    incident: IncidentRow, settings: Settings, revocation: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The TikTok apps the incident concerns, each by name, kind and client key (never its
    secret), with its own revocation figures once the revocation finished."""
    figures = (revocation or {}).get("apps") or {}
    wanted = settings.app_names if incident.apps is None else incident.apps
    return [
        {
            "name": app.name,
            "kind": app.kind,
            "client_key": app.client_key,
            "revocation": {
                k: int(figures[app.name].get(k) or 0) for k in ("total", "revoked", "already_dead", "failed")
            }
            if isinstance(figures.get(app.name), dict)
            else None,
        }
        for app in settings.apps
        if app.name in wanted
    ]


def report_context(
    session: Session, incident: IncidentRow, contact: str, settings: Settings
) -> dict[str, Any]:
    """What the template may use: times, counts, the apps concerned and recorded actions; never
    entity values."""
    rows = list(
        session.scalars(
            select(TimelineEntryRow)
            .where(TimelineEntryRow.chain == incident.id, TimelineEntryRow.kind.in_(_ACTION_KINDS))
            .order_by(TimelineEntryRow.seq)
        )
    )
    counts = incident.entity_totals()
    revocation = next((r.data for r in reversed(rows) if r.kind == kinds.REVOCATION_FINISHED), None)
    minutes = None
    if incident.disconnected_at is not None:
        minutes = round((incident.disconnected_at - incident.aware_at).total_seconds() / 60, 1)
    return {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "kind": incident.kind,
            "severity": incident.severity,
            "source": incident.source,
            "is_drill": incident.is_drill,
        },
        "aware_at": _iso(incident.aware_at),
        "disconnected_at": _iso(incident.disconnected_at),
        "revoked_at": _iso(incident.revoked_at),
        "minutes_to_disconnect": minutes,
        "scope": {
            "events": incident.event_count,
            **{name: counts.get(name, 0) for name in _ENTITY_KINDS},
            "revocation": {
                k: int((revocation or {}).get(k) or 0) for k in ("revoked", "already_dead", "failed")
            }
            if revocation is not None
            else None,
        },
        "apps": _apps(incident, settings, revocation),
        "actions": [{"at": _iso(r.at), "kind": r.kind, "message": r.message} for r in rows],
        "contact": contact,
        "generated_at": _iso(clock.utcnow()),
    }


def render_report(template_path: Path | None, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body; a first line ``Subject: ...`` in the template sets the subject."""
    path = template_path or DEFAULT_TEMPLATE
    try:
        source = path.read_text(encoding="utf-8")
        text = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True).from_string(source)
        rendered = text.render(**context)
    except (OSError, TemplateError) as exc:
        raise ActionError(f"report template {path}: {exc}") from None
    rendered = redaction.redact_text(rendered)
    subject = f"Security incident report {context['incident']['id']}"
    first, _, rest = rendered.partition("\n")
    if first.lower().startswith("subject:"):
        subject, rendered = first.split(":", 1)[1].strip() or subject, rest.lstrip("\n")
    return subject, rendered


class TikTokReportParams(ActionParams):
    """``contact`` overrides ``report_contact``; ``http`` false skips the HTTP endpoint."""

    contact: str | None = Field(default=None, max_length=500)
    http: bool = True


class TikTokReportAction(Action):
    """Report the compromise to TikTok once per incident, by email and optionally HTTP."""

    name: ClassVar[str] = "tiktok.report"
    params: ClassVar[type[TikTokReportParams]] = TikTokReportParams
    has_effects: ClassVar[bool] = True

    def __init__(
        self,
        mailer_factory: Callable[[Settings], Mailer | None] = mailer_for,
        http: http_post.HttpPostAction | None = None,
    ) -> None:
        self._mailer_factory = mailer_factory
        self._http = http or http_post.HttpPostAction()

    def run(self, ctx: ActionContext, params: TikTokReportParams) -> dict[str, Any]:
        runtime = ctx.ports(self.name)
        if ctx.incident_id is None:
            raise ActionError("tiktok.report needs an incident (start the run for one)")
        settings = runtime.settings
        if not settings.tiktok_report_to and not settings.tiktok_report_http_url:
            raise ActionError("nowhere to send the report: set ORCH_TIKTOK_REPORT_TO (and ORCH_SMTP_URL)")
        contact = params.contact or settings.report_contact or settings.smtp_from
        with runtime.store.unit_of_work() as session:
            incident = session.get(IncidentRow, ctx.incident_id)
            if incident is None:
                raise ActionError(f"no incident {ctx.incident_id}")
            context = report_context(session, incident, contact, settings)
            # The chain's head, signed, leaves the store with the report: TikTok holds the proof
            # of how long the timeline was, should its last entries ever go missing. A chain that
            # no longer holds is not signed: the report goes without a checkpoint, and says why.
            try:
                signed, broken = sign_if_intact(
                    session,
                    chain=incident.id,
                    key=runtime.evidence_key(),
                    reason="report",
                    now=clock.utcnow(),
                )
            except ConfigError as exc:  # the report goes without its checkpoint rather than not at all
                signed, broken = None, None
                _log.warning("report_without_checkpoint", error=str(exc))
            if broken is not None:
                _log.error("report_without_checkpoint", entry=broken.seq, error=broken.reason)
            context["chain_break"] = None if broken is None else f"entry {broken.seq}: {broken.reason}"
            context["checkpoint"] = signed.as_dict() if signed is not None else None
            subject, body = render_report(settings.report_template, context)
        output: dict[str, Any] = {"incident_id": ctx.incident_id}
        if settings.tiktok_report_to:
            output["email"] = self._email(ctx, runtime.store, settings, subject, body)
        if settings.tiktok_report_http_url and params.http:
            output["http"] = self._post(ctx, runtime.store, settings.tiktok_report_http_url, subject, body)
        return output

    def _delivered(self, ctx: ActionContext, channel: str, to: str) -> Callable[[Session, SendOnce], None]:
        incident_id = str(ctx.incident_id)

        def record(session: Session, sent: SendOnce) -> None:
            timeline.append_entry(
                session,
                chain=incident_id,
                actor=ctx.actor,
                kind=kinds.REPORT_DELIVERED,
                message=f"Report to TikTok delivered by {channel} to {to}",
                data={
                    "channel": channel,
                    "to": to,
                    "message_id": sent.message_id,
                    "sent_at": _iso(sent.sent_at),
                },
                at=sent.sent_at,
            )
            incident = session.get(IncidentRow, incident_id, with_for_update=True)
            if incident is not None:
                lifecycle.mark_reported(incident, at=sent.sent_at)

        return record

    def _failed(self, ctx: ActionContext, channel: str, exc: ActionError) -> None:
        # At error: a report not delivered is a missed obligation (clause III.2(f)); counted in
        # /metrics as orchestrator_report_failures_total from these timeline entries.
        _log.error("report to TikTok failed", channel=channel, incident_id=ctx.incident_id, error=str(exc))
        ctx.timeline.append(
            kinds.REPORT_FAILED,
            f"Report to TikTok by {channel} failed: {exc}",
            {"channel": channel, "error": str(exc), "attempt": None},
            ctx.actor,
        )

    def _email(
        self, ctx: ActionContext, store: Any, settings: Settings, subject: str, body: str
    ) -> dict[str, Any]:
        to = str(settings.tiktok_report_to)
        mailer = self._mailer_factory(settings)
        if mailer is None:
            raise ActionError("the report goes by email but ORCH_SMTP_URL is not set")
        try:
            sent = send_once(
                store,
                mailer,
                row_key={"incident_id": str(ctx.incident_id), "channel": "email"},
                ledger=TikTokReportRow,
                to=[a.strip() for a in to.split(",") if a.strip()],
                subject=subject,
                body=body,
                on_sent=self._delivered(ctx, "email", to),
            )
        except ActionError as exc:
            self._failed(ctx, "email", exc)
            raise
        return {
            "to": to,
            "message_id": sent.message_id,
            "sent_at": _iso(sent.sent_at),
            "already_sent": sent.already,
        }

    def _post(self, ctx: ActionContext, store: Any, url: str, subject: str, body: str) -> dict[str, Any]:
        key = {"incident_id": str(ctx.incident_id), "channel": "http"}
        with store.unit_of_work() as session:
            row = session.get(TikTokReportRow, (key["incident_id"], "http"))
            if row is not None and row.status == "sent":
                return {"url": redaction.redact_text(url), "already_sent": True}
        payload = {"incident_id": ctx.incident_id, "subject": subject, "report": body}
        params = http_post.HttpPostParams.model_validate({"url": url, "json": payload})
        post_ctx = dataclasses.replace(ctx, idempotency_key=f"tiktok.report:{ctx.incident_id}")
        try:
            result = self._http.run(post_ctx, params)
        except ActionError as exc:
            self._failed(ctx, "http", exc)
            raise
        now = clock.utcnow()
        shown = redaction.redact_text(url)
        with store.unit_of_work() as session:
            session.merge(
                TikTokReportRow(
                    **key,
                    status="sent",
                    message_id=post_ctx.idempotency_key,
                    recipient=shown,
                    attempts=1,
                    sent_at=now,
                )
            )
            self._delivered(ctx, "http", shown)(session, SendOnce(post_ctx.idempotency_key, now, False, 1))
        return {**result, "already_sent": False}
