"""InboundShipment `inbound:{account}:{shipment}` (ARCHITECTURE §4.3).

Evidence kinds:
- `inbound_item`: data `sku`, `status` (the shipment's), `quantity_shipped`, `quantity_received`;
  cumulative: the latest occurred_at per sku wins. Each stored state is its own row, so the history
  of `quantity_shipped` is visible.
- `reimbursement` (Lost_Inbound / Damaged_Inbound, routed here) and `reimbursement_reversal`.

When the shipment leaves (status SHIPPED or later) and `inbound_decrements_warehouse` is on, its units
leave the merchant's warehouse: `warehouse.available −quantity_shipped` per sku, key
`{case_id}/depart/{sku}`; should `quantity_shipped` grow later, the growth is one more effect keyed
with the new total. Receipts at FBA come from the ledger. At CLOSED, shipped − received per sku is
the shortage: Amazon has `reimbursement_window_days` from the close to reimburse it (Lost_Inbound /
Damaged_Inbound), then the claim is due for `claim_window_days`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reconciler.cases.common import (
    case_part,
    clean,
    day,
    days,
    earliest_future,
    join,
    money,
    net_reimbursements,
    of_kind,
    to_int,
    units,
    utc,
)
from reconciler.cases.model import CaseAlert, CaseEffect, CaseView, Evidence
from reconciler.config import Rules
from reconciler.models import LocationRole, QuantityName, ShopifyReason

DEPARTED = frozenset({"SHIPPED", "IN_TRANSIT", "DELIVERED", "CHECKED_IN", "RECEIVING", "CLOSED"})
IN_TRANSIT = frozenset({"SHIPPED", "IN_TRANSIT", "DELIVERED", "CHECKED_IN"})
GONE = frozenset({"CANCELLED", "DELETED"})


def _status(e: Evidence) -> str:
    return str(e.data.get("status") or "").strip().upper()


def evaluate_inbound(case_id: str, evidence: Sequence[Evidence], as_of: datetime, rules: Rules) -> CaseView:
    as_of = utc(as_of)
    ev = clean(evidence)
    shipment = case_part(case_id, 2)
    items = of_kind(ev, "inbound_item")
    rows: dict[str, list[Evidence]] = {}
    for e in items:
        rows.setdefault(str(e.data.get("sku") or ""), []).append(e)
    skus = sorted(rows)
    latest = {k: v[-1] for k, v in rows.items()}
    status = _status(items[-1]) if items else ""
    shipped = {k: to_int(latest[k].data.get("quantity_shipped")) for k in skus}
    received = {k: to_int(latest[k].data.get("quantity_received")) for k in skus}
    departed_at = min((e.occurred_at for e in items if _status(e) in DEPARTED), default=None)
    closed_at = min((e.occurred_at for e in items if _status(e) == "CLOSED"), default=None)
    if status != "CLOSED":
        closed_at = None  # reopened (rare): wait for the next close

    # --- departure from the warehouse -------------------------------------------------------------
    effects: list[CaseEffect] = []
    if departed_at is not None and rules.inbound_decrements_warehouse:
        for sku in skus:
            before = [e for e in rows[sku] if e.occurred_at < departed_at]
            after = [e for e in rows[sku] if e.occurred_at >= departed_at]
            seen = 0
            # The SKU's state from the departure on; the last one before it only when the SKU has no
            # row of its own since (a status change seen on another SKU's row).
            for e in after or before[-1:]:
                q = to_int(e.data.get("quantity_shipped"))
                if q <= seen:
                    continue
                key = f"{case_id}/depart/{sku}" if seen == 0 else f"{case_id}/depart/{sku}/{q}"
                effects.append(
                    CaseEffect(
                        key=key,
                        location=LocationRole.WAREHOUSE,
                        name=QuantityName.AVAILABLE,
                        delta=-(q - seen),
                        reason=ShopifyReason.MOVEMENT_CREATED,
                        ledger_document_uri_kind=None,
                        kind="inbound_departure",
                        sku=sku,
                    )
                )
                seen = q

    # --- shortage at CLOSED -----------------------------------------------------------------------
    short = {k: shipped[k] - received[k] for k in skus if shipped[k] > received[k]}
    shortage = sum(short.values()) if closed_at is not None else 0
    paid = net_reimbursements(ev)
    uncovered = max(0, shortage - paid.units)
    due = closed_at + days(rules.reimbursement_window_days) if closed_at is not None else None
    deadline = due + days(rules.claim_window_days) if due is not None else None
    owed = uncovered if due is not None and due <= as_of else 0
    expired = owed > 0 and deadline is not None and deadline <= as_of
    owed_amount = paid.owed_amount(owed)

    if status in GONE:
        state, closed = "cancelled", True
    elif closed_at is not None:
        if uncovered == 0:
            state, closed = "closed", True
        elif not owed:
            state, closed = "closed_short_awaiting_reimbursement", False
        elif not expired:
            state, closed = "claim_due", False
        else:
            state, closed = "claim_expired", True
    elif status == "RECEIVING" or (departed_at is not None and any(received.values())):
        state, closed = "receiving", False
    elif departed_at is not None or status in IN_TRANSIT:
        state, closed = "in_transit", False
    else:
        state, closed = "working", False

    # --- words --------------------------------------------------------------------------------------
    short_words = join(f"{k} {received[k]} of {shipped[k]}" for k in sorted(short))
    amount_words = f" (about {money(owed_amount, paid.currency)})" if owed_amount is not None else ""
    suffix = f":after-reversal:{paid.reversals[-1]}" if paid.reversals else ""
    alerts: list[CaseAlert] = []
    if shortage and uncovered and closed_at is not None:
        alerts.append(
            CaseAlert(
                kind="inbound_shortage",
                key=f"{case_id}:shortage",
                message=(
                    f"Inbound shipment {shipment} closed on {day(closed_at)} short by {units(shortage)} "
                    f"({short_words} received); Amazon should reimburse by {day(due)}, "
                    f"else file a claim by {day(deadline)}."
                ),
            )
        )
    if owed:
        alerts.append(
            CaseAlert(
                kind="claim_due",
                key=f"{case_id}:claim_due{suffix}",
                message=(
                    f"Inbound shipment {shipment}: {units(owed)} short since {day(closed_at)} not reimbursed "
                    f"by {day(due)}{amount_words}; "
                    + (
                        f"file a claim by {day(deadline)}."
                        if not expired
                        else f"the claim window closed on {day(deadline)}."
                    )
                ),
            )
        )
    if expired:
        alerts.append(
            CaseAlert(
                kind="claim_expired",
                key=f"{case_id}:claim_expired{suffix}",
                message=(
                    f"Inbound shipment {shipment}: the claim for {units(owed)} short was not settled and its "
                    f"filing window closed on {day(deadline)}."
                ),
            )
        )

    total_shipped = sum(shipped.values())
    total_received = sum(received.values())
    what = f"{shipment} ({join(skus) or 'no items yet'})"
    if status in GONE:
        details = f"{what}: {status.lower()}" + (
            f"; {units(total_shipped)} had already left the warehouse" if departed_at is not None else ""
        )
    elif departed_at is None:
        details = f"{what}: {units(total_shipped)} planned, not shipped yet"
    else:
        details = f"{what}: {total_received} of {units(total_shipped)} shipped {day(departed_at)} received"
        if closed_at is None:
            details += ", in transit" if state == "in_transit" else ", receiving"
        elif not shortage:
            details += f", closed {day(closed_at)} complete"
        else:
            details += f", closed {day(closed_at)} short by {shortage}"
            if paid.units:
                details += f", {paid.units} reimbursed"
            if uncovered == 0:
                details += ", settled"
            elif not owed:
                details += f"; reimbursement awaited until {day(due)}"
            elif not expired:
                details += f"; claim due for {units(owed)}{amount_words}, file by {day(deadline)}"
            else:
                details += f"; claim for {units(owed)} expired on {day(deadline)}"

    wake = [due, deadline] if uncovered else []
    return CaseView(
        case_id=case_id,
        case_type="inbound",
        state=state,
        sku=skus[0] if skus else "",
        claim_due=owed > 0,
        claim_expired=expired,
        owed_units=owed,
        owed_amount=owed_amount,
        claim_deadline=deadline if uncovered else None,
        details=details,
        effects=effects,
        alerts=alerts,
        next_wake=None if closed else earliest_future(wake, as_of),
        closed=closed,
    )
