"""Bulk inventory snapshots: the JSONL parser on its own, the simulator's bulk operations, and the
client against the simulator end to end."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from integrations.shopify import operations
from integrations.shopify.bulk import LocationQuantity, parse_snapshot_jsonl
from integrations.shopify.errors import BulkOperationFailed, BulkOperationTimeout, BulkSnapshotInvalid
from sandbox.shopify.world import ShopifyWorld
from tests.shopify_helpers import clock_at, make_world, post_graphql, running

pytestmark = pytest.mark.timeout(60)

NAMES = ("available", "damaged", "on_hand", "committed", "reserved", "incoming")
FBA = "gid://shopify/Location/1"
WH = "gid://shopify/Location/2"


def item_line(n: int, sku: str | None) -> str:
    return json.dumps({"id": f"gid://shopify/InventoryItem/{n}", "sku": sku}).replace("/", "\\/")


def level_line(n: int, location: str, parent: int, **quantities: int) -> str:
    return json.dumps(
        {
            "id": f"gid://shopify/InventoryLevel/{n}?inventory_item_id={parent}",
            "location": {"id": location},
            "quantities": [{"name": k, "quantity": v} for k, v in quantities.items()],
            "__parentId": f"gid://shopify/InventoryItem/{parent}",
        }
    ).replace("/", "\\/")


def row(n: int, sku: str | None, **quantities: int) -> LocationQuantity:
    return LocationQuantity(
        inventory_item_id=f"gid://shopify/InventoryItem/{n}", sku=sku, location_id=FBA, quantities=quantities
    )


# --- the parser ------------------------------------------------------------------------------------


def test_parser_keeps_the_levels_of_the_location_under_their_items():
    lines = [
        item_line(1, "MUG-RED"),
        level_line(1, FBA, 1, available=40, damaged=0),
        level_line(2, WH, 1, available=100, damaged=0),
        item_line(2, "CUP"),
        level_line(2, WH, 2, available=5),  # stocked only at the warehouse: no row
        item_line(3, None),
        level_line(1, FBA, 3, available=0, damaged=2),
    ]
    rows, problems = parse_snapshot_jsonl(lines, FBA)
    assert problems == []
    assert rows == [row(1, "MUG-RED", available=40, damaged=0), row(3, None, available=0, damaged=2)]


def test_parser_takes_children_before_and_after_their_parents():
    lines = [
        level_line(1, FBA, 2, available=7),  # the parent comes later
        item_line(1, "A"),
        level_line(1, FBA, 1, available=3),
        item_line(2, "B"),
        "",  # blank lines are nothing
    ]
    rows, problems = parse_snapshot_jsonl(lines, FBA)
    assert problems == []
    assert rows == [row(1, "A", available=3), row(2, "B", available=7)]


def test_parser_reports_a_level_whose_parent_never_appears():
    rows, problems = parse_snapshot_jsonl(
        [item_line(1, "A"), level_line(1, FBA, 1, available=1), level_line(1, FBA, 9, available=5)], FBA
    )
    assert rows == [row(1, "A", available=1)]
    assert problems == ["line 3: inventory level of unknown parent gid://shopify/InventoryItem/9"]


def test_parser_reports_unreadable_lines_and_reads_the_rest():
    bad_quantities = json.dumps(
        {
            "id": "gid://shopify/InventoryLevel/1?inventory_item_id=2",
            "location": {"id": FBA},
            "quantities": [{"name": "available", "quantity": "many"}],
            "__parentId": "gid://shopify/InventoryItem/2",
        }
    )
    lines = [
        item_line(1, "A"),
        "{not json",
        "[1, 2]",
        json.dumps({"id": "gid://shopify/Product/1"}),
        item_line(2, "B"),
        bad_quantities,
        level_line(1, FBA, 1, available=4),
        level_line(1, FBA, 1, available=5),  # a second level of the same item at the same location
        item_line(1, "A"),
    ]
    rows, problems = parse_snapshot_jsonl(lines, FBA)
    assert rows == [row(1, "A", available=4)]
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4", "line 6", "line 8", "line 9"]


def test_parser_of_an_empty_file():
    assert parse_snapshot_jsonl([], FBA) == ([], [])
    assert parse_snapshot_jsonl(["", "\n"], FBA) == ([], [])


def test_parser_reads_the_inline_inventory_level_shape():
    lines = [
        json.dumps(
            {
                "id": "gid://shopify/InventoryItem/1",
                "sku": "A",
                "inventoryLevel": {"quantities": [{"name": "available", "quantity": 2}]},
            }
        ),
        json.dumps({"id": "gid://shopify/InventoryItem/2", "sku": "B", "inventoryLevel": None}),
    ]
    assert parse_snapshot_jsonl(lines, FBA) == ([row(1, "A", available=2)], [])


# --- the simulator ---------------------------------------------------------------------------------


def expected_rows(world: ShopifyWorld, role: str) -> list[LocationQuantity]:
    location = world.location_for(role).id
    return [
        LocationQuantity(
            inventory_item_id=item_id,
            sku=world.items[item_id].sku,
            location_id=location,
            quantities=quantities,
        )
        for item_id, quantities in world.location_quantities(location, NAMES).items()
    ]


async def run_raw(base_url: str, query: str) -> dict:
    status, body = await post_graphql(
        base_url,
        "mutation($q: String!) { bulkOperationRunQuery(query: $q) "
        "{ bulkOperation { id status } userErrors { field message code } } }",
        {"q": query},
    )
    assert status == 200
    return body["data"]["bulkOperationRunQuery"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ inventoryItems { edges { node { id sku } } }", "Invalid bulk query"),  # syntax
        ("{ inventoryItems { edges { node { id nope } } } }", "Cannot query field 'nope'"),
        ('{ location(id: "gid://shopify/Location/1") { id name } }', "at least one connection"),
        (
            "{ inventoryItems { edges { node { sku inventoryLevels { edges { node { id } } } } } } }",
            "must select the 'id' field",
        ),
        (
            "{ locations { edges { node { id inventoryLevels { edges { node { id item { id "
            "inventoryLevels { edges { node { id } } } } } } } } } } }",
            "nesting depth",
        ),
        ("{ locations { nodes { id } } inventoryItems { nodes { id } } }", "exactly one top-level field"),
    ],
)
async def test_simulator_refuses_what_shopify_cannot_run_in_bulk(query, message):
    world = make_world()
    async with running(world) as (_, base_url):
        payload = await run_raw(base_url, query)
    assert payload["bulkOperation"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["query"])]
    assert message in payload["userErrors"][0]["message"]
    assert world.bulk_operations == {}


@pytest.mark.asyncio
async def test_bulk_status_moves_on_costs_like_a_mutation_and_serves_jsonl():
    world = make_world()
    world.bulk_duration_s = 0.2
    async with running(world) as (_, base_url):
        _, body = await post_graphql(base_url, operations.source(operations.BULK_INVENTORY_SNAPSHOT))
        assert body["extensions"]["cost"]["requestedQueryCost"] == 10
        started = body["data"]["bulkOperationRunQuery"]["bulkOperation"]
        assert started["status"] == "CREATED" and started["createdAt"].endswith("Z")
        await asyncio.sleep(0.3)
        _, body = await post_graphql(
            base_url, operations.source(operations.BULK_OPERATION_STATUS), {"id": started["id"]}
        )
        done = body["data"]["bulkOperation"]
        _, current = await post_graphql(base_url, "{ currentBulkOperation { id status } }")
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1
    assert done["status"] == "COMPLETED" and done["errorCode"] is None
    assert done["objectCount"] == "6" and done["rootObjectCount"] == "2"  # UnsignedInt64: strings
    assert done["url"].endswith(f"/bulk/{started['id'].rsplit('/', 1)[1]}.jsonl")
    assert current["data"]["currentBulkOperation"] == {"id": started["id"], "status": "COMPLETED"}
    data = world.bulk_file(int(started["id"].rsplit("/", 1)[1]))
    assert data is not None and int(done["fileSize"]) == len(data)
    first = data.splitlines()[0].decode()
    assert first.startswith('{"id":"gid:\\/\\/shopify\\/InventoryItem\\/')  # slashes escaped, as Shopify does


# --- the client end to end -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_location_snapshot_equals_the_world():
    world = make_world()
    world.add_item("FBA-ONLY", fba={"available": 4, "reserved": 1}, stocked_at=("fba",))
    world.add_item("WH-ONLY", warehouse={"available": 9}, stocked_at=("warehouse",))
    world.manual_adjust("CUP", "fba", "damaged", 3)
    world.manual_adjust("MUG-RED", "fba", "committed", 2)
    progress: list[int] = []
    async with running(world) as (client, _):
        fba = await client.location_snapshot(
            world.location_for("fba").id, poll_interval_s=0.05, on_progress=progress.append
        )
        warehouse = await client.location_snapshot(world.location_for("warehouse").id, poll_interval_s=0.05)
    assert fba == expected_rows(world, "fba")
    assert [r.sku for r in fba] == ["MUG-RED", "CUP", "FBA-ONLY"]
    assert fba[1].quantities == {
        "available": 10,
        "damaged": 5,
        "on_hand": 15,
        "committed": 0,
        "reserved": 0,
        "incoming": 0,
    }
    assert warehouse == expected_rows(world, "warehouse")
    assert progress == sorted(progress) and progress[-1] == 10  # 4 items + 6 levels: every object
    assert len(world.bulk_operations) == 2


@pytest.mark.asyncio
async def test_snapshot_shows_the_state_when_the_operation_started():
    world = make_world()
    world.bulk_duration_s = 0.3
    before = expected_rows(world, "fba")

    def sale_meanwhile(_count: int) -> None:
        if world.find_item("CUP") and world.snapshot()["CUP"]["fba"]["available"] == 10:
            world.manual_adjust("CUP", "fba", "available", -4)

    async with running(world) as (client, _):
        rows = await client.location_snapshot(
            world.location_for("fba").id, poll_interval_s=0.05, on_progress=sale_meanwhile
        )
    assert rows == before
    assert world.snapshot()["CUP"]["fba"]["available"] == 6


@pytest.mark.asyncio
async def test_a_shop_without_items_gives_an_empty_snapshot_without_url():
    world = ShopifyWorld(clock_at())
    location = world.add_location("Amazon FBA US", role="fba")
    async with running(world) as (client, _):
        assert await client.location_snapshot(location.id, poll_interval_s=0.05) == []
    op = next(iter(world.bulk_operations.values()))
    assert op.status == "COMPLETED" and op.object_count == 0 and world.bulk_url(op) is None


@pytest.mark.asyncio
async def test_failed_operation_raises_with_shopifys_error_code():
    world = make_world()
    world.bulk_fail_next = ["INTERNAL_SERVER_ERROR", "ACCESS_DENIED"]
    async with running(world) as (client, _):
        with pytest.raises(BulkOperationFailed) as first:
            await client.location_snapshot(world.location_for("fba").id, poll_interval_s=0.05)
        with pytest.raises(BulkOperationFailed) as second:
            await client.location_snapshot(world.location_for("fba").id, poll_interval_s=0.05)
        rows = await client.location_snapshot(world.location_for("fba").id, poll_interval_s=0.05)
    assert (first.value.status, first.value.error_code, first.value.transient) == (
        "FAILED",
        "INTERNAL_SERVER_ERROR",
        True,
    )
    assert first.value.partial_data_url and first.value.partial_data_url.endswith("-partial.jsonl")
    assert (second.value.error_code, second.value.transient) == ("ACCESS_DENIED", False)
    assert rows == expected_rows(world, "fba")


@pytest.mark.asyncio
async def test_canceled_operation_raises():
    world = make_world()
    world.bulk_duration_s = 1.0

    def cancel(_count: int) -> None:
        for op in world.bulk_operations.values():
            world.cancel_bulk_operation(op.id)

    async with running(world) as (client, _):
        with pytest.raises(BulkOperationFailed) as err:
            await client.location_snapshot(
                world.location_for("fba").id, poll_interval_s=0.05, on_progress=cancel
            )
    assert err.value.status == "CANCELED" and err.value.error_code is None and not err.value.transient


@pytest.mark.asyncio
async def test_a_second_snapshot_waits_while_the_shops_bulk_slot_is_taken():
    world = make_world()
    world.bulk_query_limit = 1
    world.bulk_duration_s = 0.4
    fba = world.location_for("fba").id
    async with running(world) as (client, _):
        first, second = await asyncio.gather(
            client.location_snapshot(fba, poll_interval_s=0.05),
            client.location_snapshot(fba, poll_interval_s=0.05),
        )
        assert client.stats["bulk:waited_for_other"] >= 1
    assert first == second == expected_rows(world, "fba")
    ops = list(world.bulk_operations.values())
    assert len(ops) == 2 and ops[1].started >= ops[0].started + ops[0].done_after_s


@pytest.mark.asyncio
async def test_snapshot_times_out_when_the_operation_does_not_finish():
    world = make_world()
    world.bulk_duration_s = 30.0
    async with running(world) as (client, _):
        with pytest.raises(BulkOperationTimeout) as err:
            await client.location_snapshot(world.location_for("fba").id, poll_interval_s=0.05, timeout_s=0.3)
    assert err.value.transient


@pytest.mark.asyncio
async def test_download_is_retried_after_a_5xx():
    world = make_world()
    world.bulk_download_failures = 1
    async with running(world) as (client, _):
        rows = await client.location_snapshot(world.location_for("fba").id, poll_interval_s=0.05)
        assert client.stats["retried:bulk:download"] == 1
    assert rows == expected_rows(world, "fba")


@pytest.mark.asyncio
async def test_unreadable_file_raises_with_the_rows_that_could_be_read():
    world = make_world()
    async with running(world) as (client, _):
        original = world.start_bulk_operation

        def corrupt(query: str, result: bytes, objects: int, roots: int):
            lines = result.splitlines(keepends=True)
            return original(query, b"".join(lines[1:]), objects - 1, roots - 1)  # the first item is lost

        world.start_bulk_operation = corrupt  # type: ignore[method-assign]
        with pytest.raises(BulkSnapshotInvalid) as err:
            await client.location_snapshot(world.location_for("fba").id, poll_interval_s=0.05)
    assert [r.sku for r in err.value.rows] == ["CUP"]
    assert len(err.value.problems) == 1 and "unknown parent" in err.value.problems[0]


@pytest.mark.asyncio
async def test_twenty_thousand_items_snapshot_in_seconds():
    world = make_world()
    for n in range(20_000):
        world.add_item(
            f"BULK-{n:05d}", fba={"available": n % 37, "damaged": n % 3}, warehouse={"available": 1}
        )
    fba = world.location_for("fba").id
    async with running(world, timeout_s=60) as (client, _):
        started = time.monotonic()
        rows = await client.location_snapshot(fba, poll_interval_s=0.1)
        elapsed = time.monotonic() - started
    assert len(rows) == 20_002
    assert {r.inventory_item_id: r.quantities for r in rows} == world.location_quantities(fba, NAMES)
    assert elapsed < 10.0, f"{elapsed:.1f}s"
