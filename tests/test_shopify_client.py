"""The real Shopify client against the simulator on a random port."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from integrations.shopify.client import ShopifyClient, adjust_body, sku_search_query
from integrations.shopify.errors import (
    IdempotencyConcurrentRequest,
    ShopifyAuthError,
    ShopifyQueryError,
    ShopifyUnavailable,
    Throttled,
)
from integrations.shopify.throttle import CostBucket
from reconciler.models import AdjustRequest, InventoryChange
from sandbox.scenario import Fault
from sandbox.shopify.world import ShopifyWorld
from tests.shopify_helpers import REFERENCE, make_world, running

pytestmark = pytest.mark.timeout(60)


def always(kind: str) -> Fault:
    return Fault(api="shopify", kind=kind, rate=1.0, start_day=0, until_day=10_000)


def ids(world: ShopifyWorld, sku: str) -> tuple[str, str, str]:
    item = world.find_item(sku)
    assert item is not None
    return item.id, world.location_for("fba").id, world.location_for("warehouse").id


def available_change(item: str, location: str, delta: int, expected: int | None) -> InventoryChange:
    return InventoryChange(
        inventory_item_id=item, location_id=location, delta=delta, change_from_quantity=expected
    )


def request(*changes: InventoryChange, name: str = "available", reason: str = "correction") -> AdjustRequest:
    return AdjustRequest(name=name, reason=reason, reference_document_uri=REFERENCE, changes=list(changes))


# --- reads ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_locations_resolve_by_name():
    world = make_world()
    async with running(world) as (client, _):
        locations = await client.locations()
    assert locations == {
        "Amazon FBA US": world.location_for("fba").id,
        "Warehouse": world.location_for("warehouse").id,
    }


@pytest.mark.asyncio
async def test_skus_resolve_exactly_with_missing_and_duplicates():
    world = make_world()
    world.add_item("DUP-1")
    world.add_item("DUP-1")
    world.add_item('ODD "SKU" \\ 1')
    world.add_item("MUG")  # a prefix of MUG-RED must not match it, nor be matched by it
    async with running(world) as (client, _):
        result = await client.inventory_items_by_sku(
            ["MUG-RED", "CUP", "DUP-1", "GHOST-1", 'ODD "SKU" \\ 1', "MUG-RED"]
        )
    assert result.items == {
        "MUG-RED": world.find_item("MUG-RED").id,
        "CUP": world.find_item("CUP").id,
        'ODD "SKU" \\ 1': world.find_item('ODD "SKU" \\ 1').id,
    }
    assert result.duplicates == {"DUP-1": [i.id for i in world.items_with_sku("DUP-1")]}
    assert result.missing == ["GHOST-1"]


@pytest.mark.asyncio
async def test_skus_resolve_many_per_request():
    world = make_world()
    skus = [f"BULK-{n:03d}" for n in range(120)]
    for sku in skus:
        world.add_item(sku)
    async with running(world) as (client, _):
        result = await client.inventory_items_by_sku(skus)
        assert client.stats["VariantsBySku"] == 3  # 50 SKUs per request
    assert len(result.items) == 120 and not result.missing


def test_sku_search_query_quotes_and_escapes():
    assert sku_search_query(["A-1", 'B "2"', "C\\3"]) == 'sku:"A-1" OR sku:"B \\"2\\"" OR sku:"C\\\\3"'


@pytest.mark.asyncio
async def test_quantities_per_item_and_location_absent_where_not_stocked():
    world = make_world()
    only_fba = world.add_item("FBA-ONLY", fba={"available": 4}, stocked_at=("fba",))
    mug, fba, wh = ids(world, "MUG-RED")
    cup = world.find_item("CUP").id
    async with running(world) as (client, _):
        got = await client.quantities([mug, cup, only_fba.id, "gid://shopify/InventoryItem/999"], [fba, wh])
    assert got[(mug, fba)] == {"available": 40, "on_hand": 40, "damaged": 0, "incoming": 0}
    assert got[(mug, wh)]["available"] == 100
    assert got[(cup, fba)] == {"available": 10, "on_hand": 12, "damaged": 2, "incoming": 0}
    assert got[(cup, wh)] == {"available": 5, "on_hand": 5, "damaged": 0, "incoming": 3}
    assert got[(only_fba.id, fba)]["available"] == 4
    assert (only_fba.id, wh) not in got
    assert len(got) == 5


# --- adjust --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_adjust_applies_and_reports_quantity_after_change():
    world = make_world()
    mug, fba, wh = ids(world, "MUG-RED")
    async with running(world) as (client, _):
        outcome = await client.adjust(
            request(available_change(mug, fba, -2, 40), available_change(mug, wh, 5, 100)), "k-1"
        )
    assert outcome.succeeded and outcome.group_id
    assert [(c.location_id, c.name, c.delta, c.quantity_after_change) for c in outcome.changes] == [
        (fba, "available", -2, 38),
        (wh, "available", 5, 105),
    ]
    assert world.snapshot()["MUG-RED"]["fba"]["available"] == 38
    assert world.snapshot()["MUG-RED"]["warehouse"]["available"] == 105


@pytest.mark.asyncio
async def test_adjust_resent_with_same_key_applies_once_byte_for_byte():
    world = make_world()
    mug, fba, _ = ids(world, "MUG-RED")
    req = request(available_change(mug, fba, -3, 40))
    async with running(world) as (client, _):
        first = await client.adjust(req, "attempt-1")
        second = await client.adjust(AdjustRequest.model_validate(req.model_dump()), "attempt-1")
    assert first == second
    assert world.applied_group_count == 1 and world.replay_count == 1
    assert world.snapshot()["MUG-RED"]["fba"]["available"] == 37
    bodies = [r.body for r in world.requests if r.operation == "InventoryAdjustQuantities"]
    assert bodies == [adjust_body(req, "attempt-1")] * 2


def test_adjust_body_is_deterministic_and_sends_explicit_nulls():
    req = request(available_change("gid://shopify/InventoryItem/1", "gid://shopify/Location/2", 1, None))
    body = adjust_body(req, "k")
    assert body == adjust_body(AdjustRequest.model_validate_json(req.model_dump_json()), "k")
    sent = json.loads(body)
    assert sent["operationName"] == "InventoryAdjustQuantities"
    assert sent["variables"]["input"]["changes"] == [
        {
            "inventoryItemId": "gid://shopify/InventoryItem/1",
            "locationId": "gid://shopify/Location/2",
            "delta": 1,
            "changeFromQuantity": None,
        }
    ]
    assert sent["variables"]["idempotencyKey"] == "k"


@pytest.mark.asyncio
async def test_same_key_with_different_input_is_a_parameter_mismatch():
    world = make_world()
    mug, fba, _ = ids(world, "MUG-RED")
    async with running(world) as (client, _):
        await client.adjust(request(available_change(mug, fba, -1, 40)), "k-2")
        outcome = await client.adjust(request(available_change(mug, fba, -2, 39)), "k-2")
    assert not outcome.succeeded
    assert [e.code for e in outcome.user_errors] == ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"]
    assert world.snapshot()["MUG-RED"]["fba"]["available"] == 39


@pytest.mark.asyncio
async def test_stale_after_storefront_sale_names_the_change_and_applies_nothing():
    world = make_world()
    mug, _, wh = ids(world, "MUG-RED")
    cup = world.find_item("CUP").id
    async with running(world) as (client, _):
        current = await client.quantities([mug, cup], [wh])
        world.sale("CUP", 2)  # between our read and our write
        outcome = await client.adjust(
            request(
                available_change(mug, wh, 1, current[(mug, wh)]["available"]),
                available_change(cup, wh, 1, current[(cup, wh)]["available"]),
            ),
            "k-3",
        )
    assert outcome.group_id is None
    assert [(e.code, e.field, e.change_index()) for e in outcome.user_errors] == [
        ("CHANGE_FROM_QUANTITY_STALE", ["input", "changes", "1", "changeFromQuantity"], 1)
    ]
    assert world.snapshot()["MUG-RED"]["warehouse"]["available"] == 100
    assert world.snapshot()["CUP"]["warehouse"]["available"] == 3
    assert world.applied_group_count == 0


@pytest.mark.asyncio
async def test_explicit_null_change_from_quantity_skips_the_check():
    world = make_world()
    mug, fba, _ = ids(world, "MUG-RED")
    world.manual_adjust("MUG-RED", "fba", "available", -5)
    async with running(world) as (client, _):
        outcome = await client.adjust(request(available_change(mug, fba, 2, None)), "k-null")
    assert outcome.succeeded and outcome.changes[0].quantity_after_change == 37


@pytest.mark.asyncio
async def test_one_invalid_change_among_250_is_reported_by_index_and_nothing_applies():
    world = make_world()
    fba, wh = world.location_for("fba").id, world.location_for("warehouse").id
    items = [
        world.add_item(f"BIG-{n:03d}", fba={"available": 10}, warehouse={"available": 10}) for n in range(125)
    ]
    changes = [available_change(item.id, loc, 1, 10) for item in items for loc in (fba, wh)]
    assert len(changes) == 250
    changes[137] = available_change(changes[137].inventory_item_id, "gid://shopify/Location/1", 1, 10)
    async with running(world) as (client, _):
        outcome = await client.adjust(request(*changes), "k-250")
    assert [(e.code, e.change_index()) for e in outcome.user_errors] == [("INVALID_LOCATION", 137)]
    assert world.applied_group_count == 0
    assert all(
        level.get("available") == 10 for level in world.levels.values() if level.item.sku.startswith("BIG-")
    )


@pytest.mark.asyncio
async def test_more_than_250_changes_are_refused_before_sending():
    world = make_world()
    mug, fba, _ = ids(world, "MUG-RED")
    async with running(world) as (client, _):
        with pytest.raises(ValueError, match="at most 250"):
            await client.adjust(request(*[available_change(mug, fba, 1, None)] * 251), "k-251")
    assert world.mutation_count == 0


@pytest.mark.asyncio
async def test_ledger_document_rules():
    world = make_world()
    mug, fba, wh = ids(world, "MUG-RED")
    cup = world.find_item("CUP").id
    removal = "gid://fba-reconciler/RemovalOrder/R1"

    def change(item, loc, delta, expected, ledger):
        return InventoryChange(
            inventory_item_id=item,
            location_id=loc,
            delta=delta,
            change_from_quantity=expected,
            ledger_document_uri=ledger,
        )

    async with running(world) as (client, _):
        no_doc = await client.adjust(request(change(mug, wh, 1, 0, None), name="incoming"), "l-1")
        doc_on_available = await client.adjust(request(change(mug, fba, 1, 40, removal)), "l-2")
        two_docs = await client.adjust(
            request(
                change(mug, wh, 1, 0, removal),
                change(cup, wh, 1, 3, "gid://fba-reconciler/RemovalOrder/R2"),
                name="incoming",
            ),
            "l-3",
        )
        internal = await client.adjust(
            request(change(mug, wh, 1, 0, "gid://shopify/Order/1"), name="incoming"), "l-4"
        )
        ok = await client.adjust(
            request(
                change(mug, wh, 4, 0, removal),
                change(cup, wh, -3, 3, removal),
                name="incoming",
                reason="movement_created",
            ),
            "l-5",
        )
    assert [(e.code, e.change_index()) for e in no_doc.user_errors] == [("INVALID_QUANTITY_DOCUMENT", 0)]
    assert [e.code for e in doc_on_available.user_errors] == ["INVALID_AVAILABLE_DOCUMENT"]
    assert [(e.code, e.change_index()) for e in two_docs.user_errors] == [("MAX_ONE_LEDGER_DOCUMENT", 1)]
    assert [e.code for e in internal.user_errors] == ["INTERNAL_LEDGER_DOCUMENT"]
    assert ok.succeeded
    assert [(c.name, c.delta, c.quantity_after_change) for c in ok.changes] == [
        ("incoming", 4, 4),
        ("incoming", -3, 0),
    ]
    assert world.snapshot()["MUG-RED"]["warehouse"]["incoming"] == 4


@pytest.mark.asyncio
async def test_invalid_reason_and_name_are_user_errors():
    world = make_world()
    mug, fba, _ = ids(world, "MUG-RED")
    async with running(world) as (client, _):
        bad_reason = await client.adjust(request(available_change(mug, fba, 1, 40), reason="because"), "r-1")
        bad_name = await client.adjust(request(available_change(mug, fba, 1, 40), name="on_hand"), "r-2")
    assert [(e.code, e.field) for e in bad_reason.user_errors] == [("INVALID_REASON", ["input", "reason"])]
    assert [(e.code, e.field) for e in bad_name.user_errors] == [("INVALID_QUANTITY_NAME", ["input", "name"])]


@pytest.mark.asyncio
async def test_quantity_after_change_may_be_null():
    world = make_world()
    world.null_quantity_after_change = True
    mug, fba, _ = ids(world, "MUG-RED")
    async with running(world) as (client, _):
        outcome = await client.adjust(request(available_change(mug, fba, 1, 40)), "n-1")
    assert outcome.succeeded and outcome.changes[0].quantity_after_change is None


@pytest.mark.asyncio
async def test_concurrent_request_with_same_key_is_transient_error():
    world = make_world()
    world.mutation_latency_s = 0.3
    mug, fba, _ = ids(world, "MUG-RED")
    req = request(available_change(mug, fba, 1, 40))
    async with running(world) as (client, _):
        results = await asyncio.gather(
            client.adjust(req, "c-1"), client.adjust(req, "c-1"), return_exceptions=True
        )
        assert sorted(type(r).__name__ for r in results) == ["AdjustOutcome", "IdempotencyConcurrentRequest"]
        assert IdempotencyConcurrentRequest.transient
        again = await client.adjust(req, "c-1")  # later: the stored answer
    assert again.succeeded and world.applied_group_count == 1


# --- throttling and failures ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_throttled_is_waited_out_and_retried():
    world = make_world()
    async with running(world) as (client, _):
        world.bucket.drain()  # now, not before the server started: a slow start would refill it
        started = time.monotonic()
        locations = await client.locations()
        waited = time.monotonic() - started
        assert client.stats["throttled:Locations"] == 1 and client.stats["Locations"] == 2
    assert len(locations) == 2 and waited >= 0.5
    assert world.throttled_count == 1


@pytest.mark.asyncio
async def test_throttled_raised_when_retries_are_used_up():
    world = make_world()
    world.faults = [always("rate_limit")]
    async with running(world, throttle_retries=1) as (client, _):
        with pytest.raises(Throttled):
            await client.locations()
        assert client.stats["throttled:Locations"] == 2


@pytest.mark.asyncio
async def test_server_error_raises_unavailable():
    world = make_world()
    world.faults = [always("server_error")]
    async with running(world) as (client, _):
        with pytest.raises(ShopifyUnavailable):
            await client.locations()


@pytest.mark.asyncio
async def test_mutation_applied_then_503_is_safe_to_resend():
    world = make_world()
    world.faults, world.apply_first_rate = [always("server_error")], 1.0
    mug, fba, _ = ids(world, "MUG-RED")
    req = request(available_change(mug, fba, -4, 40))
    async with running(world) as (client, _):
        with pytest.raises(ShopifyUnavailable):
            await client.adjust(req, "s-1")
        assert world.applied_group_count == 1
        world.faults = []
        outcome = await client.adjust(req, "s-1")
    assert outcome.succeeded and outcome.changes[0].quantity_after_change == 36
    assert world.applied_group_count == 1 and world.snapshot()["MUG-RED"]["fba"]["available"] == 36


@pytest.mark.asyncio
async def test_timeout_raises_unavailable_and_resend_replays():
    world = make_world()
    world.faults, world.apply_first_rate, world.timeout_delay_s = [always("timeout")], 1.0, 1.5
    mug, fba, _ = ids(world, "MUG-RED")
    req = request(available_change(mug, fba, 1, 40))
    async with running(world, timeout_s=0.3) as (client, _):
        with pytest.raises(ShopifyUnavailable):
            await client.adjust(req, "t-1")
        world.faults = []
        outcome = await client.adjust(req, "t-1")
    assert outcome.succeeded and world.applied_group_count == 1


@pytest.mark.asyncio
async def test_wrong_token_raises_auth_error():
    world = make_world()
    async with running(world) as (_, base_url):
        wrong = ShopifyClient(world.shop_domain, "shpat_wrong", base_url=base_url)
        async with wrong:
            with pytest.raises(ShopifyAuthError) as err:
                await wrong.locations()
    assert not err.value.transient


@pytest.mark.asyncio
async def test_unknown_api_version_is_a_query_error():
    world = make_world()
    async with (
        running(world) as (_, base_url),
        ShopifyClient(world.shop_domain, world.access_token, base_url=base_url, api_version="2019-01") as c,
    ):
        with pytest.raises(ShopifyQueryError, match="404"):
            await c.locations()


@pytest.mark.asyncio
async def test_connection_refused_raises_unavailable():
    async with ShopifyClient("x.myshopify.com", "t", base_url="http://127.0.0.1:9", timeout_s=2) as client:
        with pytest.raises(ShopifyUnavailable):
            await client.locations()


# --- the cost bucket -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cost_bucket_waits_before_a_request_that_would_not_fit():
    now = [100.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = CostBucket(monotonic=lambda: now[0], sleep=fake_sleep)
    assert await bucket.reserve(500) == 0  # unknown bucket: no wait
    bucket.update({"maximumAvailable": 2000.0, "currentlyAvailable": 100.0, "restoreRate": 100.0})
    assert await bucket.reserve(50) == 0
    assert bucket.available() == pytest.approx(50)
    assert await bucket.reserve(250) == pytest.approx(2.0)
    assert slept == [pytest.approx(2.0)]
    assert bucket.throttled_wait(
        1000, {"maximumAvailable": 2000.0, "currentlyAvailable": 400.0, "restoreRate": 100.0}
    ) == pytest.approx(6.0)
