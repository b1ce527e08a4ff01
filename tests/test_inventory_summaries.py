"""getInventorySummaries (FBA Inventory v1): the simulator's answers in Amazon's model, the client
paging through them (nextToken, 429s, the operation's real rate limit), and the rows it makes equal to
the MYI report's for the same world and moment."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from integrations.amazon.errors import AmazonApiError, AmazonError
from integrations.amazon.flat_reports import INVENTORY_REPORT, parse_inventory_report
from integrations.amazon.snapshot import InventorySnapshotRow, summary_row
from tests.amazon_helpers import running_world, scenario, sim_and_client
from tests.test_amazon_client import read_report
from tests.test_contract_spapi import SP_API, _token, operation, response_definition, validate
from tests.test_inventory_snapshot import EVENTS

pytestmark = pytest.mark.timeout(60)

PATH = "/fba/inventory/v1/summaries"
MODEL = "fbaInventory.json"
CATALOG = [
    {"sku": f"SKU-{n}", "fnsku": f"X00000000{n}", "asin": f"B00000000{n}", "amazon": {"sellable": 10 * n}}
    for n in (5, 3, 1, 4, 2)
] + [
    {"sku": "MUG-RED", "fnsku": "X00MUGRED1", "asin": "B0MUGRED01", "amazon": {"sellable": 40}},
    {"sku": "MUG-BLU", "fnsku": "X00MUGBLU1", "asin": "B0MUGBLU01", "amazon": {"sellable": 30}},
]


def as_report_rows(rows: list[InventorySnapshotRow]) -> dict[str, dict[str, Any]]:
    return {r.msku: r.model_dump(exclude={"line_no"}) for r in rows}


# --- one summary --------------------------------------------------------------------------------


def test_summary_row_reads_the_totals_and_takes_missing_quantities_as_zero():
    row = summary_row(
        {
            "sellerSku": "A-1",
            "fnSku": "X001",
            "asin": "B001",
            "inventoryDetails": {
                "fulfillableQuantity": 7,
                "inboundShippedQuantity": 4,
                "reservedQuantity": {"totalReservedQuantity": 2, "pendingCustomerOrderQuantity": 1},
                "unfulfillableQuantity": {"totalUnfulfillableQuantity": 3, "defectiveQuantity": 3},
                "researchingQuantity": {"totalResearchingQuantity": 1},
            },
        }
    )
    assert row == InventorySnapshotRow(
        msku="A-1", fnsku="X001", asin="B001", fulfillable=7, reserved=2, unsellable=3, inbound_shipped=4,
        researching=1,
    )  # fmt: skip
    assert summary_row({"sellerSku": "B", "inventoryDetails": {}}) == InventorySnapshotRow(msku="B")
    assert summary_row({"fnSku": "X002", "inventoryDetails": {}}) is None  # no SKU: nothing to map
    with pytest.raises(AmazonError, match="no inventoryDetails"):
        summary_row({"sellerSku": "C"})  # it would look empty: a correction of its whole stock


# --- the simulator on the wire ---------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.skipif(not SP_API.is_dir(), reason=f"SP-API contracts not found at {SP_API}")
async def test_simulator_pages_summaries_in_amazons_model():
    scn = scenario(EVENTS, catalog=CATALOG)
    async with running_world(scn, day=1.0) as (world, base), httpx.AsyncClient() as http:
        world.summaries_page_size = 3
        headers = {"x-amz-access-token": (await _token(http, base, world))["access_token"]}
        params = {
            "details": "true",
            "granularityType": "Marketplace",
            "granularityId": world.marketplace_id,
            "marketplaceIds": world.marketplace_id,
        }
        declared = {p["name"] for p in operation(MODEL, PATH, "get")["parameters"]}
        assert set(params) | {"nextToken"} <= declared
        definition = response_definition(MODEL, PATH, "get", 200)
        summaries, pages, query = [], 0, dict(params)
        while True:
            response = await http.get(f"{base}{PATH}", params=query, headers=headers)
            assert response.status_code == 200, response.text
            assert response.headers["x-amzn-RateLimit-Limit"] == f"{2.0 * world.clock.scale:g}"
            validate(MODEL, definition, response.json())
            pages += 1
            summaries += response.json()["payload"]["inventorySummaries"]
            token = (response.json().get("pagination") or {}).get("nextToken")
            if not token:
                break
            query = {**params, "nextToken": token}
        plain = await http.get(f"{base}{PATH}", params={**params, "details": "false"}, headers=headers)
        bad = {
            name: await http.get(f"{base}{PATH}", params={**params, **change}, headers=headers)
            for name, change in {
                "granularityType": {"granularityType": "Country"},
                "marketplaceIds": {"marketplaceIds": "A2EUQ1WTGCTBG2"},
                "sellerSkus": {"sellerSkus": ",".join(f"S{n}" for n in range(51))},
            }.items()
        }
        world.summaries_token_ttl_s = 0.0
        first = (await http.get(f"{base}{PATH}", params=params, headers=headers)).json()
        await asyncio.sleep(0.01)
        expired = await http.get(
            f"{base}{PATH}", params={**params, "nextToken": first["pagination"]["nextToken"]}, headers=headers
        )
        one = await http.get(
            f"{base}{PATH}", params={**params, "sellerSkus": "SKU-3,MUG-RED"}, headers=headers
        )
    skus = [s["sellerSku"] for s in summaries]
    assert pages == 3 and skus == sorted(skus) and len(skus) == 8  # 7 catalogue SKUs + CUP-NEW inbound
    by_sku = {s["sellerSku"]: s for s in summaries}
    red, blue = by_sku["MUG-RED"]["inventoryDetails"], by_sku["MUG-BLU"]["inventoryDetails"]
    assert (red["fulfillableQuantity"], red["reservedQuantity"]["totalReservedQuantity"]) == (37, 2)
    assert (
        blue["unfulfillableQuantity"]["totalUnfulfillableQuantity"],
        blue["inboundReceivingQuantity"],
    ) == (
        1,
        6,
    )
    assert "inventoryDetails" not in plain.json()["payload"]["inventorySummaries"][0]
    for name, response in bad.items():
        assert response.status_code == 400, name
        validate(MODEL, response_definition(MODEL, PATH, "get", 400), response.json())
    assert expired.status_code == 400 and "invalid or expired" in expired.json()["errors"][0]["message"]
    assert [s["sellerSku"] for s in one.json()["payload"]["inventorySummaries"]] == ["MUG-RED", "SKU-3"]


# --- the client ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_client_reads_every_page_and_equals_the_report_of_the_same_moment():
    scn = scenario(EVENTS, catalog=CATALOG)
    async with sim_and_client(scn, day=1.0) as (world, client):
        world.summaries_page_size = 3
        progress: list[int] = []
        rows = await client.inventory_summaries(on_page=progress.append)
        at = world.now()
        text = await read_report(client, INVENTORY_REPORT, at - timedelta(days=1), at)
    assert text is not None
    report, issues = parse_inventory_report(text)
    assert issues == []
    assert progress == [3, 6, 8] and client.stats["getInventorySummaries"] == 3
    assert as_report_rows(rows) == as_report_rows(report)  # no movement between the two reads
    assert [r.msku for r in rows] == sorted(r.msku for r in report)


@pytest.mark.asyncio
async def test_client_honours_429s_on_any_page_and_loses_no_summary():
    scn = scenario(EVENTS, catalog=CATALOG)
    async with sim_and_client(scn, day=1.0, client_kwargs={"max_retries": 12}) as (world, client):
        world.summaries_page_size = 2
        world.add_fault("rate_limit", rate=0.5)  # seeded: every page may be refused a few times
        rows = await client.inventory_summaries()
        expected = world.fba_inventory_at(world.now())
    assert {r.msku: (r.fulfillable, r.reserved, r.unsellable) for r in rows} == {
        sku: (level.fulfillable, level.reserved, level.unsellable) for sku, level in expected.items()
    }
    throttled = client.stats["throttled:getInventorySummaries"]
    assert throttled >= 1
    assert client.stats["getInventorySummaries"] == 4 + throttled == world.requests["getInventorySummaries"]


@pytest.mark.asyncio
async def test_client_keeps_to_the_real_rate_of_two_requests_a_second():
    scn = scenario([], catalog=CATALOG)
    async with sim_and_client(scn, day=1.0, day_length=86_400) as (world, client):  # real time: 2/s, burst 2
        world.summaries_page_size = 1
        started = time.monotonic()
        rows = await client.inventory_summaries()
        elapsed = time.monotonic() - started
        bucket = client._limiter.bucket("getInventorySummaries")
    assert len(rows) == 7
    # The client waits for its bucket: 2 at once (the burst), then one every 0.5 s, at least 2.5 s (a
    # request that arrives a little early may still meet a 429 and is asked again later).
    assert client.stats["getInventorySummaries"] == 7 + client.stats["throttled:getInventorySummaries"]
    assert elapsed >= 2.0
    assert bucket is not None and bucket.rate == pytest.approx(2.0)


@pytest.mark.asyncio
async def test_an_expired_next_token_is_an_api_error():
    scn = scenario([], catalog=CATALOG)
    async with sim_and_client(scn, day=1.0) as (world, client):
        world.summaries_page_size = 2
        world.summaries_token_ttl_s = -1.0  # every nextToken has expired by the time it comes back
        with pytest.raises(AmazonApiError) as info:
            await client.inventory_summaries()
    assert info.value.status == 400 and "expired" in str(info.value)
