"""The Shopify simulator's state: locations, product variants, inventory items and their quantities,
and the semantics of `inventoryAdjustQuantities` as of API 2026-04 (idempotency keys, compare-and-
swap, ledger documents, all-or-nothing) and of bulk query operations (`SimBulkOperation`: CREATED →
RUNNING → COMPLETED in real time, a JSONL file showing the state when the operation started; a big
file is built after the mutation has answered, in slices between other requests, while the operation
is RUNNING and its objectCount grows, as Shopify does).
The GraphQL layer (`api.py`, `bulk.py`) and HTTP server (`server.py`) sit on top of it; the scenario
runner drives staff edits and storefront sales through it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from reconciler.clock import Clock
from sandbox.scenario import Fault, Scenario, faults_for

ADJUSTABLE_NAMES = ("available", "damaged", "incoming", "quality_control", "reserved", "safety_stock")
STORED_NAMES = (*ADJUSTABLE_NAMES, "committed")
QUERYABLE_NAMES = (*STORED_NAMES, "on_hand")
ON_HAND_PARTS = ("available", "committed", "reserved", "damaged", "safety_stock", "quality_control")
REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_canceled",
        "movement_created",
        "movement_received",
        "movement_updated",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)
MAX_CHANGES = 250
QUANTITY_LIMIT = 2_000_000_000
KEY_RETENTION_S = 24 * 3600.0  # real time, never scaled
# What the product asks the merchant to grant (README, "Onboarding a merchant"); tests take some away.
DEFAULT_ACCESS_SCOPES = (
    "read_inventory",
    "write_inventory",
    "read_products",
    "read_locations",
    "write_locations",
)
LOCATION_NAME_MAX = 100  # Shopify's limit on a location's name (locationAdd: TOO_LONG)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:.+")
_GID = re.compile(r"^gid://[^/\s]+/[^/\s]+/\S+$")

Role = Literal["fba", "warehouse"]
_level_numbers = itertools.count()  # SimLevel.seq: the order levels were made in, across worlds
log = logging.getLogger("sandbox.shopify")


class AdjustInputError(Exception):
    """A request-level error (becomes a top-level GraphQL error, not a user error)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SimLocation:
    id: str
    name: str
    legacy_id: int
    is_active: bool = True
    typename: str = "Location"


@dataclass
class SimItem:
    """An inventory item and the product variant that owns it (1:1 in this simulator)."""

    id: str
    variant_id: str
    sku: str
    display_name: str
    legacy_id: int
    tracked: bool = True
    typename: str = "InventoryItem"


@dataclass
class SimVariant:
    item: SimItem
    typename: str = "ProductVariant"

    @property
    def id(self) -> str:
        return self.item.variant_id

    @property
    def sku(self) -> str:
        return self.item.sku

    @property
    def display_name(self) -> str:
        return self.item.display_name

    @property
    def inventory_item(self) -> SimItem:
        return self.item


@dataclass
class SimLevel:
    item: SimItem
    location: SimLocation
    stored: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STORED_NAMES, 0))
    typename: str = "InventoryLevel"
    seq: int = field(default_factory=lambda: next(_level_numbers), compare=False, repr=False)

    @property
    def id(self) -> str:
        return (
            f"gid://shopify/InventoryLevel/{self.location.legacy_id}?inventory_item_id={self.item.legacy_id}"
        )

    def get(self, name: str) -> int:
        if name == "on_hand":
            return sum(self.stored[n] for n in ON_HAND_PARTS)
        return self.stored[name]


@dataclass
class SimQuantity:
    level: SimLevel
    name: str
    typename: str = "InventoryQuantity"

    @property
    def id(self) -> str:
        return (
            f"gid://shopify/InventoryQuantity/{self.level.location.legacy_id}"
            f"?inventory_item_id={self.level.item.legacy_id}&name={self.name}"
        )

    @property
    def quantity(self) -> int:
        return self.level.get(self.name)


@dataclass
class SimChange:
    name: str
    delta: int
    quantity_after_change: int | None
    ledger_document_uri: str | None
    item: SimItem
    location: SimLocation


@dataclass
class SimGroup:
    id: str
    reason: str
    reference_document_uri: str | None
    changes: list[SimChange]
    typename: str = "InventoryAdjustmentGroup"


@dataclass
class StoredResult:
    fingerprint: str
    payload: dict[str, Any]
    stored_at: float


BULK_ACTIVE = ("CREATED", "RUNNING", "CANCELING")
BULK_FILES_KEPT = 5  # JSONL files of the most recent bulk operations the simulator keeps serving


