"""The gate's side of the ledger: planning passes into batches and attempts, and recording what
Shopify answered. Every function is one transaction; an attempt is stored before it is sent, and
only a response closes it (ARCHITECTURE §5)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reconciler.clock import as_utc
from reconciler.guardrails import effects_to_hold
from reconciler.ledger.alerts import raise_alert
from reconciler.ledger.corrections import release_absorbed
from reconciler.ledger.tables import Attempt, Batch, BatchChange, Effect, Hold
from reconciler.messages import AttemptResult, HoldDecisionRequest, HoldDecisionResult, PlanResult, Thresholds
from reconciler.models import AdjustOutcome, AdjustRequest, EffectState, InventoryChange, UserError
from reconciler.netting import PendingEffect, PlannedBatch, net_effects

# Shopify keeps idempotency keys for about a day; past this an attempt is never resent on its own.
ATTEMPT_RESEND_LIMIT = timedelta(hours=20)

QuantityReads = Mapping[tuple[str, str], Mapping[str, int]]


def _now() -> datetime:
    return datetime.now(UTC)


def idempotency_key(shop: str, batch_id: int, number: int) -> str:
    return "recon-" + hashlib.sha256(f"{shop}:{batch_id}:{number}".encode()).hexdigest()[:40]


def pending_effects(engine: Engine, shop: str, limit: int) -> list[Effect]:
    with Session(engine) as s:
        stmt = (
            select(Effect)
            .where(Effect.shop == shop, col(Effect.state).in_([EffectState.PENDING, EffectState.APPROVED]))
            .order_by(col(Effect.id))
            .limit(limit)
        )
        return list(s.exec(stmt).all())


def plan_and_store(
    engine: Engine,
    shop: str,
    effects: Sequence[Effect],
    quantities: QuantityReads,
    thresholds: Mapping[str, Thresholds],
    *,
    app_name: str,
    more: bool,
) -> PlanResult:
    """Hold large effects, net the rest into batches and store each batch's first attempt."""
    candidates = [as_pending(e) for e in effects]
    pending_only = [c for c, e in zip(candidates, effects, strict=True) if e.state == EffectState.PENDING]
    on_hand = {k: q.get("on_hand", 0) for k, q in quantities.items()}
    to_hold = effects_to_hold(pending_only, on_hand, {a: (t.units, t.pct) for a, t in thresholds.items()})
    plan = net_effects([c for c in candidates if c.effect_id not in to_hold])
    result = PlanResult(effects_held=len(to_hold), more=more)
    now = _now()
    with Session(engine) as s, s.begin():
        by_id = {
            e.id: e for e in s.exec(select(Effect).where(col(Effect.id).in_([e.id for e in effects]))).all()
        }
        for effect_id, why in to_hold.items():
            effect = by_id[effect_id]
            if effect.state != EffectState.PENDING:
                continue  # decided meanwhile
            # People read SKUs and location roles, not Shopify gids.
            why = why.replace(effect.inventory_item_id, effect.shopify_sku).replace(
                effect.location_id, effect.location
            )
            hold = Hold(shop=shop, kind="large_delta", effect_id=effect_id, why=f"{effect.kind}: {why}")
            s.add(hold)
            s.flush()
            effect.state, effect.hold_id = EffectState.HELD, hold.id
        for effect_id in plan.zero_effect_ids:
            effect = by_id[effect_id]
            effect.state, effect.applied_at = EffectState.APPLIED, now
        result.effects_netted_to_zero = len(plan.zero_effect_ids)
        # Later batches of the same pass start where the earlier ones leave each quantity.
        expected = {(i, loc, n): q for (i, loc), names in quantities.items() for n, q in names.items()}
        for planned in plan.batches:
            attempt_id = _store_batch(s, shop, planned, expected, by_id, app_name)
            result.attempt_ids.append(attempt_id)
            result.effects_planned += sum(len(c.effect_ids) for c in planned.changes)
    return result


def as_pending(e: Effect) -> PendingEffect:
    assert e.id is not None
    return PendingEffect(
        effect_id=e.id,
        account=e.account,
        inventory_item_id=e.inventory_item_id,
        location_id=e.location_id,
        name=e.name,
        reason=e.reason,
        ledger_document_uri=e.ledger_document_uri,
        delta=e.delta,
    )


