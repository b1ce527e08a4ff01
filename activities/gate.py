"""Activities of the gate, the single writer to a Shopify shop: plan a pass (guardrails, netting,
batches, attempts stored before they are sent), send one attempt, decide holds."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.clients import Clients
from activities.heartbeat import heartbeats
from integrations.shopify.errors import ShopifyAuthError
from reconciler.guardrails import large_net_changes
from reconciler.ledger import corrections, gate_store
from reconciler.ledger.alerts import raise_alert
from reconciler.ledger.gate_store import QuantityReads
from reconciler.ledger.tables import Effect
from reconciler.messages import (
    AttemptResult,
    HoldDecisionRequest,
    HoldDecisionResult,
    PlanRequest,
    PlanResult,
    RevertRequest,
    RevertResult,
)
from reconciler.models import AdjustRequest, EffectState

log = logging.getLogger("recon.gate")

QUANTITY_NAMES = ("available", "on_hand", "damaged", "incoming")


class GateActivities:
    def __init__(self, engine: Engine, clients: Clients) -> None:
        self._engine, self._clients = engine, clients

    @activity.defn
    @heartbeats
    async def open_attempts(self, shop: str) -> list[int]:
        return gate_store.open_attempt_ids(self._engine, shop)

    @activity.defn
    @heartbeats
    async def plan_pass(self, req: PlanRequest) -> PlanResult:
        effects = await asyncio.to_thread(
            gate_store.pending_effects, self._engine, req.shop, req.max_effects + 1
        )
        more = len(effects) > req.max_effects
        effects = effects[: req.max_effects]
        if not effects:
            return PlanResult()
        items = sorted({e.inventory_item_id for e in effects})
        locations = sorted({e.location_id for e in effects})
        quantities = await self._clients.shopify(req.shop).quantities(items, locations, QUANTITY_NAMES)
        activity.heartbeat(f"read {len(quantities)} levels")
        app_name = self._clients.settings.shop(req.shop).app_name
        result = await asyncio.to_thread(
            gate_store.plan_and_store,
            self._engine,
            req.shop,
            effects,
            quantities,
            req.thresholds,
            app_name=app_name,
            more=more,
        )
        self._large_net_alerts(req, effects, quantities)
        log.info(
            "gate pass planned",
            extra={
                "shop": req.shop,
                "attempts": len(result.attempt_ids),
                "planned": result.effects_planned,
                "held": result.effects_held,
            },
        )
        return result

    def _large_net_alerts(self, req: PlanRequest, effects: list[Effect], quantities: QuantityReads) -> None:
        """A SKU whose net change in one pass crosses the thresholds raises a large-delta alert (approved
        effects were alerted on when first planned)."""
        fresh = [e for e in effects if e.state == EffectState.PENDING]
        on_hand = {k: q.get("on_hand", 0) for k, q in quantities.items()}
        thresholds = {a: (t.units, t.pct) for a, t in req.thresholds.items()}
        big = large_net_changes([gate_store.as_pending(e) for e in fresh], on_hand, thresholds)
        if not big:
            return
        names = {(e.inventory_item_id, e.location_id): (e.shopify_sku, e.location) for e in fresh}
        with Session(self._engine) as s, s.begin():
            for item_id, location_id, net in big:
                sku, location = names[(item_id, location_id)]
                raise_alert(
                    s,
                    "large_delta",
                    f"{req.shop}:{sku}:{location}",
                    f"shop {req.shop}: {sku} at {location} changes by {net:+d} units in one pass, "
                    "more than the large-delta thresholds",
                    once=False,
                )

    @activity.defn
    @heartbeats
    async def send_attempt(self, attempt_id: int) -> AttemptResult:
        prepared = await asyncio.to_thread(gate_store.prepare_send, self._engine, attempt_id)
        if isinstance(prepared, AttemptResult):
            return prepared
        client = self._clients.shopify(prepared.shop)
        try:
            # Transient failures (timeouts, 5xx, THROTTLED, a concurrent request with the same key)
            # raise: the activity retries and the very same request and key are sent again.
            outcome = await client.adjust(prepared.request, prepared.key)
        except ShopifyAuthError as e:
            raise ApplicationError(
                f"shop {prepared.shop}: Shopify refused the access token: {e}",
                type="ShopifyAuthError",
                non_retryable=True,
            ) from e
        if outcome.succeeded:
            result = await asyncio.to_thread(gate_store.record_success, self._engine, attempt_id, outcome)
        else:
            fresh = await self._reread_stale(client, prepared.request, outcome)
            result = await asyncio.to_thread(
                gate_store.record_user_errors, self._engine, attempt_id, outcome, fresh
            )
        log.info(
            "attempt answered",
            extra={
                "shop": prepared.shop,
                "attempt_id": attempt_id,
                "state": result.state,
                "applied": result.effects_applied,
                "failed": result.effects_failed,
            },
        )
        return result

    async def _reread_stale(self, client, request: AdjustRequest, outcome):  # type: ignore[no-untyped-def]
        keys = gate_store.stale_keys(request, outcome)
        if not keys:
            return {}
        items = sorted({k[0] for k in keys})
        locations = sorted({k[1] for k in keys})
        return await client.quantities(items, locations, QUANTITY_NAMES)

    @activity.defn
    @heartbeats
    async def decide_holds(self, req: HoldDecisionRequest) -> HoldDecisionResult:
        result = gate_store.resolve_holds(self._engine, req)
        log.info(
            "holds decided",
            extra={
                "shop": req.shop,
                "approve": req.approve,
                "by": req.by,
                "resolved": len(result.resolved),
                "not_open": len(result.not_open),
            },
        )
        return result

    @activity.defn
    @heartbeats
    async def revert_corrections(self, req: RevertRequest) -> RevertResult:
        result = await asyncio.to_thread(corrections.revert_corrections, self._engine, req)
        log.info(
            "corrections reverted",
            extra={
                "shop": req.shop,
                "by": req.by,
                "reverted": result.reverted,
                "released": result.released,
                "refused": result.refused,
            },
        )
        return result
