"""The Shopify simulator on its own: the world a scenario builds, the wire format, cost, faults,
control endpoints and the command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
import pytest

from integrations.shopify import operations
from sandbox.scenario import Fault
from sandbox.shopify.api import search_terms
from sandbox.shopify.server import start
from sandbox.shopify.world import ShopifyWorld
from tests.shopify_helpers import REPO, clock_at, make_world, post_graphql, scenario

pytestmark = pytest.mark.timeout(60)

ADJUST = operations.source(operations.INVENTORY_ADJUST_QUANTITIES)
ADJUST_WITHOUT_KEY = """
mutation($input: InventoryAdjustQuantitiesInput!) {
  inventoryAdjustQuantities(input: $input) { inventoryAdjustmentGroup { id } userErrors { field message code } }
}"""


def adjust_input(world: ShopifyWorld, changes: list[dict]) -> dict:
    return {
        "name": "available",
        "reason": "correction",
        "referenceDocumentUri": "gid://app/Batch/1",
        "changes": changes,
    }


def test_world_from_scenario_creates_each_shopify_sku_once_with_its_stock():
    world = make_world()
    assert sorted(world.snapshot()) == [
        "CUP",
        "MUG-RED",
    ]  # the 2-pack maps to MUG-RED; GHOST-1 is not in Shopify
    assert world.snapshot()["MUG-RED"] == {
        "fba": {"available": 40, "damaged": 0},
        "warehouse": {"available": 100, "incoming": 0, "damaged": 0},
    }
    assert world.snapshot()["CUP"]["fba"] == {"available": 10, "damaged": 2}
    assert [loc.name for loc in world.locations.values()] == ["Amazon FBA US", "Warehouse"]
    cup = world.level(world.find_item("CUP").id, world.location_for("fba").id)
    assert cup.get("on_hand") == 12


def test_staff_edits_and_sales_change_the_snapshot():
    world = make_world()
    world.manual_adjust("CUP", "fba", "damaged", 3)
    world.sale("MUG-RED", 4)
    assert world.snapshot()["CUP"]["fba"]["damaged"] == 5
    assert world.snapshot()["MUG-RED"]["warehouse"]["available"] == 96
    with pytest.raises(KeyError):
        world.sale("GHOST-1", 1)


def test_search_syntax():
    assert search_terms("sku:\"A B\" OR sku:C\\:D OR sku:'E'") == [
        [("sku", "A B")],
        [("sku", "C:D")],
        [("sku", "E")],
    ]
    assert search_terms("") == []


@pytest.mark.asyncio
async def test_responses_carry_shopify_cost_extensions():
    world = make_world()
    runner, base_url = await start(world)
    try:
        status, body = await post_graphql(base_url, operations.source(operations.LOCATIONS), {"first": 100})
    finally:
        await runner.cleanup()
    assert status == 200
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 100 * 1 + 1  # connection of 100 locations + pageInfo
    assert cost["actualQueryCost"] <= cost["requestedQueryCost"]
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    assert cost["throttleStatus"]["restoreRate"] == 100.0


@pytest.mark.asyncio
async def test_drained_bucket_answers_throttled_like_shopify():
    world = make_world()
    runner, base_url = await start(world)
    # Drained, and restoring 1 point a second: a slow start of the server cannot refill the bucket.
    world.bucket.restore_rate = 1.0
    world.bucket.drain()
    try:
        status, body = await post_graphql(base_url, operations.source(operations.LOCATIONS), {"first": 10})
    finally:
        await runner.cleanup()
    assert status == 200 and "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert body["extensions"]["cost"]["actualQueryCost"] is None
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 20


@pytest.mark.asyncio
async def test_query_over_the_single_query_cost_limit_is_refused():
    world = make_world()
    runner, base_url = await start(world)
    query = "query { productVariants(first: 250) { nodes { id inventoryItem { id inventoryLevels(first: 10) { nodes { id } } } } } }"
    try:
        status, body = await post_graphql(base_url, query)
    finally:
        await runner.cleanup()
    assert status == 200 and body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


@pytest.mark.asyncio
async def test_adjust_without_idempotent_directive_is_refused():
    world = make_world()
    item, fba = world.find_item("MUG-RED").id, world.location_for("fba").id
    change = {"inventoryItemId": item, "locationId": fba, "delta": 1, "changeFromQuantity": 40}
    runner, base_url = await start(world)
    try:
        _, body = await post_graphql(base_url, ADJUST_WITHOUT_KEY, {"input": adjust_input(world, [change])})
        _, blank = await post_graphql(
            base_url, ADJUST, {"input": adjust_input(world, [change]), "idempotencyKey": "  "}
        )
    finally:
        await runner.cleanup()
    assert body["data"] == {"inventoryAdjustQuantities": None}
    assert "@idempotent" in body["errors"][0]["message"]
    assert "empty" in blank["errors"][0]["message"]
    assert world.applied_group_count == 0


@pytest.mark.asyncio
async def test_absent_change_from_quantity_is_an_error_but_explicit_null_is_not():
    world = make_world()
    item, fba = world.find_item("MUG-RED").id, world.location_for("fba").id
    runner, base_url = await start(world)
    try:
        _, absent = await post_graphql(
            base_url,
            ADJUST,
            {
                "input": adjust_input(world, [{"inventoryItemId": item, "locationId": fba, "delta": 1}]),
                "idempotencyKey": "a-1",
            },
        )
        _, null = await post_graphql(
            base_url,
            ADJUST,
            {
                "input": adjust_input(
                    world,
                    [{"inventoryItemId": item, "locationId": fba, "delta": 1, "changeFromQuantity": None}],
                ),
                "idempotencyKey": "a-2",
            },
        )
    finally:
        await runner.cleanup()
    errors = absent["data"]["inventoryAdjustQuantities"]["userErrors"]
    assert [e["field"] for e in errors] == [["input", "changes", "0", "changeFromQuantity"]]
    assert null["data"]["inventoryAdjustQuantities"]["userErrors"] == []
    assert world.snapshot()["MUG-RED"]["fba"]["available"] == 41


@pytest.mark.asyncio
async def test_more_than_250_changes_is_a_request_error():
    world = make_world()
    item, fba = world.find_item("MUG-RED").id, world.location_for("fba").id
    change = {"inventoryItemId": item, "locationId": fba, "delta": 1, "changeFromQuantity": None}
    runner, base_url = await start(world)
    try:
        _, body = await post_graphql(
            base_url, ADJUST, {"input": adjust_input(world, [change] * 251), "idempotencyKey": "x"}
        )
    finally:
        await runner.cleanup()
    assert body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert world.applied_group_count == 0


@pytest.mark.asyncio
async def test_success_lists_the_derived_on_hand_change_too():
    world = make_world()
    item, fba = world.find_item("CUP").id, world.location_for("fba").id
    change = {"inventoryItemId": item, "locationId": fba, "delta": -1, "changeFromQuantity": 10}
    runner, base_url = await start(world)
    try:
        _, body = await post_graphql(
            base_url, ADJUST, {"input": adjust_input(world, [change]), "idempotencyKey": "o"}
        )
    finally:
        await runner.cleanup()
    changes = body["data"]["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"]["changes"]
    assert [(c["name"], c["delta"], c["quantityAfterChange"]) for c in changes] == [
        ("available", -1, 9),
        ("on_hand", -1, 11),
    ]


@pytest.mark.asyncio
async def test_wrong_token_and_unknown_version():
    world = make_world()
    runner, base_url = await start(world)
    try:
        unauthorized, body = await post_graphql(
            base_url, "{ locations(first: 1) { nodes { id } } }", token="nope"
        )
        not_found, _ = await post_graphql(
            base_url, "{ locations(first: 1) { nodes { id } } }", version="2099-01"
        )
    finally:
        await runner.cleanup()
    assert unauthorized == 401 and "Invalid API key or access token" in body["errors"]
    assert not_found == 404


@pytest.mark.asyncio
async def test_faults_follow_the_scenario_clock():
    events = [
        {"day": 1.0, "type": "fault", "api": "shopify", "kind": "server_error", "rate": 1.0, "until_day": 2.0}
    ]
    query = "{ locations(first: 1) { nodes { id } } }"
    before = ShopifyWorld.from_scenario(scenario(events), clock_at(0.5))
    during = ShopifyWorld.from_scenario(scenario(events), clock_at(1.5))
    assert during.faults == [
        Fault(api="shopify", kind="server_error", rate=1.0, start_day=1.0, until_day=2.0)
    ]
    statuses = []
    for world in (before, during):
        runner, base_url = await start(world)
        try:
            statuses.append((await post_graphql(base_url, query))[0])
        finally:
            await runner.cleanup()
    assert statuses[0] == 200 and statuses[1] in (500, 503)


@pytest.mark.asyncio
async def test_control_endpoints():
    world = make_world()
    runner, base_url = await start(world)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{base_url}/control/adjust",
                json={"sku": "CUP", "location": "warehouse", "name": "damaged", "delta": 2},
            ) as r:
                assert r.status == 200 and (await r.json())["quantity"] == 2
            async with http.post(f"{base_url}/control/sale", json={"sku": "MUG-RED", "quantity": 3}) as r:
                assert (await r.json())["quantity"] == 97
            async with http.post(f"{base_url}/control/sale", json={"sku": "GHOST-1", "quantity": 1}) as r:
                assert r.status == 400
            async with http.get(f"{base_url}/control/state") as r:
                state = await r.json()
    finally:
        await runner.cleanup()
    assert state["shopify"]["CUP"]["warehouse"]["damaged"] == 2
    assert state["shopify"]["MUG-RED"]["warehouse"]["available"] == 97
    assert state["request_count"] == 0 and state["applied_group_count"] == 0


@pytest.mark.asyncio
async def test_command_line_prints_one_json_line_and_serves(tmp_path):
    path = tmp_path / "scenario.json"
    path.write_text(scenario().model_dump_json())
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox.shopify",
        "--port",
        "0",
        "--scenario",
        str(path),
        "--day-seconds",
        "2",
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        info = json.loads(line)
        assert info["fba_location"] == "Amazon FBA US" and info["warehouse_location"] == "Warehouse"
        assert info["api_version"] == "2026-04" and info["access_token"] == "shpat_sandbox_token"
        async with aiohttp.ClientSession() as http, http.get(f"{info['base_url']}/control/state") as r:
            assert (await r.json())["shopify"]["MUG-RED"]["fba"]["available"] == 40
    finally:
        proc.terminate()
        await proc.wait()