def _store_batch(
    s: Session,
    shop: str,
    planned: PlannedBatch,
    expected: dict[tuple[str, str, str], int],
    by_id: Mapping[int | None, Effect],
    app_name: str,
) -> int:
    batch = Batch(
        shop=shop, name=planned.name, reason=planned.reason, ledger_document_uri=planned.ledger_document_uri
    )
    s.add(batch)
    s.flush()
    assert batch.id is not None
    changes = []
    for c in planned.changes:
        s.add(
            BatchChange(
                batch_id=batch.id,
                inventory_item_id=c.inventory_item_id,
                location_id=c.location_id,
                delta=c.delta,
            )
        )
        key = (c.inventory_item_id, c.location_id, planned.name)
        current = expected.get(key)
        changes.append(
            InventoryChange(
                inventory_item_id=c.inventory_item_id,
                location_id=c.location_id,
                delta=c.delta,
                change_from_quantity=current,
                ledger_document_uri=planned.ledger_document_uri,
            )
        )
        if current is not None:
            expected[key] = current + c.delta
        for effect_id in c.effect_ids:
            effect = by_id[effect_id]
            effect.state, effect.batch_id = EffectState.IN_FLIGHT, batch.id
    request = AdjustRequest(
        name=planned.name,
        reason=planned.reason,
        reference_document_uri=f"gid://{app_name}/AdjustmentBatch/{batch.id}",
        changes=changes,
    )
    return _new_attempt(s, shop, batch.id, 1, request)


def _new_attempt(s: Session, shop: str, batch_id: int, number: int, request: AdjustRequest) -> int:
    attempt = Attempt(
        batch_id=batch_id,
        shop=shop,
        number=number,
        idempotency_key=idempotency_key(shop, batch_id, number),
        request_json=request.model_dump_json(),
    )
    s.add(attempt)
    s.flush()
    assert attempt.id is not None
    return attempt.id


def open_attempt_ids(engine: Engine, shop: str) -> list[int]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(Attempt.id)
                .where(Attempt.shop == shop, Attempt.state == "open")
                .order_by(col(Attempt.id))
            ).all()
        )


class AttemptToSend:
    def __init__(self, attempt: Attempt) -> None:
        assert attempt.id is not None
        self.id = attempt.id
        self.shop = attempt.shop
        self.key = attempt.idempotency_key
        self.request = AdjustRequest.model_validate_json(attempt.request_json)
        self.state = attempt.state
        self.first_sent_at = as_utc(attempt.first_sent_at) if attempt.first_sent_at else None


def prepare_send(
    engine: Engine, attempt_id: int, now: datetime | None = None
) -> AttemptToSend | AttemptResult:
    """Mark the attempt as sent (once) or say why it must not be sent: closed already, or open so long
    that Shopify may have forgotten its key (then it becomes a hold for a person)."""
    now = now or _now()
    with Session(engine) as s, s.begin():
        attempt = s.get(Attempt, attempt_id)
        if attempt is None:
            return AttemptResult(attempt_id=attempt_id, state="not_open", message="no such attempt")
        if attempt.state != "open":
            return AttemptResult(
                attempt_id=attempt_id, state="not_open", message=f"attempt is {attempt.state}"
            )
        first = as_utc(attempt.first_sent_at) if attempt.first_sent_at else None
        if first is not None and now - first > ATTEMPT_RESEND_LIMIT:
            attempt.state = "expired"
            why = (
                f"attempt {attempt.id} of batch {attempt.batch_id} was first sent {first:%Y-%m-%d %H:%M} UTC and "
                "never answered; Shopify may have forgotten its idempotency key. Check the items in Shopify, "
                "then approve to resend it (a changed quantity makes it fail safely) or reject it."
            )
            s.add(Hold(shop=attempt.shop, kind="expired_attempt", attempt_id=attempt.id, why=why))
            return AttemptResult(attempt_id=attempt_id, state="expired", message=why)
        if attempt.first_sent_at is None:
            attempt.first_sent_at = now
        attempt.sends += 1
        return AttemptToSend(attempt)


