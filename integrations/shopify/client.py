"""Shopify Admin GraphQL client: the reads the gate needs, its one write, and the bulk inventory
snapshot of a location that full reconciliation compares with Amazon.

One aiohttp session (through gql) per client, reused across calls. Every operation comes from its
own `.graphql` file (`operations.py`). Costs are paced by a `CostBucket`; THROTTLED answers are
waited out and retried a few times, then raised as `Throttled`. Never imports Temporal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import (
    TransportClosed,
    TransportConnectionFailed,
    TransportProtocolError,
    TransportQueryError,
    TransportServerError,
)
from graphql import ExecutionResult
from pydantic import BaseModel, Field

from integrations.shopify import operations as ops
from integrations.shopify.bulk import LocationQuantity, SnapshotParser
from integrations.shopify.errors import (
    BulkOperationFailed,
    BulkOperationTimeout,
    BulkSnapshotInvalid,
    IdempotencyConcurrentRequest,
    ShopifyAuthError,
    ShopifyError,
    ShopifyQueryError,
    ShopifyUnavailable,
    Throttled,
)
from integrations.shopify.throttle import CostBucket
from reconciler.models import AdjustOutcome, AdjustRequest, AppliedChange, UserError

MAX_CHANGES_PER_ADJUST = 250
DEFAULT_QUANTITY_NAMES = ("available", "on_hand", "damaged", "incoming")
SKUS_PER_REQUEST = 50  # SKUs OR-ed into one search query
VARIANTS_PAGE = 100
ITEMS_PER_LEVELS_REQUEST = 100
LOCATIONS_PAGE = 100
DEFAULT_EXPECTED_COST = 50  # until Shopify has told us what an operation costs
BULK_ACTIVE = frozenset({"CREATED", "RUNNING", "CANCELING"})
BULK_FAILED = frozenset({"FAILED", "CANCELED", "EXPIRED"})
BULK_BUSY_CODES = frozenset({"OPERATION_IN_PROGRESS", "LIMIT_REACHED"})
_BULK_GID = re.compile(r"gid://shopify/BulkOperation/\d+")
DOWNLOAD_CHUNK = 1 << 16

log = logging.getLogger(__name__)


def serialize_json(payload: Any) -> str:
    """The one JSON encoding of request bodies: compact, key order as built, never re-sorted."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def adjust_variables(request: AdjustRequest, idempotency_key: str) -> dict[str, Any]:
    """Variables of InventoryAdjustQuantities. Every change carries `changeFromQuantity` — an
    explicit null when the request says None (Shopify: skip the compare-and-swap; absent would be an
    error). `ledgerDocumentUri` is sent only where set."""
    changes: list[dict[str, Any]] = []
    for change in request.changes:
        item: dict[str, Any] = {
            "inventoryItemId": change.inventory_item_id,
            "locationId": change.location_id,
            "delta": change.delta,
            "changeFromQuantity": change.change_from_quantity,
        }
        if change.ledger_document_uri is not None:
            item["ledgerDocumentUri"] = change.ledger_document_uri
        changes.append(item)
    return {
        "input": {
            "name": request.name,
            "reason": request.reason,
            "referenceDocumentUri": request.reference_document_uri,
            "changes": changes,
        },
        "idempotencyKey": idempotency_key,
    }


def adjust_body(request: AdjustRequest, idempotency_key: str) -> bytes:
    """The exact HTTP body `ShopifyClient.adjust` sends for this request and key (deterministic:
    the same request and key always give the same bytes)."""
    payload = _request(ops.INVENTORY_ADJUST_QUANTITIES, adjust_variables(request, idempotency_key)).payload
    return serialize_json(payload).encode()


def sku_search_query(skus: Sequence[str]) -> str:
    """`sku:"A" OR sku:"B"` in Shopify's search syntax (quotes and backslashes escaped)."""
    terms = []
    for sku in skus:
        escaped = sku.replace("\\", "\\\\").replace('"', '\\"')
        terms.append(f'sku:"{escaped}"')
    return " OR ".join(terms)


class SkuResolution(BaseModel):
    """Shopify SKUs resolved to inventory items. A SKU is in exactly one of the three."""

    items: dict[str, str] = Field(default_factory=dict)  # sku -> inventory item gid
    duplicates: dict[str, list[str]] = Field(default_factory=dict)  # sku -> several item gids
    missing: list[str] = Field(default_factory=list)