class BulkView:
    """The shop's inventory levels as they were when a bulk operation started, for as long as its file
    is being built: a level changed meanwhile is kept as it was (copy on write, `ShopifyWorld._keep`),
    a level made meanwhile is left out."""

    def __init__(self) -> None:
        self.first_new = next(_level_numbers)  # levels numbered from here on were made later
        self.before: dict[tuple[str, str], dict[str, int]] = {}  # (item, location) -> stored at start

    def nodes(self, nodes: Iterable[Any]) -> list[Any]:
        out = []
        for node in nodes:
            if node.__class__ is SimLevel:
                if node.seq >= self.first_new:
                    continue
                kept = self.before.get((node.item.id, node.location.id))
                if kept is not None:
                    node = replace(node, stored=dict(kept))
            out.append(node)
        return out

    def wrap(self, lists: dict[Any, Any]) -> dict[Any, Any]:
        """Bulk lists (`bulk.BulkLists`) that show the levels through this view."""

        def viewed(fn: Any) -> Any:
            return lambda source, **args: self.nodes(fn(source, **args))

        return {key: viewed(fn) for key, fn in lists.items()}


class _BulkBuild:
    """A bulk file in the making: `advance(s)` builds root objects for about `s` seconds."""

    def __init__(self, chunks: Iterator[tuple[bytes, int, int]]) -> None:
        self._chunks = chunks
        self.parts: list[bytes] = []
        self.objects = self.roots = 0

    def advance(self, seconds: float) -> bool:
        """True once the whole file is built."""
        deadline = time.perf_counter() + seconds
        for data, objects, roots in self._chunks:
            self.parts.append(data)
            self.objects += objects
            self.roots += roots
            if time.perf_counter() >= deadline:
                return False
        return True

    def data(self) -> bytes:
        data = b"".join(self.parts)
        self.parts = []
        return data


@dataclass
class SimBulkOperation:
    """A bulk query. Its result shows the state when it started. Its status follows real time: CREATED
    for `running_after_s`, RUNNING until `done_after_s` and until its file is built (`ready`;
    objectCount growing with the objects built), then COMPLETED — or FAILED with `fail_code` /
    CANCELED when asked to."""

    id: str
    legacy_id: int
    query: str
    created_at: datetime  # business time, for `createdAt`
    started: float  # time.monotonic()
    running_after_s: float
    done_after_s: float
    object_count_total: int = 0
    root_object_count_total: int = 0
    file_size_total: int = 0
    fail_code: str | None = None  # FAILED with this errorCode once done
    finished_at: datetime | None = None  # business time it completes (or fails)
    cancel_requested_at: float | None = None
    ready: bool = True  # the file is built (False while it is built in the background)
    objects_built: int = 0  # objects (and root objects) built so far, when built in the background
    roots_built: int = 0
    type: str = "QUERY"
    typename: str = "BulkOperation"

    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def status(self) -> str:
        elapsed = self._elapsed()
        if self.cancel_requested_at is not None:
            return "CANCELED" if time.monotonic() - self.cancel_requested_at >= 0.05 else "CANCELING"
        if elapsed < self.running_after_s:
            return "CREATED"
        if elapsed < self.done_after_s or not self.ready:
            return "RUNNING"
        return "FAILED" if self.fail_code else "COMPLETED"

    @property
    def active(self) -> bool:
        return self.status in BULK_ACTIVE

    def _fraction(self) -> float:
        status = self.status
        if status == "COMPLETED":
            return 1.0
        if status == "CREATED":
            return 0.0
        span = max(1e-9, self.done_after_s - self.running_after_s)
        fraction = min(1.0, max(0.0, (self._elapsed() - self.running_after_s) / span))
        return fraction / 2 if self.fail_code else fraction  # a failing operation stops half-way

    def _progress(self, total: int, built: int) -> int:
        """What the build has reached (a file built in the background: at least what is built so far;
        a failing operation stops half-way)."""
        if self.status == "CREATED":
            return 0
        built = built // 2 if self.fail_code else built
        return max(built, int(total * self._fraction())) if self.ready else built

    @property
    def object_count(self) -> int:
        return self._progress(self.object_count_total, self.objects_built)

    @property
    def root_object_count(self) -> int:
        return self._progress(self.root_object_count_total, self.roots_built)

    @property
    def error_code(self) -> str | None:
        return self.fail_code if self.status == "FAILED" else None

    @property
    def completed_at(self) -> datetime | None:
        return self.finished_at if self.status == "COMPLETED" else None

    @property
    def file_size(self) -> int | None:
        return self.file_size_total if self.status == "COMPLETED" and self.object_count_total else None


@dataclass
class RecordedRequest:
    operation: str | None
    body: bytes
    status: int = 0


