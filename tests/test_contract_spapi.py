"""The SP-API simulator's answers hold to Amazon's published models in ../shared/contracts/sp-api.

Each response body is validated against its Swagger 2.0 definition with jsonschema (Draft 4, the
dialect Swagger 2.0 uses), `$ref`s resolved inside the model file. Objects are checked strictly: a
property the model does not define is an error, so the simulator cannot drift from the contract.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from integrations.amazon.flat_reports import INVENTORY_REPORT
from sandbox.amazon.world import INVENTORY_HEADER
from sandbox.scenario import Scenario
from tests.amazon_helpers import load_scenario, running_world

CONTRACTS = Path(__file__).resolve().parents[1].parent / "shared/contracts"
SP_API = CONTRACTS / "sp-api"

pytestmark = pytest.mark.skipif(
    not SP_API.is_dir(), reason=f"SP-API contracts not found at {SP_API} (../shared/contracts is absent)"
)
jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is needed for the contract tests")

# LWA is not an SP-API model; this is the documented token response (Login with Amazon docs).
LWA_TOKEN_SCHEMA = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "additionalProperties": False,
    "properties": {
        "access_token": {"type": "string", "pattern": "^Atza\\|"},
        "refresh_token": {"type": "string", "pattern": "^Atzr\\|"},
        "token_type": {"enum": ["bearer"]},
        "expires_in": {"type": "integer", "minimum": 1},
    },
}


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@cache
def _model(file: str) -> dict[str, Any]:
    return json.loads((SP_API / file).read_text())


def validate(file: str, definition: str, body: Any) -> None:
    model = _model(file)
    schema = {
        "$ref": f"#/definitions/{definition}",
        "definitions": _strict(copy.deepcopy(model["definitions"])),
    }
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def operation(file: str, path: str, method: str) -> dict[str, Any]:
    return _model(file)["paths"][path][method]


def response_definition(file: str, path: str, method: str, status: int) -> str:
    return operation(file, path, method)["responses"][str(status)]["schema"]["$ref"].rsplit("/", 1)[-1]


async def _token(http: httpx.AsyncClient, base: str, world) -> dict[str, Any]:
    response = await http.post(
        f"{base}/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": world.refresh_token,
            "client_id": world.client_id,
            "client_secret": world.client_secret,
        },
    )
    assert response.status_code == 200
    return response.json()


REPORTS = "reports_2021-06-30.json"
ORDERS = "orders_2026-01-01.json"
INBOUND = "fulfillmentInboundV0.json"
FINANCES = "financesV0.json"


@pytest.mark.asyncio
async def test_lwa_token_and_its_errors():
    async with (
        running_world(load_scenario("01-shipments.json"), day=2) as (world, base),
        httpx.AsyncClient() as http,
    ):
        token = await _token(http, base, world)
        jsonschema.validate(token, LWA_TOKEN_SCHEMA)
        bad = await http.post(
            f"{base}/auth/o2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": "x",
                "client_id": world.client_id,
                "client_secret": "no",
            },
        )
        assert bad.status_code == 401 and set(bad.json()) == {"error", "error_description"}


@pytest.mark.asyncio
async def test_reports_create_get_document_download():
    scn = load_scenario("02-ledger-adjustments.json")
    async with running_world(scn, day=3) as (world, base), httpx.AsyncClient() as http:
        headers = {"x-amz-access-token": (await _token(http, base, world))["access_token"]}
        spec = {
            "reportType": "GET_LEDGER_DETAIL_VIEW_DATA",
            "marketplaceIds": [world.marketplace_id],
            "dataStartTime": (scn.start - timedelta(days=1)).isoformat(),
            "dataEndTime": world.now().isoformat(),
        }
        validate(REPORTS, "CreateReportSpecification", spec)
        created = await http.post(f"{base}/reports/2021-06-30/reports", json=spec, headers=headers)
        assert created.status_code == 202
        assert "x-amzn-RateLimit-Limit" in created.headers
        validate(
            REPORTS, response_definition(REPORTS, "/reports/2021-06-30/reports", "post", 202), created.json()
        )
        report_id = created.json()["reportId"]

        statuses = set()
        for _ in range(200):
            got = await http.get(f"{base}/reports/2021-06-30/reports/{report_id}", headers=headers)
            assert got.status_code == 200
            body = got.json()
            validate(
                REPORTS,
                response_definition(REPORTS, "/reports/2021-06-30/reports/{reportId}", "get", 200),
                body,
            )
            statuses.add(body["processingStatus"])
            if body["processingStatus"] == "DONE":
                break
            await asyncio.sleep(0.005)
        assert body["processingStatus"] == "DONE" and body["reportDocumentId"]

        document = await http.get(
            f"{base}/reports/2021-06-30/documents/{body['reportDocumentId']}", headers=headers
        )
        definition = response_definition(
            REPORTS, "/reports/2021-06-30/documents/{reportDocumentId}", "get", 200
        )
        validate(REPORTS, definition, document.json())
        assert document.json()["compressionAlgorithm"] == "GZIP"
        download = await http.get(document.json()["url"])  # pre-signed: no SP-API headers
        assert download.status_code == 200 and download.content[:2] == b"\x1f\x8b"


@pytest.mark.asyncio
async def test_search_orders_pages_and_fulfillment_data():
    async with (
        running_world(load_scenario("01-shipments.json"), day=2) as (world, base),
        httpx.AsyncClient() as http,
    ):
        headers = {"x-amz-access-token": (await _token(http, base, world))["access_token"]}
        params = {
            "lastUpdatedAfter": world.scenario.start.isoformat().replace("+00:00", "Z"),
            "lastUpdatedBefore": (world.now() - timedelta(minutes=5)).isoformat(),
            "fulfilledBy": "AMAZON",
            "includedData": "FULFILLMENT",
            "marketplaceIds": world.marketplace_id,
            "maxResultsPerPage": "2",
        }
        declared = {p["name"] for p in operation(ORDERS, "/orders/2026-01-01/orders", "get")["parameters"]}
        assert set(params) <= declared
        definition = response_definition(ORDERS, "/orders/2026-01-01/orders", "get", 200)
        pages, orders = 0, []
        token = None
        while True:
            query = params | ({"paginationToken": token} if token else {})
            response = await http.get(f"{base}/orders/2026-01-01/orders", params=query, headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            validate(ORDERS, definition, body)
            pages += 1
            orders += body["orders"]
            token = (body.get("pagination") or {}).get("nextToken")
            if not token:
                break
        assert pages == 2 and len(orders) == 4
        assert all(o["fulfillment"]["fulfilledBy"] == "AMAZON" for o in orders)
        assert all("quantityFulfilled" in item["fulfillment"] for o in orders for item in o["orderItems"])


@pytest.mark.asyncio
async def test_error_bodies_are_error_lists():
    scn = load_scenario("01-shipments.json")
    async with running_world(scn, day=2, day_length=86_400) as (world, base), httpx.AsyncClient() as http:
        headers = {"x-amz-access-token": (await _token(http, base, world))["access_token"]}
        url = f"{base}/orders/2026-01-01/orders"
        too_recent = await http.get(
            url, params={"lastUpdatedAfter": "2026-10-01T00:00:00Z", "lastUpdatedBefore": world.now().isoformat()},
            headers=headers,
        )  # fmt: skip
        unauthorised = await http.get(url, params={"lastUpdatedAfter": "2026-10-01T00:00:00Z"})
        world.add_fault("rate_limit")
        throttled = await http.get(url, params={"lastUpdatedAfter": "2026-10-01T00:00:00Z"}, headers=headers)
        world.faults.clear()
        world.add_fault("server_error")
        failing = await http.get(f"{base}/reports/2021-06-30/reports/1", headers=headers)
    for response, status in ((too_recent, 400), (unauthorised, 403), (throttled, 429)):
        assert response.status_code == status
        validate(
            ORDERS, response_definition(ORDERS, "/orders/2026-01-01/orders", "get", status), response.json()
        )
        assert "x-amzn-RateLimit-Limit" in response.headers
    assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
    assert failing.status_code in (500, 503)
    validate(REPORTS, "ErrorList", failing.json())


@pytest.mark.asyncio
async def test_inbound_get_shipments_pages_and_items():
    scn = load_scenario("04-removals-inbound.json")
    events = [e.model_dump() for e in scn.events]
    events += [
        {"day": 2.0 + n / 10, "type": "inbound_shipped", "shipment_id": f"FBA17XYZ{n:04d}",
         "items": [{"sku": "BAG-BLK", "quantity": n}]}
        for n in range(1, 4)
    ]  # fmt: skip
    scn = Scenario.model_validate(scn.model_dump() | {"events": events})
    async with running_world(scn, day=5) as (world, base), httpx.AsyncClient() as http:
        world.inbound_page_size = 2
        headers = {"x-amz-access-token": (await _token(http, base, world))["access_token"]}
        url = f"{base}/fba/inbound/v0/shipments"
        params = {
            "QueryType": "DATE_RANGE",
            "LastUpdatedAfter": scn.start.isoformat().replace("+00:00", "Z"),
            "LastUpdatedBefore": world.now().isoformat(),
            "ShipmentStatusList": "WORKING,SHIPPED,RECEIVING,CANCELLED,DELETED,CLOSED,ERROR,IN_TRANSIT,DELIVERED,CHECKED_IN",
            "MarketplaceId": world.marketplace_id,
        }
        declared = {p["name"] for p in operation(INBOUND, "/fba/inbound/v0/shipments", "get")["parameters"]}
        assert set(params) | {"NextToken"} <= declared
        definition = response_definition(INBOUND, "/fba/inbound/v0/shipments", "get", 200)
        shipments, pages, query = [], 0, params
        while True:
            response = await http.get(url, params=query, headers=headers)
            assert response.status_code == 200, response.text
            assert "x-amzn-RateLimit-Limit" in response.headers
            validate(INBOUND, definition, response.json())
            pages += 1
            shipments += response.json()["payload"]["ShipmentData"]
            token = response.json()["payload"].get("NextToken")
            if not token:
                break
            query = {"QueryType": "NEXT_TOKEN", "NextToken": token, "MarketplaceId": world.marketplace_id}
        assert pages == 2 and len(shipments) == 4
        assert {s["ShipmentStatus"] for s in shipments} == {"CLOSED", "SHIPPED"}

        items_path = "/fba/inbound/v0/shipments/{shipmentId}/items"
        items_definition = response_definition(INBOUND, items_path, "get", 200)
        items = await http.get(
            f"{base}/fba/inbound/v0/shipments/FBA17ABCDE12/items",
            params={"MarketplaceId": world.marketplace_id},
            headers=headers,
        )
        assert items.status_code == 200, items.text
        validate(INBOUND, items_definition, items.json())
        assert [
            (i["SellerSKU"], i["QuantityShipped"], i["QuantityReceived"])
            for i in items.json()["payload"]["ItemData"]
        ] == [("BAG-BLK", 40, 38)]
        unknown = await http.get(f"{base}/fba/inbound/v0/shipments/NOPE/items", headers=headers)
        no_query_type = await http.get(url, params={"MarketplaceId": world.marketplace_id}, headers=headers)
    assert unknown.status_code == 404
    validate(INBOUND, response_definition(INBOUND, items_path, "get", 404), unknown.json())
    assert no_query_type.status_code == 400
    validate(
        INBOUND, response_definition(INBOUND, "/fba/inbound/v0/shipments", "get", 400), no_query_type.json()
    )


@pytest.mark.asyncio
async def test_list_financial_events_refund_pages():
    scn = load_scenario("03-returns.json")
    async with running_world(scn, day=10) as (world, base), httpx.AsyncClient() as http:
        headers = {"x-amz-access-token": (await _token(http, base, world))["access_token"]}
        url = f"{base}/finances/v0/financialEvents"
        params = {
            "PostedAfter": scn.start.isoformat().replace("+00:00", "Z"),
            "PostedBefore": (world.now() - timedelta(minutes=5)).isoformat(),
            "MaxResultsPerPage": "3",
        }
        declared = {
            p["name"] for p in operation(FINANCES, "/finances/v0/financialEvents", "get")["parameters"]
        }
        assert set(params) | {"NextToken"} <= declared
        definition = response_definition(FINANCES, "/finances/v0/financialEvents", "get", 200)
        refunds, pages, query = [], 0, params
        while True:
            response = await http.get(url, params=query, headers=headers)
            assert response.status_code == 200, response.text
            assert "x-amzn-RateLimit-Limit" in response.headers
            validate(FINANCES, definition, response.json())
            pages += 1
            refunds += response.json()["payload"]["FinancialEvents"]["RefundEventList"]
            token = response.json()["payload"].get("NextToken")
            if not token:
                break
            query = params | {"NextToken": token}
        assert pages == 2 and len(refunds) == 4
        assert {r["AmazonOrderId"] for r in refunds} == {"113-1000001-0000001"}
        items = [i for r in refunds for i in r["ShipmentItemAdjustmentList"]]
        assert {(i["SellerSKU"], i["QuantityShipped"]) for i in items} == {("TEE-M", 1)}
        assert len({i["OrderAdjustmentItemId"] for i in items}) == 4
        too_recent = await http.get(
            url, params={"PostedAfter": "2026-10-01T00:00:00Z", "PostedBefore": world.now().isoformat()},
            headers=headers,
        )  # fmt: skip
    assert too_recent.status_code == 400
    validate(
        FINANCES, response_definition(FINANCES, "/finances/v0/financialEvents", "get", 400), too_recent.json()
    )


def _documented_columns(report_type: str) -> list[str]:
    """The column list REPORTS.md gives for a report: the backticked list under its heading."""
    text = (SP_API / "REPORTS.md").read_text()
    section = text.split(f"## {report_type}", 1)[1]
    listing = section.split("`", 2)[1]
    return [c.strip() for c in listing.replace("\n", " ").split(",")]


async def test_inventory_report_has_the_documented_columns_through_the_wire():
    assert _documented_columns(INVENTORY_REPORT) == INVENTORY_HEADER
    scn = load_scenario("02-ledger-adjustments.json")
    async with running_world(scn, day=3) as (world, base), httpx.AsyncClient() as http:
        headers = {"x-amz-access-token": (await _token(http, base, world))["access_token"]}
        spec = {
            "reportType": INVENTORY_REPORT,
            "marketplaceIds": [world.marketplace_id],
            "dataStartTime": (world.now() - timedelta(days=1)).isoformat(),
            "dataEndTime": world.now().isoformat(),
        }
        validate(REPORTS, "CreateReportSpecification", spec)
        created = await http.post(f"{base}/reports/2021-06-30/reports", json=spec, headers=headers)
        assert created.status_code == 202
        report_id = created.json()["reportId"]
        for _ in range(200):
            body = (await http.get(f"{base}/reports/2021-06-30/reports/{report_id}", headers=headers)).json()
            if body["processingStatus"] == "DONE":
                break
            await asyncio.sleep(0.005)
        validate(
            REPORTS, response_definition(REPORTS, "/reports/2021-06-30/reports/{reportId}", "get", 200), body
        )
        document = await http.get(
            f"{base}/reports/2021-06-30/documents/{body['reportDocumentId']}", headers=headers
        )
        download = await http.get(document.json()["url"])
    lines = gzip.decompress(download.content).decode().splitlines()
    assert lines[0].split("\t") == INVENTORY_HEADER
    assert len(lines) - 1 == len({c.sku for c in scn.catalog}) and all(
        len(line.split("\t")) == len(INVENTORY_HEADER) for line in lines
    )
