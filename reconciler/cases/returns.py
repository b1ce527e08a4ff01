"""CustomerReturn `return:{account}:{order}:{sku}` (ARCHITECTURE §4.3).

Evidence kinds:
- `refund`: quantity refunded, occurred_at = refund date (data may hold `adjustment_id`).
- `return_graded`: one per license plate (data `lpn`, `disposition`), occurred_at = return date. A later
  row for the same lpn is a regrade: the latest occurred_at wins for that lpn.
- `reimbursement` (data `reimbursement_id`, `quantity_cash`, `quantity_inventory`, `amount_total`) and
  `reimbursement_reversal` (data `original_reimbursement_id`, ...).

Each refunded unit ends in one of: restocked (graded SELLABLE: the ledger row moves the stock),
unsellable and still the merchant's (CUSTOMER_DAMAGED, DEFECTIVE, CARRIER_DAMAGED, EXPIRED, ...: no
claim), damaged by Amazon (DAMAGED: reimbursement expected, due at the grade date +
`reimbursement_window_days`), or never returned (counted once the refund date + `return_window_days`
has passed; reimbursement due `reimbursement_window_days` after that). Reimbursements, net of
reversals, cover the expected units oldest due date first (then units still awaited). An expected unit
uncovered past its due date is owed: claim due, to be filed within `claim_window_days`.
No effects: the ledger's CustomerReturns rows move the stock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    units,
    utc,
)
from reconciler.cases.model import CaseAlert, CaseView, Evidence
from reconciler.config import Rules

SELLABLE = "SELLABLE"
AMAZON_FAULT = frozenset({"DAMAGED", "WAREHOUSE_DAMAGED"})  # Amazon damaged it: Amazon pays


@dataclass
class _Expected:
    """Units for which Amazon owes a reimbursement from `due` on."""

    label: str  # "damaged by Amazon" | "never returned"
    quantity: int
    due: datetime
    uncovered: int = 0


def evaluate_return(case_id: str, evidence: Sequence[Evidence], as_of: datetime, rules: Rules) -> CaseView:
    as_of = utc(as_of)
    ev = clean(evidence)
    sku = case_part(case_id, 3) or next((str(e.data["sku"]) for e in ev if e.data.get("sku")), "")
    order = case_part(case_id, 2)

    refunds = of_kind(ev, "refund")
    latest_grade: dict[str, Evidence] = {}
    for g in of_kind(ev, "return_graded"):  # sorted by time: the latest grade of a plate wins
        latest_grade[str(g.data.get("lpn") or g.key)] = g
    grades = sorted(latest_grade.values(), key=lambda g: (g.occurred_at, g.key))

    restocked = sum(abs(g.quantity) for g in grades if _disposition(g) == SELLABLE)
    amazon_damaged = [g for g in grades if _disposition(g) in AMAZON_FAULT]
    unsellable = [g for g in grades if _disposition(g) not in AMAZON_FAULT | {SELLABLE}]
    graded = sum(abs(g.quantity) for g in grades)
    refunded = sum(abs(r.quantity) for r in refunds)
    total = max(refunded, graded)

    # Units not (yet) graded, per refund: graded units fill the oldest refunds first.
    return_window = days(rules.return_window_days)
    reimbursement_window = days(rules.reimbursement_window_days)
    claim_window = days(rules.claim_window_days)
    expected = [
        _Expected("damaged by Amazon", abs(g.quantity), g.occurred_at + reimbursement_window)
        for g in amazon_damaged
    ]
    awaited: list[tuple[datetime, int]] = []  # (end of the return window, units)
    left_graded = graded
    for r in refunds:
        q = abs(r.quantity)
        used = min(q, left_graded)
        left_graded -= used
        missing = q - used
        if missing <= 0:
            continue
        window_end = r.occurred_at + return_window
        if window_end <= as_of:
            expected.append(_Expected("never returned", missing, window_end + reimbursement_window))
        else:
            awaited.append((window_end, missing))

    # Reimbursements cover the oldest due units first, then units still awaited.
    paid = net_reimbursements(ev)
    cover = paid.units
    expected.sort(key=lambda x: (x.due, x.label))
    for x in expected:
        take = min(cover, x.quantity)
        cover -= take
        x.uncovered = x.quantity - take
    awaited_open: list[tuple[datetime, int]] = []
    for end, q in sorted(awaited):
        take = min(cover, q)
        cover -= take
        if q - take > 0:
            awaited_open.append((end, q - take))

    owed = [x for x in expected if x.uncovered and x.due <= as_of]
    fileable = [x for x in owed if x.due + claim_window > as_of]
    expired = [x for x in owed if x.due + claim_window <= as_of]
    pending = [x for x in expected if x.uncovered and x.due > as_of]
    owed_units = sum(x.uncovered for x in owed)
    expired_units = sum(x.uncovered for x in expired)
    fileable_units = sum(x.uncovered for x in fileable)
    awaited_units = sum(q for _, q in awaited_open)
    pending_units = sum(x.uncovered for x in pending)
    closed = total > 0 and awaited_units == 0 and pending_units == 0 and fileable_units == 0

    deadline: datetime | None = None
    if fileable:
        deadline = min(x.due + claim_window for x in fileable)
    elif expired:
        deadline = max(x.due + claim_window for x in expired)
    owed_amount = paid.owed_amount(owed_units)

    if closed:
        state = "claim_expired" if expired_units else "closed"
    elif fileable_units:
        state = "claim_due"
    elif total == 0:
        state = "awaiting_refund"
    elif awaited_units:
        state = "awaiting_return"
    else:
        state = "awaiting_reimbursement"

    # --- words -----------------------------------------------------------------------------------
    label = f"Return {order} {sku}".strip()
    amount_words = f" (about {money(owed_amount, paid.currency)})" if owed_amount is not None else ""
    owed_words = join(
        f"{sum(x.uncovered for x in owed if x.label == lab)} {lab} due "
        f"{day(min(x.due for x in owed if x.label == lab))}"
        for lab in ("damaged by Amazon", "never returned")
        if any(x.label == lab for x in owed)
    )
    alerts: list[CaseAlert] = []
    suffix = f":after-reversal:{paid.reversals[-1]}" if paid.reversals else ""
    if owed_units:
        alerts.append(
            CaseAlert(
                kind="claim_due",
                key=f"{case_id}:claim_due{suffix}",
                message=(
                    f"{label}: Amazon owes a reimbursement for {units(owed_units)}{amount_words} "
                    f"({owed_words}); file a claim by {day(deadline)}."
                    if fileable_units
                    else f"{label}: Amazon owed a reimbursement for {units(owed_units)}{amount_words} "
                    f"({owed_words}); the claim window closed on {day(deadline)}."
                ),
            )
        )
    if expired_units:
        last = max(x.due + claim_window for x in expired)
        alerts.append(
            CaseAlert(
                kind="claim_expired",
                key=f"{case_id}:claim_expired{suffix}",
                message=(
                    f"{label}: the claim for {units(expired_units)}{amount_words} was not settled and "
                    f"its filing window closed on {day(last)}."
                ),
            )
        )

    fates = []
    if restocked:
        fates.append(f"{restocked} restocked")
    if unsellable:
        kinds = sorted({_disposition(g) or "unknown" for g in unsellable})
        fates.append(f"{sum(abs(g.quantity) for g in unsellable)} unsellable ({', '.join(kinds)})")
    if amazon_damaged:
        fates.append(f"{sum(abs(g.quantity) for g in amazon_damaged)} damaged by Amazon")
    never = sum(x.quantity for x in expected if x.label == "never returned")
    if never:
        fates.append(f"{never} never returned")
    if awaited_units:
        fates.append(f"{awaited_units} awaited until {day(min(e for e, _ in awaited_open))}")
    if refunds:
        refund_days = sorted({day(r.occurred_at) for r in refunds})
        head = f"{units(total)} refunded on {join(refund_days)}"
    elif total:
        head = f"{units(total)} returned without a refund seen yet"
    else:
        head = "no refund or return seen yet"
    status = []
    if paid.units:
        status.append(f"{paid.units} reimbursed")
    if fileable_units:
        status.append(f"claim due for {units(fileable_units)}{amount_words}, file by {day(deadline)}")
    if expired_units:
        status.append(f"claim for {units(expired_units)} expired")
    if pending_units:
        status.append(
            f"{units(pending_units)} awaiting reimbursement until {day(min(x.due for x in pending))}"
        )
    if closed and not expired_units:
        status.append("closed")
    details = head + (": " + ", ".join(fates) if fates else "") + ("; " + "; ".join(status) if status else "")

    next_wake = earliest_future(
        [e for e, _ in awaited_open] + [x.due for x in pending] + [x.due + claim_window for x in fileable],
        as_of,
    )
    return CaseView(
        case_id=case_id,
        case_type="return",
        state=state,
        sku=sku,
        claim_due=owed_units > 0,
        claim_expired=expired_units > 0,
        owed_units=owed_units,
        owed_amount=owed_amount,
        claim_deadline=deadline,
        details=details,
        effects=[],
        alerts=alerts,
        next_wake=None if closed else next_wake,
        closed=closed,
    )


def _disposition(g: Evidence) -> str:
    return str(g.data.get("disposition") or "").strip().upper()
