"""SP-API simulator over HTTP (aiohttp): LWA, Reports 2021-06-30, Orders 2026-01-01 searchOrders,
Fulfillment Inbound v0 (getShipments, getShipmentItemsByShipmentId), Finances v0
(listFinancialEvents), FBA Inventory v1 (getInventorySummaries, `inventory_api.py`), and a
pre-signed "S3" URL for report documents. Wire formats follow contracts/sp-api; rate limits are
Amazon's documented usage plans scaled by the clock; faults come from the scenario (`world.faults`).
The Host header is ignored (python-amazon-sp-api derives it by cutting 8 characters off the endpoint)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from sandbox.amazon.inventory_api import inventory_summaries
from sandbox.amazon.world import (
    ORDERS_TWO_MINUTE_RULE,
    AmazonWorld,
    SimInboundShipment,
    SimInboundVersion,
    SimOrder,
    SimOrderVersion,
    SimRefund,
)

# operation -> (rate per business second, burst): contracts/sp-api/REPORTS.md
USAGE_PLANS: dict[str, tuple[float, int]] = {
    "createReport": (0.0167, 15),
    "getReport": (2.0, 15),
    "getReportDocument": (0.0167, 15),
    "searchOrders": (0.0056, 20),
    # fulfillmentInboundV0.json and financesV0.json "Usage Plan" tables
    "getShipments": (2.0, 30),
    "getShipmentItemsByShipmentId": (2.0, 30),
    "listFinancialEvents": (0.5, 30),
    "getInventorySummaries": (2.0, 2),  # fbaInventory.json
    "getMarketplaceParticipations": (0.016, 15),  # sellers v1 "Usage Plan"
}
INBOUND_STATUSES = {
    "WORKING",
    "READY_TO_SHIP",
    "SHIPPED",
    "RECEIVING",
    "CANCELLED",
    "DELETED",
    "CLOSED",
    "ERROR",
    "IN_TRANSIT",
    "DELIVERED",
    "CHECKED_IN",
}
SHIP_FROM_ADDRESS = {
    "Name": "Sandbox Merchant Warehouse",
    "AddressLine1": "100 Main Street",
    "City": "Reno",
    "StateOrProvinceCode": "NV",
    "CountryCode": "US",
    "PostalCode": "89501",
}
WORLD_KEY = web.AppKey("world", AmazonWorld)
INFO_KEY = web.AppKey("info", dict)  # {"base_url": ...} once started
LIMITER_KEY = web.AppKey("limiter", dict)
SIGNING_KEY = b"sandbox-s3-signing-key"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _error(status: int, code: str, message: str, details: str = "", headers: dict[str, str] | None = None):
    return web.json_response(
        {"errors": [{"code": code, "message": message, "details": details}]}, status=status, headers=headers
    )


class _Bucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _operation(name: str) -> Callable[[Handler], Handler]:
    """Counting, authentication, faults and rate limits around one SP-API operation."""

    def wrap(handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            world = request.app[WORLD_KEY]
            world.count(name)
            rate, burst = USAGE_PLANS[name]
            real_rate = rate * world.clock.scale
            headers = {"x-amzn-RateLimit-Limit": f"{real_rate:g}", "x-amzn-RequestId": str(world.new_id())}
            if not world.token_valid(request.headers.get("x-amz-access-token")):
                return _error(
                    403,
                    "Unauthorized",
                    "Access to requested resource is denied.",
                    "The access token you provided is revoked, malformed or invalid.",
                    headers,
                )
            if world.fault("timeout"):
                await asyncio.sleep(world.timeout_delay_s)
            if world.fault("rate_limit"):
                return _error(
                    429, "QuotaExceeded", "You exceeded your quota for the requested resource.", "", headers
                )
            if world.fault("server_error"):
                if world.roll() < 0.5:
                    return _error(
                        500,
                        "InternalFailure",
                        "We encountered an internal error. Please try again.",
                        "",
                        headers,
                    )
                return _error(
                    503,
                    "ServiceUnavailable",
                    "Service temporarily unavailable. Please try again.",
                    "",
                    headers,
                )
            buckets = request.app[LIMITER_KEY]
            bucket = buckets.get(name)
            if bucket is None or bucket.rate != real_rate:
                bucket = buckets[name] = _Bucket(real_rate, burst)
            if world.rate_limits_enabled and not bucket.take():
                return _error(
                    429, "QuotaExceeded", "You exceeded your quota for the requested resource.", "", headers
                )
            response = await handler(request)
            response.headers.update(headers)
            return response

        return run

    return wrap


# --- LWA -----------------------------------------------------------------------------------------


async def lwa_token(request: web.Request) -> web.Response:
    world = request.app[WORLD_KEY]
    world.count("lwa")
    form = await request.post()
    if form.get("grant_type") != "refresh_token":
        return web.json_response(
            {"error": "unsupported_grant_type", "error_description": "Only refresh_token is supported here"},
            status=400,
        )
    if not (
        hmac.compare_digest(str(form.get("client_id", "")), world.client_id)
        and hmac.compare_digest(str(form.get("client_secret", "")), world.client_secret)
    ):
        return web.json_response(
            {"error": "invalid_client", "error_description": "Client authentication failed"}, status=401
        )
    if not hmac.compare_digest(str(form.get("refresh_token", "")), world.refresh_token):
        return web.json_response(
            {
                "error": "invalid_grant",
                "error_description": "The request has an invalid grant parameter : refresh_token",
            },
            status=401,
        )
    return web.json_response(
        {
            "access_token": world.issue_token(),
            "refresh_token": world.refresh_token,
            "token_type": "bearer",
            "expires_in": world.token_ttl_s,
        }
    )


# --- Reports 2021-06-30 --------------------------------------------------------------------------


@_operation("createReport")
async def create_report(request: web.Request) -> web.Response:
    world = request.app[WORLD_KEY]
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "InvalidInput", "Could not parse the request body as JSON.")
    report_type = body.get("reportType")
    marketplace_ids = body.get("marketplaceIds") or body.get("MarketplaceIds")
    if not report_type or not marketplace_ids:
        return _error(400, "InvalidInput", "reportType and marketplaceIds are required.")
    if world.marketplace_id not in marketplace_ids:
        return _error(400, "InvalidInput", f"Invalid marketplaceIds: {marketplace_ids}")
    now = world.now()
    try:
        start = _parse_time(body["dataStartTime"]) if body.get("dataStartTime") else now - timedelta(days=30)
        end = _parse_time(body["dataEndTime"]) if body.get("dataEndTime") else now
    except ValueError as exc:
        return _error(400, "InvalidInput", f"Invalid date: {exc}")
    if end < start:
        return _error(400, "InvalidInput", "dataEndTime must be on or after dataStartTime.")
    report = world.create_report(report_type, start, end, list(marketplace_ids))
    return web.json_response({"reportId": report.report_id}, status=202)


@_operation("getReport")
async def get_report(request: web.Request) -> web.Response:
    world = request.app[WORLD_KEY]
    report = world.reports.get(request.match_info["report_id"])
    if report is None:
        return _error(404, "NotFound", "The requested report was not found.")
    now = world.now()
    status = report.status(now)
    body: dict[str, Any] = {
        "reportType": report.report_type,
        "processingEndTime": None,
        "processingStatus": status,
        "marketplaceIds": report.marketplace_ids,
        "reportId": report.report_id,
        "dataEndTime": _iso(report.data_end),
        "createdTime": _iso(report.created_at),
        "processingStartTime": None,
        "dataStartTime": _iso(report.data_start),
    }
    if status != "IN_QUEUE":
        body["processingStartTime"] = _iso(report.processing_start)
    if status in ("DONE", "CANCELLED", "FATAL"):
        body["processingEndTime"] = _iso(report.done_at)
    if status == "DONE" and report.document_id:
        body["reportDocumentId"] = report.document_id
    return web.json_response({k: v for k, v in body.items() if v is not None})


@_operation("getReportDocument")
async def get_report_document(request: web.Request) -> web.Response:
    world = request.app[WORLD_KEY]
    document_id = request.match_info["document_id"]
    if document_id not in world.documents:
        return _error(404, "NotFound", "The requested report document was not found.")
    issued = int(time.time())
    signature = _sign(document_id, issued)
    base = request.app[INFO_KEY].get("base_url") or _own_base_url(request)
    url = (
        f"{base}/sandbox-s3/{document_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={issued}"
        f"&X-Amz-Expires={int(world.document_url_ttl_s)}&X-Amz-Signature={signature}"
    )
    return web.json_response({"reportDocumentId": document_id, "url": url, "compressionAlgorithm": "GZIP"})


def _sign(document_id: str, issued: int) -> str:
    return hmac.new(SIGNING_KEY, f"{document_id}|{issued}".encode(), hashlib.sha256).hexdigest()


def _own_base_url(request: web.Request) -> str:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if sockname:
        host = sockname[0]
        return f"http://{'[' + host + ']' if ':' in host else host}:{sockname[1]}"
    return f"http://{request.host}"


async def download_document(request: web.Request) -> web.Response:
    world = request.app[WORLD_KEY]
    world.count("downloadReportDocument")
    document_id = request.match_info["document_id"]
    try:
        issued = int(request.query.get("X-Amz-Date", ""))
    except ValueError:
        issued = -1
    denied = None
    if document_id not in world.documents:
        denied = ("NoSuchKey", "The specified key does not exist.", 404)
    elif not hmac.compare_digest(request.query.get("X-Amz-Signature", ""), _sign(document_id, issued)):
        denied = ("SignatureDoesNotMatch", "The request signature we calculated does not match.", 403)
    elif time.time() > issued + world.document_url_ttl_s:
        denied = ("AccessDenied", "Request has expired", 403)
    if denied:
        code, message, status = denied
        return web.Response(
            status=status,
            content_type="application/xml",
            text=f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>',
        )
    return web.Response(body=world.documents[document_id], content_type="application/octet-stream")


# --- Orders 2026-01-01 ---------------------------------------------------------------------------


def _csv(request: web.Request, name: str) -> list[str] | None:
    values = request.query.getall(name, [])
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _order_json(world: AmazonWorld, order: SimOrder, version: SimOrderVersion, included: set[str]) -> dict:
    items = []
    for item in version.items:
        entry: dict[str, Any] = {
            "orderItemId": item.order_item_id,
            "quantityOrdered": item.quantity_ordered,
            "programs": [],
            "product": {
                "asin": item.asin,
                "title": item.title,
                "sellerSku": item.sku,
                "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
            },
        }
        if "FULFILLMENT" in included:
            entry["fulfillment"] = {
                "quantityFulfilled": item.quantity_shipped,
                "quantityUnfulfilled": 0
                if version.status == "CANCELLED"
                else item.quantity_ordered - item.quantity_shipped,
            }
        items.append(entry)
    body: dict[str, Any] = {
        "orderId": order.order_id,
        "createdTime": _iso(order.created_at),
        "lastUpdatedTime": _iso(version.updated_at),
        "programs": [],
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": world.marketplace_id,
            "marketplaceName": world.marketplace_name,
        },
    }
    if "FULFILLMENT" in included:
        body["fulfillment"] = {
            "fulfillmentStatus": version.status,
            "fulfilledBy": "AMAZON",
            "fulfillmentServiceLevel": "STANDARD",
        }
    body["orderItems"] = items
    return body


def _encode_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _decode_token(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.encode()))


@_operation("searchOrders")
async def search_orders(request: web.Request) -> web.Response:
    world = request.app[WORLD_KEY]
    query = request.query
    now = world.now()
    state: dict[str, Any] = {}
    if token := query.get("paginationToken"):
        try:
            state = _decode_token(token)
        except ValueError:
            return _error(400, "InvalidInput", "Invalid paginationToken.")

    def param(name: str) -> str | None:
        return state.get(name) or query.get(name)

    try:
        created_after = _parse_time(v) if (v := param("createdAfter")) else None
        created_before = _parse_time(v) if (v := param("createdBefore")) else None
        updated_after = _parse_time(v) if (v := param("lastUpdatedAfter")) else None
        updated_before = _parse_time(v) if (v := param("lastUpdatedBefore")) else None
    except ValueError as exc:
        return _error(400, "InvalidInput", f"Invalid Input: {exc}", "Dates must be ISO 8601.")
    if (created_after is None) == (updated_after is None):
        return _error(
            400, "InvalidInput", "Invalid Input", "Provide exactly one of createdAfter and lastUpdatedAfter."
        )
    latest = now - ORDERS_TWO_MINUTE_RULE
    for name, before, after in (
        ("lastUpdatedBefore", updated_before, updated_after),
        ("createdBefore", created_before, created_after),
    ):
        if before is None:
            continue
        if before > latest:
            return _error(
                400,
                "InvalidInput",
                "The input you have submitted is not valid. Please check your input and try again.",
                f"{name} must be a date that is at least 2 minutes before current time.",
            )
        if after is not None and before < after:
            return _error(
                400, "InvalidInput", "Invalid Input", f"{name} must be on or after the matching After date."
            )
    try:
        page_size = int(param("maxResultsPerPage") or 100)
    except ValueError:
        page_size = 0
    if not 1 <= page_size <= 100:
        return _error(400, "InvalidInput", "Invalid Input", "maxResultsPerPage must be between 1 and 100.")

    fulfilled_by = _csv(request, "fulfilledBy")
    statuses = _csv(request, "fulfillmentStatuses")
    marketplace_ids = _csv(request, "marketplaceIds")
    included = set(_csv(request, "includedData") or [])
    window_end = updated_before or created_before or latest

    def eligible(version: SimOrderVersion) -> bool:
        if fulfilled_by is not None and "AMAZON" not in fulfilled_by:
            return False
        if marketplace_ids is not None and world.marketplace_id not in marketplace_ids:
            return False
        return statuses is None or version.status in statuses

    def matches(order: SimOrder, version: SimOrderVersion) -> bool:
        if not eligible(version):
            return False
        if updated_after is not None:
            return updated_after <= version.updated_at <= window_end
        return created_after <= order.created_at <= window_end  # type: ignore[operator]

    everything = world.orders_at(now)
    selected = [(o, v) for o, v in everything if matches(o, v)]
    offset = int(state.get("offset", 0))
    page = selected[offset : offset + page_size]
    if world.fault("duplicate_rows"):
        if offset > 0 and page_size > 1:  # repeat the tail of the previous page
            back = 1 + int(world.roll() * max(1, page_size // 2))
            page = selected[max(0, offset - back) : offset] + page
        elif offset == 0 and updated_after is not None:  # re-serve orders an earlier window delivered
            earlier = [(o, v) for o, v in everything if v.updated_at < updated_after and eligible(v)]
            page = earlier[-2:] + page
    body: dict[str, Any] = {"orders": [_order_json(world, o, v, included) for o, v in page]}
    if offset + page_size < len(selected):
        next_state = {
            "offset": offset + page_size,
            "maxResultsPerPage": str(page_size),
            "lastUpdatedAfter": _iso(updated_after) if updated_after else None,
            "lastUpdatedBefore": _iso(window_end) if updated_after else None,
            "createdAfter": _iso(created_after) if created_after else None,
            "createdBefore": _iso(window_end) if created_after else None,
        }
        body["pagination"] = {
            "nextToken": _encode_token({k: v for k, v in next_state.items() if v is not None})
        }
    if updated_after is not None:
        body["lastUpdatedBefore"] = _iso(window_end)
    else:
        body["createdBefore"] = _iso(window_end)
    return web.json_response(body)


# --- Fulfillment Inbound v0 ----------------------------------------------------------------------


def _shipment_json(world: AmazonWorld, shipment: SimInboundShipment, version: SimInboundVersion) -> dict:
    return {
        "ShipmentId": shipment.shipment_id,
        "ShipmentName": shipment.name,
        "ShipFromAddress": dict(SHIP_FROM_ADDRESS),
        "DestinationFulfillmentCenterId": shipment.destination,
        "ShipmentStatus": version.status,
        "LabelPrepType": "SELLER_LABEL",
        "AreCasesRequired": False,
        "BoxContentsSource": "FEED",
    }


@_operation("getShipments")
async def get_shipments(request: web.Request) -> web.Response:
    """QueryType SHIPMENT (by ShipmentStatusList / ShipmentIdList), DATE_RANGE (LastUpdatedAfter /
    LastUpdatedBefore on the shipment's last update, plus a status or id list) or NEXT_TOKEN."""
    world = request.app[WORLD_KEY]
    query = request.query
    query_type = query.get("QueryType")
    if query_type not in ("SHIPMENT", "DATE_RANGE", "NEXT_TOKEN"):
        return _error(400, "InvalidInput", "QueryType must be one of SHIPMENT, DATE_RANGE, NEXT_TOKEN.")
    marketplace_id = query.get("MarketplaceId")
    if not marketplace_id:
        return _error(400, "InvalidInput", "MarketplaceId is required.")
    if marketplace_id != world.marketplace_id:
        return _error(400, "InvalidInput", f"Invalid MarketplaceId: {marketplace_id}")
    if query_type == "NEXT_TOKEN":
        token = query.get("NextToken")
        if not token:
            return _error(400, "InvalidInput", "NextToken is required when QueryType is NEXT_TOKEN.")
        try:
            state = _decode_token(token)
        except ValueError:
            return _error(400, "InvalidInput", "Invalid NextToken.")
    else:
        state = {
            "type": query_type,
            "statuses": _csv(request, "ShipmentStatusList"),
            "ids": _csv(request, "ShipmentIdList"),
            "after": query.get("LastUpdatedAfter"),
            "before": query.get("LastUpdatedBefore"),
            "offset": 0,
        }
        if not state["statuses"] and not state["ids"]:
            return _error(
                400, "InvalidInput", "Either ShipmentStatusList or ShipmentIdList must be provided."
            )
        unknown = set(state["statuses"] or []) - INBOUND_STATUSES
        if unknown:
            return _error(400, "InvalidInput", f"Invalid ShipmentStatusList: {sorted(unknown)}")
        if query_type == "DATE_RANGE" and not (state["after"] and state["before"]):
            return _error(
                400, "InvalidInput", "LastUpdatedAfter and LastUpdatedBefore are required for DATE_RANGE."
            )
    try:
        after = _parse_time(state["after"]) if state.get("after") else None
        before = _parse_time(state["before"]) if state.get("before") else None
    except ValueError as exc:
        return _error(400, "InvalidInput", f"Invalid date: {exc}", "Dates must be ISO 8601.")
    if after is not None and before is not None and before < after:
        return _error(400, "InvalidInput", "LastUpdatedBefore must be on or after LastUpdatedAfter.")

    statuses, ids = state.get("statuses"), state.get("ids")

    def matches(shipment: SimInboundShipment, version: SimInboundVersion) -> bool:
        if statuses and version.status not in statuses:
            return False
        if ids and shipment.shipment_id not in ids:
            return False
        if after is not None and version.updated_at < after:
            return False
        return before is None or version.updated_at <= before

    selected = [(s, v) for s, v in world.inbound_at() if matches(s, v)]
    offset, size = int(state.get("offset", 0)), max(1, world.inbound_page_size)
    page = selected[offset : offset + size]
    if offset > 0 and world.fault("duplicate_rows"):  # repeat the tail of the previous page
        page = selected[max(0, offset - 1 - int(world.roll() * max(1, size // 2))) : offset] + page
    payload: dict[str, Any] = {"ShipmentData": [_shipment_json(world, s, v) for s, v in page]}
    if offset + size < len(selected):
        payload["NextToken"] = _encode_token({**state, "offset": offset + size})
    return web.json_response({"payload": payload})


@_operation("getShipmentItemsByShipmentId")
async def get_shipment_items(request: web.Request) -> web.Response:
    world = request.app[WORLD_KEY]
    shipment_id = request.match_info["shipment_id"]
    marketplace_id = request.query.get("MarketplaceId")
    if marketplace_id and marketplace_id != world.marketplace_id:
        return _error(400, "InvalidInput", f"Invalid MarketplaceId: {marketplace_id}")
    shipment = world.inbound_shipments.get(shipment_id)
    version = shipment.at(world.now()) if shipment else None
    if shipment is None or version is None:
        return _error(404, "NotFound", f"Shipment {shipment_id} was not found.")
    items = [
        {
            "ShipmentId": shipment_id,
            "SellerSKU": sku,
            "FulfillmentNetworkSKU": world.fnsku(sku),
            "QuantityShipped": shipped,
            "QuantityReceived": received,
            "QuantityInCase": 0,
        }
        for sku, (shipped, received) in sorted(version.items.items())
    ]
    return web.json_response({"payload": {"ItemData": items}})


# --- Finances v0 ---------------------------------------------------------------------------------


def _refund_json(world: AmazonWorld, refund: SimRefund) -> dict:
    return {
        "AmazonOrderId": refund.order_id,
        "MarketplaceName": world.marketplace_name,
        "PostedDate": _iso(refund.posted_at),
        "ShipmentItemAdjustmentList": [
            {
                "SellerSKU": refund.sku,
                "OrderAdjustmentItemId": refund.adjustment_id,
                "QuantityShipped": refund.quantity,
                "ItemChargeAdjustmentList": [
                    {
                        "ChargeType": "Principal",
                        "ChargeAmount": {"CurrencyCode": world.currency, "CurrencyAmount": -refund.amount},
                    }
                ],
            }
        ],
    }


@_operation("listFinancialEvents")
async def list_financial_events(request: web.Request) -> web.Response:
    """Refund events (RefundEventList) posted in [PostedAfter, PostedBefore); both more than two
    minutes in the past; PostedBefore defaults to two minutes ago. NextToken continues a listing."""
    world = request.app[WORLD_KEY]
    query = request.query
    now = world.now()
    latest = now - ORDERS_TWO_MINUTE_RULE
    if token := query.get("NextToken"):
        try:
            state = _decode_token(token)
        except ValueError:
            return _error(400, "InvalidInput", "Invalid NextToken.")
    else:
        state = {"after": query.get("PostedAfter"), "before": query.get("PostedBefore"), "offset": 0}
        try:
            state["size"] = int(query.get("MaxResultsPerPage") or 100)
        except ValueError:
            state["size"] = 0
        if not 1 <= state["size"] <= 100:
            return _error(400, "InvalidInput", "MaxResultsPerPage must be between 1 and 100.")
        if not state["after"]:
            return _error(400, "InvalidInput", "PostedAfter is required.")
    try:
        after = _parse_time(state["after"])
        before = _parse_time(state["before"]) if state.get("before") else latest
    except ValueError as exc:
        return _error(400, "InvalidInput", f"Invalid date: {exc}", "Dates must be ISO 8601.")
    if not token:
        if after > latest or before > latest:
            return _error(
                400,
                "InvalidInput",
                "Date range is invalid.",
                "PostedAfter and PostedBefore must be at least 2 minutes before the time of the request.",
            )
        if before <= after:
            return _error(
                400, "InvalidInput", "Date range is invalid.", "PostedBefore must be after PostedAfter."
            )
        state["before"] = _iso(before)
    selected = [] if before - after > timedelta(days=180) else world.refunds_posted(after, before, now)
    offset, size = int(state["offset"]), int(state["size"])
    page = selected[offset : offset + size]
    if world.fault("duplicate_rows"):
        if offset > 0:  # repeat the tail of the previous page
            page = selected[max(0, offset - 1 - int(world.roll() * max(1, size // 2))) : offset] + page
        else:  # re-serve refunds an earlier window delivered
            page = world.refunds_posted(after - timedelta(days=world.duplicate_days), after, now)[-2:] + page
    payload: dict[str, Any] = {
        "FinancialEvents": {"RefundEventList": [_refund_json(world, r) for r in page]},
    }
    if offset + size < len(selected):
        payload["NextToken"] = _encode_token({**state, "offset": offset + size})
    return web.json_response({"payload": payload})


# --- Sellers v1 ----------------------------------------------------------------------------------


@_operation("getMarketplaceParticipations")
async def get_marketplace_participations(request: web.Request) -> web.Response:
    """The marketplaces the seller can sell in (`GetMarketplaceParticipationsResponse`)."""
    return web.json_response({"payload": request.app[WORLD_KEY].marketplace_participations()})


@_operation("getInventorySummaries")
async def get_inventory_summaries(request: web.Request) -> web.Response:
    status, body = inventory_summaries(request.app[WORLD_KEY], request.query)
    return web.json_response(body, status=status)


async def not_found(request: web.Request) -> web.Response:
    request.app[WORLD_KEY].count("unknown")
    return _error(404, "NotFound", f"Resource {request.path} is not found.")


def build_app(world: AmazonWorld) -> web.Application:
    app = web.Application()
    app[WORLD_KEY] = world
    app[LIMITER_KEY] = {}
    app[INFO_KEY] = {}
    app.router.add_post("/auth/o2/token", lwa_token)
    app.router.add_post("/reports/2021-06-30/reports", create_report)
    app.router.add_get("/reports/2021-06-30/reports/{report_id}", get_report)
    app.router.add_get("/reports/2021-06-30/documents/{document_id}", get_report_document)
    app.router.add_get("/sandbox-s3/{document_id}", download_document)
    app.router.add_get("/orders/2026-01-01/orders", search_orders)
    app.router.add_get("/fba/inbound/v0/shipments", get_shipments)
    app.router.add_get("/fba/inbound/v0/shipments/{shipment_id}/items", get_shipment_items)
    app.router.add_get("/finances/v0/financialEvents", list_financial_events)
    app.router.add_get("/fba/inventory/v1/summaries", get_inventory_summaries)
    app.router.add_get("/sellers/v1/marketplaceParticipations", get_marketplace_participations)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


async def start(world: AmazonWorld, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve `world`; returns the runner (`await runner.cleanup()` to stop) and the base URL."""
    app = build_app(world)
    # handler_cancellation: a reply held by a "timeout" fault stops when the client gives up.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    bound_port = sockets[0].getsockname()[1] if sockets else port
    base_url = f"http://{host}:{bound_port}"
    app[INFO_KEY]["base_url"] = base_url
    return runner, base_url