MESSAGES = {
    "INVALID_REASON": "The specified reason is invalid.",
    "INVALID_QUANTITY_NAME": "The specified quantity name is invalid.",
    "INVALID_REFERENCE_DOCUMENT": "The specified reference document is invalid.",
    "INVALID_INVENTORY_ITEM": "The specified inventory item could not be found.",
    "INVALID_LOCATION": "The specified location could not be found.",
    "ITEM_NOT_STOCKED_AT_LOCATION": "The inventory item is not stocked at the location.",
    "INVALID_AVAILABLE_DOCUMENT": "A ledger document URI is not allowed when adjusting available.",
    "INVALID_QUANTITY_DOCUMENT": "A ledger document URI is required except when adjusting available.",
    "INTERNAL_LEDGER_DOCUMENT": "Internal (gid://shopify/) ledger documents are not allowed to be adjusted via API.",
    "INVALID_LEDGER_DOCUMENT": "The specified ledger document is invalid.",
    "MAX_ONE_LEDGER_DOCUMENT": (
        "All changes must have the same ledger document URI or, in the case of adjusting available, "
        "no ledger document URI."
    ),
    "CHANGE_FROM_QUANTITY_STALE": "The changeFromQuantity argument no longer matches the persisted quantity.",
    "INVALID_QUANTITY_TOO_HIGH": "The quantity can't be higher than 2,000,000,000.",
    "INVALID_QUANTITY_TOO_LOW": "The quantity can't be lower than -2,000,000,000.",
    "IDEMPOTENCY_KEY_PARAMETER_MISMATCH": "The same idempotency key cannot be used with different operation parameters.",
    "IDEMPOTENCY_CONCURRENT_REQUEST": "This request is currently in progress, please try again.",
    None: "changeFromQuantity is required: pass the quantity you expect, or null to skip the compare-and-swap check.",
}


def _user_error(field_path: list[str] | None, code: str | None) -> dict[str, Any]:
    return {"field": field_path, "message": MESSAGES[code], "code": code}


