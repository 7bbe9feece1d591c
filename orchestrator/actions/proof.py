"""Actions ``tiktok.verify_revoked`` (probe a sample of revoked tokens) and ``tiktok.census``."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from pydantic import Field

from orchestrator.actions.tiktok import concerned_apps
from orchestrator.errors import ActionError, ConfigError, OrchestratorError
from orchestrator.inventory.factory import close_inventory, inventory_for
from orchestrator.playbooks.action import Action, ActionContext, ActionParams
from orchestrator.proof import census as census_flows
from orchestrator.proof import verify
from orchestrator.tiktok.client import TikTokClient
from orchestrator.tiktok.provider import provider_for
from orchestrator.tokens.inventory import Scope

__all__ = ["CensusAction", "CensusParams", "VerifyRevokedAction", "VerifyRevokedParams"]


class VerifyRevokedParams(ActionParams):
    """Sample size: ``sample_percent`` of the revoked tokens, within [``min_sample``, ``max_sample``].

    Unset values come from the config (``verify_sample_percent``, ``verify_min_sample``,
    ``verify_max_sample``). ``revocation_id`` names the revocation; default: the run's latest.
    """

    sample_percent: float | None = Field(None, gt=0, le=100)
    min_sample: int | None = Field(None, ge=0)
    max_sample: int | None = Field(None, ge=1)
    revocation_id: str | None = None


class VerifyRevokedAction(Action):
    """Probes a sample of revoked tokens; a survivor is revoked again and escalated to a person."""

    name: ClassVar[str] = "tiktok.verify_revoked"
    params: ClassVar[type[VerifyRevokedParams]] = VerifyRevokedParams
    has_effects: ClassVar[bool] = True

    def run(self, ctx: ActionContext, params: Any) -> dict[str, Any]:
        runtime = ctx.ports(self.name)
        wanted = cast(VerifyRevokedParams, params)
        settings = runtime.settings
        opened: dict[str, verify.AppTools] = {}
        clients: list[TikTokClient] = []

        def tools(name: str) -> verify.AppTools:
            """The app's client and inventory, opened once for this step."""
            if name not in opened:
                app = settings.app(name)
                provider = provider_for(app)
                if isinstance(provider, TikTokClient):
                    clients.append(provider)
                    opened[name] = verify.AppTools(app.client_key, provider, inventory_for(app, settings))
                else:
                    provider.close()
                    opened[name] = verify.AppTools(app.client_key, None, None)
            return opened[name]

        try:
            result = verify.verify_revocation(
                runtime,
                key=ctx.idempotency_key,
                chain=ctx.incident_id or ctx.run_id,
                actor=ctx.actor,
                run_id=ctx.run_id,
                tools=tools,
                percent=wanted.sample_percent or settings.verify_sample_percent,
                minimum=settings.verify_min_sample if wanted.min_sample is None else wanted.min_sample,
                maximum=wanted.max_sample or settings.verify_max_sample,
                revocation_id=wanted.revocation_id,
                cancelled=ctx.cancelled,
            )
        except ConfigError as exc:
            raise ActionError(str(exc)) from None
        except OrchestratorError as exc:
            raise ActionError(str(exc), retryable=True) from None
        finally:
            for client in clients:
                client.close()
            for _client_key, _client, inventory in opened.values():
                if inventory is not None:
                    close_inventory(inventory)
        return result.as_dict()


class CensusParams(ActionParams):
    """``phase`` names the moment (awareness, revoke, verify, purge...); ``scope`` as for revocation."""

    phase: str = Field("now", min_length=1, max_length=40)
    scope: str = "all"


class CensusAction(Action):
    """Counts the tokens in scope: connected, revoked, dead, still live, purged; stores the snapshot.
    Each app the incident concerns is counted on its own too (its client key and figures)."""

    name: ClassVar[str] = "tiktok.census"
    params: ClassVar[type[CensusParams]] = CensusParams
    has_effects: ClassVar[bool] = True

    def run(self, ctx: ActionContext, params: Any) -> dict[str, Any]:
        runtime = ctx.ports(self.name)
        wanted = cast(CensusParams, params)
        settings = runtime.settings
        apps: list[census_flows.CensusApp] = []
        try:
            scope = Scope.parse(wanted.scope)
            for name in concerned_apps(runtime, ctx.incident_id, "affected"):
                app = settings.app(name)
                inventory = inventory_for(app, settings)
                try:
                    apps.append(census_flows.CensusApp(name, app.client_key, inventory.count(scope)))
                finally:
                    close_inventory(inventory)
        except ConfigError as exc:
            raise ActionError(str(exc)) from None
        except OrchestratorError as exc:
            raise ActionError(str(exc), retryable=True) from None
        counted = [app.connected for app in apps]
        connected = None if None in counted else sum(n for n in counted if n is not None)
        chain = ctx.incident_id or ctx.run_id
        with runtime.transaction() as session:
            taken = census_flows.take_census(
                session, chain=chain, phase=wanted.phase, connected=connected, actor=ctx.actor, apps=apps
            )
        return taken.as_dict()
