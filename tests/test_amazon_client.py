"""The real AmazonClient (python-amazon-sp-api underneath) against the SP-API simulator."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from integrations.amazon.client import AmazonClient
from integrations.amazon.errors import AmazonApiError, AmazonUnavailable, RateLimited
from integrations.amazon.flat_reports import (
    REIMBURSEMENTS_REPORT,
    REMOVAL_DETAIL_REPORT,
    REMOVAL_SHIPMENT_REPORT,
    RETURNS_REPORT,
    parse_reimbursements_report,
    parse_removal_detail_report,
    parse_removal_shipment_report,
    parse_returns_report,
)
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


# --- the slow streams: flat-file reports, inbound shipments, refunds -----------------------------


async def read_report(client: AmazonClient, report_type: str, start: datetime, end: datetime) -> str | None:
    """create → poll → download; None when Amazon cancelled the report (no data)."""
    status = await wait_report(client, await client.create_report(report_type, start, end))
    if status.processing_status == "CANCELLED":
        return None
    assert status.processing_status == "DONE" and status.document_id
    return await client.download_document(status.document_id)


@pytest.mark.asyncio
async def test_returns_report_create_poll_download_parse():
    scn = load_scenario("03-returns.json")
    async with sim_and_client(scn, day=10) as (world, client):
        text = await read_report(client, RETURNS_REPORT, scn.start, world.now())
    assert text is not None and '"' not in text.splitlines()[0]  # unquoted, as Amazon sends it
    rows, issues = parse_returns_report(text)
    assert issues == []
    assert [(r.license_plate_number, r.detailed_disposition, r.quantity) for r in rows] == [
        ("LPNRR0000001", "SELLABLE", 1),
        ("LPNRR0000002", "CUSTOMER_DAMAGED", 1),
        ("LPNRR0000003", "DAMAGED", 1),
    ]
    assert [r.return_date for r in rows] == [scn.at(4.0), scn.at(5.0), scn.at(6.0)]
    assert {(r.order_id, r.msku, r.fnsku, r.asin, r.status) for r in rows} == {
        ("113-1000001-0000001", "TEE-M", "X00TEEM001", "B0TEEM0001", "Unit returned to inventory")
    }
    assert all(r.fulfillment_center for r in rows)


@pytest.mark.asyncio
async def test_returns_report_selects_by_return_date_and_visibility():
    scn = load_scenario("03-returns.json")
    async with sim_and_client(scn, day=5.01, day_length=600, report_processing_days=0.0001) as (
        world,
        client,
    ):
        # day 5's return happened but is not posted yet (posting delay 0.02 days)
        early = await read_report(client, RETURNS_REPORT, scn.start, world.now())
        window = await read_report(client, RETURNS_REPORT, scn.at(4.5), scn.at(9))
        before = await read_report(client, RETURNS_REPORT, scn.start, scn.at(3.9))
    assert early is not None and [r.license_plate_number for r in parse_returns_report(early)[0]] == [
        "LPNRR0000001"
    ]
    assert window is None  # the day-5 return is not visible yet: Amazon cancels an empty report
    assert before is None


@pytest.mark.asyncio
async def test_removal_reports_create_poll_download_parse():
    scn = load_scenario("04-removals-inbound.json")
    async with sim_and_client(scn, day=5) as (world, client):
        detail = await read_report(client, REMOVAL_DETAIL_REPORT, scn.start, world.now())
        shipments = await read_report(client, REMOVAL_SHIPMENT_REPORT, scn.start, world.now())
    assert detail is not None and shipments is not None
    lines, issues = parse_removal_detail_report(detail)
    assert issues == []
    assert [
        (
            r.order_id,
            r.order_type,
            r.order_status,
            r.requested_quantity,
            r.shipped_quantity,
            r.disposed_quantity,
        )
        for r in lines
    ] == [("RMV-0001", "Return", "Completed", 6, 6, 0), ("RMV-0002", "Disposal", "Completed", 4, 0, 4)]
    assert [r.last_updated for r in lines] == [scn.at(1.0), scn.at(1.5)]
    assert [r.request_date for r in lines] == [scn.at(0.1), scn.at(0.2)]
    assert [(r.msku, r.fnsku, r.disposition) for r in lines] == [
        ("BAG-BLK", "X00BAGBLK1", "SELLABLE"),
        ("BAG-BLK", "X00BAGBLK1", "UNSELLABLE"),
    ]
    rows, issues = parse_removal_shipment_report(shipments)
    assert issues == []
    assert [
        (
            r.order_id,
            r.msku,
            r.shipped_quantity,
            r.carrier,
            r.tracking_number,
            r.disposition,
            r.removal_order_type,
        )
        for r in rows
    ] == [("RMV-0001", "BAG-BLK", 6, "UPS", "1Z999AA10123456784", "SELLABLE", "Return")]
    assert rows[0].shipment_date == scn.at(1.0) and rows[0].request_date == scn.at(0.1)


@pytest.mark.asyncio
async def test_removal_detail_shows_cumulative_state_growth():
    scn = scenario(
        [
            {
                "day": 0.1,
                "type": "removal_order",
                "order_id": "RMV-9",
                "order_type": "Return",
                "items": [{"sku": "MUG-RED", "quantity": 6, "disposition": "SELLABLE"}],
            },
            {"day": 1.0, "type": "removal_shipped", "order_id": "RMV-9", "sku": "MUG-RED", "quantity": 2,
             "tracking_number": "TRK-1"},
            {"day": 2.0, "type": "removal_shipped", "order_id": "RMV-9", "sku": "MUG-RED", "quantity": 3,
             "tracking_number": "TRK-2", "carrier": "FedEx"},
            {"day": 3.0, "type": "removal_cancelled", "order_id": "RMV-9", "sku": "MUG-RED", "quantity": 1},
        ]
    )  # fmt: skip
    states = []
    async with sim_and_client(scn, day=0.13, day_length=20) as (world, client):
        for day in (0.13, 0.5, 1.5, 2.5, 3.5):
            move_clock(world.clock, day)
            text = await read_report(client, REMOVAL_DETAIL_REPORT, scn.start, world.now())
            assert text is not None
            (row,), issues = parse_removal_detail_report(text)
            assert issues == []
            states.append(
                (
                    row.order_status,
                    row.requested_quantity,
                    row.shipped_quantity,
                    row.cancelled_quantity,
                    row.in_process_quantity,
                    row.last_updated,
                )
            )
        # the detail is selected by last-updated-date: a window after the last change holds nothing
        assert await read_report(client, REMOVAL_DETAIL_REPORT, scn.at(3.1), world.now()) is None
        shipments = await read_report(client, REMOVAL_SHIPMENT_REPORT, scn.start, world.now())
    assert states == [
        ("Pending", 6, 0, 0, 6, scn.at(0.1)),
        ("In Process", 6, 0, 0, 6, scn.at(0.15)),
        ("In Process", 6, 2, 0, 4, scn.at(1.0)),
        ("In Process", 6, 5, 0, 1, scn.at(2.0)),
        ("Completed", 6, 5, 1, 0, scn.at(3.0)),
    ]
    assert shipments is not None
    rows = parse_removal_shipment_report(shipments)[0]
    assert [(r.tracking_number, r.carrier, r.shipped_quantity) for r in rows] == [
        ("TRK-1", "UPS", 2),
        ("TRK-2", "FedEx", 3),
    ]


@pytest.mark.asyncio
async def test_reimbursements_report_create_poll_download_parse():
    scn = scenario(
        [
            {"day": 1.0, "type": "reimbursement", "reimbursement_id": "R-1", "sku": "MUG-RED",
             "reason": "Lost_Warehouse", "quantity_cash": 2, "quantity_inventory": 1},
            {"day": 2.0, "type": "reimbursement", "reimbursement_id": "R-2", "sku": "MUG-BLU",
             "reason": "CustomerReturn", "quantity_cash": 1, "quantity_inventory": 0,
             "amazon_order_id": "113-7"},
            {"day": 3.0, "type": "reimbursement", "reimbursement_id": "R-3", "sku": "MUG-RED",
             "reason": "Reimbursement_Reversal", "quantity_cash": 2, "quantity_inventory": 0,
             "original_reimbursement_id": "R-1"},
        ]
    )  # fmt: skip
    async with sim_and_client(scn, day=4) as (world, client):
        text = await read_report(client, REIMBURSEMENTS_REPORT, scn.start, world.now())
        later = await read_report(client, REIMBURSEMENTS_REPORT, scn.at(1.5), world.now())
    assert text is not None and later is not None
    rows, issues = parse_reimbursements_report(text)
    assert issues == []
    assert [
        (r.reimbursement_id, r.reason, r.msku, r.quantity_cash, r.quantity_inventory, r.quantity_total)
        for r in rows
    ] == [
        ("R-1", "Lost_Warehouse", "MUG-RED", 2, 1, 3),
        ("R-2", "CustomerReturn", "MUG-BLU", 1, 0, 1),
        ("R-3", "Reimbursement_Reversal", "MUG-RED", -2, 0, -2),
    ]
    assert [r.approval_date for r in rows] == [scn.at(1.0), scn.at(2.0), scn.at(3.0)]
    assert [r.fnsku for r in rows] == ["X00MUGRED1", "X00MUGBLU1", "X00MUGRED1"]
    assert rows[1].amazon_order_id == "113-7"
    assert (rows[2].original_reimbursement_id, rows[2].original_reimbursement_type) == (
        "R-1",
        "Lost_Warehouse",
    )
    for row in rows:
        assert row.amount_per_unit is not None and row.amount_per_unit > 0
        assert row.amount_total == pytest.approx(row.amount_per_unit * row.quantity_cash)
    assert rows[0].amount_per_unit == rows[2].amount_per_unit  # the same SKU: the same price
    assert [r.reimbursement_id for r in parse_reimbursements_report(later)[0]] == ["R-2", "R-3"]


@pytest.mark.asyncio
async def test_new_reports_share_the_report_faults():
    scn = load_scenario("03-returns.json")
    async with sim_and_client(scn, day=10) as (world, client):
        window = (scn.start, world.now())
        world.add_fault("report_cancelled")
        cancelled = await wait_report(client, await client.create_report(RETURNS_REPORT, *window))
        world.faults.clear()
        world.add_fault("report_fatal")
        fatal = await wait_report(client, await client.create_report(REIMBURSEMENTS_REPORT, *window))
        world.faults.clear()
        narrow = await read_report(client, RETURNS_REPORT, scn.at(5.5), world.now())
        world.add_fault("duplicate_rows")
        duplicated = await read_report(client, RETURNS_REPORT, scn.at(5.5), world.now())
    assert (cancelled.processing_status, cancelled.document_id) == ("CANCELLED", None)
    assert (fatal.processing_status, fatal.document_id) == ("FATAL", None)
    assert narrow is not None and duplicated is not None
    assert [r.license_plate_number for r in parse_returns_report(narrow)[0]] == ["LPNRR0000003"]
    lpns = [r.license_plate_number for r in parse_returns_report(duplicated)[0]]
    assert lpns == ["LPNRR0000001", "LPNRR0000002", "LPNRR0000003"]  # earlier rows again, once each


def inbound_events(count: int) -> list[dict]:
    return [
        {
            "day": 0.01 * n,
            "type": "inbound_shipped",
            "shipment_id": f"FBA17{n:07d}",
            "items": [{"sku": "MUG-RED", "quantity": 10}, {"sku": "MUG-BLU", "quantity": 5}],
        }
        for n in range(1, count + 1)
    ]


@pytest.mark.asyncio
async def test_inbound_items_read_every_page():
    async with sim_and_client(scenario(inbound_events(120)), day=2) as (world, client):
        items = await client.inbound_items(world.scenario.start, world.now())
        assert client.stats["getShipments"] == 3  # 50 shipments a page
        assert client.stats["getShipmentItemsByShipmentId"] == 120
    assert len(items) == 240
    assert len({i.shipment_id for i in items}) == 120
    assert {(i.msku, i.quantity_shipped, i.quantity_received, i.shipment_status) for i in items} == {
        ("MUG-RED", 10, 0, "SHIPPED"),
        ("MUG-BLU", 5, 0, "SHIPPED"),
    }
    assert {i.fnsku for i in items} == {"X00MUGRED1", "X00MUGBLU1"}
    assert all(i.shipment_name for i in items)


@pytest.mark.asyncio
async def test_inbound_items_repeated_pages_are_deduplicated():
    async with sim_and_client(scenario(inbound_events(120)), day=2) as (world, client):
        world.add_fault("duplicate_rows")
        items = await client.inbound_items(world.scenario.start, world.now())
    assert len(items) == 240 and len({(i.shipment_id, i.msku) for i in items}) == 240


@pytest.mark.asyncio
async def test_inbound_received_quantities_are_cumulative():
    scn = load_scenario("04-removals-inbound.json")
    seen = []
    async with sim_and_client(scn, day=1.7, day_length=20) as (world, client):
        for day in (1.7, 3.2, 3.7, 4.5):
            move_clock(world.clock, day)
            seen.append(await client.inbound_items(scn.start, world.now()))
        # DATE_RANGE selects by the shipment's last update: nothing changed after day 4.2
        assert await client.inbound_items(scn.at(4.3), world.now()) == []
        assert [i.shipment_id for i in await client.inbound_items(scn.at(4.1), world.now())] == [
            "FBA17ABCDE12"
        ]
    assert [
        [(i.shipment_status, i.quantity_shipped, i.quantity_received) for i in items] for items in seen
    ] == [
        [("SHIPPED", 40, 0)],
        [("RECEIVING", 40, 30)],
        [("RECEIVING", 40, 38)],
        [("CLOSED", 40, 38)],
    ]
    assert {(i.shipment_id, i.msku) for items in seen for i in items} == {("FBA17ABCDE12", "BAG-BLK")}


def refund_events(count: int) -> list[dict]:
    return [
        {
            "day": 3 + 0.001 * n,
            "type": "return_not_received",
            "order_id": f"113-{n:07d}-0000003",
            "sku": "MUG-RED",
            "quantity": 1 + n % 2,
        }
        for n in range(1, count + 1)
    ]


@pytest.mark.asyncio
async def test_refunds_read_every_page():
    async with sim_and_client(scenario(refund_events(230)), day=2) as (world, client):
        refunds = await client.refunds(world.scenario.start, world.now() - timedelta(minutes=3))
        assert client.stats["listFinancialEvents"] == 3  # 100 events a page
    assert len(refunds) == 230
    assert len({r.adjustment_id for r in refunds}) == 230
    assert {r.msku for r in refunds} == {"MUG-RED"}
    assert {r.quantity for r in refunds} == {1, 2}
    first = min(refunds, key=lambda r: r.order_id)
    assert (first.order_id, first.quantity) == ("113-0000001-0000003", 2)
    # refund_day defaults to day - 3; PostedDate is printed to the second
    assert first.posted_date == world.scenario.at(0.001).replace(microsecond=0)
    assert refunds == sorted(refunds, key=lambda r: (r.posted_date, r.order_id, r.msku, r.adjustment_id))


@pytest.mark.asyncio
async def test_refunds_repeated_pages_are_deduplicated():
    async with sim_and_client(scenario(refund_events(230)), day=2) as (world, client):
        world.add_fault("duplicate_rows")
        refunds = await client.refunds(world.scenario.at(0.05), world.now() - timedelta(minutes=3))
    assert len(refunds) == len({r.adjustment_id for r in refunds})
    # every refund of the window once (plus, at most, a few from before it served again)
    assert len([r for r in refunds if r.posted_date >= world.scenario.at(0.05)]) == 230 - 49


@pytest.mark.asyncio
async def test_refunds_of_returns_and_their_window():
    scn = load_scenario("03-returns.json")
    async with sim_and_client(scn, day=10) as (world, client):
        refunds = await client.refunds(scn.start, world.now() - timedelta(minutes=3))
        none_yet = await client.refunds(scn.start, scn.at(2))  # PostedBefore is exclusive
        with pytest.raises(AmazonApiError) as info:
            await client.refunds(scn.start, world.now() + timedelta(minutes=1))
    assert [(r.order_id, r.msku, r.quantity, r.posted_date) for r in refunds] == [
        ("113-1000001-0000001", "TEE-M", 1, scn.at(2.0))
    ] * 4
    assert len({r.adjustment_id for r in refunds}) == 4
    assert none_yet == []
    assert info.value.status == 400 and "2 minutes" in str(info.value)


@pytest.mark.asyncio
async def test_new_operations_follow_the_server_rate_limit_and_retry():
    scn = load_scenario("04-removals-inbound.json")
    async with sim_and_client(scn, day=5, client_kwargs={"backoff_base_s": 0.05, "max_retries": 8}) as (
        world,
        client,
    ):
        day = world.clock.business_day()
        world.add_fault("server_error", rate=1.0, start_day=0, until_day=day + 0.05)
        items = await client.inbound_items(scn.start, world.now())
        await client.refunds(scn.start, world.now() - timedelta(minutes=3))
        assert items and client.stats["errors:getShipments"] >= 1
        for operation, rate in (("getShipments", 2.0), ("listFinancialEvents", 0.5)):
            bucket = client._limiter.bucket(operation)
            assert bucket is not None and bucket.rate == pytest.approx(rate * world.clock.scale, rel=1e-3)
