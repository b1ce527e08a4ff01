"""Which case each slow-stream row is evidence for, and under which unique key (ARCHITECTURE §4.3).

Pure: rows in, `EvidenceIn` out. Keys are built from the row's identity (and, for state streams, its
cumulative quantities), so a row seen twice is one piece of evidence and a grown quantity is a new one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from reconciler.models import (
    InboundItem,
    RefundEvent,
    ReimbursementRow,
    RemovalDetailRow,
    RemovalShipmentRow,
    ReturnRow,
)

LOST_REASONS = {"Lost_Warehouse", "Damaged_Warehouse"}
INBOUND_REASONS = {"Lost_Inbound", "Damaged_Inbound"}
REVERSAL = "Reimbursement_Reversal"
# The case id of evidence no case waits for (a CustomerServiceIssue reimbursement, say): kept for the
# finance report, never signalled.
NO_CASE = ""


def return_case(account: str, order_id: str, msku: str) -> str:
    return f"return:{account}:{order_id}:{msku}"


def lost_case(account: str, fnsku: str) -> str:
    return f"lost:{account}:{fnsku}"


def removal_case(account: str, order_id: str) -> str:
    return f"removal:{account}:{order_id}"


def inbound_case(account: str, shipment_id: str) -> str:
    return f"inbound:{account}:{shipment_id}"


CASE_TYPES = {
    "return": "CustomerReturn",
    "lost": "LostUnits",
    "removal": "RemovalOrder",
    "inbound": "InboundShipment",
}


def case_type(case_id: str) -> str:
    """`return`, `lost`, `removal` or `inbound` — the prefix of the case id."""
    kind = case_id.split(":", 1)[0]
    if kind not in CASE_TYPES:
        raise ValueError(f"not a case id: {case_id!r}")
    return kind


class EvidenceIn(BaseModel):
    key: str
    account: str
    case_id: str | None  # None: routed by the store (reimbursements for an inbound shortage or a reversal)
    kind: str
    occurred_at: datetime
    quantity: int = 0
    data: dict[str, Any] = Field(default_factory=dict)
    stream: str
    route: str | None = None  # "inbound_shortage:<fnsku>" | "reversal:<original reimbursement id>"


def from_refund(account: str, r: RefundEvent) -> EvidenceIn:
    ident = r.adjustment_id or r.posted_date.isoformat()
    return EvidenceIn(
        key=f"refund:{account}:{r.order_id}:{r.msku}:{ident}",
        account=account,
        case_id=return_case(account, r.order_id, r.msku),
        kind="refund",
        occurred_at=r.posted_date,
        quantity=r.quantity,
        data={"adjustment_id": r.adjustment_id},
        stream="refunds",
    )


def from_return_row(account: str, r: ReturnRow) -> EvidenceIn:
    # Identity is order + license plate + sku; the disposition is part of the key so a regrade is new evidence.
    return EvidenceIn(
        # …and its date, so a grade that goes A → B → A is three pieces of evidence, the latest winning.
        key=f"return:{account}:{r.order_id}:{r.license_plate_number}:{r.msku}:{r.detailed_disposition}:"
        f"{r.return_date.isoformat()}",
        account=account,
        case_id=return_case(account, r.order_id, r.msku),
        kind="return_graded",
        occurred_at=r.return_date,
        quantity=r.quantity,
        stream="returns",
        data={
            "lpn": r.license_plate_number,
            "disposition": r.detailed_disposition,
            "status": r.status,
            "fnsku": r.fnsku,
        },
    )


def from_reimbursement(account: str, r: ReimbursementRow) -> EvidenceIn | None:
    """Routed to the case it settles; reasons no case waits for (CustomerServiceIssue,
    GeneralAdjustment…) are kept under NO_CASE: money Amazon paid belongs in the finance report."""
    data = {
        "reimbursement_id": r.reimbursement_id,
        "reason": r.reason,
        "quantity_cash": abs(r.quantity_cash),
        "quantity_inventory": abs(r.quantity_inventory),
        "amount_total": abs(r.amount_total or 0.0),
        "amount_per_unit": r.amount_per_unit,
        "currency": r.currency,  # the finance report and the claims sum amounts per currency
        "case_id": r.case_id,
        "fnsku": r.fnsku,
        "original_reimbursement_id": r.original_reimbursement_id,
        "amazon_order_id": r.amazon_order_id,
    }
    base = {
        "key": f"reimbursement:{account}:{r.reimbursement_id}:{r.msku}",
        "account": account,
        "occurred_at": r.approval_date,
        "quantity": abs(r.quantity_total or r.quantity_cash + r.quantity_inventory),
        "data": data,
        "stream": "reimbursements",
    }
    if r.reason == REVERSAL:
        return EvidenceIn(
            **base,
            case_id=None,
            kind="reimbursement_reversal",
            route=f"reversal:{r.original_reimbursement_id}",
        )
    if r.reason == "CustomerReturn" and r.amazon_order_id:
        return EvidenceIn(
            **base, case_id=return_case(account, r.amazon_order_id, r.msku), kind="reimbursement"
        )
    if r.reason in LOST_REASONS and r.fnsku:
        return EvidenceIn(**base, case_id=lost_case(account, r.fnsku), kind="reimbursement")
    if r.reason in INBOUND_REASONS and r.fnsku:
        return EvidenceIn(**base, case_id=None, kind="reimbursement", route=f"inbound_shortage:{r.fnsku}")
    return EvidenceIn(**base, case_id=NO_CASE, kind="reimbursement")


def from_removal_detail(account: str, r: RemovalDetailRow) -> EvidenceIn:
    totals = f"{r.requested_quantity}/{r.shipped_quantity}/{r.disposed_quantity}/{r.cancelled_quantity}"
    return EvidenceIn(
        key=f"removal_detail:{account}:{r.order_id}:{r.msku}:{totals}",
        account=account,
        case_id=removal_case(account, r.order_id),
        kind="removal_detail",
        occurred_at=r.last_updated or r.request_date,
        quantity=r.requested_quantity,
        stream="removal_detail",
        data={
            "order_type": r.order_type,
            "order_status": r.order_status,
            "sku": r.msku,
            "fnsku": r.fnsku,
            "disposition": r.disposition,
            "requested": r.requested_quantity,
            "shipped": r.shipped_quantity,
            "disposed": r.disposed_quantity,
            "cancelled": r.cancelled_quantity,
        },
    )


def from_removal_shipment(account: str, r: RemovalShipmentRow) -> EvidenceIn:
    return EvidenceIn(
        key=f"removal_shipment:{account}:{r.order_id}:{r.msku}:{r.tracking_number}",
        account=account,
        case_id=removal_case(account, r.order_id),
        kind="removal_shipment",
        occurred_at=r.shipment_date,
        quantity=r.shipped_quantity,
        stream="removal_shipments",
        data={
            "sku": r.msku,
            "fnsku": r.fnsku,
            "tracking_number": r.tracking_number,
            "carrier": r.carrier,
            "disposition": r.disposition or "SELLABLE",
        },
    )


def from_inbound_item(account: str, i: InboundItem, seen_at: datetime) -> EvidenceIn:
    totals = f"{i.shipment_status}:{i.quantity_shipped}/{i.quantity_received}"
    return EvidenceIn(
        key=f"inbound_item:{account}:{i.shipment_id}:{i.msku}:{totals}",
        account=account,
        case_id=inbound_case(account, i.shipment_id),
        kind="inbound_item",
        occurred_at=seen_at,
        quantity=i.quantity_shipped,
        stream="inbound",
        data={
            "sku": i.msku,
            "fnsku": i.fnsku,
            "status": i.shipment_status,
            "quantity_shipped": i.quantity_shipped,
            "quantity_received": i.quantity_received,
        },
    )


def removal_receipt(
    account: str,
    order_id: str,
    msku: str,
    quantity: int,
    tracking: str,
    at: datetime,
    by: str,
    receipt_id: str,
) -> EvidenceIn:
    """A person (or the warehouse system) confirms a removal shipment arrived."""
    return EvidenceIn(
        key=f"removal_receipt:{account}:{order_id}:{msku}:{receipt_id}",
        account=account,
        case_id=removal_case(account, order_id),
        kind="removal_receipt",
        occurred_at=at,
        quantity=quantity,
        stream="people",
        data={"sku": msku, "tracking_number": tracking, "by": by},
    )
