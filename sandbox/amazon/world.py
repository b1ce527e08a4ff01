"""The simulated Amazon seller account behind the SP-API simulator.

Built from a scenario's Amazon events: FBA orders with cumulative shipped quantities, inventory
ledger rows (GET_LEDGER_DETAIL_VIEW_DATA) and the inventory they move; the slow streams: customer
returns, removal orders (detail lines as versioned cumulative state) and removal shipments,
reimbursements (all four as flat-file reports), inbound shipments (Fulfillment Inbound v0, versioned
cumulative state) and refunds (Finances v0). Everything becomes visible as business time passes
(`clock`), never before it happens: orders at their event time, everything else
`posting_delay_days` later (back-posted report rows up to 2 days later). The current FBA inventory
per MSKU (`fba_inventory_at`, GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA) is near real time: movements
count when they happen. Faults from the scenario are decided with a seeded random generator. The
HTTP layer lives in `server.py`.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from reconciler.clock import Clock
from reconciler.marketplaces import Marketplace, marketplace
from sandbox.scenario import Fault, Scenario, ScenarioEvent, faults_for

LEDGER_REPORT = "GET_LEDGER_DETAIL_VIEW_DATA"
RETURNS_REPORT = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
REMOVAL_DETAIL_REPORT = "GET_FBA_FULFILLMENT_REMOVAL_ORDER_DETAIL_DATA"
REMOVAL_SHIPMENT_REPORT = "GET_FBA_FULFILLMENT_REMOVAL_SHIPMENT_DETAIL_DATA"
REIMBURSEMENTS_REPORT = "GET_FBA_REIMBURSEMENTS_DATA"
INVENTORY_REPORT = "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"
SUPPORTED_REPORTS = {
    INVENTORY_REPORT,
    LEDGER_REPORT,
    RETURNS_REPORT,
    REMOVAL_DETAIL_REPORT,
    REMOVAL_SHIPMENT_REPORT,
    REIMBURSEMENTS_REPORT,
}
# Column order as in contracts/sp-api/REPORTS.md; these reports are unquoted tab-separated text.
RETURNS_HEADER = [
    "return-date",
    "order-id",
    "sku",
    "asin",
    "fnsku",
    "product-name",
    "quantity",
    "fulfillment-center-id",
    "detailed-disposition",
    "reason",
    "status",
    "license-plate-number",
    "customer-comments",
]
REMOVAL_DETAIL_HEADER = [
    "request-date",
    "order-id",
    "order-type",
    "service-speed",
    "order-status",
    "last-updated-date",
    "sku",
    "fnsku",
    "disposition",
    "requested-quantity",
    "cancelled-quantity",
    "disposed-quantity",
    "shipped-quantity",
    "in-process-quantity",
    "removal-fee",
    "currency",
]
REMOVAL_SHIPMENT_HEADER = [
    "request-date",
    "order-id",
    "shipment-date",
    "sku",
    "fnsku",
    "disposition",
    "shipped-quantity",
    "carrier",
    "tracking-number",
    "removal-order-type",
]
REIMBURSEMENTS_HEADER = [
    "approval-date",
    "reimbursement-id",
    "case-id",
    "amazon-order-id",
    "reason",
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "currency-unit",
    "amount-per-unit",
    "amount-total",
    "quantity-reimbursed-cash",
    "quantity-reimbursed-inventory",
    "quantity-reimbursed-total",
    "original-reimbursement-id",
    "original-reimbursement-type",
]
INVENTORY_HEADER = [
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "your-price",
    "mfn-listing-exists",
    "mfn-fulfillable-quantity",
    "afn-listing-exists",
    "afn-warehouse-quantity",
    "afn-fulfillable-quantity",
    "afn-unsellable-quantity",
    "afn-reserved-quantity",
    "afn-total-quantity",
    "per-unit-volume",
    "afn-inbound-working-quantity",
    "afn-inbound-shipped-quantity",
    "afn-inbound-receiving-quantity",
    "afn-researching-quantity",
    "afn-reserved-future-supply",
    "afn-future-supply-buyable",
]
RETURN_STATUS = "Unit returned to inventory"
RETURN_REASONS = ["UNWANTED_ITEM", "NOT_AS_DESCRIBED", "DEFECTIVE", "SWITCHEROO", "APPAREL_TOO_SMALL"]
REFUND_DELAY_DAYS = 3.0  # a customer_return's refund posts this long before the unit arrives
REMOVAL_PENDING_DAYS = 0.05  # a new removal order stays Pending this long, then In Process
CURRENCIES = {"US": "USD", "CA": "CAD", "MX": "MXN", "UK": "GBP", "JP": "JPY", "AU": "AUD"}
LANGUAGES = {  # a marketplace's defaultLanguageCode (Sellers API)
    "US": "en_US",
    "CA": "en_CA",
    "MX": "es_MX",
    "UK": "en_GB",
    "DE": "de_DE",
    "FR": "fr_FR",
    "IT": "it_IT",
    "ES": "es_ES",
    "JP": "ja_JP",
    "AU": "en_AU",
}
LEDGER_HEADER = [
    "Date",
    "FNSKU",
    "ASIN",
    "MSKU",
    "Title",
    "Event Type",
    "Reference ID",
    "Quantity",
    "Fulfillment Center",
    "Disposition",
    "Reason",
    "Country",
    "Reconciled Quantity",
    "Unreconciled Quantity",
    "Date and Time",
]
FULFILLMENT_CENTERS = {
    "US": ["PHX7", "ONT8", "LGB8", "SDF8", "MDW2", "BFI4", "TEB9"],
    "CA": ["YYZ4", "YVR3", "YUL2"],
    "MX": ["MEX1", "MEX2"],
    "GB": ["LTN4", "BHX4", "MAN1", "EDI4"],
    "DE": ["FRA3", "MUC3", "LEJ1", "DUS2"],
}
DEFAULT_FCS = ["FC01", "FC02", "FC03"]
MARKETPLACE_NAMES = {
    "US": "Amazon.com",
    "CA": "Amazon.ca",
    "MX": "Amazon.com.mx",
    "UK": "Amazon.co.uk",
    "DE": "Amazon.de",
    "FR": "Amazon.fr",
    "IT": "Amazon.it",
    "ES": "Amazon.es",
    "JP": "Amazon.co.jp",
    "AU": "Amazon.com.au",
}

PAIRED_REASONS = {"6", "7", "E", "H", "K", "U", "Q"}  # a -q row, then a P +q row
NEGATIVE_REASONS = {"M", "5", "O", "D", "G", "4"} | PAIRED_REASONS
POSITIVE_REASONS = {"F", "N", "P", "3"}
UNRECONCILED_REASONS = {"M", "5", "F"}  # Amazon matches these over time (reconciled columns)
ORDERS_TWO_MINUTE_RULE = timedelta(minutes=2)


class InventoryLevel(BaseModel):
    sellable: int = 0
    unsellable: int = 0


class FbaInventory(BaseModel):
    """One MSKU as the FBA inventory report shows it at a moment."""

    msku: str
    fnsku: str
    asin: str
    fulfillable: int = 0  # sellable units not reserved
    unsellable: int = 0
    reserved: int = 0  # sellable units held for partly shipped orders
    inbound_working: int = 0
    inbound_shipped: int = 0
    inbound_receiving: int = 0
    researching: int = 0

    @property
    def warehouse(self) -> int:
        return self.fulfillable + self.unsellable + self.reserved

    @property
    def total(self) -> int:
        return self.warehouse + self.inbound_working + self.inbound_shipped + self.inbound_receiving


@dataclass(frozen=True)
class SimLedgerRow:
    occurred_at: datetime  # business time (UTC) of the movement
    visible_at: datetime  # business time the row appears in reports
    local_time: datetime  # occurred_at in the marketplace's time zone
    fnsku: str
    asin: str
    msku: str
    title: str
    event_type: str
    reference_id: str
    quantity: int
    fulfillment_center: str
    disposition: str
    reason: str
    country: str
    reconciled: int = 0
    unreconciled: int = 0
    seq: int = 0

    @property
    def date(self) -> date:
        return self.local_time.date()


@dataclass
class SimOrderItem:
    order_item_id: str
    sku: str
    asin: str
    title: str
    quantity_ordered: int
    quantity_shipped: int = 0


@dataclass
class SimOrderVersion:
    updated_at: datetime
    status: str  # FulfillmentStatus: PARTIALLY_SHIPPED | SHIPPED | CANCELLED
    items: list[SimOrderItem]


@dataclass
class SimOrder:
    order_id: str
    created_at: datetime
    versions: list[SimOrderVersion] = field(default_factory=list)

    def at(self, moment: datetime) -> SimOrderVersion | None:
        """The order as Amazon shows it at `moment` (None before it exists)."""
        current = None
        for version in self.versions:
            if version.updated_at <= moment:
                current = version
        return current


@dataclass
class SimReport:
    report_id: str
    report_type: str
    marketplace_ids: list[str]
    data_start: datetime
    data_end: datetime
    created_at: datetime  # business time
    done_at: datetime  # business time processing ends
    outcome: str  # DONE | CANCELLED | FATAL once processed
    row_count: int = 0
    document_id: str | None = None

    @property
    def processing_start(self) -> datetime:
        return self.created_at + (self.done_at - self.created_at) / 4

    def status(self, now: datetime) -> str:
        if now >= self.done_at:
            return self.outcome
        if now >= self.processing_start:
            return "IN_PROGRESS"
        return "IN_QUEUE"


@dataclass(frozen=True)
class SimReturn:
    """A customer return graded at a fulfilment centre (one returns-report row)."""

    occurred_at: datetime  # return-date
    visible_at: datetime
    order_id: str
    sku: str
    fnsku: str
    asin: str
    title: str
    quantity: int
    fulfillment_center: str
    disposition: str  # detailed-disposition
    reason: str
    status: str
    license_plate_number: str


@dataclass(frozen=True)
class SimRefund:
    """A Finances v0 refund of an order item (RefundEventList)."""

    posted_at: datetime
    visible_at: datetime
    order_id: str
    sku: str
    quantity: int
    adjustment_id: str  # OrderAdjustmentItemId
    amount: float  # refunded principal (positive; shown negative)


@dataclass(frozen=True)
class SimReimbursement:
    """One reimbursements-report row."""

    approved_at: datetime
    visible_at: datetime
    reimbursement_id: str
    case_id: str
    amazon_order_id: str
    reason: str
    sku: str
    fnsku: str
    asin: str
    title: str
    currency: str
    amount_per_unit: float
    quantity_cash: int
    quantity_inventory: int
    original_reimbursement_id: str
    original_reimbursement_type: str

    @property
    def amount_total(self) -> float:
        return round(self.amount_per_unit * self.quantity_cash, 2)


@dataclass(frozen=True)
class SimRemovalState:
    """A removal order line's cumulative state from `updated_at` on (last-updated-date)."""

    updated_at: datetime
    visible_at: datetime
    status: str  # Pending | In Process | Completed | Cancelled
    requested: int
    shipped: int
    disposed: int
    cancelled: int

    @property
    def in_process(self) -> int:
        if self.status in ("Completed", "Cancelled"):
            return 0
        return max(0, self.requested - self.shipped - self.disposed - self.cancelled)