class LocationAddOutcome(BaseModel):
    """`locationAdd`: the new location's gid, or Shopify's user errors (e.g. TAKEN, BLANK)."""

    location_id: str | None = None
    user_errors: list[UserError] = Field(default_factory=list)


class ActivationOutcome(BaseModel):
    """`inventoryBulkToggleActivation`: the locations the item is now stocked at (of those asked), or
    Shopify's user errors (LOCATION_NOT_FOUND, INVENTORY_MANAGED_BY_3RD_PARTY, MISSING_SKU…)."""

    inventory_item_id: str
    location_ids: list[str] = Field(default_factory=list)
    user_errors: list[UserError] = Field(default_factory=list)


def _request(operation: str, variables: dict[str, Any]) -> GraphQLRequest:
    return GraphQLRequest(ops.document(operation), variable_values=variables, operation_name=operation)


class _StatusCheckingTransport(AIOHTTPTransport):
    """gql returns a JSON body with `errors` even on a 4xx/5xx status; Shopify's status matters
    (401, 403, 404, 429, 5xx), so look at it first."""

    async def _prepare_result(self, response: aiohttp.ClientResponse):  # type: ignore[override]
        if response.status >= 400:
            text = await response.text()
            raise TransportServerError(f"HTTP {response.status}: {text[:500]}", response.status)
        return await super()._prepare_result(response)


