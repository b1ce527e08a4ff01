"""Activities of the case workflows: evaluate a case from its evidence (pure rules in
reconciler.cases), store the effects and alerts it owns (deterministic keys: repeats are harmless),
and record a person's removal receipt as evidence."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity

from activities.clients import Clients
from activities.heartbeat import heartbeats
from reconciler.cases.dispatch import evaluate
from reconciler.cases.model import CaseView
from reconciler.clock import as_utc
from reconciler.evidence import case_type, removal_receipt
from reconciler.ledger.alerts import raise_alert
from reconciler.ledger.evidence_store import case_evidence, store_evidence, to_case_evidence
from reconciler.ledger.tables import CaseRecord, Effect, QuarantinedInput
from reconciler.messages import CaseStatus, EvaluateRequest, RemovalReceipt
from reconciler.models import EffectState

log = logging.getLogger("recon.cases")


class CaseActivities:
    def __init__(self, engine: Engine, clients: Clients, wake_gate: Callable[[str], Awaitable[None]]) -> None:
        self._engine, self._clients, self._wake_gate = engine, clients, wake_gate

    @activity.defn
    @heartbeats
    async def evaluate_case(self, req: EvaluateRequest) -> CaseStatus:
        rows = await asyncio.to_thread(case_evidence, self._engine, req.case_id)
        evidence = [to_case_evidence(e) for e in rows]
        view = evaluate(req.case_id, evidence, req.as_of, req.rules)
        new_effects = await self._store_effects(req, view)
        await asyncio.to_thread(self._store_view, req, view, len(rows))
        if new_effects:
            await self._wake_gate(self._clients.settings.account(req.account).shop)
        log.info(
            "case evaluated",
            extra={
                "case_id": req.case_id,
                "state": view.state,
                "claim_due": view.claim_due,
                "evidence": len(rows),
                "new_effects": new_effects,
            },
        )
        return CaseStatus(
            case_id=req.case_id,
            case_type=view.case_type,
            state=view.state,
            sku=view.sku,
            claim_due=view.claim_due,
            claim_expired=view.claim_expired,
            details=view.details,
            next_wake=view.next_wake,
            closed=view.closed,
            evidence_seen=len(rows),
            effects_new=new_effects,
        )

    async def _store_effects(self, req: EvaluateRequest, view: CaseView) -> int:
        if not view.effects:
            return 0
        account = self._clients.settings.account(req.account)
        shop = self._clients.settings.shop(account.shop)
        skus = await self._clients.resolve_skus(self._engine, req.account, {e.sku for e in view.effects})
        locations = {
            "fba": await self._clients.location_id(account.shop, account.fba_location),
            "warehouse": await self._clients.location_id(account.shop, shop.warehouse_location),
        }
        reference = req.case_id.split(":", 2)[2]

        def store() -> int:
            n = 0
            with Session(self._engine) as s, s.begin():
                for e in view.effects:
                    key = f"case:{e.key}"
                    if s.exec(select(Effect.id).where(Effect.key == key)).first() is not None:
                        continue
                    resolved = skus[e.sku]
                    if resolved.inventory_item_id is None:
                        if (
                            s.exec(select(QuarantinedInput.id).where(QuarantinedInput.key == key)).first()
                            is None
                        ):
                            s.add(
                                QuarantinedInput(
                                    account=req.account,
                                    stream="cases",
                                    key=key,
                                    reason=f"unmapped sku {e.sku}: Shopify SKU "
                                    f"{resolved.shopify_sku!r} not found in Shopify",
                                    payload=e.model_dump_json(),
                                )
                            )
                        continue
                    doc = (
                        f"gid://{shop.app_name}/{e.ledger_document_uri_kind}/{reference}"
                        if e.ledger_document_uri_kind
                        else None
                    )
                    s.add(
                        Effect(
                            key=key,
                            shop=account.shop,
                            account=req.account,
                            kind=e.kind,
                            msku=e.sku,
                            shopify_sku=resolved.shopify_sku,
                            inventory_item_id=resolved.inventory_item_id,
                            location=str(e.location),
                            location_id=locations[str(e.location)],
                            name=str(e.name),
                            reason=str(e.reason),
                            ledger_document_uri=doc,
                            delta=e.delta * resolved.pack,
                            state=EffectState.PENDING,
                            # The business day the case decided it (the clock's, so scaled runs agree).
                            occurred_on=as_utc(req.as_of).astimezone(account.market.tz).date(),
                        )
                    )
                    n += 1
            return n

        return await asyncio.to_thread(store)

    def _store_view(self, req: EvaluateRequest, view: CaseView, evidence_seen: int) -> None:
        with Session(self._engine) as s, s.begin():
            for a in view.alerts:
                raise_alert(s, a.kind, a.key, a.message, account=req.account)
            record = s.get(CaseRecord, req.case_id) or CaseRecord(
                case_id=req.case_id, account=req.account, case_type=case_type(req.case_id), state=view.state
            )
            record.state, record.sku, record.claim_due = view.state, view.sku, view.claim_due
            record.claim_expired, record.owed_units, record.owed_amount = (
                view.claim_expired,
                view.owed_units,
                view.owed_amount,
            )
            record.claim_deadline, record.details, record.closed = (
                view.claim_deadline,
                view.details,
                view.closed,
            )
            record.evidence_seen, record.updated_at = evidence_seen, datetime.now(UTC)
            s.add(record)

    @activity.defn
    @heartbeats
    async def record_receipt(self, account: str, receipt: RemovalReceipt, at: datetime) -> bool:
        """Store a removal receipt as evidence (once per receipt id). True when it was new."""
        evidence = removal_receipt(
            account,
            receipt.order_id,
            receipt.sku,
            receipt.quantity,
            receipt.tracking_number,
            at,
            receipt.by,
            receipt.receipt_id,
        )
        result = await asyncio.to_thread(
            store_evidence, self._engine, [evidence], account=account, stream="people"
        )
        return result.new > 0
