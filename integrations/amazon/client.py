"""SP-API client for the reconciler: reports (create, poll, download), Orders v2026-01-01,
Fulfillment Inbound v0 (inbound shipments and their items), Finances v0 (refunds) and FBA Inventory v1
(getInventorySummaries, full reconciliation's snapshot of a small catalogue).

Built on python-amazon-sp-api's async clients. `endpoint` / `lwa_endpoint` point it at a simulator
(contracts/sp-api/REPORTS.md, "against a local simulator"); `None` means the real Amazon endpoints
of the marketplace's region. Every call goes through `RateLimiter` (per-operation token buckets,
429 backoff, retries of transient failures). Results are `reconciler.models`; secrets are kept in
`SecretStr` and never logged.

To add an operation: one `async def` that calls `self._call("operationName", lambda: ...)` and
converts the payload into a model (and a `UsagePlan` in `ratelimit.DEFAULT_USAGE_PLANS`).
"""

from __future__ import annotations

import functools
import gzip
import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import certifi
import httpx
import sp_api.asyncio.api as _spapi  # noqa: F401  (must be imported before sp_api.asyncio.auth)
from pydantic import BaseModel, SecretStr
from sp_api.asyncio.api import Finances, FulfillmentInbound, Inventories, Orders, Reports
from sp_api.asyncio.auth import access_token_client as _token_module
from sp_api.asyncio.auth.access_token_client import AccessTokenClient
from sp_api.asyncio.base._transport_httpx import AsyncHttpxTransport
from sp_api.base import Marketplaces
from sp_api.base.credential_provider import FromCodeCredentialProvider

from integrations.amazon.errors import AmazonApiError, AmazonError
from integrations.amazon.ratelimit import HttpFailure, RateLimiter
from integrations.amazon.snapshot import InventorySnapshotRow, summary_row
from reconciler.models import InboundItem, OrderItemShipment, RefundEvent, ReportStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

LWA_PATH = "/auth/o2/token"
ORDERS_VERSION = "2026-01-01"
ORDERS_PAGE_SIZE = 100
FINANCES_PAGE_SIZE = 100
# Every inbound shipment status that matters for a shipment already sent (getShipments needs a list).
INBOUND_SHIPMENT_STATUSES = (
    "WORKING",
    "SHIPPED",
    "RECEIVING",
    "CANCELLED",
    "DELETED",
    "CLOSED",
    "ERROR",
    "IN_TRANSIT",
    "DELIVERED",
    "CHECKED_IN",
)


class SpApiCredentials(BaseModel):
    refresh_token: SecretStr
    lwa_app_id: str
    lwa_client_secret: SecretStr