class ShopifyClient:
    def __init__(
        self,
        shop_domain: str,
        access_token: str,
        *,
        api_version: str = "2026-04",
        base_url: str | None = None,
        timeout_s: float = 30.0,
        app_name: str = "fba-reconciler",
        throttle_retries: int = 5,
        read_retries: int = 3,
    ) -> None:
        self.shop_domain = shop_domain
        self.api_version = api_version
        self.base_url = (base_url or f"https://{shop_domain}").rstrip("/")
        self.endpoint = f"{self.base_url}/admin/api/{api_version}/graphql.json"
        self.timeout_s = timeout_s
        self.throttle_retries = throttle_retries
        self.read_retries = read_retries
        self.stats: Counter[str] = Counter()
        self.bucket = CostBucket()
        self._expected_cost: dict[str, float] = {}
        self._transport = _StatusCheckingTransport(
            url=self.endpoint,
            headers={
                "X-Shopify-Access-Token": access_token,
                "User-Agent": f"{app_name} (gql/aiohttp)",
                "Accept": "application/json",
            },
            timeout=timeout_s,  # type: ignore[arg-type]  # aiohttp accepts float seconds
            json_serialize=serialize_json,
        )
        self._client = Client(
            transport=self._transport, fetch_schema_from_transport=False, execute_timeout=None
        )
        self._session: Any = None
        self._connect_lock = asyncio.Lock()

    def __repr__(self) -> str:  # never the token
        return f"ShopifyClient({self.shop_domain!r}, api_version={self.api_version!r})"

    async def __aenter__(self) -> ShopifyClient:
        await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _connect(self) -> Any:
        async with self._connect_lock:
            if self._session is None:
                self._session = await self._client.connect_async(reconnecting=False)
            return self._session

    async def aclose(self) -> None:
        async with self._connect_lock:
            if self._session is not None:
                self._session = None
                await self._client.close_async()

    # --- transport ----------------------------------------------------------------------------

    async def _read(self, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
        """A query: safe to repeat, so a 5xx, timeout or dropped connection is retried here (a few
        times, with backoff) instead of failing a whole pass of many pages."""
        for attempt in range(self.read_retries + 1):
            try:
                return await self._execute(operation, variables)
            except ShopifyUnavailable:
                if attempt >= self.read_retries:
                    raise
                self.stats[f"retried:{operation}"] += 1
                await asyncio.sleep(min(8.0, 0.5 * 2**attempt))
        raise AssertionError("unreachable")

    async def _execute(self, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Send one operation; wait out THROTTLED; map every failure to a typed error."""
        session = self._session or await self._connect()
        request = _request(operation, variables)
        for attempt in range(self.throttle_retries + 1):
            await self.bucket.reserve(self._expected_cost.get(operation, DEFAULT_EXPECTED_COST))
            self.stats[operation] += 1
            try:
                result = await asyncio.wait_for(
                    session.execute(request, get_execution_result=True), timeout=self.timeout_s
                )
            except TransportQueryError as e:  # gql raises on GraphQL errors; we want the whole answer
                result = ExecutionResult(data=e.data, errors=e.errors, extensions=e.extensions)  # type: ignore[arg-type]
            except TransportServerError as e:
                if e.code in (401, 403):
                    raise ShopifyAuthError(
                        f"{operation}: Shopify refused the access token ({e.code})", operation=operation
                    ) from e
                if e.code == 429:
                    self.stats[f"throttled:{operation}"] += 1
                    if attempt >= self.throttle_retries:
                        raise Throttled(
                            f"{operation}: HTTP 429 after {attempt + 1} tries", operation=operation
                        ) from e
                    await asyncio.sleep(max(1.0, self.bucket.wait_for(self._expected_cost.get(operation, 0))))
                    continue
                if e.code is None or e.code >= 500:
                    raise ShopifyUnavailable(f"{operation}: {e}", operation=operation) from e
                raise ShopifyQueryError(f"{operation}: {e}", operation=operation) from e
            except TimeoutError as e:
                raise ShopifyUnavailable(
                    f"{operation}: no answer within {self.timeout_s}s", operation=operation
                ) from e
            except (
                TransportConnectionFailed,
                TransportProtocolError,
                TransportClosed,
                aiohttp.ClientError,
            ) as e:
                raise ShopifyUnavailable(f"{operation}: {e}", operation=operation) from e

            cost = (result.extensions or {}).get("cost") or {}
            status = cost.get("throttleStatus")
            requested = cost.get("requestedQueryCost")
            if isinstance(requested, int | float):
                self._expected_cost[operation] = float(requested)
            errors = result.errors
            if isinstance(errors, str):  # Shopify sometimes answers {"errors": "text"}
                raise ShopifyQueryError(f"{operation}: {errors}", operation=operation, details=errors)
            if errors and any(_code(err) == "THROTTLED" for err in errors):
                self.stats[f"throttled:{operation}"] += 1
                wait = self.bucket.throttled_wait(float(requested or DEFAULT_EXPECTED_COST), status)
                if attempt >= self.throttle_retries:
                    raise Throttled(
                        f"{operation}: THROTTLED after {attempt + 1} tries", operation=operation, details=cost
                    )
                await asyncio.sleep(wait)
                continue
            self.bucket.update(status)
            if errors:
                messages = "; ".join(
                    str(err.get("message", err)) if isinstance(err, dict) else str(err) for err in errors
                )
                raise ShopifyQueryError(f"{operation}: {messages}", operation=operation, details=errors)
            if result.data is None:
                raise ShopifyQueryError(f"{operation}: answer without data", operation=operation)
            return result.data
        raise AssertionError("unreachable")  # pragma: no cover

    # --- reads --------------------------------------------------------------------------------

    async def locations(self) -> dict[str, str]:
        """Location name -> location gid, over all pages."""
        found: dict[str, str] = {}
        after: str | None = None
        while True:
            data = await self._read(ops.LOCATIONS, {"first": LOCATIONS_PAGE, "after": after})
            conn = data["locations"]
            for node in conn["nodes"]:
                found[node["name"]] = node["id"]
            if not conn["pageInfo"]["hasNextPage"]:
                return found
            after = conn["pageInfo"]["endCursor"]

    async def inventory_items_by_sku(self, skus: Sequence[str]) -> SkuResolution:
        """Resolve Shopify SKUs (exact, case-sensitive) to inventory items, many SKUs per request."""
        wanted = list(dict.fromkeys(skus))
        matches: dict[str, list[str]] = {sku: [] for sku in wanted}
        for start in range(0, len(wanted), SKUS_PER_REQUEST):
            batch = wanted[start : start + SKUS_PER_REQUEST]
            query = sku_search_query(batch)
            after: str | None = None
            while True:
                data = await self._read(
                    ops.VARIANTS_BY_SKU, {"first": VARIANTS_PAGE, "after": after, "query": query}
                )
                conn = data["productVariants"]
                for node in conn["nodes"]:
                    sku, item = node.get("sku"), (node.get("inventoryItem") or {}).get("id")
                    if sku in matches and item and item not in matches[sku]:
                        matches[sku].append(item)
                if not conn["pageInfo"]["hasNextPage"]:
                    break
                after = conn["pageInfo"]["endCursor"]
        result = SkuResolution()
        for sku, items in matches.items():
            if len(items) == 1:
                result.items[sku] = items[0]
            elif items:
                result.duplicates[sku] = items
            else:
                result.missing.append(sku)
        return result

    async def quantities(
        self,
        item_ids: Sequence[str],
        location_ids: Sequence[str],
        names: Sequence[str] = DEFAULT_QUANTITY_NAMES,
    ) -> dict[tuple[str, str], dict[str, int]]:
        """(item gid, location gid) -> quantity name -> quantity. A pair whose item is not stocked at
        the location (or an unknown item) is absent."""
        items = list(dict.fromkeys(item_ids))
        out: dict[tuple[str, str], dict[str, int]] = {}
        for location_id in dict.fromkeys(location_ids):
            for start in range(0, len(items), ITEMS_PER_LEVELS_REQUEST):
                batch = items[start : start + ITEMS_PER_LEVELS_REQUEST]
                data = await self._read(
                    ops.INVENTORY_LEVELS, {"itemIds": batch, "locationId": location_id, "names": list(names)}
                )
                for node in data["nodes"]:
                    level = (node or {}).get("inventoryLevel")
                    if not node or "id" not in node or level is None:
                        continue
                    out[(node["id"], location_id)] = {q["name"]: q["quantity"] for q in level["quantities"]}
        return out

    # --- bulk: one location's inventory snapshot -----------------------------------------------

    async def location_snapshot(
        self,
        location_id: str,
        *,
        poll_interval_s: float = 1.0,
        timeout_s: float = 1800,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[LocationQuantity]:
        """Every inventory item stocked at `location_id` with its named quantities (available,
        damaged, on_hand, committed, reserved, incoming), as of when Shopify started the bulk query.

        Starts `BulkInventorySnapshot`; while the shop's bulk-query slots are taken
        (OPERATION_IN_PROGRESS / LIMIT_REACHED) waits for the operation named in the error, then
        starts again. Polls `BulkOperationStatus` every `poll_interval_s`, telling `on_progress` the
        object count whenever it grows. FAILED / CANCELED / EXPIRED raise `BulkOperationFailed`
        (with Shopify's errorCode); no end within `timeout_s` raises `BulkOperationTimeout`. The JSONL
        (no `url`: nothing to export, an empty list) is downloaded and parsed as it streams; lines
        that cannot be read raise `BulkSnapshotInvalid` carrying the rows that could be."""
        deadline = time.monotonic() + timeout_s
        operation_id = await self._start_bulk_query(deadline, poll_interval_s)
        log.info("bulk inventory snapshot started: shop=%s op=%s", self.shop_domain, operation_id)
        final = await self._poll_bulk(operation_id, deadline, poll_interval_s, on_progress)
        if final["status"] != "COMPLETED":
            raise BulkOperationFailed(
                f"bulk operation {operation_id} ended {final['status']}"
                + (f" ({final.get('errorCode')})" if final.get("errorCode") else ""),
                bulk_operation_id=operation_id,
                status=final["status"],
                error_code=final.get("errorCode"),
                partial_data_url=final.get("partialDataUrl"),
                operation=ops.BULK_INVENTORY_SNAPSHOT,
            )
        url = final.get("url")
        if not url:
            return []
        rows, problems = await self._download_snapshot(url, location_id)
        log.info(
            "bulk inventory snapshot read: shop=%s op=%s rows=%d problems=%d",
            self.shop_domain,
            operation_id,
            len(rows),
            len(problems),
        )
        if problems:
            raise BulkSnapshotInvalid(
                f"bulk operation {operation_id}: {len(problems)} unreadable line(s), first: {problems[0]}",
                rows=rows,
                problems=problems,
                operation=ops.BULK_INVENTORY_SNAPSHOT,
            )
        return rows

    async def _start_bulk_query(self, deadline: float, poll_interval_s: float) -> str:
        """Start the snapshot query; while another bulk query holds the shop's slot, wait for it."""
        while True:
            # safe to resend: a duplicate start at worst waits for its twin, then starts again
            data = await self._read(ops.BULK_INVENTORY_SNAPSHOT, {})
            payload = data.get("bulkOperationRunQuery")
            if payload is None:
                raise ShopifyQueryError(
                    "BulkInventorySnapshot: null payload", operation=ops.BULK_INVENTORY_SNAPSHOT
                )
            errors = payload.get("userErrors") or []
            operation = payload.get("bulkOperation")
            if not errors and operation and operation.get("id"):
                return str(operation["id"])
            busy = [
                e
                for e in errors
                if e.get("code") in BULK_BUSY_CODES or "in progress" in str(e.get("message"))
            ]
            if not busy:
                messages = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or "no operation"
                raise ShopifyQueryError(
                    f"BulkInventorySnapshot: {messages}",
                    operation=ops.BULK_INVENTORY_SNAPSHOT,
                    details=errors,
                )
            self.stats["bulk:waited_for_other"] += 1
            other = _BULK_GID.search(str(busy[0].get("message")))
            log.info(
                "bulk query slot busy: shop=%s waiting for %s",
                self.shop_domain,
                other.group(0) if other else "a running bulk query",
            )
            if other:
                await self._poll_bulk(other.group(0), deadline, poll_interval_s, None)
            else:
                self._check_deadline(deadline, "a running bulk query")
                await asyncio.sleep(poll_interval_s)

    async def _poll_bulk(
        self,
        operation_id: str,
        deadline: float,
        poll_interval_s: float,
        on_progress: Callable[[int], None] | None,
    ) -> dict[str, Any]:
        """Poll until the operation is no longer CREATED / RUNNING / CANCELING; its last status."""
        reported = -1
        while True:
            data = await self._read(ops.BULK_OPERATION_STATUS, {"id": operation_id})
            operation = data.get("bulkOperation")
            if operation is None:
                raise ShopifyQueryError(
                    f"BulkOperationStatus: no bulk operation {operation_id}",
                    operation=ops.BULK_OPERATION_STATUS,
                )
            count = int(operation.get("objectCount") or 0)  # UnsignedInt64: a string of digits
            if on_progress is not None and count > reported:
                reported = count
                on_progress(count)
            if operation["status"] not in BULK_ACTIVE:
                return operation
            self._check_deadline(deadline, f"bulk operation {operation_id}")
            await asyncio.sleep(max(0.0, min(poll_interval_s, deadline - time.monotonic())))

    @staticmethod
    def _check_deadline(deadline: float, what: str) -> None:
        if time.monotonic() >= deadline:
            raise BulkOperationTimeout(f"{what} did not finish in time", operation=ops.BULK_OPERATION_STATUS)

    async def _download_snapshot(
        self, url: str, location_id: str
    ) -> tuple[list[LocationQuantity], list[str]]:
        """Stream the JSONL into the parser; a 5xx or dropped connection starts the download again."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout_s, sock_read=self.timeout_s)
        for attempt in range(self.read_retries + 1):
            parser = SnapshotParser(location_id)
            try:
                # the file lives on Shopify's storage, not the Admin API: no access token goes there
                async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as resp:
                    if resp.status >= 400:
                        text = (await resp.text())[:200]
                        error = ShopifyQueryError if resp.status < 500 else ShopifyUnavailable
                        raise error(
                            f"bulk file download: HTTP {resp.status}: {text}", operation="bulk:download"
                        )
                    self.stats["bulk:download"] += 1
                    pending = b""
                    async for chunk in resp.content.iter_chunked(DOWNLOAD_CHUNK):
                        *complete, pending = (pending + chunk).split(b"\n")
                        for line in complete:
                            parser.feed(line)
                    if pending:
                        parser.feed(pending)
                return parser.finish()
            except (ShopifyUnavailable, aiohttp.ClientError, TimeoutError) as e:
                if attempt >= self.read_retries:
                    if isinstance(e, ShopifyUnavailable):
                        raise
                    raise ShopifyUnavailable(f"bulk file download: {e}", operation="bulk:download") from e
                self.stats["retried:bulk:download"] += 1
                await asyncio.sleep(min(8.0, 0.5 * 2**attempt))
        raise AssertionError("unreachable")

    # --- shop setup (onboarding) ---------------------------------------------------------------

    async def access_scopes(self) -> list[str]:
        """The scope handles the merchant granted this app (`read_inventory`, `write_locations`…).
        A wrong or revoked token raises `ShopifyAuthError`."""
        data = await self._read(ops.ACCESS_SCOPES, {})
        scopes = (data.get("currentAppInstallation") or {}).get("accessScopes") or []
        return sorted({s["handle"] for s in scopes})

    async def add_location(
        self, name: str, country_code: str, *, fulfills_online_orders: bool = False
    ) -> LocationAddOutcome:
        """`locationAdd`. Not retried here: a lost answer may mean the location exists (a repeat then
        answers TAKEN); the caller looks the location up again instead."""
        data = await self._execute(
            ops.LOCATION_ADD,
            {
                "input": {
                    "name": name,
                    "address": {"countryCode": country_code},
                    "fulfillsOnlineOrders": fulfills_online_orders,
                }
            },
        )
        payload = data.get("locationAdd") or {}
        location = payload.get("location") or {}
        return LocationAddOutcome(
            location_id=location.get("id"),
            user_errors=[UserError.model_validate(e) for e in payload.get("userErrors") or []],
        )

    async def activate_inventory(
        self, inventory_item_id: str, location_ids: Sequence[str]
    ) -> ActivationOutcome:
        """`inventoryBulkToggleActivation` with `activate: true` at each location: the item becomes stocked
        there with every quantity 0. Activating where it is stocked already changes nothing, so a
        failed call is simply repeated (through the read retries)."""
        data = await self._read(
            ops.INVENTORY_BULK_TOGGLE_ACTIVATION,
            {
                "inventoryItemId": inventory_item_id,
                "updates": [{"locationId": loc, "activate": True} for loc in location_ids],
            },
        )
        payload = data.get("inventoryBulkToggleActivation") or {}
        return ActivationOutcome(
            inventory_item_id=inventory_item_id,
            location_ids=[
                (lv.get("location") or {}).get("id", "") for lv in payload.get("inventoryLevels") or []
            ],
            user_errors=[UserError.model_validate(e) for e in payload.get("userErrors") or []],
        )

    # --- the write ----------------------------------------------------------------------------

    async def adjust(self, request: AdjustRequest, idempotency_key: str) -> AdjustOutcome:
        """One `inventoryAdjustQuantities` call with `@idempotent(key:)`.

        Success: the group id and, for the requested quantity name only, the applied changes
        (Shopify also lists the `on_hand` changes it derived; they are left out here).
        `quantity_after_change` may be None — Shopify does not always fill it.
        User errors come back in the outcome (codes, fields with the change index), except
        IDEMPOTENCY_CONCURRENT_REQUEST, raised as the transient `IdempotencyConcurrentRequest`.
        """
        if not request.changes:
            raise ValueError("an adjustment needs at least one change")
        if len(request.changes) > MAX_CHANGES_PER_ADJUST:
            raise ValueError(
                f"{len(request.changes)} changes in one call; Shopify takes at most {MAX_CHANGES_PER_ADJUST}"
            )
        if not idempotency_key.strip():
            raise ValueError("the idempotency key must not be blank")
        data = await self._execute(
            ops.INVENTORY_ADJUST_QUANTITIES, adjust_variables(request, idempotency_key)
        )
        payload = data.get("inventoryAdjustQuantities")
        if payload is None:
            raise ShopifyQueryError(
                "InventoryAdjustQuantities: null payload", operation=ops.INVENTORY_ADJUST_QUANTITIES
            )
        user_errors = [UserError.model_validate(e) for e in payload.get("userErrors") or []]
        concurrent = [e for e in user_errors if e.code == "IDEMPOTENCY_CONCURRENT_REQUEST"]
        if concurrent:
            raise IdempotencyConcurrentRequest(
                concurrent[0].message, operation=ops.INVENTORY_ADJUST_QUANTITIES
            )
        group = payload.get("inventoryAdjustmentGroup")
        if group is None:
            return AdjustOutcome(user_errors=user_errors)
        changes = [
            AppliedChange(
                inventory_item_id=(c.get("item") or {}).get("id", ""),
                location_id=(c.get("location") or {}).get("id", ""),
                name=c["name"],
                delta=c["delta"],
                quantity_after_change=c.get("quantityAfterChange"),
            )
            for c in group.get("changes") or []
            if c["name"] == request.name
        ]
        return AdjustOutcome(group_id=group["id"], changes=changes, user_errors=user_errors)


def _code(error: Any) -> str | None:
    if isinstance(error, dict):
        return (error.get("extensions") or {}).get("code")
    return None


__all__ = [
    "ActivationOutcome",
    "LocationAddOutcome",
    "LocationQuantity",
    "ShopifyClient",
    "ShopifyError",
    "SkuResolution",
    "adjust_body",
    "adjust_variables",
    "sku_search_query",
]
