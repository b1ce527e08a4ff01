"""The simulated Amazon seller account behind the SP-API simulator.

Built from a scenario's Amazon events: FBA orders with cumulative shipped quantities, inventory
ledger rows (GET_LEDGER_DETAIL_VIEW_DATA) and the inventory they move. Everything becomes visible
as business time passes (`clock`), never before it happens: orders at their event time, ledger
rows `posting_delay_days` later (back-posted rows up to 2 days later). Faults from the scenario
are decided with a seeded random generator. The HTTP layer lives in `server.py`.
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
SUPPORTED_REPORTS = {LEDGER_REPORT}
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

    def status(self, now: datetime) -> str:
        if now >= self.done_at:
            return self.outcome
        if now >= self.created_at + (self.done_at - self.created_at) / 4:
            return "IN_PROGRESS"
        return "IN_QUEUE"


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

        self._data_random = random.Random(seed)
        self._fault_random = random.Random(seed + 1)
        self._id_random = random.Random(seed + 2)
        self.requests: Counter[str] = Counter()
        self.tokens: dict[str, datetime] = {}  # access token -> real expiry
        self.reports: dict[str, SimReport] = {}
        self.documents: dict[str, bytes] = {}  # document id -> gzip bytes
        self.orders: dict[str, SimOrder] = {}
        self.ledger: list[SimLedgerRow] = []
        self._titles: dict[str, str] = {}
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

    # --- what Amazon shows ---------------------------------------------------------------------

    def last_visible_at(self) -> datetime:
        """Business time when the last row or order of every Amazon event has become visible (orders
        count 2 minutes late: searchOrders only serves windows ending 2 minutes in the past)."""
        moments = [row.visible_at for row in self.ledger]
        moments += [v.updated_at + ORDERS_TWO_MINUTE_RULE for o in self.orders.values() for v in o.versions]
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

    def orders_at(self, at: datetime | None = None) -> list[tuple[SimOrder, SimOrderVersion]]:
        at = at or self.now()
        result = [(order, version) for order in self.orders.values() if (version := order.at(at)) is not None]
        return sorted(result, key=lambda ov: (ov[1].updated_at, ov[0].order_id))

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
            rows = self.ledger_rows_for(data_start, data_end, now)
            report.row_count = len(rows)
            if not rows or self.fault("report_cancelled"):
                report.outcome = "CANCELLED"
            else:
                report.document_id = f"amzn1.spdoc.1.4.na.{self.new_id()}"
                self.documents[report.document_id] = gzip.compress(self.render_ledger(rows).encode("utf-8"))
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
