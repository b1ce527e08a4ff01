"""What a seller files with Amazon for a claim due: the case, the units and money owed, the deadline,
and the evidence Amazon asks for (dates, order / removal / shipment ids, reimbursements already paid).

Pure: a case's latest evaluation and its evidence in, one `ClaimRow` out. The ledger queries live in
`reconciler/ledger/claims_due.py`; the CSV in `ops/claims_export.py`. Also the reference a piece of
evidence carries, shared with the reconciliation log (`ops/effect_log.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from reconciler.cases.common import case_part, clean, to_float, to_int
from reconciler.cases.inbound import DEPARTED
from reconciler.cases.model import Evidence

# A case is "claim due" (fileable now) in this state; `claim_due` alone stays true after the filing
# window closed (ARCHITECTURE §4.3), and a claim Amazon can no longer accept is nothing to export.
CLAIM_DUE_STATE = "claim_due"

# Amazon pays reimbursements in the marketplace's currency; used where a reimbursement row gave none.
MARKETPLACE_CURRENCY: dict[str, str] = {
    "US": "USD",
    "CA": "CAD",
    "MX": "MXN",
    "UK": "GBP",
    "DE": "EUR",
    "FR": "EUR",
    "IT": "EUR",
    "ES": "EUR",
    "JP": "JPY",
    "AU": "AUD",
}

CLAIM_COLUMNS = [
    "case_id",
    "case_type",
    "account",
    "fnsku",
    "msku",
    "units_owed",
    "amount_owed",
    "currency",
    "deadline",
    "event_dates",
    "order_ids",
    "removal_order_ids",
    "shipment_ids",
    "reimbursement_ids_paid",
    "other_references",
    "details",
]


def marketplace_currency(code: str) -> str:
    return MARKETPLACE_CURRENCY.get(code.upper(), "")


def evidence_reference(kind: str, data: Mapping[str, Any]) -> str:
    """The id a person quotes for one piece of evidence (reimbursement id, tracking number, license
    plate...); "" when the evidence has none of its own."""
    if kind in ("reimbursement", "reimbursement_reversal"):
        return str(data.get("reimbursement_id") or "")
    if kind == "return_graded":
        return str(data.get("lpn") or "")
    if kind == "refund":
        return str(data.get("adjustment_id") or "")
    if kind in ("removal_shipment", "removal_receipt"):
        return str(data.get("tracking_number") or "")
    if kind in ("lost", "found"):
        return str(data.get("movement") or "")
    return ""


def evidence_detail(kind: str, data: Mapping[str, Any]) -> str:
    """A few words of what else the evidence says (grade, status, reason code, who received it)."""
    if kind == "return_graded":
        return str(data.get("disposition") or "")
    if kind in ("reimbursement", "reimbursement_reversal"):
        amount = to_float(data.get("amount_total"))
        money = f" {amount:.2f} {data.get('currency') or ''}".rstrip() if amount else ""
        return f"{data.get('reason') or ''}{money}".strip()
    if kind == "inbound_item":
        return (
            f"{data.get('status') or ''}: {to_int(data.get('quantity_shipped'))} shipped, "
            f"{to_int(data.get('quantity_received'))} received"
        )
    if kind == "removal_detail":
        order = " ".join(str(data[k]) for k in ("order_type", "order_status") if data.get(k))
        counts = f"{to_int(data.get('requested'))} requested, {to_int(data.get('shipped'))} shipped"
        return f"{order}: {counts}" if order else counts
    if kind in ("lost", "found"):
        return f"reason {data.get('reason')}" if data.get("reason") else ""
    if kind == "removal_receipt":
        return f"by {data['by']}" if data.get("by") else ""
    return ""


class ClaimRow(BaseModel):
    """One claim due: the evidence a seller files with Amazon, as one CSV row."""

    case_id: str
    case_type: str
    account: str
    fnsku: str = ""
    msku: str = ""
    units_owed: int
    amount_owed: float | None = None  # None: no reimbursement of this case gave a per-unit value
    currency: str = ""
    deadline: date | None = None
    event_dates: list[str] = Field(default_factory=list)  # "2026-03-01 refund 1", oldest first
    order_ids: list[str] = Field(default_factory=list)
    removal_order_ids: list[str] = Field(default_factory=list)
    shipment_ids: list[str] = Field(default_factory=list)
    reimbursement_ids_paid: list[str] = Field(default_factory=list)
    other_references: list[str] = Field(default_factory=list)  # license plates, ledger reference ids...
    details: str = ""

    def csv_row(self) -> list[str]:
        def joined(values: list[str]) -> str:
            return "; ".join(values)

        return [
            self.case_id,
            self.case_type,
            self.account,
            self.fnsku,
            self.msku,
            str(self.units_owed),
            "" if self.amount_owed is None else f"{self.amount_owed:.2f}",
            self.currency,
            self.deadline.isoformat() if self.deadline else "",
            joined(self.event_dates),
            joined(self.order_ids),
            joined(self.removal_order_ids),
            joined(self.shipment_ids),
            joined(self.reimbursement_ids_paid),
            joined(self.other_references),
            self.details,
        ]


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _event(e: Evidence, words: str = "") -> str:
    quantity = f" {abs(e.quantity)}" if e.quantity else ""
    return f"{e.occurred_at:%Y-%m-%d} {e.kind}{quantity}{' ' + words if words else ''}"


def build_claim(
    *,
    case_id: str,
    case_type: str,
    account: str,
    owed_units: int,
    owed_amount: float | None,
    deadline: datetime | None,
    details: str,
    evidence: Sequence[Evidence],
    ledger_references: Mapping[str, str] | None = None,
    default_currency: str = "",
) -> ClaimRow:
    """The claim of one case from its latest evaluation (CaseRecord) and all its evidence.

    `ledger_references`: movement key → "reference id @ fulfilment centre" of the ledger row a lost or
    found unit came from (Amazon asks for it); `default_currency`: the marketplace's, for cases whose
    reimbursements named none."""
    ev = clean(evidence)
    refs = ledger_references or {}
    reimbursements = [e for e in ev if e.kind in ("reimbursement", "reimbursement_reversal")]
    paid = _unique(
        [
            ("reversal of " if e.kind == "reimbursement_reversal" else "")
            + str(e.data.get("reimbursement_id") or "")
            for e in reimbursements
            if e.data.get("reimbursement_id")
        ]
    )
    currency = next((str(e.data["currency"]) for e in reimbursements if e.data.get("currency")), "")
    amazon_cases = _unique(
        [f"Amazon case {e.data['case_id']}" for e in reimbursements if e.data.get("case_id")]
    )
    fnskus = _unique([str(e.data.get("fnsku") or "") for e in ev])
    mskus = _unique([str(e.data.get("sku") or "") for e in ev])
    order_ids: list[str] = _unique([str(e.data.get("amazon_order_id") or "") for e in reimbursements])
    removal_order_ids: list[str] = []
    shipment_ids: list[str] = []
    other: list[str] = []
    events: list[str] = []

    if case_type == "return":
        order_ids = _unique([case_part(case_id, 2), *order_ids])
        mskus = _unique([case_part(case_id, 3), *mskus])
        for e in ev:
            if e.kind == "refund":
                events.append(_event(e))
                other.append(f"refund {e.data['adjustment_id']}" if e.data.get("adjustment_id") else "")
            elif e.kind == "return_graded":
                events.append(_event(e, str(e.data.get("disposition") or "")))
                other.append(f"LPN {e.data['lpn']}" if e.data.get("lpn") else "")
    elif case_type == "lost":
        fnskus = _unique([case_part(case_id, 2), *fnskus])
        for e in ev:
            if e.kind in ("lost", "found"):
                events.append(_event(e, f"({e.data['reason']})" if e.data.get("reason") else ""))
                ref = refs.get(str(e.data.get("movement") or ""), "")
                other.append(f"ledger {ref}" if ref else "")
    elif case_type == "inbound":
        shipment_ids = [case_part(case_id, 2)]
        latest: dict[str, Evidence] = {}
        departed_at: datetime | None = None
        closed_at: datetime | None = None
        for e in ev:
            if e.kind != "inbound_item":
                continue
            latest[str(e.data.get("sku") or "")] = e
            status = str(e.data.get("status") or "").upper()
            if departed_at is None and status in DEPARTED:
                departed_at = e.occurred_at
            if closed_at is None and status == "CLOSED":
                closed_at = e.occurred_at
        short = [
            sku
            for sku, e in sorted(latest.items())
            if to_int(e.data.get("quantity_shipped")) > to_int(e.data.get("quantity_received"))
        ]
        mskus = short or mskus
        if departed_at is not None:
            events.append(f"{departed_at:%Y-%m-%d} shipment left the warehouse")
        if closed_at is not None:
            events.append(f"{closed_at:%Y-%m-%d} shipment closed")
        for sku, e in sorted(latest.items()):
            if sku in short:
                shipped, received = (
                    to_int(e.data.get("quantity_shipped")),
                    to_int(e.data.get("quantity_received")),
                )
                other.append(f"{sku}: {received} of {shipped} received")
    elif case_type == "removal":
        removal_order_ids = [case_part(case_id, 2)]
        for e in ev:
            if e.kind == "removal_shipment":
                events.append(_event(e, f"tracking {e.data.get('tracking_number') or '-'}"))
    for e in reimbursements:
        events.append(_event(e, str(e.data.get("reimbursement_id") or "")))

    return ClaimRow(
        case_id=case_id,
        case_type=case_type,
        account=account,
        fnsku="; ".join(fnskus),
        msku="; ".join(mskus),
        units_owed=owed_units,
        amount_owed=owed_amount,
        currency=currency or default_currency,
        deadline=deadline.date() if deadline is not None else None,
        event_dates=sorted(_unique(events)),
        order_ids=order_ids,
        removal_order_ids=removal_order_ids,
        shipment_ids=shipment_ids,
        reimbursement_ids_paid=paid,
        other_references=_unique([*other, *amazon_cases]),
        details=details,
    )
