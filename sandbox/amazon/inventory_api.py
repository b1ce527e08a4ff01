"""FBA Inventory v1 `getInventorySummaries` (`GET /fba/inventory/v1/summaries`) of the SP-API simulator,
in the wire format of contracts/sp-api/fbaInventory.json. `server.py` serves it through its
`_operation` wrapper (token, faults, the usage plan of 2 requests/s with a burst of 2, scaled by the
clock).

What it shows is the world's FBA inventory (`AmazonWorld.fba_inventory_at`, the same numbers as the
MYI report) at the moment of the listing's first page: every page of one listing (its `nextToken`s)
shows that moment. Summaries come sorted by seller SKU, `summaries_page_size` a page (Amazon: 50); a
`nextToken` expires `summaries_token_ttl_s` real seconds after it was issued (Amazon: 30, never
scaled). `details=true` adds `inventoryDetails`; the world keeps no breakdown of unfulfillable or
researching units, so the unfulfillable units are all `customerDamagedQuantity` and every reserved
unit is `pendingCustomerOrderQuantity` (the world reserves only for partly shipped orders).
`startDateTime` selects the SKUs with a ledger movement after it (inbound changes are not detected,
as Amazon documents)."""

from __future__ import annotations

import base64
import json
import time
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sandbox.amazon.world import AmazonWorld, FbaInventory

MAX_SELLER_SKUS = 50
STALE_AFTER = timedelta(days=548)  # startDateTime may be no earlier than 18 months ago
EXPIRED = "Next token is invalid or expired"

_inventories: weakref.WeakKeyDictionary[AmazonWorld, dict[datetime, list[FbaInventory]]] = (
    weakref.WeakKeyDictionary()
)


class Query(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def getall(self, key: str, default: Any = ...) -> list[Any]: ...


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(message: str, details: str = "") -> tuple[int, dict[str, Any]]:
    return 400, {"errors": [{"code": "InvalidInput", "message": message, "details": details}]}


def _values(query: Query, name: str) -> list[str] | None:
    values = query.getall(name, [])
    if not values:
        return None
    return [v.strip() for value in values for v in str(value).split(",") if v.strip()]


def _inventory_at(world: AmazonWorld, at: datetime) -> list[FbaInventory]:
    """Every MSKU's inventory at `at`, by seller SKU; the last few moments are kept, so that the pages
    of one listing of 100,000 SKUs do not compute it again."""
    cache = _inventories.setdefault(world, {})
    if at not in cache:
        if len(cache) >= 4:
            cache.pop(next(iter(cache)))
        cache[at] = sorted(world.fba_inventory_at(at).values(), key=lambda level: level.msku)
    return cache[at]


def _summary(world: AmazonWorld, level: FbaInventory, at: datetime, details: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "asin": level.asin,
        "fnSku": level.fnsku,
        "sellerSku": level.msku,
        "condition": "NewItem",
        "lastUpdatedTime": _iso(at),
        "productName": world._title(level.msku),
        "totalQuantity": level.total + level.researching,
    }
    if details:
        summary["inventoryDetails"] = {
            "fulfillableQuantity": level.fulfillable,
            "inboundWorkingQuantity": level.inbound_working,
            "inboundShippedQuantity": level.inbound_shipped,
            "inboundReceivingQuantity": level.inbound_receiving,
            "reservedQuantity": {
                "totalReservedQuantity": level.reserved,
                "pendingCustomerOrderQuantity": level.reserved,
                "pendingTransshipmentQuantity": 0,
                "fcProcessingQuantity": 0,
            },
            "researchingQuantity": {
                "totalResearchingQuantity": level.researching,
                "researchingQuantityBreakdown": [
                    {"name": "researchingQuantityInShortTerm", "quantity": level.researching},
                    {"name": "researchingQuantityInMidTerm", "quantity": 0},
                    {"name": "researchingQuantityInLongTerm", "quantity": 0},
                ],
            },
            "unfulfillableQuantity": {
                "totalUnfulfillableQuantity": level.unsellable,
                "customerDamagedQuantity": level.unsellable,
                "warehouseDamagedQuantity": 0,
                "distributorDamagedQuantity": 0,
                "carrierDamagedQuantity": 0,
                "defectiveQuantity": 0,
                "expiredQuantity": 0,
            },
        }
    return summary


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _first_page(world: AmazonWorld, query: Query) -> dict[str, Any] | tuple[int, dict[str, Any]]:
    """The listing a first request asks for, or an error answer."""
    if query.get("granularityType") != "Marketplace":
        return _error("Invalid Input", "granularityType is required and must be Marketplace.")
    if query.get("granularityId") != world.marketplace_id:
        return _error("Invalid Input", f"Invalid granularityId: {query.get('granularityId')}")
    marketplaces = _values(query, "marketplaceIds")
    if not marketplaces or len(marketplaces) > 1 or marketplaces[0] != world.marketplace_id:
        return _error("Invalid Input", f"marketplaceIds must be [{world.marketplace_id}]")
    details = str(query.get("details", "false")).lower()
    if details not in ("true", "false"):
        return _error("Invalid Input", "details must be true or false.")
    listing: dict[str, Any] = {"details": details == "true", "skus": None, "since": None}
    if start := query.get("startDateTime"):
        try:
            since = _parse_time(start)
        except ValueError:
            return _error(
                f"Query parameter [startDateTime] value is not a valid ISO date-time object: {start}"
            )
        if since < world.now() - STALE_AFTER:
            return _error("startDateTime cannot be earlier than 18 months ago.")
        listing["since"] = _iso(since)
    else:
        skus = _values(query, "sellerSkus")
        if skus is not None and len(skus) > MAX_SELLER_SKUS:
            return _error("Invalid Input", f"sellerSkus: at most {MAX_SELLER_SKUS} SKUs.")
        if skus is None and (one := query.get("sellerSku")):
            skus = [str(one)]
        listing["skus"] = skus
    return listing


def inventory_summaries(world: AmazonWorld, query: Query) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of one getInventorySummaries request."""
    if token := query.get("nextToken"):
        try:
            state = json.loads(base64.urlsafe_b64decode(str(token).encode()))
            assert isinstance(state, dict)
        except (ValueError, AssertionError):
            return _error(EXPIRED)
        if time.time() - float(state.get("issued", 0)) > world.summaries_token_ttl_s:
            return _error(EXPIRED)
        at = _parse_time(state["at"])
    else:
        first = _first_page(world, query)
        if isinstance(first, tuple):
            return first
        state = {**first, "offset": 0}
        at = world.now().replace(microsecond=0)
    levels = _inventory_at(world, at)
    if state.get("since"):
        since = _parse_time(state["since"])
        moved = {row.msku for row in world.ledger if since < row.occurred_at <= at}
        levels = [level for level in levels if level.msku in moved]
    elif state.get("skus") is not None:
        wanted = set(state["skus"])
        levels = [level for level in levels if level.msku in wanted]
    offset, size = int(state.get("offset", 0)), max(1, world.summaries_page_size)
    page = levels[offset : offset + size]
    body: dict[str, Any] = {
        "payload": {
            "granularity": {"granularityType": "Marketplace", "granularityId": world.marketplace_id},
            "inventorySummaries": [_summary(world, level, at, state["details"]) for level in page],
        }
    }
    if offset + size < len(levels):
        following = {**state, "offset": offset + size, "at": _iso(at), "issued": time.time()}
        body["pagination"] = {
            "nextToken": base64.urlsafe_b64encode(
                json.dumps(following, separators=(",", ":")).encode()
            ).decode()
        }
    return 200, body
