"""The scenario file (../shared/SCENARIOS.md): a small world and what happens in it, day by day."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

AMAZON_EVENTS = {
    "order_shipped",
    "order_cancelled",
    "customer_return",
    "return_not_received",
    "adjustment",
    "reimbursement",
    "removal_order",
    "removal_shipped",
    "removal_disposed",
    "removal_cancelled",
    "inbound_shipped",
    "inbound_received",
    "inbound_closed",
    "fc_transfer",
}
SHOPIFY_EVENTS = {"shopify_manual_adjustment", "shopify_sale"}
PEOPLE_EVENTS = {"removal_received", "pause", "resume", "approve_all", "full_reconciliation"}
CHAOS_EVENTS = {"fault", "kill_worker", "restart_temporal"}
FAULT_KINDS = {
    "rate_limit",
    "server_error",
    "timeout",
    "report_fatal",
    "report_cancelled",
    "duplicate_rows",
    "backpost",
}


class AmazonStock(BaseModel):
    sellable: int = 0
    unsellable: int = 0


class FbaStock(BaseModel):
    available: int = 0
    damaged: int = 0


class WarehouseStock(BaseModel):
    available: int = 0
    incoming: int = 0
    damaged: int = 0


class ShopifyStock(BaseModel):
    fba: FbaStock = Field(default_factory=FbaStock)
    warehouse: WarehouseStock = Field(default_factory=WarehouseStock)
    # Catalogues onboarding must cope with: a variant not yet stocked at the fba location (its `fba`
    # quantities are then ignored), and extra variants with the same SKU (the resolver cannot choose).
    stocked_at_fba: bool = True
    duplicates: int = Field(default=0, ge=0)


class CatalogItem(BaseModel):
    sku: str
    fnsku: str
    asin: str = ""
    shopify_sku: str | None = None
    pack: int = Field(default=1, ge=1)
    title: str | None = None
    amazon: AmazonStock = Field(default_factory=AmazonStock)
    shopify: ShopifyStock | None = None  # None: the SKU does not exist in Shopify

    @property
    def shopify_sku_or_sku(self) -> str:
        return self.shopify_sku or self.sku


class ScenarioEvent(BaseModel):
    """One event; its fields depend on `type` (SCENARIOS.md tables) and are kept as extras."""

    model_config = ConfigDict(extra="allow")
    day: float = Field(ge=0)
    type: str

    def get(self, name: str, default: Any = None) -> Any:
        return (self.model_extra or {}).get(name, default)


class Scenario(BaseModel):
    name: str
    description: str = ""
    marketplace: str = "US"
    start: datetime
    settle_days: float = 2
    config: dict[str, Any] = Field(default_factory=dict)
    catalog: list[CatalogItem]
    events: list[ScenarioEvent] = Field(default_factory=list)
    expect: dict[str, Any] = Field(default_factory=dict)
    _by_sku: dict[str, CatalogItem] | None = PrivateAttr(default=None)

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        scenario = cls.model_validate(json.loads(Path(path).read_text()))
        known = AMAZON_EVENTS | SHOPIFY_EVENTS | PEOPLE_EVENTS | CHAOS_EVENTS
        for i, event in enumerate(scenario.events):
            if event.type not in known:
                raise ValueError(f"{path}: events[{i}]: unknown event type {event.type!r}")
            if event.type == "fault" and event.get("kind") not in FAULT_KINDS:
                raise ValueError(f"{path}: events[{i}]: unknown fault kind {event.get('kind')!r}")
        return scenario

    def ordered_events(self) -> list[ScenarioEvent]:
        """Events by day; a stable sort keeps file order for equal days."""
        return sorted(self.events, key=lambda e: e.day)

    def at(self, day: float) -> datetime:
        return self.start + timedelta(days=day)

    @property
    def last_event_day(self) -> float:
        return max((e.day for e in self.events), default=0.0)

    def item(self, sku: str) -> CatalogItem | None:
        # An index, built once: the simulators look SKUs up per row of 100,000-SKU reports.
        if self._by_sku is None or len(self._by_sku) != len(self.catalog):
            self._by_sku = {}
            for c in self.catalog:
                self._by_sku.setdefault(c.sku, c)
        return self._by_sku.get(sku)


class Fault(BaseModel):
    """An active fault window, for the simulators."""

    api: str
    kind: str
    rate: float
    start_day: float
    until_day: float

    def active(self, day: float) -> bool:
        return self.start_day <= day < self.until_day


def faults_for(scenario: Scenario, api: str) -> list[Fault]:
    return [
        Fault(
            api=api,
            kind=e.get("kind"),
            rate=float(e.get("rate", 1.0)),
            start_day=e.day,
            until_day=float(e.get("until_day", e.day + 1)),
        )
        for e in scenario.events
        if e.type == "fault" and e.get("api") == api
    ]
