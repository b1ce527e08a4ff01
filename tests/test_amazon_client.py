"""The real AmazonClient (python-amazon-sp-api underneath) against the SP-API simulator."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from integrations.amazon.client import AmazonClient
from integrations.amazon.errors import AmazonApiError, AmazonUnavailable, RateLimited
from integrations.amazon.ledger_report import REPORT_TYPE, parse_ledger_report
from reconciler.models import ReportStatus
from tests.amazon_helpers import load_scenario, move_clock, scenario, sim_and_client

FINAL = ("DONE", "CANCELLED", "FATAL")


async def wait_report(client: AmazonClient, report_id: str) -> ReportStatus:
    for _ in range(200):
        status = await client.get_report(report_id)
        if status.processing_status in FINAL:
            return status
        await asyncio.sleep(0.01)
    raise AssertionError(f"report {report_id} never finished")


@pytest.mark.asyncio
async def test_lwa_token_is_fetched_once_and_reused():
    scn = load_scenario("01-shipments.json")
    async with sim_and_client(scn, day=2) as (world, client):
        before = world.now() - timedelta(minutes=5)
        await client.shipped_order_items(scn.start, before)
        await client.shipped_order_items(scn.start, before)
        assert world.requests["lwa"] == 1
        assert world.requests["searchOrders"] == 2


@pytest.mark.asyncio
async def test_wrong_client_secret_is_an_api_error():
    scn = load_scenario("01-shipments.json")
    async with sim_and_client(scn, day=2, client_kwargs={"lwa_client_secret": "wrong"}) as (_, client):
        with pytest.raises(AmazonApiError) as info:
            await client.get_report("1")
        assert info.value.status == 401 and info.value.code == "invalid_client"
        assert "wrong" not in str(info.value)


@pytest.mark.asyncio
async def test_ledger_report_create_poll_download_parse():
    scn = load_scenario("02-ledger-adjustments.json")
    async with sim_and_client(scn, day=3) as (world, client):
        report_id = await client.create_report(REPORT_TYPE, scn.start - timedelta(days=1), world.now())
        status = await wait_report(client, report_id)
        assert status.processing_status == "DONE" and status.document_id
        result = parse_ledger_report(await client.download_document(status.document_id))
    assert result.issues == []
    got = [(r.event_type, r.quantity, r.disposition, r.reason) for r in result.rows]
    assert got == [
        ("Adjustments", -3, "SELLABLE", "M"),
        ("Adjustments", -2, "SELLABLE", "E"),
        ("Adjustments", 2, "WAREHOUSE_DAMAGED", "P"),
        ("WhseTransfers", -10, "SELLABLE", ""),
        ("WhseTransfers", 10, "SELLABLE", ""),
        ("Adjustments", 1, "SELLABLE", "F"),
        ("Adjustments", -1, "WAREHOUSE_DAMAGED", "Q"),
        ("Adjustments", 1, "SELLABLE", "P"),
        ("Adjustments", -2, "CUSTOMER_DAMAGED", "D"),
        ("Adjustments", 1, "SELLABLE", "N"),
    ]
    expected = [(r.date, r.fnsku, r.msku, r.title) for r in world.ledger]
    assert [(r.date, r.fnsku, r.msku, r.title) for r in result.rows] == expected
    assert all(r.country == "US" and r.fulfillment_center for r in result.rows)


@pytest.mark.asyncio
async def test_report_holds_only_rows_visible_when_it_was_created():
    scn = load_scenario("02-ledger-adjustments.json")
    async with sim_and_client(scn, day=0.5, day_length=60) as (world, client):
        report_id = await client.create_report(REPORT_TYPE, scn.start - timedelta(days=1), world.now())
        status = await wait_report(client, report_id)
        rows = parse_ledger_report(await client.download_document(status.document_id)).rows
    assert [(r.event_type, r.quantity, r.reason) for r in rows] == [("Adjustments", -3, "M")]


@pytest.mark.asyncio
async def test_report_window_is_marketplace_local_days():
    # 2026-10-02T05:00Z is still 10/01 in Los Angeles: a report for local day 10/02 does not hold it.
    scn = scenario(
        [
            {"day": 1.2, "type": "adjustment", "sku": "MUG-RED", "reason": "M", "quantity": 1},
            {"day": 1.5, "type": "adjustment", "sku": "MUG-RED", "reason": "F", "quantity": 1},
        ]
    )
    async with sim_and_client(scn, day=3) as (world, client):
        tz = world.marketplace.tz
        start = (scn.start + timedelta(days=1)).astimezone(tz).replace(hour=0, minute=0) + timedelta(days=1)
        report_id = await client.create_report(REPORT_TYPE, start, start + timedelta(hours=23, minutes=59))
        status = await wait_report(client, report_id)
        rows = parse_ledger_report(await client.download_document(status.document_id)).rows
    assert [(r.date.isoformat(), r.reason) for r in rows] == [("2026-10-02", "F")]


@pytest.mark.asyncio
async def test_cancelled_and_fatal_reports_surface_as_status():
    scn = load_scenario("02-ledger-adjustments.json")
    async with sim_and_client(scn, day=3) as (world, client):
        window = (scn.start - timedelta(days=1), world.now())
        world.add_fault("report_cancelled")
        cancelled = await wait_report(client, await client.create_report(REPORT_TYPE, *window))
        world.faults.clear()
        world.add_fault("report_fatal")
        fatal = await wait_report(client, await client.create_report(REPORT_TYPE, *window))
        world.faults.clear()
        empty = await wait_report(
            client,
            await client.create_report(
                REPORT_TYPE, scn.start - timedelta(days=9), scn.start - timedelta(days=8)
            ),
        )
        unknown = await wait_report(client, await client.create_report("GET_SOMETHING_NEW", *window))
    assert (cancelled.processing_status, cancelled.document_id) == ("CANCELLED", None)
    assert (fatal.processing_status, fatal.document_id) == ("FATAL", None)
    assert empty.processing_status == "CANCELLED"
    assert unknown.processing_status == "FATAL"


@pytest.mark.asyncio
async def test_search_orders_cumulative_shipped_quantities_grow():
    scn = load_scenario("01-shipments.json")
    async with sim_and_client(scn, day=0.6, day_length=20) as (world, client):
        first = await client.shipped_order_items(scn.start, world.now() - timedelta(minutes=3))
        move_clock(world.clock, 1.0)
        second = await client.shipped_order_items(
            scn.start + timedelta(days=0.5), world.now() - timedelta(minutes=3)
        )
    by_item = {(i.order_id, i.order_item_id): i for i in first}
    partial = by_item[("113-0000002-0000002", "10001")]
    assert (partial.quantity_ordered, partial.quantity_shipped, partial.order_status) == (
        3,
        1,
        "PARTIALLY_SHIPPED",
    )
    cancelled = [i for i in first if i.order_id == "113-0000003-0000003"]
    assert [(i.quantity_shipped, i.order_status) for i in cancelled] == [(0, "CANCELLED")]
    grown = {(i.order_id, i.order_item_id): i for i in second}[("113-0000002-0000002", "10001")]
    assert (grown.quantity_shipped, grown.order_status) == (3, "SHIPPED")
    assert grown.last_updated > partial.last_updated
    assert all(i.msku for i in first + second)


@pytest.mark.asyncio
async def test_search_orders_reads_every_page():
    events = [
        {
            "day": 0.001 * n,
            "type": "order_shipped",
            "order_id": f"113-{n:07d}-0000001",
            "items": [{"sku": "MUG-RED", "quantity": 1}],
        }
        for n in range(1, 231)
    ]
    async with sim_and_client(scenario(events), day=1) as (world, client):
        items = await client.shipped_order_items(world.scenario.start, world.now() - timedelta(minutes=3))
        assert client.stats["searchOrders"] == 3
    assert len(items) == 230 and {i.quantity_shipped for i in items} == {1}


@pytest.mark.asyncio
async def test_repeated_order_pages_are_deduplicated():
    events = [
        {
            "day": 0.001 * n,
            "type": "order_shipped",
            "order_id": f"113-{n:07d}-0000002",
            "items": [{"sku": "MUG-RED", "quantity": 2}],
        }
        for n in range(1, 251)
    ]
    async with sim_and_client(scenario(events), day=1) as (world, client):
        world.add_fault("duplicate_rows")
        items = await client.shipped_order_items(world.scenario.start, world.now() - timedelta(minutes=3))
    assert len(items) == 250
    assert len({(i.order_id, i.order_item_id) for i in items}) == 250


@pytest.mark.asyncio
async def test_two_minute_rule_is_enforced():
    scn = load_scenario("01-shipments.json")
    async with sim_and_client(scn, day=2, day_length=86_400) as (world, client):  # a real-time clock
        await client.shipped_order_items(scn.start, world.now() - timedelta(minutes=2, seconds=5))
        with pytest.raises(AmazonApiError) as info:
            await client.shipped_order_items(scn.start, world.now() - timedelta(seconds=90))
    assert info.value.status == 400 and info.value.code == "InvalidInput"
    assert "2 minutes" in str(info.value)


@pytest.mark.asyncio
async def test_throttling_backs_off_then_succeeds():
    scn = load_scenario("01-shipments.json")
    async with sim_and_client(scn, day=2, client_kwargs={"backoff_base_s": 0.1, "max_retries": 8}) as (
        world,
        client,
    ):
        day = world.clock.business_day()
        world.add_fault("rate_limit", rate=1.0, start_day=0, until_day=day + 0.1)  # ~0.2 s real
        items = await client.shipped_order_items(scn.start, world.now() - timedelta(minutes=5))
        assert items
        assert client.stats["throttled:searchOrders"] >= 1
        assert client.stats["searchOrders"] == client.stats["throttled:searchOrders"] + 1


@pytest.mark.asyncio
async def test_persistent_throttling_raises_rate_limited():
    scn = load_scenario("01-shipments.json")
    async with sim_and_client(scn, day=2, client_kwargs={"max_retries": 2}) as (world, client):
        world.add_fault("rate_limit")
        with pytest.raises(RateLimited):
            await client.get_report("123")
        assert client.stats["throttled:getReport"] == 3


@pytest.mark.asyncio
async def test_server_rate_limit_is_reported_and_followed():
    scn = load_scenario("01-shipments.json")
    async with sim_and_client(scn, day=2) as (world, client):
        await client.shipped_order_items(scn.start, world.now() - timedelta(minutes=5))
        bucket = client._limiter.bucket("searchOrders")
        assert bucket is not None and bucket.rate == pytest.approx(0.0056 * world.clock.scale, rel=1e-3)


@pytest.mark.asyncio
async def test_persistent_server_errors_raise_amazon_unavailable():
    scn = load_scenario("01-shipments.json")
    async with sim_and_client(scn, day=2, client_kwargs={"max_retries": 3}) as (world, client):
        world.add_fault("server_error")
        with pytest.raises(AmazonUnavailable):
            await client.create_report(REPORT_TYPE, scn.start, world.now())
        assert client.stats["errors:createReport"] == 4
        assert world.requests["createReport"] == 4


@pytest.mark.asyncio
async def test_timeouts_are_retried_then_raise_amazon_unavailable():
    scn = load_scenario("01-shipments.json")
    async with sim_and_client(scn, day=2, client_kwargs={"max_retries": 1, "timeout_s": 0.2}) as (
        world,
        client,
    ):
        world.timeout_delay_s = 0.5
        world.add_fault("timeout")
        with pytest.raises(AmazonUnavailable) as info:
            await client.get_report("123")
        assert "Timeout" in str(info.value)


@pytest.mark.asyncio
async def test_server_errors_then_success():
    scn = load_scenario("02-ledger-adjustments.json")
    async with sim_and_client(scn, day=3, client_kwargs={"max_retries": 30}) as (world, client):
        world.add_fault("server_error", rate=0.5)
        report_id = await client.create_report(REPORT_TYPE, scn.start - timedelta(days=1), world.now())
        status = await wait_report(client, report_id)
        rows = parse_ledger_report(await client.download_document(status.document_id)).rows
    assert len(rows) == 10


@pytest.mark.asyncio
async def test_new_token_after_simulator_forgets_it():
    scn = load_scenario("01-shipments.json")
    async with sim_and_client(scn, day=2) as (world, client):
        before = world.now() - timedelta(minutes=5)
        await client.shipped_order_items(scn.start, before)
        world.tokens.clear()  # e.g. a restarted simulator
        await client.shipped_order_items(scn.start, before)
        assert world.requests["lwa"] == 2
