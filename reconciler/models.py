"""Domain models shared by the rules, the ledger, the integrations and the workflows.

Plain pydantic: no Temporal, no HTTP, no ORM.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Disposition(StrEnum):
    SELLABLE = "SELLABLE"
    DEFECTIVE = "DEFECTIVE"
    CUSTOMER_DAMAGED = "CUSTOMER_DAMAGED"
    DISTRIBUTOR_DAMAGED = "DISTRIBUTOR_DAMAGED"
    WAREHOUSE_DAMAGED = "WAREHOUSE_DAMAGED"
    CARRIER_DAMAGED = "CARRIER_DAMAGED"
    EXPIRED = "EXPIRED"


class LedgerEventType(StrEnum):
    SHIPMENTS = "Shipments"
    CUSTOMER_RETURNS = "CustomerReturns"
    ADJUSTMENTS = "Adjustments"
    RECEIPTS = "Receipts"
    WHSE_TRANSFERS = "WhseTransfers"
    VENDOR_RETURNS = "VendorReturns"


class LocationRole(StrEnum):
    FBA = "fba"
    WAREHOUSE = "warehouse"


class QuantityName(StrEnum):
    AVAILABLE = "available"
    DAMAGED = "damaged"
    INCOMING = "incoming"
    ON_HAND = "on_hand"


class ShopifyReason(StrEnum):
    """The `reason` values of inventoryAdjustQuantities the product uses (ARCHITECTURE §3)."""

    CORRECTION = "correction"
    RESTOCK = "restock"
    SHRINKAGE = "shrinkage"
    RECEIVED = "received"
    DAMAGED = "damaged"
    MOVEMENT_CREATED = "movement_created"
    MOVEMENT_RECEIVED = "movement_received"


class EffectState(StrEnum):
    PENDING = "pending"
    HELD = "held"
    APPROVED = "approved"
    IN_FLIGHT = "in_flight"
    APPLIED = "applied"
    REJECTED = "rejected"
    FAILED = "failed"
    # A late row's effect that a reconciliation correction already covers (its snapshot counted the
    # movement): never written; released to pending if that correction is rejected, fails or is reverted.
    ABSORBED = "absorbed"


class ShipmentsSource(StrEnum):
    ORDERS = "orders"
    LEDGER = "ledger"


# --- Amazon side -------------------------------------------------------------------------------


class LedgerRow(BaseModel):
    """One row of GET_LEDGER_DETAIL_VIEW_DATA. `date` is the marketplace-local date Amazon printed."""

    date: date
    fnsku: str
    asin: str = ""
    msku: str
    title: str = ""
    event_type: str
    reference_id: str = ""
    quantity: int
    fulfillment_center: str = ""
    disposition: str
    reason: str = ""
    country: str = ""
    # `Date and Time` when the report has it (offset-aware, or naive marketplace-local); not identity.
    occurred_at: datetime | None = None
    line_no: int = 0  # 1-based line in the report document, for error messages

    def identity(self) -> tuple[str, ...]:
        """What makes two rows "the same row" (ARCHITECTURE §4.2). Never includes columns that
        change over time (reconciled quantities, titles)."""
        return (
            self.date.isoformat(),
            self.fnsku,
            self.msku,
            self.event_type,
            self.reference_id,
            self.fulfillment_center,
            self.disposition,
            self.reason,
            str(self.quantity),
        )


class ParseIssue(BaseModel):
    """A line of a report that could not be read; quarantined, never dropped silently."""

    line_no: int
    message: str
    raw: str


class LedgerParseResult(BaseModel):
    rows: list[LedgerRow] = Field(default_factory=list)
    issues: list[ParseIssue] = Field(default_factory=list)


class ReportStatus(BaseModel):
    report_id: str
    processing_status: str  # IN_QUEUE | IN_PROGRESS | DONE | CANCELLED | FATAL
    document_id: str | None = None
    # When Amazon started processing: a snapshot report (inventory) shows the stock of that moment.
    processing_start: datetime | None = None


class OrderItemShipment(BaseModel):
    """An FBA order item and the cumulative quantity Amazon has shipped of it so far."""

    order_id: str
    order_item_id: str
    msku: str
    quantity_ordered: int
    quantity_shipped: int
    order_status: str
    last_updated: datetime


# --- Shopify side --------------------------------------------------------------------------------


class InventoryChange(BaseModel):
    """One entry of `InventoryAdjustQuantitiesInput.changes` (Shopify's InventoryChangeInput)."""

    inventory_item_id: str
    location_id: str
    delta: int
    change_from_quantity: int | None
    ledger_document_uri: str | None = None


class AdjustRequest(BaseModel):
    """One `inventoryAdjustQuantities` call: one name, one reason, one ledger document, ≤250 changes."""

    name: str
    reason: str
    reference_document_uri: str
    changes: list[InventoryChange]


class UserError(BaseModel):
    field: list[str] | None = None
    message: str
    code: str | None = None

    def change_index(self) -> int | None:
        """Index into `input.changes` the error is about, when Shopify says."""
        for part in self.field or []:
            if part.isdigit():
                return int(part)
        return None


class AppliedChange(BaseModel):
    inventory_item_id: str
    location_id: str
    name: str
    delta: int
    quantity_after_change: int | None = None


class AdjustOutcome(BaseModel):
    """Shopify's answer to one attempt: either a group (success) or user errors."""

    group_id: str | None = None
    changes: list[AppliedChange] = Field(default_factory=list)
    user_errors: list[UserError] = Field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.group_id is not None and not self.user_errors


class QuantityKey(BaseModel, frozen=True):
    inventory_item_id: str
    location_id: str


# --- the slow streams (returns, removals, reimbursements, inbound, refunds) ----------------------


class ReturnRow(BaseModel):
    """GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA: a return received and graded at a fulfilment centre."""

    return_date: datetime
    order_id: str
    msku: str
    asin: str = ""
    fnsku: str = ""
    quantity: int
    fulfillment_center: str = ""
    detailed_disposition: str  # SELLABLE, DAMAGED (Amazon's fault), CUSTOMER_DAMAGED, DEFECTIVE, ...
    reason: str = ""
    status: str = ""
    license_plate_number: str = ""
    line_no: int = 0


class RemovalDetailRow(BaseModel):
    """GET_FBA_FULFILLMENT_REMOVAL_ORDER_DETAIL_DATA: a removal order line and its cumulative progress."""

    request_date: datetime
    order_id: str
    order_type: str  # Return | Disposal | Liquidations
    order_status: str
    last_updated: datetime | None = None
    msku: str
    fnsku: str = ""
    disposition: str = ""
    requested_quantity: int = 0
    cancelled_quantity: int = 0
    disposed_quantity: int = 0
    shipped_quantity: int = 0
    in_process_quantity: int = 0
    line_no: int = 0


class RemovalShipmentRow(BaseModel):
    """GET_FBA_FULFILLMENT_REMOVAL_SHIPMENT_DETAIL_DATA: units that left Amazon for the merchant."""

    request_date: datetime | None = None
    order_id: str
    shipment_date: datetime
    msku: str
    fnsku: str = ""
    disposition: str = ""
    shipped_quantity: int
    carrier: str = ""
    tracking_number: str = ""
    removal_order_type: str = ""
    line_no: int = 0


class ReimbursementRow(BaseModel):
    """GET_FBA_REIMBURSEMENTS_DATA: money or replacement units Amazon paid (negative: a reversal)."""

    approval_date: datetime
    reimbursement_id: str
    case_id: str = ""
    amazon_order_id: str = ""
    reason: str
    msku: str
    fnsku: str = ""
    asin: str = ""
    condition: str = ""
    currency: str = ""
    amount_per_unit: float | None = None
    amount_total: float | None = None
    quantity_cash: int = 0
    quantity_inventory: int = 0
    quantity_total: int = 0
    original_reimbursement_id: str = ""
    original_reimbursement_type: str = ""
    line_no: int = 0


class InboundItem(BaseModel):
    """Fulfillment Inbound: one SKU of an inbound shipment, with cumulative quantities."""

    shipment_id: str
    shipment_name: str = ""
    shipment_status: (
        str  # WORKING, SHIPPED, RECEIVING, CLOSED, CANCELLED, DELETED, IN_TRANSIT, DELIVERED, CHECKED_IN
    )
    msku: str
    fnsku: str = ""
    quantity_shipped: int
    quantity_received: int = 0


class RefundEvent(BaseModel):
    """Finances: a refund of an FBA order item (the start of a customer-return case)."""

    order_id: str
    msku: str
    quantity: int
    posted_date: datetime
    adjustment_id: str = ""  # Amazon's id of the refund adjustment, when given


class FlatFileIssue(BaseModel):
    """A line of a flat-file report that could not be read."""

    report: str
    line_no: int
    message: str
    raw: str