@dataclass
class SimRemovalLine:
    order_id: str
    sku: str
    fnsku: str
    order_type: str  # Return | Disposal
    disposition: str
    requested_at: datetime
    versions: list[SimRemovalState] = field(default_factory=list)

    def at(self, moment: datetime) -> SimRemovalState | None:
        """The latest state visible at `moment` (None before the line is visible)."""
        current = None
        for state in self.versions:
            if state.visible_at <= moment and (current is None or state.updated_at >= current.updated_at):
                current = state
        return current


@dataclass(frozen=True)
class SimRemovalShipment:
    """One removal-shipment-report row: units that left Amazon."""

    shipped_at: datetime  # shipment-date
    visible_at: datetime
    requested_at: datetime
    order_id: str
    sku: str
    fnsku: str
    disposition: str
    quantity: int
    carrier: str
    tracking_number: str
    order_type: str


@dataclass(frozen=True)
class SimInboundVersion:
    updated_at: datetime
    visible_at: datetime
    status: str
    items: dict[str, tuple[int, int]]  # sku -> (QuantityShipped, QuantityReceived)


@dataclass
class SimInboundShipment:
    shipment_id: str
    name: str
    destination: str
    created_at: datetime
    versions: list[SimInboundVersion] = field(default_factory=list)

    def at(self, moment: datetime) -> SimInboundVersion | None:
        current = None
        for version in self.versions:
            if version.visible_at <= moment:
                current = version
        return current