def record_success(engine: Engine, attempt_id: int, outcome: AdjustOutcome) -> AttemptResult:
    now = _now()
    with Session(engine) as s, s.begin():
        attempt = s.get(Attempt, attempt_id)
        assert attempt is not None
        if attempt.state != "open":
            return AttemptResult(
                attempt_id=attempt_id, state="not_open", message=f"attempt is {attempt.state}"
            )
        request = AdjustRequest.model_validate_json(attempt.request_json)
        after: dict[tuple[str, str], int | None] = {}
        for c in request.changes:
            base = None if c.change_from_quantity is None else c.change_from_quantity + c.delta
            after[(c.inventory_item_id, c.location_id)] = base
        for applied in outcome.changes:
            if applied.name == request.name and applied.quantity_after_change is not None:
                after[(applied.inventory_item_id, applied.location_id)] = applied.quantity_after_change
        attempt.state, attempt.closed_at, attempt.group_id = "succeeded", now, outcome.group_id
        attempt.response_json = outcome.model_dump_json()
        batch = s.get(Batch, attempt.batch_id)
        assert batch is not None
        batch.state, batch.closed_at = "applied", now
        live = {(c.inventory_item_id, c.location_id) for c in request.changes}
        for bc in s.exec(
            select(BatchChange).where(BatchChange.batch_id == batch.id, BatchChange.state == "open")
        ):
            if (bc.inventory_item_id, bc.location_id) in live:
                bc.state = "applied"
        applied_count = 0
        written: dict[tuple[str, str], Effect] = {}  # an effect of each written change, to name it
        for effect in s.exec(
            select(Effect).where(Effect.batch_id == batch.id, Effect.state == EffectState.IN_FLIGHT)
        ):
            key = (effect.inventory_item_id, effect.location_id)
            if key in live:
                effect.state, effect.applied_at, effect.quantity_after = (
                    EffectState.APPLIED,
                    now,
                    after.get(key),
                )
                applied_count += 1
                written.setdefault(key, effect)
        _alert_negative(s, attempt.shop, batch.id, request.name, after, written)
        return AttemptResult(attempt_id=attempt_id, state="succeeded", effects_applied=applied_count)


def _alert_negative(
    s: Session,
    shop: str,
    batch_id: int | None,
    name: str,
    after: Mapping[tuple[str, str], int | None],
    written: Mapping[tuple[str, str], Effect],
) -> None:
    """A write that leaves a quantity below zero: Shopify now shows fewer units than none, so something
    upstream was missed (a receipt, a manual edit, an oversell). Alerted in the success's transaction,
    every time; the key (shop, SKU, location, name) lets the dispatcher's cool-down group repeats."""
    for key, effect in sorted(written.items()):
        quantity = after.get(key)
        if quantity is None or quantity >= 0:
            continue
        raise_alert(
            s,
            "negative_quantity",
            f"{shop}:{effect.shopify_sku}:{effect.location}:{name}",
            f"shop {shop}: {effect.shopify_sku} at {effect.location} has {name} = {quantity} after adjustment "
            f"batch {batch_id}. A quantity below zero means a movement was missed or came twice (a receipt, "
            "a manual edit, an oversell): check the SKU's history in Shopify and `starter.py reconcile`.",
            account=effect.account,
            once=False,
        )


def record_user_errors(
    engine: Engine, attempt_id: int, outcome: AdjustOutcome, fresh: QuantityReads
) -> AttemptResult:
    """Close the attempt on Shopify's user errors and, where something can still be written, open the
    next one: stale quantities re-read (`fresh` holds only those), a rejected change split out as failed
    effects with Shopify's message, the rest resent."""
    now = _now()
    with Session(engine) as s, s.begin():
        attempt = s.get(Attempt, attempt_id)
        assert attempt is not None
        if attempt.state != "open":
            return AttemptResult(
                attempt_id=attempt_id, state="not_open", message=f"attempt is {attempt.state}"
            )
        request = AdjustRequest.model_validate_json(attempt.request_json)
        stale, bad, general = classify_user_errors(outcome.user_errors, len(request.changes))
        attempt.closed_at, attempt.response_json = now, outcome.model_dump_json()
        attempt.state = "stale" if stale and not bad and not general else "failed"
        messages = "; ".join(f"{e.code}: {e.message}" for e in general)
        failed_idx = set(range(len(request.changes))) if general else set(bad)
        failed_count = 0
        for i in sorted(failed_idx):
            change = request.changes[i]
            msg = messages or bad[i]
            failed_count += _fail_change(s, attempt.batch_id, change, msg, now)
        keep = [c for i, c in enumerate(request.changes) if i not in failed_idx]
        if not keep:
            batch = s.get(Batch, attempt.batch_id)
            assert batch is not None
            batch.state, batch.closed_at = "failed", now
            return AttemptResult(
                attempt_id=attempt_id,
                state="failed",
                effects_failed=failed_count,
                message=messages or "; ".join(bad.values()),
            )
        refreshed = []
        stale_keys = {(request.changes[i].inventory_item_id, request.changes[i].location_id) for i in stale}
        for c in keep:
            key = (c.inventory_item_id, c.location_id)
            if key in stale_keys:
                c = c.model_copy(update={"change_from_quantity": fresh.get(key, {}).get(request.name)})
            refreshed.append(c)
        next_id = _new_attempt(
            s,
            attempt.shop,
            attempt.batch_id,
            attempt.number + 1,
            request.model_copy(update={"changes": refreshed}),
        )
        return AttemptResult(
            attempt_id=attempt_id,
            state="stale" if not failed_idx else "split",
            next_attempt_id=next_id,
            effects_failed=failed_count,
            message=f"{len(stale)} stale, {len(failed_idx)} failed",
        )


