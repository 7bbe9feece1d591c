"""Page the on-call for an open incident, and resolve its pages once it is resolved.

The incident's timeline is the ledger: a ``page.sent`` entry per service says who was paged
under which key, a ``page.resolved`` entry that the page was resolved. A service already paged
is not paged again (a retried step pages only the services that failed), and each service is
tried even when another fails, so one outage never costs the other page. The key is the same
for every send about an incident, so the services themselves fold a repeat into one alert.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.incidents import lifecycle
from orchestrator.incidents import service as incidents
from orchestrator.incidents.models import IncidentRow
from orchestrator.paging import kinds
from orchestrator.paging.providers import Answer, Page, Pager, PagingFailed, pagers_for
from orchestrator.ports import Ports
from orchestrator.store import outbox
from orchestrator.timeline import service as timeline

__all__ = ["page_key", "resolve_pages", "trigger_pages"]

_RESOLVER = "system:paging"


def page_key(incident_id: str) -> str:
    """PagerDuty's dedup_key and Opsgenie's alias for ``incident_id``: stable across retries."""
    return f"orchestrator-{incident_id}"


def _recorded(session: Session, incident_id: str, kind: str) -> dict[str, str]:
    """Service name -> key of the entries of ``kind`` on the incident's timeline."""
    found = timeline.data_of(session, chain=incident_id, kind=kind)
    return {str(data["provider"]): str(data["key"]) for data in found if "provider" in data}


def _record(
    session: Session, *, incident_id: str, kind: str, pager: Pager, key: str, answer: Answer, actor: str
) -> None:
    verb = "Paged the on-call through" if kind == kinds.PAGE_SENT else "Resolved the page on"
    said = answer.body.get("message") or answer.body.get("result") or answer.body.get("status") or ""
    timeline.append_entry(
        session,
        chain=incident_id,
        actor=actor,
        kind=kind,
        message=f"{verb} {pager.label} ({key}): HTTP {answer.status_code} {said}".rstrip(),
        data={"provider": pager.name, "key": key, "status_code": answer.status_code, "answer": answer.body},
    )


def _raise_for(failures: list[PagingFailed]) -> None:
    if failures:
        message = "; ".join(str(f) for f in failures)
        raise PagingFailed(message, retryable=any(f.retryable for f in failures))


def trigger_pages(
    runtime: Ports, *, incident_id: str, actor: str, summary: str | None = None
) -> dict[str, Any]:
    """Page every configured service not yet paged for the open incident ``incident_id``.

    What each service answered, by service name (``already`` for one paged before); nothing when
    paging is off or the incident is no longer open. PagingFailed after trying every service.
    """
    pagers = pagers_for(runtime.settings.paging)
    with runtime.store.unit_of_work() as session:
        incident = incidents.get_incident(session, incident_id=incident_id)
        if not pagers or incident.status not in incidents.OPEN_STATUSES:
            return {}
        sent = _recorded(session, incident_id, kinds.PAGE_SENT)
        page = Page(
            key=page_key(incident_id),
            summary=summary or f"[{incident.severity}] {incident.title} ({incident_id})",
            severity=incident.severity,
            source="tiktok-ir-orchestrator",
            details={"incident": incident_id, "kind": incident.kind, "severity": incident.severity},
        )
    outcome: dict[str, Any] = {}
    failures: list[PagingFailed] = []
    for pager in pagers:
        if pager.name in sent:
            outcome[pager.name] = "already"
            continue
        try:
            answer = pager.trigger(page)
        except PagingFailed as exc:
            failures.append(exc)
            continue
        outcome[pager.name] = answer.body
        with runtime.transaction() as session:
            row = session.get(IncidentRow, incident_id, with_for_update=True)
            _record(
                session,
                incident_id=incident_id,
                kind=kinds.PAGE_SENT,
                pager=pager,
                key=page.key,
                answer=answer,
                actor=actor,
            )
            if row is not None and row.status not in incidents.OPEN_STATUSES:
                # resolved while the page was on its way: the resolution's pass may have missed it
                outbox.enqueue(
                    session, topic=lifecycle.RESOLVED_TOPIC, ref_id=incident_id, now=clock.utcnow()
                )
    _raise_for(failures)
    return outcome


def resolve_pages(runtime: Ports, *, outbox_id: int) -> None:
    """The incident of outbox row ``outbox_id`` was resolved: resolve each of its open pages.

    A service that fails leaves the row owed (PagingFailed), so the relay sends it again and
    only the pages still open are retried; a page whose service is no longer configured stays.
    """
    with runtime.store.unit_of_work() as session:
        row = outbox.claim(session, outbox_id)
        if row is None:
            return
        incident_id = row.ref_id
        sent = _recorded(session, incident_id, kinds.PAGE_SENT)
        done = _recorded(session, incident_id, kinds.PAGE_RESOLVED)
    failures: list[PagingFailed] = []
    for pager in pagers_for(runtime.settings.paging):
        key = sent.get(pager.name)
        if key is None or pager.name in done:
            continue
        try:
            answer = pager.resolve(key, f"Incident {incident_id} resolved in the orchestrator")
        except PagingFailed as exc:
            failures.append(exc)
            continue
        with runtime.store.unit_of_work() as session:
            _record(
                session,
                incident_id=incident_id,
                kind=kinds.PAGE_RESOLVED,
                pager=pager,
                key=key,
                answer=answer,
                actor=_RESOLVER,
            )
    _raise_for(failures)
    with runtime.store.unit_of_work() as session:
        claimed = outbox.claim(session, outbox_id)
        if claimed is not None:
            outbox.complete(claimed, clock.utcnow())