class ShopifyWorld:
    """One simulated shop."""

    def __init__(
        self,
        clock: Clock,
        *,
        shop_domain: str = "sandbox-shop.myshopify.com",
        access_token: str = "shpat_sandbox_token",
        seed: int = 0,
        faults: list[Fault] | None = None,
        bucket_maximum: float = 2000.0,
        restore_rate: float = 100.0,
        timeout_delay_s: float = 12.0,
    ) -> None:
        self.clock = clock
        self.shop_domain = shop_domain
        self.access_token = access_token
        self.api_versions = {"2026-04"}
        self.rng = random.Random(seed)
        self.faults: list[Fault] = list(faults or [])
        self.bucket = LeakyBucket(bucket_maximum, restore_rate)
        self.timeout_delay_s = timeout_delay_s
        self.apply_first_rate = 0.5  # share of mutation faults (5xx, timeout) that apply before failing
        self.mutation_latency_s = 0.0  # processing time of a mutation (lets tests provoke concurrency)
        self.null_quantity_after_change = False  # answer quantityAfterChange: null, as Shopify may
        self.access_scopes: set[str] = set(DEFAULT_ACCESS_SCOPES)  # granted to the app on this shop
        self.locations: dict[str, SimLocation] = {}
        self.items: dict[str, SimItem] = {}
        self.levels: dict[tuple[str, str], SimLevel] = {}
        self.roles: dict[str, str] = {}  # "fba" / "warehouse" -> location id
        self.groups: dict[str, SimGroup] = {}
        self._levels_by_item: dict[str, list[SimLevel]] = {}
        self._levels_by_location: dict[str, list[SimLevel]] = {}
        self._items_by_sku: dict[str, list[SimItem]] = {}
        # bulk query operations (real time, never scaled)
        self.bulk_operations: dict[str, SimBulkOperation] = {}
        self.bulk_files: dict[int, bytes] = {}  # legacy id -> JSONL (complete result)
        self.bulk_query_limit = 5  # API 2026-01 and later: five bulk queries at a time per shop
        self.bulk_running_after_s = 0.05
        self.bulk_duration_s = 0.3  # real seconds from creation to COMPLETED
        self.bulk_fail_next: list[str] = []  # errorCodes the next bulk operations fail with
        self.bulk_download_failures = 0  # the next downloads of a bulk file answer 503
        self.bulk_slice_s = 0.005  # real seconds of building a bulk file between other requests
        self._bulk_views: list[BulkView] = []
        self._bulk_tasks: set[asyncio.Task[None]] = set()
        self.base_url: str | None = None  # where the server listens (bulk file URLs); set by `start`
        self._keys: dict[str, StoredResult] = {}
        self._in_flight: set[str] = set()
        self._ids = {
            "Location": 70000,
            "InventoryItem": 40000,
            "ProductVariant": 50000,
            "Group": 90000,
            "BulkOperation": 3000000,
        }
        self.request_count = 0
        self.mutation_count = 0
        self.applied_group_count = 0
        self.replay_count = 0
        self.throttled_count = 0
        self.fault_count = 0
        self.requests: deque[RecordedRequest] = deque(maxlen=2000)

    # --- building ---------------------------------------------------------------------------------

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario,
        clock: Clock,
        *,
        shop_domain: str = "sandbox-shop.myshopify.com",
        access_token: str = "shpat_sandbox_token",
        fba_location_name: str | None = None,
        warehouse_location_name: str = "Warehouse",
        seed: int = 0,
    ) -> ShopifyWorld:
        world = cls(
            clock,
            shop_domain=shop_domain,
            access_token=access_token,
            seed=seed,
            faults=faults_for(scenario, "shopify"),
        )
        world.add_location(fba_location_name or f"Amazon FBA {scenario.marketplace}", role="fba")
        world.add_location(warehouse_location_name, role="warehouse")
        for entry in scenario.catalog:
            if entry.shopify is None or world.find_item(entry.shopify_sku_or_sku) is not None:
                continue
            # `duplicates`: more variants with the same SKU, as a merchant can make by mistake;
            # `stocked_at_fba: false`: a variant not (yet) stocked at the fba location (onboarding)
            for _ in range(1 + entry.shopify.duplicates):
                world.add_item(
                    entry.shopify_sku_or_sku,
                    fba=entry.shopify.fba.model_dump(),
                    warehouse=entry.shopify.warehouse.model_dump(),
                    title=entry.title,
                    stocked_at=("fba", "warehouse") if entry.shopify.stocked_at_fba else ("warehouse",),
                )
        return world

    def _next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def add_location(self, name: str, *, role: Role | None = None) -> SimLocation:
        legacy = self._next_id("Location")
        location = SimLocation(id=f"gid://shopify/Location/{legacy}", name=name, legacy_id=legacy)
        self.locations[location.id] = location
        if role:
            self.roles[role] = location.id
        return location

    def add_item(
        self,
        sku: str,
        *,
        fba: dict[str, int] | None = None,
        warehouse: dict[str, int] | None = None,
        title: str | None = None,
        stocked_at: tuple[Role, ...] = ("fba", "warehouse"),
    ) -> SimItem:
        """A product variant + inventory item with this SKU (a second call with the same SKU makes a
        duplicate, as a merchant can), stocked at the given locations."""
        legacy = self._next_id("InventoryItem")
        item = SimItem(
            id=f"gid://shopify/InventoryItem/{legacy}",
            variant_id=f"gid://shopify/ProductVariant/{self._next_id('ProductVariant')}",
            sku=sku,
            display_name=title or sku,
            legacy_id=legacy,
        )
        self.items[item.id] = item
        self._items_by_sku.setdefault(sku, []).append(item)
        for role, quantities in (("fba", fba), ("warehouse", warehouse)):
            if role not in stocked_at or role not in self.roles:
                continue
            level = SimLevel(item=item, location=self.locations[self.roles[role]])
            for name, qty in (quantities or {}).items():
                level.stored[name] = int(qty)
            self.levels[(item.id, level.location.id)] = level
            self._levels_by_item.setdefault(item.id, []).append(level)
            self._levels_by_location.setdefault(level.location.id, []).append(level)
        return item

    # --- lookups ----------------------------------------------------------------------------------

    def find_item(self, sku: str) -> SimItem | None:
        """The first inventory item with this SKU (duplicates: the oldest)."""
        found = self._items_by_sku.get(sku)
        return found[0] if found else None

    def items_with_sku(self, sku: str) -> list[SimItem]:
        return list(self._items_by_sku.get(sku, ()))

    def level(self, item_id: str, location_id: str) -> SimLevel | None:
        return self.levels.get((item_id, location_id))

    def levels_of_item(self, item_id: str) -> list[SimLevel]:
        """Where the item is stocked, in the order the levels were made."""
        return list(self._levels_by_item.get(item_id, ()))

    def levels_at(self, location_id: str) -> list[SimLevel]:
        return list(self._levels_by_location.get(location_id, ()))

    def location_quantities(
        self, location_id: str, names: tuple[str, ...] = QUERYABLE_NAMES
    ) -> dict[str, dict[str, int]]:
        """Inventory item gid -> quantity name -> quantity of every item stocked at the location (what a
        bulk inventory snapshot of that location must show)."""
        return {lv.item.id: {n: lv.get(n) for n in names} for lv in self.levels_at(location_id)}

    def location_for(self, role: str) -> SimLocation:
        if role not in self.roles:
            raise KeyError(f"unknown location {role!r}: use 'fba' or 'warehouse'")
        return self.locations[self.roles[role]]

    def node(self, gid: str) -> Any:
        if gid in self.items:
            return self.items[gid]
        if gid in self.locations:
            return self.locations[gid]
        if gid in self.groups:
            return self.groups[gid]
        if gid in self.bulk_operations:
            return self.bulk_operations[gid]
        for item in self.items.values():
            if item.variant_id == gid:
                return SimVariant(item)
        for level in self.levels.values():
            if level.id == gid:
                return level
        return None

    # --- locations and stocking (locationAdd, inventoryBulkToggleActivation) ---------------------------

    def has_scope(self, handle: str) -> bool:
        """Whether the app may do this; a write scope also grants its read scope, as on Shopify."""
        return handle in self.access_scopes or (
            handle.startswith("read_") and f"write_{handle[5:]}" in self.access_scopes
        )

    def location_named(self, name: str) -> SimLocation | None:
        return next((loc for loc in self.locations.values() if loc.name == name), None)

    def activate(self, item_id: str, location_id: str) -> SimLevel:
        """Stock the item at the location (every quantity 0); an existing level is returned as it is."""
        level = self.level(item_id, location_id)
        if level is None:
            level = SimLevel(item=self.items[item_id], location=self.locations[location_id])
            self.levels[(item_id, location_id)] = level
            self._levels_by_item.setdefault(item_id, []).append(level)
            self._levels_by_location.setdefault(location_id, []).append(level)
        return level

    def deactivate_problem(self, item_id: str, location_id: str) -> str | None:
        """The InventoryBulkToggleActivationUserErrorCode that keeps the item stocked there, or None."""
        level = self.level(item_id, location_id)
        if level is None:
            return None
        if len(self.levels_of_item(item_id)) == 1:
            return "CANNOT_DEACTIVATE_FROM_ONLY_LOCATION"
        if level.get("committed"):
            return "COMMITTED_INVENTORY_AT_LOCATION"
        if level.get("incoming"):
            return "INCOMING_INVENTORY_AT_LOCATION"
        if level.get("reserved"):
            return "RESERVED_INVENTORY_AT_LOCATION"
        return None

    def deactivate(self, item_id: str, location_id: str) -> None:
        """Unstock the item there (its quantities go with the level). Check `deactivate_problem` first."""
        level = self.levels.pop((item_id, location_id), None)
        if level is not None:
            self._levels_by_item[item_id].remove(level)
            self._levels_by_location[location_id].remove(level)

    # --- what people and the storefront do ----------------------------------------------------------

    def manual_adjust(self, sku: str, location: str, name: str, delta: int) -> int:
        """A staff member edits stock in the Shopify admin. Returns the new quantity."""
        if name not in STORED_NAMES:
            raise ValueError(f"unknown quantity name {name!r}")
        item = self.find_item(sku)
        if item is None:
            raise KeyError(f"no Shopify item with SKU {sku!r}")
        level = self.level(item.id, self.location_for(location).id)
        if level is None:
            raise KeyError(f"{sku!r} is not stocked at {location!r}")
        self._keep(level)
        level.stored[name] += int(delta)
        return level.stored[name]

    def sale(self, sku: str, quantity: int) -> int:
        """A storefront order takes units from the warehouse's `available`. Returns the new quantity."""
        return self.manual_adjust(sku, "warehouse", "available", -int(quantity))

    def snapshot(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for item in self.items.values():
            if item.sku in out:
                continue
            entry: dict[str, dict[str, int]] = {}
            for role, names in (
                ("fba", ("available", "damaged")),
                ("warehouse", ("available", "incoming", "damaged")),
            ):
                level = self.level(item.id, self.roles.get(role, ""))
                entry[role] = {n: (level.get(n) if level else 0) for n in names}
            out[item.sku] = entry
        return out

    def counters(self) -> dict[str, int]:
        return {
            "request_count": self.request_count,
            "mutation_count": self.mutation_count,
            "applied_group_count": self.applied_group_count,
            "replay_count": self.replay_count,
            "throttled_count": self.throttled_count,
            "fault_count": self.fault_count,
        }

    # --- faults -----------------------------------------------------------------------------------

    def draw_fault(self) -> str | None:
        """The fault (if any) that hits this request: each active window fires with its rate."""
        day = self.clock.business_day()
        for fault in self.faults:
            if fault.active(day) and self.rng.random() < fault.rate:
                self.fault_count += 1
                return fault.kind
        return None

    # --- bulk query operations ----------------------------------------------------------------------

    def running_bulk_queries(self) -> list[SimBulkOperation]:
        return [op for op in self.bulk_operations.values() if op.active]

    def current_bulk_operation(self) -> SimBulkOperation | None:
        """The most recent bulk query (what `currentBulkOperation` answers)."""
        return next(reversed(self.bulk_operations.values()), None)

    def bulk_view(self) -> BulkView:
        """Levels as they are now, for a bulk file built over time; `release_bulk_view` when built."""
        view = BulkView()
        self._bulk_views.append(view)
        return view

    def release_bulk_view(self, view: BulkView | None) -> None:
        if view is not None and view in self._bulk_views:
            self._bulk_views.remove(view)

    def _keep(self, level: SimLevel) -> None:
        """Before a level changes: keep it as it was for every bulk file being built."""
        for view in self._bulk_views:
            view.before.setdefault((level.item.id, level.location.id), dict(level.stored))

    def run_bulk_query(
        self, query: str, chunks: Iterator[tuple[bytes, int, int]], view: BulkView | None = None
    ) -> SimBulkOperation:
        """Start a bulk query whose JSONL `chunks` gives a root object at a time (`BulkQuery.iterate`,
        over `view`). What `bulk_slice_s` allows is built now; a bigger file goes on being built after
        the answer, a slice at a time between other requests, while the operation is RUNNING and its
        objectCount grows. The caller checks the limit."""
        build = _BulkBuild(chunks)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # called outside a server: build it all now
        if build.advance(self.bulk_slice_s if loop is not None else float("inf")):
            self.release_bulk_view(view)
            return self.start_bulk_operation(query, build.data(), build.objects, build.roots)
        assert loop is not None
        op = self._new_bulk_operation(query)
        op.ready, op.objects_built, op.roots_built = False, build.objects, build.roots
        self.bulk_operations[op.id] = op
        task = loop.create_task(self._build_bulk_file(op, build, view))
        self._bulk_tasks.add(task)
        task.add_done_callback(self._bulk_tasks.discard)
        return op

    async def _build_bulk_file(self, op: SimBulkOperation, build: _BulkBuild, view: BulkView | None) -> None:
        try:
            while True:
                await asyncio.sleep(0)  # let the server answer what has come in meanwhile
                if op.cancel_requested_at is not None:
                    return
                try:
                    done = build.advance(self.bulk_slice_s)
                except Exception:  # a resolver's bug: the operation fails as Shopify's would
                    log.exception("bulk operation %s: building its file failed", op.id)
                    op.fail_code, done = "INTERNAL_SERVER_ERROR", True
                op.objects_built, op.roots_built = build.objects, build.roots
                if done:
                    break
            data = build.data()
            elapsed = time.monotonic() - op.started
            op.done_after_s = max(op.done_after_s, elapsed)
            real_done = datetime.now(UTC) + timedelta(seconds=op.done_after_s - elapsed)
            op.finished_at = self.clock.now(real_done).astimezone(UTC)
            op.object_count_total, op.root_object_count_total = build.objects, build.roots
            op.file_size_total = len(data)
            self._keep_bulk_file(op.legacy_id, data)
            op.ready = True
        finally:
            self.release_bulk_view(view)

    def cancel_bulk_builds(self) -> None:
        """Stop building bulk files (the server is shutting down)."""
        for task in list(self._bulk_tasks):
            task.cancel()

    def _keep_bulk_file(self, legacy_id: int, data: bytes) -> None:
        self.bulk_files[legacy_id] = data
        for old in sorted(self.bulk_files)[:-BULK_FILES_KEPT]:
            del self.bulk_files[old]

    def start_bulk_operation(self, query: str, result: bytes, objects: int, roots: int) -> SimBulkOperation:
        """Record a bulk query whose result (JSONL) was computed now. The caller checks the limit."""
        op = self._new_bulk_operation(query)
        op.object_count_total, op.root_object_count_total, op.file_size_total = objects, roots, len(result)
        self.bulk_operations[op.id] = op
        self._keep_bulk_file(op.legacy_id, result)
        return op

    def _new_bulk_operation(self, query: str) -> SimBulkOperation:
        legacy = self._next_id("BulkOperation")
        done_after_s = max(self.bulk_running_after_s, self.bulk_duration_s)
        real_now = datetime.now(UTC)
        op = SimBulkOperation(
            id=f"gid://shopify/BulkOperation/{legacy}",
            legacy_id=legacy,
            query=query,
            created_at=self.clock.now(real_now).astimezone(UTC).replace(microsecond=0),
            started=time.monotonic(),
            running_after_s=self.bulk_running_after_s,
            done_after_s=done_after_s,
            finished_at=self.clock.now(real_now + timedelta(seconds=done_after_s)).astimezone(UTC),
            fail_code=self.bulk_fail_next.pop(0) if self.bulk_fail_next else None,
        )
        return op

    def cancel_bulk_operation(self, gid: str) -> SimBulkOperation:
        op = self.bulk_operations[gid]
        if op.active and op.cancel_requested_at is None:
            op.cancel_requested_at = time.monotonic()
        return op

    def bulk_url(self, op: SimBulkOperation, *, partial: bool = False) -> str | None:
        """`url` (COMPLETED with at least one object) or `partialDataUrl` (FAILED after some objects)."""
        wanted = "FAILED" if partial else "COMPLETED"
        if op.status != wanted or op.object_count == 0 or op.legacy_id not in self.bulk_files:
            return None
        base = self.base_url or f"https://{self.shop_domain}"
        suffix = "-partial" if partial else ""
        return f"{base}/bulk/{op.legacy_id}{suffix}.jsonl"

    def bulk_file(self, legacy_id: int, *, partial: bool = False) -> bytes | None:
        """The JSONL behind a bulk URL (a failed operation's partial file: its first objects)."""
        data = self.bulk_files.get(legacy_id)
        op = self.bulk_operations.get(f"gid://shopify/BulkOperation/{legacy_id}")
        if data is None or op is None:
            return None
        if not partial:
            return data if op.status == "COMPLETED" else None
        if op.status != "FAILED":
            return None
        lines = data.splitlines(keepends=True)
        return b"".join(lines[: op.object_count])

    # --- inventoryAdjustQuantities ------------------------------------------------------------------

    def _purge_keys(self) -> None:
        now = time.time()
        for key in [k for k, v in self._keys.items() if now - v.stored_at > KEY_RETENTION_S]:
            del self._keys[key]

    async def adjust_quantities(self, input_: dict[str, Any], key: str | None) -> dict[str, Any]:
        """`inventoryAdjustQuantities(input) @idempotent(key:)`. `input_` is the coerced input: an
        input field passed as null is present with None, one left out is absent.

        Returns the payload {"inventoryAdjustmentGroup": SimGroup | None, "userErrors": [...]};
        raises `AdjustInputError` for request-level errors (no key, too many changes)."""
        changes = input_.get("changes") or []
        if len(changes) > MAX_CHANGES:
            raise AdjustInputError(
                f"The input array size of {len(changes)} is greater than the maximum allowed of {MAX_CHANGES}.",
                "MAX_INPUT_SIZE_EXCEEDED",
            )
        if key is None:
            raise AdjustInputError(
                "The @idempotent directive is required for this mutation as of API version 2026-04.",
                "BAD_REQUEST",
            )
        if not key.strip():
            raise AdjustInputError(
                "The idempotency key cannot be an empty string or whitespace only.", "BAD_REQUEST"
            )
        self._purge_keys()
        fingerprint = json.dumps(input_, sort_keys=True, separators=(",", ":"))
        stored = self._keys.get(key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                return {
                    "inventoryAdjustmentGroup": None,
                    "userErrors": [_user_error(None, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")],
                }
            self.replay_count += 1
            return stored.payload
        if key in self._in_flight:
            return {
                "inventoryAdjustmentGroup": None,
                "userErrors": [_user_error(None, "IDEMPOTENCY_CONCURRENT_REQUEST")],
            }
        self._in_flight.add(key)
        try:
            if self.mutation_latency_s:
                await asyncio.sleep(self.mutation_latency_s)
            payload = self._adjust_now(input_)
            self._keys[key] = StoredResult(fingerprint, payload, time.time())
            return payload
        finally:
            self._in_flight.discard(key)

    def _adjust_now(self, input_: dict[str, Any]) -> dict[str, Any]:
        """Validate every change, then apply all of them or none."""
        errors: list[dict[str, Any]] = []
        reason, name = input_["reason"], input_["name"]
        reference = input_.get("referenceDocumentUri")
        if reason not in REASONS:
            errors.append(_user_error(["input", "reason"], "INVALID_REASON"))
        if name not in ADJUSTABLE_NAMES:
            errors.append(_user_error(["input", "name"], "INVALID_QUANTITY_NAME"))
        if reference is not None and not _valid_uri(reference):
            errors.append(_user_error(["input", "referenceDocumentUri"], "INVALID_REFERENCE_DOCUMENT"))
        ledger_document: str | None = None
        working: dict[tuple[str, str], int] = {}  # running quantities: changes apply in order
        plan: list[tuple[SimLevel, dict[str, Any]]] = []
        for i, change in enumerate(input_.get("changes") or []):
            path = ["input", "changes", str(i)]
            problem = self._change_problem(name, change, ledger_document)
            if problem is None or problem[0] == "changeFromQuantity":  # its ledger document is valid
                ledger_document = ledger_document or change.get("ledgerDocumentUri")
            if problem is None and name in ADJUSTABLE_NAMES:
                level = self.levels[(change["inventoryItemId"], change["locationId"])]
                pair = (level.item.id, level.location.id)
                current = working.get(pair, level.get(name))
                expected, after = change["changeFromQuantity"], current + change["delta"]
                if expected is not None and expected != current:
                    problem = ("changeFromQuantity", "CHANGE_FROM_QUANTITY_STALE")
                elif after > QUANTITY_LIMIT:
                    problem = ("delta", "INVALID_QUANTITY_TOO_HIGH")
                elif after < -QUANTITY_LIMIT:
                    problem = ("delta", "INVALID_QUANTITY_TOO_LOW")
                else:
                    working[pair] = after
                    plan.append((level, change))
            if problem is not None:
                errors.append(_user_error([*path, problem[0]], problem[1]))
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        return {"inventoryAdjustmentGroup": self._apply(reason, name, reference, plan), "userErrors": []}

    def _change_problem(
        self, name: str, change: dict[str, Any], ledger_document: str | None
    ) -> tuple[str, str | None] | None:
        """(input field, user error code) of what is wrong with one change, or None."""
        item = self.items.get(change["inventoryItemId"])
        location = self.locations.get(change["locationId"])
        if item is None:
            return "inventoryItemId", "INVALID_INVENTORY_ITEM"
        if location is None:
            return "locationId", "INVALID_LOCATION"
        if self.level(item.id, location.id) is None:
            return "locationId", "ITEM_NOT_STOCKED_AT_LOCATION"
        ledger = change.get("ledgerDocumentUri")
        if name == "available" and ledger is not None:
            return "ledgerDocumentUri", "INVALID_AVAILABLE_DOCUMENT"
        if name != "available" and name in ADJUSTABLE_NAMES:
            if ledger is None:
                return "ledgerDocumentUri", "INVALID_QUANTITY_DOCUMENT"
            if ledger.startswith("gid://shopify/"):
                return "ledgerDocumentUri", "INTERNAL_LEDGER_DOCUMENT"
            if not _valid_uri(ledger):
                return "ledgerDocumentUri", "INVALID_LEDGER_DOCUMENT"
            if ledger_document is not None and ledger != ledger_document:
                return "ledgerDocumentUri", "MAX_ONE_LEDGER_DOCUMENT"
        if "changeFromQuantity" not in change:
            return "changeFromQuantity", None  # mandatory from 2026-04; no code exists for it
        return None

    def _apply(
        self, reason: str, name: str, reference: str | None, plan: list[tuple[SimLevel, dict[str, Any]]]
    ) -> SimGroup:
        group_changes: list[SimChange] = []
        on_hand: list[SimChange] = []
        for level, change in plan:
            delta = change["delta"]
            self._keep(level)
            level.stored[name] += delta
            ledger = change.get("ledgerDocumentUri")
            hide = self.null_quantity_after_change
            group_changes.append(
                SimChange(name, delta, None if hide else level.get(name), ledger, level.item, level.location)
            )
            if name in ON_HAND_PARTS:  # Shopify lists the on_hand change it derives, too
                on_hand.append(
                    SimChange(
                        "on_hand",
                        delta,
                        None if hide else level.get("on_hand"),
                        ledger,
                        level.item,
                        level.location,
                    )
                )
        group = SimGroup(
            id=f"gid://shopify/InventoryAdjustmentGroup/{self._next_id('Group')}",
            reason=reason,
            reference_document_uri=reference,
            changes=group_changes + on_hand,
        )
        self.groups[group.id] = group
        self.applied_group_count += 1
        return group


def _valid_uri(uri: str) -> bool:
    if not _URI.match(uri):
        return False
    return not uri.startswith("gid:") or bool(_GID.match(uri))


class LeakyBucket:
    """Shopify's calculated-query-cost bucket (per app and shop). Real time, never scaled."""

    def __init__(self, maximum: float = 2000.0, restore_rate: float = 100.0) -> None:
        self.maximum = maximum
        self.restore_rate = restore_rate
        self._available = maximum
        self._at = time.monotonic()

    def available(self) -> float:
        now = time.monotonic()
        self._available = min(self.maximum, self._available + (now - self._at) * self.restore_rate)
        self._at = now
        return self._available

    def try_take(self, cost: float) -> bool:
        if cost > self.available():
            return False
        self._available -= cost
        return True

    def refund(self, points: float) -> None:
        self._available = min(self.maximum, self.available() + max(0.0, points))

    def drain(self, points: float | None = None) -> None:
        """Spend points (all of them by default), as other traffic of the same app would."""
        self._available = max(0.0, self.available() - (self.maximum if points is None else points))

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": float(int(self.available())),
            "restoreRate": float(self.restore_rate),
        }
