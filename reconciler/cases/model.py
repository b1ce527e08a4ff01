"""The models a case evaluator reads and returns (ARCHITECTURE §4.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from reconciler.models import LocationRole, QuantityName, ShopifyReason


class Evidence(BaseModel, frozen=True):
    """One row of a case's evidence in the ledger DB."""

    kind: (
        str  # refund, return_graded, reimbursement, reimbursement_reversal, lost, found, removal_detail, ...
    )
    key: str  # unique; the evaluator never counts the same key twice
    occurred_at: datetime  # business time of the event (refund date, grade date, shipment date, ...)
    quantity: int = 0
    data: dict[str, Any] = Field(default_factory=dict)  # kind-specific fields


class CaseEffect(BaseModel, frozen=True):
    """A change a case makes to a Shopify quantity, in AMAZON units (the caller multiplies by the pack)."""

    key: str  # deterministic and unique across all cases
    location: LocationRole
    name: QuantityName
    delta: int
    reason: ShopifyReason
    # None for `available`; "RemovalOrder" for incoming/damaged of a removal: the caller builds
    # gid://{app}/RemovalOrder/{order}. All incoming changes of one removal share it.
    ledger_document_uri_kind: str | None = None
    kind: str  # removal_shipped, removal_received, removal_auto_received, inbound_departure
    sku: str  # the MSKU the effect is for


class CaseAlert(BaseModel, frozen=True):
    kind: str  # claim_due, claim_expired, removal_overdue, removal_short_receipt, inbound_shortage
    key: str  # same situation → same key: the caller inserts once
    message: str  # one sentence for the ops team


class CaseView(BaseModel):
    case_id: str
    case_type: str  # return | lost | removal | inbound
    state: str  # short machine word for the CaseState search attribute
    sku: str  # main MSKU (FNSKU for lost units) for the Sku search attribute
    claim_due: bool = False  # units/money owed past their due date; stays true after the window closed
    claim_expired: bool = False
    owed_units: int = 0
    owed_amount: float | None = None
    claim_deadline: datetime | None = None
    details: str  # one sentence a person reads in the Temporal UI
    effects: list[CaseEffect] = Field(default_factory=list)
    alerts: list[CaseAlert] = Field(default_factory=list)
    next_wake: datetime | None = None  # earliest future business time at which the view could change
    closed: bool = False  # nothing more expected: the workflow may complete