def classify_user_errors(
    errors: Sequence[UserError], n_changes: int
) -> tuple[list[int], dict[int, str], list[UserError]]:
    """(stale change indexes, rejected change index → message, errors about the whole request)."""
    stale: list[int] = []
    bad: dict[int, str] = {}
    general: list[UserError] = []
    for e in errors:
        i = e.change_index()
        if i is None or i >= n_changes:
            general.append(e)
        elif e.code == "CHANGE_FROM_QUANTITY_STALE":
            stale.append(i)
        else:
            bad[i] = f"{e.code}: {e.message}"
    return sorted(set(stale) - set(bad)), bad, general


def stale_keys(request: AdjustRequest, outcome: AdjustOutcome) -> list[tuple[str, str]]:
    stale, _, _ = classify_user_errors(outcome.user_errors, len(request.changes))
    return [(request.changes[i].inventory_item_id, request.changes[i].location_id) for i in stale]


def _fail_change(s: Session, batch_id: int, change: InventoryChange, message: str, now: datetime) -> int:
    n = 0
    for bc in s.exec(
        select(BatchChange).where(
            BatchChange.batch_id == batch_id,
            BatchChange.inventory_item_id == change.inventory_item_id,
            BatchChange.location_id == change.location_id,
        )
    ):
        bc.state, bc.error = "failed", message
    for effect in s.exec(
        select(Effect).where(
            Effect.batch_id == batch_id,
            Effect.state == EffectState.IN_FLIGHT,
            Effect.inventory_item_id == change.inventory_item_id,
            Effect.location_id == change.location_id,
        )
    ):
        effect.state, effect.error = EffectState.FAILED, f"Shopify refused the change: {message}"
        if effect.id is not None:
            release_absorbed(s, [effect.id], f"released: correction {effect.id} failed")
        n += 1
    return n


def resolve_holds(engine: Engine, req: HoldDecisionRequest) -> HoldDecisionResult:
    now = _now()
    result = HoldDecisionResult()
    with Session(engine) as s, s.begin():
        holds = {h.id: h for h in s.exec(select(Hold).where(col(Hold.id).in_(req.hold_ids)))}
        for hold_id in req.hold_ids:
            hold = holds.get(hold_id)
            if hold is None or hold.shop != req.shop or hold.state != "open":
                result.not_open.append(hold_id)
                continue
            hold.state = "approved" if req.approve else "rejected"
            hold.resolved_at, hold.resolved_by, hold.note = now, req.by, req.note
            if hold.effect_id is not None:
                effect = s.get(Effect, hold.effect_id)
                if effect is not None and effect.state == EffectState.HELD:
                    effect.state = EffectState.APPROVED if req.approve else EffectState.REJECTED
                    if not req.approve and hold.effect_id is not None:
                        # A rejected correction covers nothing: the late rows it absorbed flow again.
                        release_absorbed(s, [hold.effect_id], f"released: correction rejected by {req.by}")
            if hold.attempt_id is not None:
                _decide_expired_attempt(s, hold.attempt_id, req.approve, req.by, now)
            result.resolved.append(hold_id)
    return result


def _decide_expired_attempt(s: Session, attempt_id: int, approve: bool, by: str, now: datetime) -> None:
    attempt = s.get(Attempt, attempt_id)
    if attempt is None or attempt.state != "expired":
        return
    if approve:
        # Resent as it was; compare-and-swap makes it fail (STALE) if it had been applied after all.
        attempt.state, attempt.first_sent_at = "open", now
        return
    attempt.state, attempt.closed_at = "failed", now
    for effect in s.exec(
        select(Effect).where(Effect.batch_id == attempt.batch_id, Effect.state == EffectState.IN_FLIGHT)
    ):
        effect.state, effect.error = EffectState.REJECTED, f"expired attempt rejected by {by}"
        if effect.id is not None:
            release_absorbed(s, [effect.id], f"released: correction {effect.id} rejected by {by}")


def open_holds(engine: Engine, shop: str | None = None) -> list[tuple[Hold, Effect | None]]:
    with Session(engine) as s:
        stmt = select(Hold).where(Hold.state == "open").order_by(col(Hold.id))
        if shop:
            stmt = stmt.where(Hold.shop == shop)
        out = []
        for h in s.exec(stmt).all():
            out.append((h, s.get(Effect, h.effect_id) if h.effect_id is not None else None))
        return out
