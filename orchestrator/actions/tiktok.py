"""TikTok actions: engage the kill switch, revoke every token in scope, purge TikTok data."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, cast

from pydantic import Field
from sqlalchemy.orm import Session

from orchestrator.errors import ActionError, ConfigError, OrchestratorError
from orchestrator.incidents import apps as incident_apps
from orchestrator.incidents import service as incidents
from orchestrator.inventory.factory import opened_inventories
from orchestrator.playbooks.action import Action, ActionContext, ActionParams, Awaiting, TransactionalAction
from orchestrator.ports import Ports
from orchestrator.purge import purge_apps, targets_from_config
from orchestrator.revocation import flows as revocation
from orchestrator.switch import KILL_SWITCH_ACTION
from orchestrator.switch import flows as switch_flows
from orchestrator.timeline import kinds
from orchestrator.tokens.inventory import Scope

__all__ = ["KillSwitchAction", "PurgeAction", "RevokeTokensAction", "concerned_apps"]


def _chain(ctx: ActionContext) -> str:
    return ctx.incident_id or ctx.run_id


class KillSwitchParams(ActionParams):
    """``reason`` recorded with the change; ``apps``: the switches of the apps the incident
    concerns (``affected``; the all-apps switch when that is every app) or the all-apps switch
    (``all``). The switch is only ever engaged by a playbook."""

    reason: str = Field(min_length=1, max_length=500)
    apps: Literal["affected", "all"] = "affected"


class KillSwitchAction(TransactionalAction):
    """Engages the kill switch of the apps the incident concerns (``incidents.apps``): from now on
    their guards refuse every TikTok call. The incident is locked first, so an event that extends
    it to another app meanwhile is either read here or engages that app's switch itself.

    A playbook's engine pass does it in the transaction that starts the step (``run_in``).
    """

    name: ClassVar[str] = KILL_SWITCH_ACTION
    params: ClassVar[type[KillSwitchParams]] = KillSwitchParams
    has_effects: ClassVar[bool] = True

    def run(self, ctx: ActionContext, params: Any) -> dict[str, Any]:
        with ctx.ports(self.name).store.unit_of_work() as session:
            return self.run_in(session, ctx, params)

    def run_in(self, session: Session, ctx: ActionContext, params: Any) -> dict[str, Any]:
        wanted = cast(KillSwitchParams, params)
        apps = None
        if ctx.incident_id and wanted.apps == "affected":  # locked: the correlation path holds it too
            apps = incidents.get_incident(session, incident_id=ctx.incident_id, for_update=True).apps
        changes = [
            switch_flows.engage_in(
                session,
                ctx.ports(self.name).settings,
                by=ctx.actor,
                reason=wanted.reason,
                app=app,
                incident_id=ctx.incident_id,
            )
            for app in incident_apps.switches(apps)
        ]
        last = changes[-1].state
        done = {"engaged": last.engaged, "changed": any(c.changed for c in changes), "version": last.version}
        return done if apps is None else {**done, "apps": apps}


class RevokeTokensParams(ActionParams):
    """``scope`` (all, open_id:A,B, label:K=V, tenant:T), open_ids to revoke first, and ``apps``:
    the apps the incident concerns (``affected``), every configured app (``all``), or the apps
    named (``shop`` or ``shop,ads``: ``orchestrator tokens revoke --app``)."""

    scope: str = "all"
    priority_open_ids: list[str] = Field(default_factory=list)
    apps: str = Field("affected", min_length=1)


def concerned_apps(runtime: Ports, incident_id: str | None, wanted: str) -> list[str]:
    """The names of the apps a step acts on: the incident's (``incidents.apps``; every app when
    it concerns all) for ``affected``, every app for ``all`` (and for a run without an
    incident), else the apps ``wanted`` names; ConfigError names the configured apps when one
    is unknown."""
    settings = runtime.settings
    if wanted not in ("affected", "all"):
        return [settings.app(name.strip()).name for name in wanted.split(",") if name.strip()]
    if incident_id and wanted == "affected":
        with runtime.store.unit_of_work() as session:
            apps = incidents.get_incident(session, incident_id=incident_id).apps
        if apps is not None:
            return [name for name in settings.app_names if name in apps]
    return settings.app_names


class RevokeTokensAction(Action):
    """Revokes every token in scope of the apps the incident concerns through TikTok's API, each
    app with its own credentials and rate limit, all at once, resumable, with a tally.

    Idempotent by the step's key: redone after a crash it resumes the same revocation,
    and a token once revoked is never sent again. The step awaits the revocation without
    holding a worker: the batch that settles its last token finishes it with the tally. With
    ``affected`` it follows the incident: an app the incident extends to meanwhile joins it. It
    fails naming each app whose credentials TikTok refused, once the other apps' are revoked.
    """

    name: ClassVar[str] = "tiktok.revoke_tokens"
    params: ClassVar[type[RevokeTokensParams]] = RevokeTokensParams
    has_effects: ClassVar[bool] = True

    def run(self, ctx: ActionContext, params: Any) -> dict[str, Any] | Awaiting:
        runtime = ctx.ports(self.name)
        wanted = cast(RevokeTokensParams, params)
        try:
            Scope.parse(wanted.scope)
            with opened_inventories(
                runtime.settings, concerned_apps(runtime, ctx.incident_id, wanted.apps)
            ) as inventories:
                result = revocation.start(
                    runtime,
                    key=ctx.idempotency_key,
                    scope_text=wanted.scope,
                    priority_open_ids=wanted.priority_open_ids,
                    incident_id=ctx.incident_id,
                    run_id=ctx.run_id,
                    chain=_chain(ctx),
                    actor=ctx.actor,
                    inventories=inventories,
                    follows_incident=ctx.incident_id is not None and wanted.apps == "affected",
                )
        except ConfigError as exc:
            raise ActionError(str(exc)) from None
        except OrchestratorError as exc:
            raise ActionError(str(exc), retryable=True) from None
        if result is None:
            return Awaiting(f"the revocation of {ctx.idempotency_key}")
        if result.stopped:
            raise ActionError(result.stopped)
        return result.as_dict()


class PurgeParams(ActionParams):
    """``scope`` of tokens (and TikTok-derived records) to delete for good, and ``apps``: every
    configured app (``all``, the default: leaving TikTok deletes every app's data), the
    incident's (``affected``) or the apps named (``shop,ads``)."""

    scope: str = "all"
    apps: str = Field("all", min_length=1)


class PurgeAction(Action):
    """Deletes tokens and the configured TikTok-derived records (clause VI), with counts as evidence."""

    name: ClassVar[str] = "tiktok.purge"
    params: ClassVar[type[PurgeParams]] = PurgeParams
    has_effects: ClassVar[bool] = True

    def run(self, ctx: ActionContext, params: Any) -> dict[str, Any]:
        runtime = ctx.ports(self.name)
        wanted = cast(PurgeParams, params)
        try:
            scope, targets = Scope.parse(wanted.scope), targets_from_config(runtime.settings.purge_records)
            apps = concerned_apps(runtime, ctx.incident_id, wanted.apps)
            with opened_inventories(runtime.settings, apps) as inventories:
                result = purge_apps(inventories, scope=scope, targets=targets)
        except ConfigError as exc:
            raise ActionError(str(exc)) from None
        except OrchestratorError as exc:
            raise ActionError(str(exc), retryable=True) from None
        evidence = result.as_dict()
        total = sum(evidence.get("records_deleted", {}).values())
        ctx.timeline.append(
            kinds.PURGE_FINISHED,
            f"Purged {evidence['tokens_deleted']} tokens"
            + (f" ({', '.join(f'{app} {n}' for app, n in result.apps.items())})" if len(apps) > 1 else "")
            + f" and {total} TikTok-derived records",
            {**evidence, "idempotency_key": ctx.idempotency_key},
            ctx.actor,
        )
        return evidence
