"""LostUnits `lost:{account}:{fnsku}` (ARCHITECTURE §4.3): an open loss account per FNSKU.

Evidence kinds: `lost` (ledger M/5 rows; quantity, occurred_at = ledger date), `found` (F rows),
`reimbursement` (Lost_Warehouse / Damaged_Warehouse; data `quantity_cash`, `quantity_inventory`,
`amount_total`, `reimbursement_id`), `reimbursement_reversal`.

Found units and reimbursed units (net of reversals) settle the oldest losses first. Each loss is
researched by Amazon until its date + `lost_research_days`; units of it still unsettled then are owed
(claim due) and a claim can be filed for `claim_window_days` more. The case closes when the balance
(lost − found − reimbursed) is ≤ 0 and at least one loss exists, or when every unsettled unit's claim
window has closed. No effects: the ledger moves the stock.
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
    money,
    net_reimbursements,
    of_kind,
    units,
    utc,
)
from reconciler.cases.model import CaseAlert, CaseView, Evidence
from reconciler.config import Rules


@dataclass
class _Loss:
    key: str
    at: datetime
    quantity: int
    research_end: datetime
    claim_deadline: datetime
    unsettled: int = 0


def evaluate_lost(case_id: str, evidence: Sequence[Evidence], as_of: datetime, rules: Rules) -> CaseView:
    as_of = utc(as_of)
    ev = clean(evidence)
    fnsku = case_part(case_id, 2) or next((str(e.data["fnsku"]) for e in ev if e.data.get("fnsku")), "")
    research = days(rules.lost_research_days)
    claim_window = days(rules.claim_window_days)

    losses = [
        _Loss(
            e.key,
            e.occurred_at,
            abs(e.quantity),
            e.occurred_at + research,
            e.occurred_at + research + claim_window,
        )
        for e in of_kind(ev, "lost")
        if e.quantity
    ]
    found = sum(abs(e.quantity) for e in of_kind(ev, "found"))
    paid = net_reimbursements(ev)
    settle = found + paid.units
    for loss in losses:  # oldest first
        take = min(settle, loss.quantity)
        settle -= take
        loss.unsettled = loss.quantity - take
    lost = sum(x.quantity for x in losses)
    balance = lost - found - paid.units

    open_ = [x for x in losses if x.unsettled]
    researching = [x for x in open_ if x.research_end > as_of]
    owed = [x for x in open_ if x.research_end <= as_of]
    fileable = [x for x in owed if x.claim_deadline > as_of]
    expired = [x for x in owed if x.claim_deadline <= as_of]
    owed_units = sum(x.unsettled for x in owed)
    fileable_units = sum(x.unsettled for x in fileable)
    expired_units = sum(x.unsettled for x in expired)
    researching_units = sum(x.unsettled for x in researching)
    # Nothing owed (also: found units with no loss seen) closes the episode: the workflow ends, and a
    # later loss starts a new run that still counts the earlier finds as credit.
    closed = balance <= 0 or (bool(losses) and not researching and not fileable)

    if fileable:
        deadline: datetime | None = min(x.claim_deadline for x in fileable)
    elif expired:
        deadline = max(x.claim_deadline for x in expired)
    else:
        deadline = None
    owed_amount = paid.owed_amount(owed_units)

    if closed:
        state = "closed" if balance <= 0 else "claim_expired"
    elif fileable:
        state = "claim_due"
    elif researching:
        state = "researching"
    else:
        state = "open"

    label = f"FNSKU {fnsku}"
    amount_words = f" (about {money(owed_amount, paid.currency)})" if owed_amount is not None else ""
    suffix = f":after-reversal:{paid.reversals[-1]}" if paid.reversals else ""
    alerts: list[CaseAlert] = []
    if owed:
        first = owed[0]
        alerts.append(
            CaseAlert(
                kind="claim_due",
                key=f"{case_id}:claim_due:{first.key}{suffix}",
                message=(
                    f"{label}: {units(owed_units)} lost since {day(first.at)} neither found nor reimbursed "
                    f"after Amazon's research window (ended {day(first.research_end)}){amount_words}; "
                    + (
                        f"file a claim by {day(deadline)}."
                        if fileable
                        else f"the claim window closed on {day(deadline)}."
                    )
                ),
            )
        )
    if expired:
        first = expired[0]
        alerts.append(
            CaseAlert(
                kind="claim_expired",
                key=f"{case_id}:claim_expired:{first.key}{suffix}",
                message=(
                    f"{label}: the claim for {units(expired_units)} lost since {day(first.at)} was not "
                    f"settled and its filing window closed on {day(max(x.claim_deadline for x in expired))}."
                ),
            )
        )

    facts = [f"{units(lost)} lost since {day(losses[0].at)}"] if losses else []
    if found:
        facts.append(f"{found} found" if facts else f"{units(found)} found")
    if paid.units:
        facts.append(f"{paid.units} reimbursed")
    status = []
    if researching_units:
        status.append(
            f"{units(researching_units)} under Amazon's research until "
            f"{day(min(x.research_end for x in researching))}"
        )
    if fileable_units:
        status.append(f"claim due for {units(fileable_units)}{amount_words}, file by {day(deadline)}")
    if expired_units:
        status.append(f"claim for {units(expired_units)} expired")
    if balance <= 0 and losses:
        status.append("settled" + (f" with {units(-balance)} to spare" if balance < 0 else ""))
    if not losses:
        status.append("no loss recorded yet")
    details = f"{label}: " + "; ".join(filter(None, [", ".join(facts), *status]))

    next_wake = earliest_future(
        [x.research_end for x in researching] + [x.claim_deadline for x in fileable], as_of
    )
    return CaseView(
        case_id=case_id,
        case_type="lost",
        state=state,
        sku=fnsku,
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