class _CheckedTransport(AsyncHttpxTransport):
    """The library's httpx transport with two fixes: a non-2xx answer raises `HttpFailure` (the
    library would turn a 5xx without a JSON body into an empty success), and the timeout is applied
    (the library passes `timeout=None` per request, which disables httpx's client timeout)."""

    def __init__(self, *, timeout: float, **kwargs: Any) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self._timeout = timeout

    async def request(self, method, url, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        response = await super().request(method, url, **kwargs)
        if response.status_code >= 400:
            raise HttpFailure(response.status_code, response.headers, response.content)
        return response


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every httpx client (building one per client costs ~50 ms)."""
    return ssl.create_default_context(cafile=certifi.where())


def _token_client_class(lwa_endpoint: str | None, timeout_s: float) -> type[AccessTokenClient]:
    """An AccessTokenClient bound to one LWA endpoint, with a timeout and a cache key that includes
    the endpoint (the library's token cache is process-wide and keyed by refresh token only)."""
    if lwa_endpoint is None:
        scheme, host, path = "https://", AccessTokenClient.host, LWA_PATH
    else:
        parts = urlsplit(lwa_endpoint)
        scheme, host = f"{parts.scheme or 'http'}://", parts.netloc
        path = parts.path if parts.path.rstrip("/").endswith(LWA_PATH) else LWA_PATH

    class _TokenClient(AccessTokenClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._transport = _CheckedTransport(
                timeout=timeout_s, proxies=self.proxies, verify=_ssl_context()
            )

        async def _request(self, url, data, headers):  # type: ignore[override]
            response = await self._transport.request("POST", url, data=data, headers=headers)
            return response.json()

        def _get_cache_key(self, token_flavor: str = "") -> str:
            return super()._get_cache_key(f"{token_flavor}@{self.scheme}{self.host}")

    _TokenClient.scheme, _TokenClient.host, _TokenClient.path = scheme, host, path
    return _TokenClient


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str | None) -> datetime:
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _marketplace(marketplace_id: str) -> Marketplaces:
    for candidate in Marketplaces:
        if candidate.marketplace_id == marketplace_id:
            return candidate
    raise ValueError(f"unknown marketplace id {marketplace_id!r}")


class AmazonClient:
    def __init__(
        self,
        credentials: SpApiCredentials,
        marketplace_id: str,
        *,
        endpoint: str | None = None,
        lwa_endpoint: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 6,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
    ) -> None:
        self.marketplace_id = marketplace_id
        self._marketplace = _marketplace(marketplace_id)
        self._credentials = credentials
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        self._timeout_s = timeout_s
        self._token_class = _token_client_class(lwa_endpoint, timeout_s)
        self._limiter = RateLimiter(
            max_retries=max_retries, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s
        )
        self._reports = self._library_client(Reports)
        self._orders = self._library_client(Orders, version=ORDERS_VERSION)
        self._inbound = self._library_client(FulfillmentInbound, version="v0")
        self._finances = self._library_client(Finances, version="v0")
        self._inventories = self._library_client(Inventories)
        self._http = httpx.AsyncClient(timeout=timeout_s, verify=_ssl_context())

    def __repr__(self) -> str:
        return f"AmazonClient(marketplace_id={self.marketplace_id!r}, endpoint={self._endpoint!r})"

    @property
    def stats(self) -> dict[str, int]:
        """Requests per operation, `throttled:<operation>` (429s) and `errors:<operation>` counts."""
        return self._limiter.stats

    def _library_client(self, cls: Any, **kwargs: Any) -> Any:
        client = cls(
            marketplace=self._marketplace,
            refresh_token=self._credentials.refresh_token.get_secret_value(),
            credentials={
                "refresh_token": self._credentials.refresh_token.get_secret_value(),
                "lwa_app_id": self._credentials.lwa_app_id,
                "lwa_client_secret": self._credentials.lwa_client_secret.get_secret_value(),
            },
            credential_providers=[FromCodeCredentialProvider],
            timeout=self._timeout_s,
            verify=_ssl_context(),
            auth_token_client_class=self._token_class,
            **kwargs,
        )
        if self._endpoint:
            client.endpoint = self._endpoint
        client._transport = _CheckedTransport(timeout=self._timeout_s, verify=_ssl_context())
        return client

    def _forget_token(self, client: Any) -> None:
        _token_module.cache.pop(client._auth._get_cache_key(), None)

    async def _call(self, operation: str, client: Any, fn: Callable[[], Awaitable[T]]) -> T:
        async def attempt() -> T:
            try:
                return await fn()
            except HttpFailure as failure:
                if failure.status != 403:
                    raise
                # A revoked or unknown access token (e.g. a restarted simulator): fetch a new one once.
                self._forget_token(client)
                return await fn()

        return await self._limiter.call(operation, attempt)

    # --- Reports 2021-06-30 -------------------------------------------------------------------

    async def create_report(
        self, report_type: str, start: datetime, end: datetime, options: dict[str, str] | None = None
    ) -> str:
        body: dict[str, Any] = {
            "reportType": report_type,
            "dataStartTime": _iso(start),
            "dataEndTime": _iso(end),
            "marketplaceIds": [self.marketplace_id],
        }
        if options:
            body["reportOptions"] = dict(options)
        response = await self._call(
            "createReport", self._reports, lambda: self._reports.create_report(**dict(body))
        )
        report_id = response.payload.get("reportId")
        if not report_id:
            raise AmazonError(f"createReport answered without a reportId: {response.payload!r}")
        log.info(
            "report requested: %s %s..%s id=%s",
            report_type,
            body["dataStartTime"],
            body["dataEndTime"],
            report_id,
        )
        return str(report_id)

    async def get_report(self, report_id: str) -> ReportStatus:
        response = await self._call("getReport", self._reports, lambda: self._reports.get_report(report_id))
        payload = response.payload
        return ReportStatus(
            report_id=str(payload.get("reportId", report_id)),
            processing_status=str(payload.get("processingStatus", "")),
            document_id=payload.get("reportDocumentId"),
            processing_start=_parse_time(start) if (start := payload.get("processingStartTime")) else None,
        )

    async def download_document(self, document_id: str) -> str:
        """getReportDocument, download its (pre-signed, short-lived) URL, gunzip when GZIP, decode."""
        for attempt in (1, 2):
            response = await self._call(
                "getReportDocument", self._reports, lambda: self._reports.get_report_document(document_id)
            )
            document = response.payload
            url = document.get("url")
            if not url:
                raise AmazonError(f"getReportDocument {document_id}: no url in {document!r}")
            try:
                data = await self._limiter.call("downloadReportDocument", lambda url=url: self._fetch(url))
            except AmazonApiError as exc:
                if exc.status == 403 and attempt == 1:  # the URL expired: ask for a fresh one
                    continue
                raise
            if document.get("compressionAlgorithm") == "GZIP" or data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            try:
                return data.decode("utf-8-sig")
            except UnicodeDecodeError:
                return data.decode("cp1252", errors="replace")
        raise AssertionError("unreachable")

    async def _fetch(self, url: str) -> bytes:
        response = await self._http.get(url)
        if response.status_code >= 400:
            raise HttpFailure(response.status_code, response.headers, response.content)
        return response.content

    # --- Orders 2026-01-01 --------------------------------------------------------------------

    async def shipped_order_items(
        self, updated_after: datetime, updated_before: datetime
    ) -> list[OrderItemShipment]:
        """FBA orders updated in [after, before] (before must be ≥ 2 minutes in the past), every page;
        one entry per order item with Amazon's cumulative shipped quantity. When a page repeats an
        order, the most recent state of each item wins."""
        params: dict[str, Any] = {
            "lastUpdatedAfter": _iso(updated_after),
            "lastUpdatedBefore": _iso(updated_before),
            "fulfilledBy": ["AMAZON"],
            "includedData": "FULFILLMENT",
            "marketplaceIds": [self.marketplace_id],
            "maxResultsPerPage": ORDERS_PAGE_SIZE,
        }
        items: dict[tuple[str, str], OrderItemShipment] = {}
        token: str | None = None
        while True:
            page_params = dict(params) if token is None else {**params, "paginationToken": token}
            response = await self._call(
                "searchOrders", self._orders, lambda p=page_params: self._orders.search_orders(**dict(p))
            )
            for order in response.payload.get("orders") or []:
                for item in self._order_items(order):
                    key = (item.order_id, item.order_item_id)
                    seen = items.get(key)
                    if seen is None or (item.last_updated, item.quantity_shipped) >= (
                        seen.last_updated,
                        seen.quantity_shipped,
                    ):
                        items[key] = item
            token = response.next_token
            if not token:
                break
        return sorted(items.values(), key=lambda i: (i.last_updated, i.order_id, i.order_item_id))

    @staticmethod
    def _order_items(order: dict[str, Any]) -> list[OrderItemShipment]:
        fulfillment = order.get("fulfillment") or {}
        if fulfillment.get("fulfilledBy") not in (None, "AMAZON"):
            return []
        status = str(fulfillment.get("fulfillmentStatus", ""))
        updated = _parse_time(order.get("lastUpdatedTime"))
        result = []
        for item in order.get("orderItems") or []:
            product = item.get("product") or {}
            item_fulfillment = item.get("fulfillment") or {}
            result.append(
                OrderItemShipment(
                    order_id=str(order["orderId"]),
                    order_item_id=str(item["orderItemId"]),
                    msku=str(product.get("sellerSku", "")),
                    quantity_ordered=int(item.get("quantityOrdered", 0)),
                    quantity_shipped=int(item_fulfillment.get("quantityFulfilled") or 0),
                    order_status=status,
                    last_updated=updated,
                )
            )
        return result

    # --- Fulfillment Inbound v0 ----------------------------------------------------------------

    async def inbound_items(self, updated_after: datetime, updated_before: datetime) -> list[InboundItem]:
        """Inbound shipments last updated in [after, before] (getShipments, QueryType=DATE_RANGE, every
        status in INBOUND_SHIPMENT_STATUSES, every page), then each shipment's items
        (getShipmentItemsByShipmentId): one entry per shipment and seller SKU with Amazon's cumulative
        QuantityShipped / QuantityReceived and the shipment's current status (a state stream)."""
        params: dict[str, Any] = {
            "QueryType": "DATE_RANGE",
            "LastUpdatedAfter": _iso(updated_after),
            "LastUpdatedBefore": _iso(updated_before),
            "ShipmentStatusList": ",".join(INBOUND_SHIPMENT_STATUSES),
            "MarketplaceId": self.marketplace_id,
        }
        shipments: dict[str, dict[str, Any]] = {}
        token: str | None = None
        while True:
            page_params = (
                dict(params)
                if token is None
                else {"QueryType": "NEXT_TOKEN", "NextToken": token, "MarketplaceId": self.marketplace_id}
            )
            response = await self._call(
                "getShipments", self._inbound, lambda p=page_params: self._inbound.get_shipments(**dict(p))
            )
            for shipment in response.payload.get("ShipmentData") or []:
                if shipment.get("ShipmentId"):
                    shipments[str(shipment["ShipmentId"])] = shipment  # a repeated shipment: the later copy
            token = response.next_token
            if not token:
                break
        items: list[InboundItem] = []
        for shipment_id in sorted(shipments):
            items += await self._shipment_items(shipments[shipment_id])
        return items

    async def _shipment_items(self, shipment: dict[str, Any]) -> list[InboundItem]:
        shipment_id = str(shipment["ShipmentId"])
        response = await self._call(
            "getShipmentItemsByShipmentId",
            self._inbound,
            lambda: self._inbound.shipment_items_by_shipment(shipment_id, MarketplaceId=self.marketplace_id),
        )
        by_sku: dict[str, InboundItem] = {}
        for item in response.payload.get("ItemData") or []:
            sku = str(item.get("SellerSKU") or "")
            if not sku:
                continue
            seen = by_sku.get(sku)
            shipped = int(item.get("QuantityShipped") or 0)
            received = int(item.get("QuantityReceived") or 0)
            if seen is not None:  # the same SKU on two lines: one entry with the sums
                shipped, received = shipped + seen.quantity_shipped, received + seen.quantity_received
            by_sku[sku] = InboundItem(
                shipment_id=shipment_id,
                shipment_name=str(shipment.get("ShipmentName") or ""),
                shipment_status=str(shipment.get("ShipmentStatus") or ""),
                msku=sku,
                fnsku=str(item.get("FulfillmentNetworkSKU") or ""),
                quantity_shipped=shipped,
                quantity_received=received,
            )
        return [by_sku[sku] for sku in sorted(by_sku)]

    # --- Finances v0 ---------------------------------------------------------------------------

    async def refunds(self, posted_after: datetime, posted_before: datetime) -> list[RefundEvent]:
        """Refunds posted in [after, before) (listFinancialEvents, every page; both times must be
        more than 2 minutes in the past): one entry per refunded item (RefundEventList →
        ShipmentItemAdjustmentList), its QuantityShipped being the refunded quantity. A refund served
        twice (a repeated page) is returned once."""
        params: dict[str, Any] = {
            "PostedAfter": _iso(posted_after),
            "PostedBefore": _iso(posted_before),
            "MaxResultsPerPage": FINANCES_PAGE_SIZE,
        }
        refunds: dict[tuple[str, ...], RefundEvent] = {}
        token: str | None = None
        while True:
            page_params = dict(params) if token is None else {**params, "NextToken": token}
            response = await self._call(
                "listFinancialEvents",
                self._finances,
                lambda p=page_params: self._finances.list_financial_events(**dict(p)),
            )
            events = (response.payload.get("FinancialEvents") or {}).get("RefundEventList") or []
            for event in events:
                for refund in self._refund_items(event):
                    key: tuple[str, ...] = (refund.order_id, refund.msku, refund.adjustment_id)
                    if not refund.adjustment_id:  # no id to tell two refunds apart: keep every one
                        key += (str(len(refunds)),)
                    refunds[key] = refund
            token = response.next_token
            if not token:
                break
        return sorted(refunds.values(), key=lambda r: (r.posted_date, r.order_id, r.msku, r.adjustment_id))

    @staticmethod
    def _refund_items(event: dict[str, Any]) -> list[RefundEvent]:
        order_id = str(event.get("AmazonOrderId") or "")
        posted = _parse_time(event.get("PostedDate"))
        result = []
        for item in event.get("ShipmentItemAdjustmentList") or []:
            sku = str(item.get("SellerSKU") or "")
            if not (order_id and sku):
                continue
            result.append(
                RefundEvent(
                    order_id=order_id,
                    msku=sku,
                    quantity=abs(int(item.get("QuantityShipped") or 0)),
                    posted_date=posted,
                    adjustment_id=str(item.get("OrderAdjustmentItemId") or ""),
                )
            )
        return result

    # --- FBA Inventory v1 ---------------------------------------------------------------------

    async def inventory_summaries(
        self, on_page: Callable[[int], None] | None = None
    ) -> list[InventorySnapshotRow]:
        """Amazon's FBA inventory of every seller SKU in the marketplace now: getInventorySummaries
        (`details=true`, `granularityType=Marketplace`, every page through `nextToken`, at the
        operation's rate of 2 requests/s, burst 2; a 429 backs off and asks for the same page again).
        One row per MSKU with the quantities the MYI report names (`snapshot.summary_row`); a SKU a
        later page repeats keeps its later copy. `on_page(n)`: after each page, the rows so far.
        A nextToken lives 30 s: a caller that stops must start again from the first page."""
        params: dict[str, Any] = {
            "details": "true",
            "granularityType": "Marketplace",
            "granularityId": self.marketplace_id,
            "marketplaceIds": [self.marketplace_id],
        }
        rows: dict[str, InventorySnapshotRow] = {}
        token: str | None = None
        while True:
            page_params = dict(params) if token is None else {**params, "nextToken": token}
            response = await self._call(
                "getInventorySummaries",
                self._inventories,
                lambda p=page_params: self._inventories.get_inventory_summary_marketplace(**dict(p)),
            )
            payload = response.payload if isinstance(response.payload, dict) else {}
            for summary in payload.get("inventorySummaries") or []:
                row = summary_row(summary) if isinstance(summary, dict) else None
                if row is not None:
                    rows[row.msku] = row
            if on_page is not None:
                on_page(len(rows))
            token = response.next_token
            if not token:
                break
        return list(rows.values())

    async def aclose(self) -> None:
        for client in (self._reports, self._orders, self._inbound, self._finances, self._inventories):
            await client.aclose()
            await client._auth.aclose()
        await self._http.aclose()

    async def __aenter__(self) -> AmazonClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
