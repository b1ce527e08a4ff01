"""The ledger: the system of record. Every source row, movement, effect, batch, attempt, hold,
quarantined input, alert and cursor is a row here; workflows carry only ids and counts.

Natural keys carry unique constraints so that re-running anything is harmless.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class LedgerSourceRow(SQLModel, table=True):
    """One copy of a GET_LEDGER_DETAIL_VIEW_DATA row. Rows have no id at Amazon: identical rows of one
    day are a multiset, stored as copies 1..n of the same identity (ARCHITECTURE §4.2)."""

    __tablename__ = "ledger_source_row"
    __table_args__ = (UniqueConstraint("account", "identity_hash", "copy_no"),)
    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(index=True)
    identity_hash: str = Field(index=True)
    copy_no: int
    day: date = Field(index=True)
    fnsku: str
    msku: str = Field(index=True)
    event_type: str
    reference_id: str = ""
    fulfillment_center: str = ""
    disposition: str
    reason: str = ""
    quantity: int
    country: str = ""
    report_request_id: int | None = None
    first_seen_at: datetime = Field(default_factory=utcnow)


class OrderItemState(SQLModel, table=True):
    """A state stream row: the cumulative shipped quantity of one FBA order item (§4.1)."""

    __tablename__ = "order_item_state"
    __table_args__ = (UniqueConstraint("account", "order_id", "order_item_id"),)
    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(index=True)
    order_id: str
    order_item_id: str
    msku: str
    quantity_ordered: int = 0
    quantity_shipped: int = 0
    order_status: str = ""
    last_updated: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class Movement(SQLModel, table=True):
    """What happened at Amazon, interpreted: one source row (or the growth of a state row) with its
    event type, reason, disposition and signed quantity in Amazon units. Effects are derived from it."""

    __tablename__ = "movement"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    account: str = Field(index=True)
    stream: str  # "ledger" | "orders" | later: returns, removals, ...
    source_ref: str  # e.g. "ledger_source_row:42" or "order_item:113-…:10001"
    msku: str = Field(index=True)
    fnsku: str = ""
    event_type: str
    reason: str = ""
    disposition: str = ""
    quantity: int
    occurred_on: date
    occurred_at: datetime | None = None  # the exact time when the source says it (UTC)
    reference_id: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Effect(SQLModel, table=True):
    """One change to one Shopify quantity, owned by exactly one producer (§2). State only moves
    forward: pending → in_flight → applied, or held / approved / rejected / failed."""

    __tablename__ = "effect"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    shop: str = Field(index=True)
    account: str = Field(index=True)
    movement_id: int | None = Field(default=None, index=True)
    kind: str  # business kind: shipment, return, lost, found, correction, disposal, ...
    msku: str
    shopify_sku: str = Field(index=True)
    inventory_item_id: str
    location: str  # role: fba | warehouse
    location_id: str
    name: str  # available | damaged | incoming
    reason: str  # Shopify reason
    ledger_document_uri: str | None = None
    delta: int  # Shopify units
    state: str = Field(default="pending", index=True)
    hold_id: int | None = None
    batch_id: int | None = Field(default=None, index=True)
    error: str | None = None
    quantity_after: int | None = None
    occurred_on: date | None = None
    occurred_at: datetime | None = None  # UTC, when the source gives the exact time
    absorbed_by: int | None = Field(default=None, index=True)  # the correction that covers it
    created_at: datetime = Field(default_factory=utcnow)
    applied_at: datetime | None = None


class Batch(SQLModel, table=True):
    """Netted effects written by one inventoryAdjustQuantities call (one name, reason, ledger document)."""

    __tablename__ = "batch"
    id: int | None = Field(default=None, primary_key=True)
    shop: str = Field(index=True)
    name: str
    reason: str
    ledger_document_uri: str | None = None
    state: str = Field(default="open", index=True)  # open | applied | failed | empty
    created_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None


class BatchChange(SQLModel, table=True):
    """One netted change of a batch: the sum of its effects for one (item, location)."""

    __tablename__ = "batch_change"
    __table_args__ = (UniqueConstraint("batch_id", "inventory_item_id", "location_id"),)
    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(index=True)
    inventory_item_id: str
    location_id: str
    delta: int
    state: str = "open"  # open | applied | failed
    error: str | None = None


class Attempt(SQLModel, table=True):
    """One mutation request exactly as sent, stored before it is sent; resent byte for byte until a
    response closes it (§5 "Exactly-once writes")."""

    __tablename__ = "attempt"
    __table_args__ = (UniqueConstraint("batch_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(index=True)
    shop: str = Field(index=True)
    number: int
    idempotency_key: str = Field(unique=True)
    request_json: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="open", index=True)  # open | succeeded | stale | failed | expired
    created_at: datetime = Field(default_factory=utcnow)
    first_sent_at: datetime | None = None
    sends: int = 0
    closed_at: datetime | None = None
    group_id: str | None = None
    response_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Hold(SQLModel, table=True):
    """Something waiting for a person: a large effect, a reconciliation correction, or an attempt
    whose idempotency key may have expired."""

    __tablename__ = "hold"
    id: int | None = Field(default=None, primary_key=True)
    shop: str = Field(index=True)
    kind: str  # large_delta | correction | expired_attempt
    effect_id: int | None = Field(default=None, index=True)
    attempt_id: int | None = None
    why: str
    state: str = Field(default="open", index=True)  # open | approved | rejected
    created_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None


class Cursor(SQLModel, table=True):
    """How far a stream has been read, advanced in the same transaction as the rows it covers."""

    __tablename__ = "cursor"
    account: str = Field(primary_key=True)
    stream: str = Field(primary_key=True)
    position: datetime
    last_backfill_day: date | None = None  # marketplace day whose first cycle re-read backfill_days
    last_read_at: datetime | None = None  # real time of the last successful read (minimum interval)
    updated_at: datetime = Field(default_factory=utcnow)


class ReportRequest(SQLModel, table=True):
    """A report asked of Amazon. Stored by the activity that requests it, so a crash never requests twice."""

    __tablename__ = "report_request"
    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(index=True)
    stream: str
    report_type: str
    report_id: str | None = None
    data_start: datetime
    data_end: datetime
    state: str = Field(default="requested", index=True)  # requested | done | cancelled | fatal | ingested
    document_id: str | None = None
    rows_read: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class QuarantinedInput(SQLModel, table=True):
    """Input that could not be used yet (unmapped SKU, malformed row), kept with the reason."""

    __tablename__ = "quarantined_input"
    __table_args__ = (UniqueConstraint("account", "stream", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(index=True)
    stream: str
    key: str
    reason: str
    movement_id: int | None = None
    payload: str = Field(default="", sa_column=Column(Text, nullable=False))
    state: str = Field(default="open", index=True)  # open | resolved
    created_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None


class Alert(SQLModel, table=True):
    __tablename__ = "alert"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    key: str = Field(index=True)
    account: str | None = None
    message: str
    created_at: datetime = Field(default_factory=utcnow)
    # Set by the worker's dispatcher (ops/alert_delivery.py) once the sinks have it, or once the
    # cool-down suppressed it; NULL: not delivered yet.
    delivered_at: datetime | None = Field(default=None, index=True)


class CycleRun(SQLModel, table=True):
    __tablename__ = "cycle_run"
    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(index=True)
    workflow_id: str
    run_id: str = Field(unique=True)
    started_at: datetime
    finished_at: datetime = Field(default_factory=utcnow)
    ok: bool = True
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))


class ShopifyItemRef(SQLModel, table=True):
    """Cache of Shopify SKU → inventory item id, per shop."""

    __tablename__ = "shopify_item_ref"
    shop: str = Field(primary_key=True)
    sku: str = Field(primary_key=True)
    inventory_item_id: str
    updated_at: datetime = Field(default_factory=utcnow)


class Evidence(SQLModel, table=True):
    """A fact a case workflow waits for (a refund, a grade, a shipment, a receipt, a reimbursement…),
    with a unique key: seen twice, it is stored once; a case reloads its evidence whenever it wakes."""

    __tablename__ = "evidence"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    account: str = Field(index=True)
    case_id: str = Field(index=True)  # the case workflow's id, e.g. removal:us:RMV-0001
    kind: str
    occurred_at: datetime
    quantity: int = 0
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    stream: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    signalled_at: datetime | None = Field(default=None, index=True)  # when its case was told


class CaseRecord(SQLModel, table=True):
    """The latest evaluation of each case, for `cases list`, reports and the scenario result."""

    __tablename__ = "case_record"
    case_id: str = Field(primary_key=True)
    account: str = Field(index=True)
    case_type: str = Field(index=True)
    state: str
    sku: str = ""
    claim_due: bool = False
    claim_expired: bool = False
    owed_units: int = 0
    owed_amount: float | None = None
    claim_deadline: datetime | None = None
    details: str = ""
    closed: bool = False
    evidence_seen: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class ReconciliationRun(SQLModel, table=True):
    """One full reconciliation of an account's FBA location."""

    __tablename__ = "reconciliation_run"
    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(index=True)
    workflow_id: str = ""
    state: str = "started"  # started | compared | failed
    snapshot_at: datetime | None = None  # business time of the Amazon snapshot
    # Real time Shopify's bulk snapshot started: effects written after it are not in that snapshot.
    shopify_snapshot_at: datetime | None = None
    amazon_rows: int = 0
    shopify_rows: int = 0
    discrepancies: int = 0
    corrections_held: int = 0
    report_csv: str | None = None
    report_md: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class SnapshotLevel(SQLModel, table=True):
    """One SKU's quantities in a reconciliation's snapshot, Amazon's or Shopify's (kept out of histories)."""

    __tablename__ = "snapshot_level"
    __table_args__ = (UniqueConstraint("run_id", "source", "sku"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(index=True)
    source: str  # amazon | shopify
    sku: str  # MSKU for amazon, Shopify SKU for shopify
    inventory_item_id: str = ""
    available: int = 0  # amazon: fulfillable
    reserved: int = 0
    damaged: int = 0  # amazon: unsellable


class DiscrepancyRecord(SQLModel, table=True):
    __tablename__ = "discrepancy"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(index=True)
    account: str = Field(index=True)
    sku: str
    location: str = "fba"
    name: str
    amazon: int
    shopify: int
    expected_shopify: int
    difference: int
    explanation: str = Field(default="", sa_column=Column(Text, nullable=False))
    effect_id: int | None = None  # the held correction