def _digits(text: str, n: int) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return str(int(digest[:20], 16) % 10**n).zfill(n)


def default_order_item_id(order_id: str, sku: str) -> str:
    """A stable 14-digit order item id for an order line that the scenario did not number."""
    digest = hashlib.sha256(f"{order_id}|{sku}".encode()).hexdigest()
    return str(int(digest[:15], 16) % 10**14).zfill(14)


class AmazonWorld:
    def __init__(
        self,
        scenario: Scenario,
        clock: Clock,
        *,
        seed: int = 0,
        client_id: str = "amzn1.application-oa2-client.sandbox",
        client_secret: str = "sandbox-secret",
        refresh_token: str = "Atzr|sandbox-refresh",
        posting_delay_days: float = 0.02,
        report_processing_days: float = 0.002,
    ) -> None:
        self.scenario, self.clock, self.seed = scenario, clock, seed
        self.marketplace: Marketplace = marketplace(scenario.marketplace)
        self.marketplace_id = self.marketplace.marketplace_id
        self.marketplace_name = MARKETPLACE_NAMES.get(self.marketplace.code, "Amazon")
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.posting_delay_days = posting_delay_days
        self.report_processing_days = report_processing_days
        # knobs the tests and the runner may change after construction
        self.faults: list[Fault] = faults_for(scenario, "amazon")
        self.timeout_delay_s: float = 12.0  # real seconds a "timeout" fault holds a response
        self.backpost_max_days: float = 2.0
        self.duplicate_days: int = 2  # whole earlier days a duplicate_rows fault re-serves
        self.date_format: str = "%m/%d/%Y"  # the ledger's Date column
        self.document_url_ttl_s: float = 300.0  # real seconds; never scaled
        self.token_ttl_s: int = 3600  # real seconds; never scaled
        self.rate_limits_enabled: bool = True
        # Sellers API: marketplace code -> (isParticipating, hasSuspendedListings); the scenario's own
        # marketplace by default. Tests add, withdraw or suspend marketplaces here.
        self.participations: dict[str, tuple[bool, bool]] = {self.marketplace.code: (True, False)}

        self._data_random = random.Random(seed)
        self._fault_random = random.Random(seed + 1)
        self._id_random = random.Random(seed + 2)
        self.requests: Counter[str] = Counter()
        self.tokens: dict[str, datetime] = {}  # access token -> real expiry
        self.reports: dict[str, SimReport] = {}
        self.documents: dict[str, bytes] = {}  # document id -> gzip bytes
        self.orders: dict[str, SimOrder] = {}
        self.ledger: list[SimLedgerRow] = []
        self.returns: list[SimReturn] = []
        self.refunds: list[SimRefund] = []
        self.reimbursements: list[SimReimbursement] = []
        self.removal_lines: dict[tuple[str, str], SimRemovalLine] = {}  # (order id, sku)
        self.removal_shipments: list[SimRemovalShipment] = []
        self.inbound_shipments: dict[str, SimInboundShipment] = {}
        self.inbound_page_size: int = 50  # shipments per getShipments page
        self.summaries_page_size: int = 50  # getInventorySummaries: summaries per page (Amazon: 50)
        self.summaries_token_ttl_s: float = 30.0  # its nextToken expires (real seconds, never scaled)
        self.currency = CURRENCIES.get(self.marketplace.code, "EUR")
        self._titles: dict[str, str] = {}
        # the slow streams draw from their own generator so that ledger rows stay as they were
        self._stream_random = random.Random(seed + 3)
        self._build()

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario,
        clock: Clock,
        *,
        seed: int = 0,
        client_id: str = "amzn1.application-oa2-client.sandbox",
        client_secret: str = "sandbox-secret",
        refresh_token: str = "Atzr|sandbox-refresh",
        posting_delay_days: float = 0.02,
        report_processing_days: float = 0.002,
    ) -> AmazonWorld:
        return cls(
            scenario,
            clock,
            seed=seed,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            posting_delay_days=posting_delay_days,
            report_processing_days=report_processing_days,
        )

    # --- time, counters, faults ----------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    def count(self, operation: str) -> None:
        self.requests[operation] += 1

    def fault(self, kind: str) -> bool:
        """Whether an active fault of this kind hits the current call/row (seeded)."""
        day = self.clock.business_day()
        for fault in self.faults:
            if fault.kind == kind and fault.active(day) and self._fault_random.random() < fault.rate:
                return True
        return False

    def roll(self) -> float:
        """A seeded random number for fault details (which 5xx, how much overlap)."""
        return self._fault_random.random()

    def add_fault(
        self, kind: str, rate: float = 1.0, start_day: float = 0.0, until_day: float = 1e9
    ) -> Fault:
        fault = Fault(api="amazon", kind=kind, rate=rate, start_day=start_day, until_day=until_day)
        self.faults.append(fault)
        return fault

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self._id_random.getrandbits(128), version=4)

    # --- Sellers API ---------------------------------------------------------------------------

    def marketplace_participations(self) -> list[dict[str, Any]]:
        """getMarketplaceParticipations' payload (sellers v1 `MarketplaceParticipationList`)."""
        out = []
        for code, (participating, suspended) in self.participations.items():
            market = marketplace(code)
            out.append(
                {
                    "marketplace": {
                        "id": market.marketplace_id,
                        "name": MARKETPLACE_NAMES.get(code, "Amazon"),
                        "countryCode": market.country,
                        "defaultCurrencyCode": CURRENCIES.get(code, "EUR"),
                        "defaultLanguageCode": LANGUAGES.get(code, "en_US"),
                        "domainName": f"www.{MARKETPLACE_NAMES.get(code, 'amazon.com').lower()}",
                    },
                    "participation": {"isParticipating": participating, "hasSuspendedListings": suspended},
                }
            )
        return out

    # --- LWA -----------------------------------------------------------------------------------

    def issue_token(self) -> str:
        token = f"Atza|sandbox-{self.new_id().hex}"
        self.tokens[token] = datetime.now(UTC) + timedelta(seconds=self.token_ttl_s)
        return token

    def token_valid(self, token: str | None) -> bool:
        expiry = self.tokens.get(token or "")
        return expiry is not None and datetime.now(UTC) < expiry

    # --- building the world from the scenario --------------------------------------------------

    def _title(self, sku: str) -> str:
        if sku not in self._titles:
            item = self.scenario.item(sku)
            if item is not None and item.title:
                self._titles[sku] = item.title
            else:
                words = sku.replace("-", " ").replace("_", " ").title()
                # Amazon does not escape quotes inside titles: every other product has one
                self._titles[sku] = (
                    f'{words} 12" Classic Edition, Gift Box'
                    if len(self._titles) % 2 == 0
                    else f"{words} - Everyday Essentials (Pack of 1)"
                )
        return self._titles[sku]

    def _ids(self, sku: str) -> tuple[str, str]:
        item = self.scenario.item(sku)
        if item is not None:
            return item.fnsku, item.asin
        digest = hashlib.sha256(sku.encode()).hexdigest().upper()
        return f"X00{digest[:7]}", f"B0{digest[7:15]}"

    def fnsku(self, sku: str) -> str:
        return self._ids(sku)[0]

    def _fc(self) -> str:
        return self._data_random.choice(FULFILLMENT_CENTERS.get(self.marketplace.country, DEFAULT_FCS))

    def _visible_at(self, event: ScenarioEvent, occurred_at: datetime) -> datetime:
        delay = self.posting_delay_days
        if any(f.kind == "backpost" and f.active(event.day) for f in self.faults):
            rate = max(f.rate for f in self.faults if f.kind == "backpost" and f.active(event.day))
            if self._data_random.random() < rate:
                delay = self._data_random.uniform(max(delay, 0.25), self.backpost_max_days)
        return occurred_at + timedelta(days=delay)

    def _row(
        self,
        event: ScenarioEvent,
        sku: str,
        event_type: str,
        quantity: int,
        disposition: str = "SELLABLE",
        *,
        reference_id: str = "",
        reason: str = "",
        fulfillment_center: str | None = None,
        offset_s: float = 0.0,
    ) -> None:
        occurred_at = self.scenario.at(event.day) + timedelta(seconds=offset_s)
        fnsku, asin = self._ids(sku)
        self.ledger.append(
            SimLedgerRow(
                occurred_at=occurred_at,
                visible_at=self._visible_at(event, occurred_at),
                local_time=occurred_at.astimezone(self.marketplace.tz),
                fnsku=fnsku,
                asin=asin,
                msku=sku,
                title=self._title(sku),
                event_type=event_type,
                reference_id=reference_id,
                quantity=quantity,
                fulfillment_center=fulfillment_center or self._fc(),
                disposition=disposition,
                reason=reason,
                country=self.marketplace.country,
                unreconciled=abs(quantity) if reason in UNRECONCILED_REASONS else 0,
                seq=len(self.ledger),
            )
        )

    def _adjustment_reference(self) -> str:
        return str(self._data_random.randrange(10**10, 10**11))

    def _build(self) -> None:
        shipped_events: dict[str, list[ScenarioEvent]] = {}
        for event in self.scenario.ordered_events():
            if event.type in ("order_shipped", "order_cancelled"):
                shipped_events.setdefault(str(event.get("order_id")), []).append(event)
        for order_id, events in shipped_events.items():
            self._build_order(order_id, events)

        for event in self.scenario.ordered_events():
            self._ledger_rows(event)
        self.ledger.sort(key=lambda r: (r.occurred_at, r.seq))

        for index, event in enumerate(self.scenario.ordered_events()):
            self._stream_rows(index, event)
        self.returns.sort(key=lambda r: r.occurred_at)
        self.refunds.sort(key=lambda r: r.posted_at)
        self.reimbursements.sort(key=lambda r: r.approved_at)
        self.removal_shipments.sort(key=lambda r: r.shipped_at)
        self._finish_removals()

    def _build_order(self, order_id: str, events: list[ScenarioEvent]) -> None:
        items: dict[str, SimOrderItem] = {}
        for event in events:  # every line is on the order from the start: ordered = total shipped
            for line in event.get("items") or []:
                item_id = str(line.get("order_item_id") or default_order_item_id(order_id, line["sku"]))
                fnsku_asin = self._ids(line["sku"])
                item = items.setdefault(
                    item_id, SimOrderItem(item_id, line["sku"], fnsku_asin[1], self._title(line["sku"]), 0)
                )
                item.quantity_ordered += int(line.get("quantity", 0))
        order = SimOrder(order_id, self.scenario.at(events[0].day))
        for event in events:
            cancelled = event.type == "order_cancelled"
            for line in event.get("items") or []:
                item_id = str(line.get("order_item_id") or default_order_item_id(order_id, line["sku"]))
                if not cancelled:
                    items[item_id].quantity_shipped += int(line.get("quantity", 0))
            if cancelled:
                status = "CANCELLED"
            elif all(i.quantity_shipped >= i.quantity_ordered for i in items.values()):
                status = "SHIPPED"
            else:
                status = "PARTIALLY_SHIPPED"
            order.versions.append(
                SimOrderVersion(self.scenario.at(event.day), status, [replace(i) for i in items.values()])
            )
        self.orders[order_id] = order

    def _ledger_rows(self, event: ScenarioEvent) -> None:
        kind = event.type
        if kind == "order_shipped":
            for line in event.get("items") or []:
                self._row(
                    event,
                    line["sku"],
                    "Shipments",
                    -int(line["quantity"]),
                    reference_id=str(event.get("order_id")),
                )
        elif kind == "customer_return":
            disposition = str(event.get("disposition", "SELLABLE"))
            if disposition == "DAMAGED":
                disposition = "WAREHOUSE_DAMAGED"
            self._row(
                event,
                event.get("sku"),
                "CustomerReturns",
                int(event.get("quantity")),
                disposition,
                reference_id=str(event.get("order_id")),
            )
        elif kind == "adjustment":
            reason = str(event.get("reason"))
            quantity = abs(int(event.get("quantity")))
            disposition = str(event.get("disposition") or "SELLABLE")
            reference = self._adjustment_reference()
            if reason in PAIRED_REASONS:
                fc = self._fc()
                to_disposition = str(event.get("to_disposition") or "WAREHOUSE_DAMAGED")
                self._row(
                    event,
                    event.get("sku"),
                    "Adjustments",
                    -quantity,
                    disposition,
                    reference_id=reference,
                    reason=reason,
                    fulfillment_center=fc,
                )
                self._row(
                    event,
                    event.get("sku"),
                    "Adjustments",
                    quantity,
                    to_disposition,
                    reference_id=reference,
                    reason="P",
                    fulfillment_center=fc,
                    offset_s=1,
                )
            else:
                raw = int(event.get("quantity"))
                signed = (
                    -quantity
                    if reason in NEGATIVE_REASONS
                    else quantity
                    if reason in POSITIVE_REASONS
                    else raw
                )
                self._row(
                    event,
                    event.get("sku"),
                    "Adjustments",
                    signed,
                    disposition,
                    reference_id=reference,
                    reason=reason,
                )
        elif kind == "reimbursement":
            units = int(event.get("quantity_inventory") or 0)
            if units > 0:
                self._row(
                    event,
                    event.get("sku"),
                    "Adjustments",
                    units,
                    "SELLABLE",
                    reference_id=str(event.get("reimbursement_id")),
                    reason="N",
                )
        elif kind in ("removal_shipped", "removal_disposed"):
            self._row(
                event,
                event.get("sku"),
                "VendorReturns",
                -abs(int(event.get("quantity"))),
                str(event.get("disposition") or "SELLABLE"),
                reference_id=str(event.get("order_id")),
            )
        elif kind == "inbound_received":
            self._row(
                event,
                event.get("sku"),
                "Receipts",
                int(event.get("quantity")),
                "SELLABLE",
                reference_id=str(event.get("shipment_id")),
            )
        elif kind == "fc_transfer":
            centres = FULFILLMENT_CENTERS.get(self.marketplace.country, DEFAULT_FCS)
            source, target = self._data_random.sample(centres, 2)
            quantity = abs(int(event.get("quantity")))
            reference = self._adjustment_reference()
            self._row(
                event,
                event.get("sku"),
                "WhseTransfers",
                -quantity,
                reference_id=reference,
                fulfillment_center=source,
            )
            self._row(
                event,
                event.get("sku"),
                "WhseTransfers",
                quantity,
                reference_id=reference,
                fulfillment_center=target,
                offset_s=1,
            )

    # --- the slow streams: returns, refunds, reimbursements, removals, inbound -------------------

    def _report_visible_at(self, event: ScenarioEvent, occurred_at: datetime) -> datetime:
        """Like `_visible_at` (posting delay, back-post fault) for report rows of the slow streams."""
        delay = self.posting_delay_days
        rates = [f.rate for f in self.faults if f.kind == "backpost" and f.active(event.day)]
        if rates and self._stream_random.random() < max(rates):
            delay = self._stream_random.uniform(max(delay, 0.25), self.backpost_max_days)
        return occurred_at + timedelta(days=delay)

    def _api_visible_at(self, occurred_at: datetime) -> datetime:
        return occurred_at + timedelta(days=self.posting_delay_days)

    def _pick_fc(self, key: str) -> str:
        centres = FULFILLMENT_CENTERS.get(self.marketplace.country, DEFAULT_FCS)
        return centres[int(_digits(key, 6)) % len(centres)]

    def price(self, sku: str) -> float:
        """A deterministic unit price for a SKU (refund and reimbursement amounts)."""
        return round(5 + int(_digits(f"price|{sku}", 6)) % 4500 / 100, 2)

    def _stream_rows(self, index: int, event: ScenarioEvent) -> None:
        kind = event.type
        if kind == "customer_return":
            self._customer_return(index, event)
            self._refund(index, event)
        elif kind == "return_not_received":
            self._refund(index, event)
        elif kind == "reimbursement":
            self._reimbursement(event)
        elif kind in ("removal_order", "removal_shipped", "removal_disposed", "removal_cancelled"):
            self._removal(event)
        elif kind in ("inbound_shipped", "inbound_received", "inbound_closed"):
            self._inbound(event)

    def _customer_return(self, index: int, event: ScenarioEvent) -> None:
        order_id, sku = str(event.get("order_id")), str(event.get("sku"))
        occurred_at = self.scenario.at(event.day)
        fnsku, asin = self._ids(sku)
        lpn = str(event.get("lpn") or f"LPNRR{_digits(f'lpn|{order_id}|{sku}|{index}', 10)}")
        self.returns.append(
            SimReturn(
                occurred_at=occurred_at,
                visible_at=self._report_visible_at(event, occurred_at),
                order_id=order_id,
                sku=sku,
                fnsku=fnsku,
                asin=asin,
                title=self._title(sku),
                quantity=int(event.get("quantity")),
                fulfillment_center=self._pick_fc(lpn),
                disposition=str(event.get("disposition") or "SELLABLE"),
                reason=str(event.get("reason") or RETURN_REASONS[int(_digits(lpn, 4)) % len(RETURN_REASONS)]),
                status=RETURN_STATUS,
                license_plate_number=lpn,
            )
        )

    def _refund(self, index: int, event: ScenarioEvent) -> None:
        order_id, sku = str(event.get("order_id")), str(event.get("sku"))
        refund_day = event.get("refund_day")
        day = float(refund_day) if refund_day is not None else max(0.0, event.day - REFUND_DELAY_DAYS)
        posted_at = self.scenario.at(day)
        quantity = abs(int(event.get("quantity")))
        self.refunds.append(
            SimRefund(
                posted_at=posted_at,
                visible_at=self._api_visible_at(posted_at),
                order_id=order_id,
                sku=sku,
                quantity=quantity,
                adjustment_id=_digits(f"refund|{order_id}|{sku}|{index}", 14),
                amount=round(self.price(sku) * quantity, 2),
            )
        )

    def _reimbursement(self, event: ScenarioEvent) -> None:
        sku, reason = str(event.get("sku")), str(event.get("reason"))
        cash = int(event.get("quantity_cash") or 0)
        units = int(event.get("quantity_inventory") or 0)
        if reason == "Reimbursement_Reversal":
            cash, units = -abs(cash), -abs(units)
        original_id = str(event.get("original_reimbursement_id") or "")
        original_type = ""
        if original_id:
            original = next(
                (
                    e
                    for e in self.scenario.events
                    if e.type == "reimbursement" and str(e.get("reimbursement_id")) == original_id
                ),
                None,
            )
            original_type = str(original.get("reason")) if original is not None else ""
        approved_at = self.scenario.at(event.day)
        fnsku, asin = self._ids(sku)
        self.reimbursements.append(
            SimReimbursement(
                approved_at=approved_at,
                visible_at=self._report_visible_at(event, approved_at),
                reimbursement_id=str(event.get("reimbursement_id")),
                case_id=str(event.get("case_id") or ""),
                amazon_order_id=str(event.get("amazon_order_id") or ""),
                reason=reason,
                sku=sku,
                fnsku=fnsku,
                asin=asin,
                title=self._title(sku),
                currency=self.currency,
                amount_per_unit=self.price(sku),
                quantity_cash=cash,
                quantity_inventory=units,
                original_reimbursement_id=original_id,
                original_reimbursement_type=original_type,
            )
        )

    def _removal_line(
        self, event: ScenarioEvent, sku: str, order_type: str, disposition: str
    ) -> SimRemovalLine:
        order_id = str(event.get("order_id"))
        line = self.removal_lines.get((order_id, sku))
        if line is None:
            line = self.removal_lines[(order_id, sku)] = SimRemovalLine(
                order_id=order_id,
                sku=sku,
                fnsku=self._ids(sku)[0],
                order_type=order_type,
                disposition=disposition,
                requested_at=self.scenario.at(event.day),
            )
        return line

    def _removal(self, event: ScenarioEvent) -> None:
        at = self.scenario.at(event.day)
        if event.type == "removal_order":
            order_type = str(event.get("order_type") or "Return")
            for item in event.get("items") or []:
                line = self._removal_line(
                    event, item["sku"], order_type, str(item.get("disposition") or "SELLABLE")
                )
                self._removal_change(line, event, at, requested=int(item.get("quantity", 0)))
            return
        sku, quantity = str(event.get("sku")), abs(int(event.get("quantity")))
        if event.type == "removal_shipped":
            disposition = str(event.get("disposition") or "SELLABLE")
            line = self._removal_line(event, sku, "Return", disposition)
            self._removal_change(line, event, at, shipped=quantity)
            tracking = str(
                event.get("tracking_number") or f"1Z{_digits(f'trk|{line.order_id}|{sku}|{at}', 16)}"
            )
            self.removal_shipments.append(
                SimRemovalShipment(
                    shipped_at=at,
                    visible_at=self._report_visible_at(event, at),
                    requested_at=line.requested_at,
                    order_id=line.order_id,
                    sku=sku,
                    fnsku=line.fnsku,
                    disposition=disposition,
                    quantity=quantity,
                    carrier=str(event.get("carrier") or "UPS"),
                    tracking_number=tracking,
                    order_type=line.order_type,
                )
            )
        elif event.type == "removal_disposed":
            line = self._removal_line(event, sku, "Disposal", str(event.get("disposition") or "SELLABLE"))
            self._removal_change(line, event, at, disposed=quantity)
        else:  # removal_cancelled
            line = self._removal_line(event, sku, "Return", "SELLABLE")
            self._removal_change(line, event, at, cancelled=quantity)

    def _removal_change(
        self,
        line: SimRemovalLine,
        event: ScenarioEvent,
        at: datetime,
        *,
        requested: int = 0,
        shipped: int = 0,
        disposed: int = 0,
        cancelled: int = 0,
    ) -> None:
        """A new cumulative state of a removal order line. A new order is Pending for
        REMOVAL_PENDING_DAYS, then In Process (which also updates its last-updated-date); Completed
        once requested = shipped + disposed + cancelled, Cancelled when everything was cancelled."""
        previous = line.versions[-1] if line.versions else None
        pending_until = line.requested_at + timedelta(days=REMOVAL_PENDING_DAYS)
        if previous is not None and previous.status == "Pending" and at > pending_until:
            previous = replace(
                previous,
                updated_at=pending_until,
                visible_at=self._api_visible_at(pending_until),
                status="In Process",
            )
            line.versions.append(previous)
        base = previous or SimRemovalState(at, at, "Pending", 0, 0, 0, 0)
        shipped_total, disposed_total = base.shipped + shipped, base.disposed + disposed
        cancelled_total = base.cancelled + cancelled
        done = shipped_total + disposed_total + cancelled_total
        requested_total = max(base.requested + requested, done)
        if requested_total > 0 and done >= requested_total:
            status = "Cancelled" if cancelled_total == requested_total else "Completed"
        elif previous is None or (previous.status == "Pending" and requested and not done):
            status = "Pending"
        else:
            status = "In Process"
        line.versions.append(
            SimRemovalState(
                updated_at=at,
                visible_at=self._report_visible_at(event, at),
                status=status,
                requested=requested_total,
                shipped=shipped_total,
                disposed=disposed_total,
                cancelled=cancelled_total,
            )
        )

    def _finish_removals(self) -> None:
        """Lines still Pending after their last event move to In Process when the pending time ends."""
        for line in self.removal_lines.values():
            last = line.versions[-1]
            if last.status == "Pending":
                pending_until = line.requested_at + timedelta(days=REMOVAL_PENDING_DAYS)
                moment = max(pending_until, last.updated_at)
                line.versions.append(
                    replace(
                        last, updated_at=moment, visible_at=self._api_visible_at(moment), status="In Process"
                    )
                )

    def _inbound(self, event: ScenarioEvent) -> None:
        at = self.scenario.at(event.day)
        shipment_id = str(event.get("shipment_id"))
        shipment = self.inbound_shipments.get(shipment_id)
        if shipment is None:
            local = at.astimezone(self.marketplace.tz)
            shipment = self.inbound_shipments[shipment_id] = SimInboundShipment(
                shipment_id=shipment_id,
                name=f"FBA STA ({local:%m/%d/%Y %H:%M})-{self._pick_fc(shipment_id)}",
                destination=self._pick_fc(shipment_id),
                created_at=at,
            )
        previous = shipment.versions[-1] if shipment.versions else None
        items = dict(previous.items) if previous else {}
        status = previous.status if previous else "WORKING"
        if event.type == "inbound_shipped":
            for line in event.get("items") or []:
                shipped, received = items.get(line["sku"], (0, 0))
                items[line["sku"]] = (shipped + int(line.get("quantity", 0)), received)
            if status in ("WORKING", "SHIPPED"):
                status = "SHIPPED"
        elif event.type == "inbound_received":
            sku = str(event.get("sku"))
            shipped, received = items.get(sku, (0, 0))
            items[sku] = (shipped, received + int(event.get("quantity")))
            if status != "CLOSED":
                status = "RECEIVING"
        else:  # inbound_closed
            status = "CLOSED"
        shipment.versions.append(SimInboundVersion(at, self._api_visible_at(at), status, items))

    # --- what Amazon shows ---------------------------------------------------------------------

    def last_visible_at(self) -> datetime:
        """Business time when the last row, order, refund, report row or shipment state of every
        Amazon event has become visible (orders and refunds count 2 minutes late: searchOrders and
        listFinancialEvents only serve windows ending 2 minutes in the past)."""
        moments = [row.visible_at for row in self.ledger]
        moments += [v.updated_at + ORDERS_TWO_MINUTE_RULE for o in self.orders.values() for v in o.versions]
        moments += [r.visible_at + ORDERS_TWO_MINUTE_RULE for r in self.refunds]
        moments += [r.visible_at for r in self.returns]
        moments += [r.visible_at for r in self.reimbursements]
        moments += [r.visible_at for r in self.removal_shipments]
        moments += [v.visible_at for line in self.removal_lines.values() for v in line.versions]
        moments += [v.visible_at for s in self.inbound_shipments.values() for v in s.versions]
        return max(moments, default=self.scenario.start)

    def visible_rows(self, at: datetime | None = None) -> list[SimLedgerRow]:
        at = at or self.now()
        return [row for row in self.ledger if row.visible_at <= at]

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.marketplace.tz).date()

    def inventory_at(self, at: datetime | None = None) -> dict[str, InventoryLevel]:
        """Units physically at Amazon per MSKU at business time `at` (catalogue + movements so far)."""
        at = at or self.now()
        levels = {
            item.sku: InventoryLevel(sellable=item.amazon.sellable, unsellable=item.amazon.unsellable)
            for item in self.scenario.catalog
        }
        for row in self.ledger:
            if row.occurred_at > at:
                break
            level = levels.setdefault(row.msku, InventoryLevel())
            if row.disposition == "SELLABLE":
                level.sellable += row.quantity
            else:
                level.unsellable += row.quantity
        return levels

    def fba_inventory_at(self, at: datetime | None = None) -> dict[str, FbaInventory]:
        """What GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA shows at business time `at`, per MSKU (catalogue
        order, then MSKUs only movements or inbound shipments name): physical units from
        `inventory_at`, of which the undelivered rest of partly shipped orders is reserved, and units
        on their way in by the stage of their shipment (shipped, or being received)."""
        at = at or self.now()
        physical = self.inventory_at(at)
        reserved: Counter[str] = Counter()
        for order in self.orders.values():
            version = order.at(at)
            if version is not None and version.status == "PARTIALLY_SHIPPED":
                for item in version.items:
                    reserved[item.sku] += max(0, item.quantity_ordered - item.quantity_shipped)
        inbound: dict[str, Counter[str]] = {}
        for shipment in self.inbound_shipments.values():
            current = None
            for version in shipment.versions:
                if version.updated_at <= at:
                    current = version
            if current is None or current.status == "CLOSED":
                continue
            for sku, (shipped, received) in current.items.items():
                stage = {"WORKING": "working", "SHIPPED": "shipped"}.get(current.status, "receiving")
                inbound.setdefault(sku, Counter())[stage] += max(0, shipped - received)
        result: dict[str, FbaInventory] = {}
        for sku in [*physical, *(s for s in inbound if s not in physical)]:
            level = physical.get(sku, InventoryLevel())
            sellable = max(0, level.sellable)
            held = min(sellable, reserved[sku])
            fnsku, asin = self._ids(sku)
            stages = inbound.get(sku, Counter())
            result[sku] = FbaInventory(
                msku=sku,
                fnsku=fnsku,
                asin=asin,
                fulfillable=sellable - held,
                unsellable=max(0, level.unsellable),
                reserved=held,
                inbound_working=stages["working"],
                inbound_shipped=stages["shipped"],
                inbound_receiving=stages["receiving"],
            )
        return result

    def orders_at(self, at: datetime | None = None) -> list[tuple[SimOrder, SimOrderVersion]]:
        at = at or self.now()
        result = [(order, version) for order in self.orders.values() if (version := order.at(at)) is not None]
        return sorted(result, key=lambda ov: (ov[1].updated_at, ov[0].order_id))

    def inbound_at(self, at: datetime | None = None) -> list[tuple[SimInboundShipment, SimInboundVersion]]:
        """Inbound shipments as Fulfillment Inbound shows them at `at`, by last update."""
        at = at or self.now()
        result = [(s, v) for s in self.inbound_shipments.values() if (v := s.at(at)) is not None]
        return sorted(result, key=lambda sv: (sv[1].updated_at, sv[0].shipment_id))

    def refunds_posted(
        self, after: datetime, before: datetime, at: datetime | None = None
    ) -> list[SimRefund]:
        """Refunds posted in [after, before) and visible at `at`."""
        at = at or self.now()
        return [r for r in self.refunds if r.visible_at <= at and after <= r.posted_at < before]

    # --- reports -------------------------------------------------------------------------------

    def create_report(
        self, report_type: str, data_start: datetime, data_end: datetime, marketplace_ids: list[str]
    ) -> SimReport:
        now = self.now()
        report_id = str(50_000_000_000 + 1_009 * (len(self.reports) + 1) + self._id_random.randrange(1_000))
        report = SimReport(
            report_id=report_id,
            report_type=report_type,
            marketplace_ids=marketplace_ids,
            data_start=data_start,
            data_end=data_end,
            created_at=now,
            done_at=now + timedelta(days=self.report_processing_days),
            outcome="DONE",
        )
        if report_type not in SUPPORTED_REPORTS or self.fault("report_fatal"):
            report.outcome = "FATAL"
        else:
            # An inventory snapshot is Amazon's stock when processing starts (`processingStartTime`).
            moment = report.processing_start if report_type == INVENTORY_REPORT else now
            rows = self.report_rows_for(report_type, data_start, data_end, moment)
            report.row_count = len(rows)
            if not rows or self.fault("report_cancelled"):
                report.outcome = "CANCELLED"
            else:
                report.document_id = f"amzn1.spdoc.1.4.na.{self.new_id()}"
                text = self.render_report(report_type, rows)
                self.documents[report.document_id] = gzip.compress(text.encode("utf-8"))
        self.reports[report_id] = report
        return report

    def ledger_rows_for(
        self, data_start: datetime, data_end: datetime, created_at: datetime
    ) -> list[SimLedgerRow]:
        """Rows dated (marketplace-local) within the window and visible when the report was created.
        A duplicate_rows fault also re-serves whole earlier days (never a second copy inside a day)."""
        first, last = self.local_date(data_start), self.local_date(data_end)
        if self.fault("duplicate_rows"):
            first -= timedelta(days=self.duplicate_days)
        return [row for row in self.ledger if row.visible_at <= created_at and first <= row.date <= last]

    def render_ledger(self, rows: list[SimLedgerRow]) -> str:
        def quoted(values: list[Any]) -> str:
            return "\t".join(f'"{v}"' for v in values)

        lines = [quoted(LEDGER_HEADER)]
        for row in rows:
            lines.append(
                quoted(
                    [
                        row.local_time.strftime(self.date_format),
                        row.fnsku,
                        row.asin,
                        row.msku,
                        row.title,
                        row.event_type,
                        row.reference_id,
                        row.quantity,
                        row.fulfillment_center,
                        row.disposition,
                        row.reason,
                        row.country,
                        row.reconciled,
                        row.unreconciled,
                        row.local_time.replace(microsecond=0).isoformat(),
                    ]
                )
            )
        return "\n".join(lines) + "\n"

    # --- the slow streams' reports --------------------------------------------------------------

    def report_rows_for(
        self, report_type: str, data_start: datetime, data_end: datetime, created_at: datetime
    ) -> list[Any]:
        """Rows of a report created at `created_at`: visible by then, their date column within the
        window (the ledger: marketplace-local days; the others: the exact times). The removal
        detail is a state stream: each line's latest visible state, selected by its
        last-updated-date. A duplicate_rows fault also re-serves rows of `duplicate_days` earlier
        days (never a second copy inside one document)."""
        if report_type == LEDGER_REPORT:
            return self.ledger_rows_for(data_start, data_end, created_at)
        if report_type == INVENTORY_REPORT:  # a snapshot: the window does not matter
            return list(self.fba_inventory_at(created_at).values())
        start = data_start
        if self.fault("duplicate_rows"):
            start -= timedelta(days=self.duplicate_days)

        def within(moment: datetime) -> bool:
            return start <= moment <= data_end

        if report_type == RETURNS_REPORT:
            return [r for r in self.returns if r.visible_at <= created_at and within(r.occurred_at)]
        if report_type == REMOVAL_SHIPMENT_REPORT:
            return [r for r in self.removal_shipments if r.visible_at <= created_at and within(r.shipped_at)]
        if report_type == REIMBURSEMENTS_REPORT:
            return [r for r in self.reimbursements if r.visible_at <= created_at and within(r.approved_at)]
        if report_type == REMOVAL_DETAIL_REPORT:
            states = [
                (line, state)
                for line in self.removal_lines.values()
                if (state := line.at(created_at)) is not None and within(state.updated_at)
            ]
            return sorted(states, key=lambda ls: (ls[0].requested_at, ls[0].order_id, ls[0].sku))
        raise ValueError(f"unsupported report type {report_type!r}")

    def render_report(self, report_type: str, rows: list[Any]) -> str:
        if report_type == LEDGER_REPORT:
            return self.render_ledger(rows)
        header, values = {
            RETURNS_REPORT: (RETURNS_HEADER, self._return_values),
            REMOVAL_DETAIL_REPORT: (REMOVAL_DETAIL_HEADER, self._removal_detail_values),
            REMOVAL_SHIPMENT_REPORT: (REMOVAL_SHIPMENT_HEADER, self._removal_shipment_values),
            REIMBURSEMENTS_REPORT: (REIMBURSEMENTS_HEADER, self._reimbursement_values),
            INVENTORY_REPORT: (INVENTORY_HEADER, self._inventory_values),
        }[report_type]
        lines = ["\t".join(header)] + ["\t".join(str(v) for v in values(row)) for row in rows]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _stamp(moment: datetime) -> str:
        """Amazon's date format in these reports: ISO 8601 with an offset, e.g. 2026-10-05T08:12:00+00:00."""
        return moment.astimezone(UTC).replace(microsecond=0).isoformat()

    def _return_values(self, row: SimReturn) -> list[Any]:
        return [
            self._stamp(row.occurred_at),
            row.order_id,
            row.sku,
            row.asin,
            row.fnsku,
            row.title,
            row.quantity,
            row.fulfillment_center,
            row.disposition,
            row.reason,
            row.status,
            row.license_plate_number,
            "",
        ]

    def _removal_detail_values(self, line_state: tuple[SimRemovalLine, SimRemovalState]) -> list[Any]:
        line, state = line_state
        fee = 0.97 * state.shipped + 0.52 * state.disposed  # per unit removed
        return [
            self._stamp(line.requested_at),
            line.order_id,
            line.order_type,
            "Standard",
            state.status,
            self._stamp(state.updated_at),
            line.sku,
            line.fnsku,
            line.disposition,
            state.requested,
            state.cancelled,
            state.disposed,
            state.shipped,
            state.in_process,
            f"{fee:.2f}",
            self.currency,
        ]

    def _removal_shipment_values(self, row: SimRemovalShipment) -> list[Any]:
        return [
            self._stamp(row.requested_at),
            row.order_id,
            self._stamp(row.shipped_at),
            row.sku,
            row.fnsku,
            row.disposition,
            row.quantity,
            row.carrier,
            row.tracking_number,
            row.order_type,
        ]

    def _inventory_values(self, row: FbaInventory) -> list[Any]:
        return [
            row.msku,
            row.fnsku,
            row.asin,
            self._title(row.msku),
            "New",
            f"{self.price(row.msku):.2f}",
            "No",
            "",
            "Yes",
            row.warehouse,
            row.fulfillable,
            row.unsellable,
            row.reserved,
            row.total,
            "0.05",
            row.inbound_working,
            row.inbound_shipped,
            row.inbound_receiving,
            row.researching,
            0,
            0,
        ]

    def _reimbursement_values(self, row: SimReimbursement) -> list[Any]:
        return [
            self._stamp(row.approved_at),
            row.reimbursement_id,
            row.case_id,
            row.amazon_order_id,
            row.reason,
            row.sku,
            row.fnsku,
            row.asin,
            row.title,
            "New",
            row.currency,
            f"{row.amount_per_unit:.2f}",
            f"{row.amount_total:.2f}",
            row.quantity_cash,
            row.quantity_inventory,
            row.quantity_cash + row.quantity_inventory,
            row.original_reimbursement_id,
            row.original_reimbursement_type,
        ]
