"""A bulk operation over a big shop in the Shopify simulator: the mutation answers at once, the file is
built afterwards in slices between other requests (the operation RUNNING, objectCount growing), and
it still shows the shop as it was when the operation started."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from integrations.shopify import operations
from integrations.shopify.bulk import parse_snapshot_jsonl
from sandbox.shopify.world import ShopifyWorld
from tests.shopify_helpers import make_world, post_graphql, running
from tests.test_shopify_bulk import expected_rows

pytestmark = pytest.mark.timeout(120)

ITEMS = 30_000  # ~90,000 objects: far more than one slice builds (~1 s of building here)
STATUS = (
    "query($id: ID!) { bulkOperation(id: $id) { status objectCount rootObjectCount url partialDataUrl } }"
)


def big_world() -> ShopifyWorld:
    world = make_world()
    for n in range(ITEMS):
        world.add_item(
            f"BIG-{n:05d}", fba={"available": n % 37, "damaged": n % 3}, warehouse={"available": 1}
        )
    return world


async def start_snapshot(base_url: str) -> str:
    _, body = await post_graphql(base_url, operations.source(operations.BULK_INVENTORY_SNAPSHOT))
    payload = body["data"]["bulkOperationRunQuery"]
    assert payload["userErrors"] == []
    return str(payload["bulkOperation"]["id"])


async def poll_until_done(base_url: str, op_id: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for _ in range(2400):  # 2 minutes at most
        _, body = await post_graphql(base_url, STATUS, {"id": op_id})
        seen.append(body["data"]["bulkOperation"])
        if seen[-1]["status"] not in ("CREATED", "RUNNING", "CANCELING"):
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"bulk operation {op_id} still {seen[-1]['status']}")


@pytest.mark.asyncio
async def test_big_bulk_file_is_built_after_the_answer_while_other_requests_are_answered():
    world = big_world()
    fba = world.location_for("fba").id
    before = expected_rows(world, "fba")
    objects, roots = len(world.items) + len(world.levels), len(world.items)
    async with running(world) as (_, base_url):
        op_id = await start_snapshot(base_url)
        op = world.bulk_operations[op_id]
        assert not op.ready  # answered before its file was built
        _, other = await post_graphql(base_url, "{ locations(first: 5) { nodes { name } } }")
        answered_meanwhile = not op.ready
        # Meanwhile a staff edit of the last item (built last) and a new item: neither shows in the file.
        world.manual_adjust(f"BIG-{ITEMS - 1:05d}", "fba", "available", 500)
        world.add_item("NEW-WHILE-RUNNING", fba={"available": 3})
        seen = await poll_until_done(base_url, op_id)
        async with aiohttp.ClientSession() as http, http.get(seen[-1]["url"]) as resp:
            data = await resp.read()
    assert answered_meanwhile and [n["name"] for n in other["data"]["locations"]["nodes"]] == [
        "Amazon FBA US",
        "Warehouse",
    ]
    done = seen[-1]
    assert done["status"] == "COMPLETED"
    assert (int(done["objectCount"]), int(done["rootObjectCount"])) == (objects, roots)
    counts = [int(s["objectCount"]) for s in seen]
    assert counts == sorted(counts), "objectCount never goes back"
    assert any(s["status"] == "RUNNING" and 0 < int(s["objectCount"]) < objects for s in seen), seen[:5]
    rows, problems = parse_snapshot_jsonl(data.decode().splitlines(), fba)
    assert problems == [] and rows == before  # the shop as it was when the operation started
    assert world._bulk_views == [] and world._bulk_tasks == set()


@pytest.mark.asyncio
async def test_big_bulk_operation_can_be_canceled_or_fail_half_way_while_building():
    world = big_world()
    world.bulk_fail_next = ["INTERNAL_SERVER_ERROR"]
    async with running(world) as (_, base_url):
        failing = await start_snapshot(base_url)
        failed = (await poll_until_done(base_url, failing))[-1]
        canceled_id = await start_snapshot(base_url)
        await asyncio.sleep(0.1)
        world.cancel_bulk_operation(canceled_id)
        canceled = (await poll_until_done(base_url, canceled_id))[-1]
        async with aiohttp.ClientSession() as http, http.get(failed["partialDataUrl"]) as resp:
            partial = await resp.read()
    half = (len(world.items) + len(world.levels)) // 2  # a failing operation stops half-way
    assert failed["status"] == "FAILED" and failed["url"] is None
    assert int(failed["objectCount"]) == half and len(partial.splitlines()) == half
    assert canceled["status"] == "CANCELED" and not world.bulk_operations[canceled_id].ready
    assert world._bulk_views == []
