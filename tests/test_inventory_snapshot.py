"""The Amazon half of full reconciliation: GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA, parsed on its own
and read from the simulator through create → poll → download → parse."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.amazon.errors import MissingColumns
from integrations.amazon.flat_reports import INVENTORY_REPORT, parse_inventory_report
from integrations.amazon.snapshot import InventorySnapshotRow
from sandbox.amazon.world import INVENTORY_HEADER, AmazonWorld
from tests.amazon_helpers import clock_at, move_clock, scenario, sim_and_client
from tests.test_amazon_client import read_report, wait_report

pytestmark = pytest.mark.timeout(60)


def tsv(header: list[str], *lines: list[str]) -> str:
    return "\n".join("\t".join(line) for line in [header, *lines]) + "\n"


def inventory_line(sku: str = "MUG-RED", **values: str) -> list[str]:
    defaults = dict.fromkeys(INVENTORY_HEADER, "0") | {
        "sku": sku,
        "fnsku": "X00MUGRED1",
        "asin": "B0MUGRED01",
        "product-name": 'Mug Red 12" Classic Edition, Gift Box',
        "condition": "New",
        "your-price": "12.99",
        "mfn-listing-exists": "No",
        "mfn-fulfillable-quantity": "",
        "afn-listing-exists": "Yes",
        "per-unit-volume": "0.05",
    }
    defaults.update({k.replace("_", "-"): v for k, v in values.items()})
    return [defaults[h] for h in INVENTORY_HEADER]


# --- the parser ------------------------------------------------------------------------------------


def test_inventory_rows_by_header_name():
    text = tsv(
        INVENTORY_HEADER,
        inventory_line(
            afn_fulfillable_quantity="37",
            afn_unsellable_quantity="2",
            afn_reserved_quantity="3",
            afn_inbound_working_quantity="1",
            afn_inbound_shipped_quantity="10",
            afn_inbound_receiving_quantity="4",
            afn_researching_quantity="1",
        ),
        inventory_line("MUG-BLU", fnsku="X00MUGBLU1", asin="B0MUGBLU01", afn_fulfillable_quantity="1,204"),
    )
    rows, issues = parse_inventory_report(text)
    assert issues == []
    assert rows == [
        InventorySnapshotRow(
            msku="MUG-RED",
            fnsku="X00MUGRED1",
            asin="B0MUGRED01",
            fulfillable=37,
            unsellable=2,
            reserved=3,
            inbound_working=1,
            inbound_shipped=10,
            inbound_receiving=4,
            researching=1,
            line_no=2,
        ),
        InventorySnapshotRow(
            msku="MUG-BLU", fnsku="X00MUGBLU1", asin="B0MUGBLU01", fulfillable=1204, line_no=3
        ),
    ]
    assert rows[0].sellable == 40


def test_inventory_headers_may_be_quoted_reordered_and_spelled_otherwise():
    header = ["Seller SKU", "AFN Reserved Quantity", "afn_unsellable_quantity", '"afn-fulfillable-quantity"']
    rows, issues = parse_inventory_report(tsv(header, ["A-1", "1", "0", "5"]).replace("\n", "\r\n"))
    assert issues == [] and [(r.msku, r.fulfillable, r.reserved, r.inbound_shipped) for r in rows] == [
        ("A-1", 5, 1, 0)
    ]


def test_inventory_missing_columns_are_fatal():
    header = [h for h in INVENTORY_HEADER if h != "afn-reserved-quantity"]
    with pytest.raises(MissingColumns) as info:
        parse_inventory_report(tsv(header))
    assert info.value.report == INVENTORY_REPORT and info.value.missing == ["afn-reserved-quantity"]


def test_inventory_bad_lines_and_repeated_mskus_are_issues():
    text = tsv(
        INVENTORY_HEADER,
        inventory_line("A", afn_fulfillable_quantity="3"),
        inventory_line("B", afn_fulfillable_quantity="lots"),
        inventory_line("", afn_fulfillable_quantity="1"),
        inventory_line("A", afn_fulfillable_quantity="9"),
        ["C", "short"],
    )
    rows, issues = parse_inventory_report(text)
    assert [(r.msku, r.fulfillable) for r in rows] == [("A", 3)]
    assert [i.line_no for i in issues] == [3, 4, 5, 6]
    assert "again (first on line 2)" in issues[2].message
    assert all(i.report == INVENTORY_REPORT for i in issues)


# --- the simulator ---------------------------------------------------------------------------------

EVENTS = [
    # an order ships in two parts: between them, the rest is reserved
    {
        "day": 0.2,
        "type": "order_shipped",
        "order_id": "113-0000001-0000001",
        "items": [{"sku": "MUG-RED", "quantity": 1}],
    },
    {
        "day": 3.0,
        "type": "order_shipped",
        "order_id": "113-0000001-0000001",
        "items": [{"sku": "MUG-RED", "quantity": 2}],
    },
    {
        "day": 0.3,
        "type": "customer_return",
        "order_id": "113-0000009-0000009",
        "sku": "MUG-BLU",
        "quantity": 1,
        "disposition": "CUSTOMER_DAMAGED",
        "lpn": "LPN0000001",
    },
    {"day": 0.4, "type": "adjustment", "sku": "MUG-BLU", "reason": "F", "quantity": 2},
    {
        "day": 0.5,
        "type": "inbound_shipped",
        "shipment_id": "FBA17TEST001",
        "items": [{"sku": "MUG-BLU", "quantity": 10}, {"sku": "CUP-NEW", "quantity": 6}],
    },
    {"day": 0.7, "type": "inbound_received", "shipment_id": "FBA17TEST001", "sku": "MUG-BLU", "quantity": 4},
]


def test_world_inventory_at_a_time_follows_the_events():
    scn = scenario(EVENTS)
    world = AmazonWorld.from_scenario(scn, clock_at(scn, 1.0))
    at_start = world.fba_inventory_at(scn.at(0.0))
    assert (at_start["MUG-RED"].fulfillable, at_start["MUG-BLU"].fulfillable) == (40, 30)
    day1 = world.fba_inventory_at(scn.at(1.0))
    red, blue, new = day1["MUG-RED"], day1["MUG-BLU"], day1["CUP-NEW"]
    assert (red.fulfillable, red.reserved, red.unsellable) == (37, 2, 0)
    assert (blue.fulfillable, blue.unsellable, blue.inbound_receiving, blue.inbound_shipped) == (36, 1, 6, 0)
    # the shipment is being received: what has not arrived yet of each of its SKUs is "receiving"
    assert (new.fulfillable, new.inbound_shipped, new.inbound_receiving) == (0, 0, 6)
    before_receipt = world.fba_inventory_at(scn.at(0.6))
    assert (before_receipt["CUP-NEW"].inbound_shipped, before_receipt["MUG-BLU"].inbound_shipped) == (6, 10)
    assert red.fulfillable + red.reserved == world.inventory_at(scn.at(1.0))["MUG-RED"].sellable
    day4 = world.fba_inventory_at(scn.at(4.0))
    assert (day4["MUG-RED"].fulfillable, day4["MUG-RED"].reserved) == (37, 0)


@pytest.mark.asyncio
async def test_report_equals_the_worlds_inventory_when_it_was_created():
    scn = scenario(EVENTS)
    async with sim_and_client(scn, day=1.0) as (world, client):
        report_id = await client.create_report(INVENTORY_REPORT, world.now() - timedelta(days=1), world.now())
        status = await wait_report(client, report_id)
        assert status.processing_status == "DONE" and status.document_id
        text = await client.download_document(status.document_id)
        created_at = world.reports[report_id].created_at
        move_clock(world.clock, 2.0)  # later movements do not change a report already made
        again = await client.download_document(status.document_id)
    assert text == again
    assert text.splitlines()[0].split("\t") == INVENTORY_HEADER and '"' not in text.splitlines()[0]
    rows, issues = parse_inventory_report(text)
    assert issues == []
    expected = world.fba_inventory_at(created_at)
    assert {r.msku: r.model_dump(exclude={"line_no"}) for r in rows} == {
        sku: level.model_dump() for sku, level in expected.items()
    }
    assert [r.msku for r in rows] == ["MUG-RED", "MUG-BLU", "CUP-NEW"]
    by_sku = {r.msku: r for r in rows}
    assert by_sku["MUG-RED"].reserved == 2 and by_sku["MUG-BLU"].inbound_receiving == 6


@pytest.mark.asyncio
async def test_inventory_report_faults_surface_as_status():
    scn = scenario(EVENTS)
    async with sim_and_client(scn, day=1.0) as (world, client):
        window = (world.now() - timedelta(days=1), world.now())
        world.add_fault("report_cancelled")
        assert await read_report(client, INVENTORY_REPORT, *window) is None
        world.faults.clear()
        world.add_fault("report_fatal")
        fatal = await wait_report(client, await client.create_report(INVENTORY_REPORT, *window))
    assert fatal.processing_status == "FATAL" and fatal.document_id is None
