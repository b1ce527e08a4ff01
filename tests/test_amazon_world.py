"""The simulated Amazon account: what each scenario event becomes, and when it becomes visible."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from integrations.amazon.flat_reports import (
    parse_reimbursements_report,
    parse_removal_detail_report,
    parse_removal_shipment_report,
    parse_returns_report,
)
from integrations.amazon.ledger_report import parse_ledger_report
from sandbox.amazon.world import (
    ORDERS_TWO_MINUTE_RULE,
    REIMBURSEMENTS_REPORT,
    REMOVAL_DETAIL_REPORT,
    REMOVAL_SHIPMENT_REPORT,
    RETURNS_REPORT,
    AmazonWorld,
    default_order_item_id,
)
from tests.amazon_helpers import clock_at, load_scenario, scenario


def world_at(scn, day: float, **kwargs) -> AmazonWorld:
    return AmazonWorld.from_scenario(scn, clock_at(scn, day, day_length=3600), **kwargs)


def summary(world: AmazonWorld) -> list[tuple]:
    return [(r.msku, r.event_type, r.quantity, r.disposition, r.reason, r.reference_id) for r in world.ledger]


def test_returns_and_removals_and_inbound_become_ledger_rows():
    returns = world_at(load_scenario("03-returns.json"), 0)
    assert [row[1:5] for row in summary(returns)] == [
        ("Shipments", -4, "SELLABLE", ""),
        ("CustomerReturns", 1, "SELLABLE", ""),
        ("CustomerReturns", 1, "CUSTOMER_DAMAGED", ""),
        ("CustomerReturns", 1, "WAREHOUSE_DAMAGED", ""),  # DAMAGED is written as WAREHOUSE_DAMAGED
    ]
    removals = world_at(load_scenario("04-removals-inbound.json"), 0)
    assert summary(removals) == [
        ("BAG-BLK", "VendorReturns", -6, "SELLABLE", "", "RMV-0001"),
        ("BAG-BLK", "VendorReturns", -4, "CUSTOMER_DAMAGED", "", "RMV-0002"),
        ("BAG-BLK", "Receipts", 30, "SELLABLE", "", "FBA17ABCDE12"),
        ("BAG-BLK", "Receipts", 8, "SELLABLE", "", "FBA17ABCDE12"),
    ]


def test_ledger_dates_are_marketplace_local():
    world = world_at(load_scenario("01-shipments.json"), 0)
    first = world.ledger[0]  # day 0.2 = 04:48Z on 10/01 = 21:48 on 09/30 in Los Angeles
    assert first.date == date(2026, 9, 30)
    assert first.local_time.utcoffset() == timedelta(hours=-7)


def test_inventory_moves_with_the_rows():
    scn = load_scenario("02-ledger-adjustments.json")
    world = world_at(scn, 10)
    start = {c.sku: (c.amazon.sellable, c.amazon.unsellable) for c in scn.catalog}["LAMP-01"]
    level = world.inventory_at()["LAMP-01"]
    # M -3, E -2/+2 damaged, F +1, Q -1 damaged/+1 sellable, D -2 damaged, N +1
    assert (level.sellable, level.unsellable) == (start[0] - 3 - 2 + 1 + 1 + 1, start[1] + 2 - 1 - 2)
    before = world.inventory_at(scn.start)["LAMP-01"]
    assert (before.sellable, before.unsellable) == start


def test_nothing_is_visible_before_its_time():
    scn = load_scenario("01-shipments.json")
    world = world_at(scn, 0.3)
    assert [r.reference_id for r in world.visible_rows()] == ["113-0000001-0000001"]
    assert [o.order_id for o, _ in world.orders_at()] == ["113-0000001-0000001"]
    assert world.last_visible_at() == scn.at(1.3 + 0.02)


def test_order_versions_track_partial_shipments():
    world = world_at(load_scenario("01-shipments.json"), 0)
    order = world.orders["113-0000002-0000002"]
    early, late = order.at(world.scenario.at(0.5)), order.at(world.scenario.at(1.0))
    assert early is not None and late is not None
    assert early.status == "PARTIALLY_SHIPPED" and late.status == "SHIPPED"
    assert {i.order_item_id: i.quantity_shipped for i in early.items}["10001"] == 1
    assert {i.order_item_id: i.quantity_shipped for i in late.items}["10001"] == 3
    blue = default_order_item_id("113-0000002-0000002", "MUG-BLU")
    assert blue == default_order_item_id("113-0000002-0000002", "MUG-BLU") and len(blue) == 14
    assert world.orders["113-0000003-0000003"].versions[-1].status == "CANCELLED"


def test_backposted_rows_appear_up_to_two_days_late():
    events = [
        {"day": 0.0, "type": "fault", "api": "amazon", "kind": "backpost", "rate": 1.0, "until_day": 1.0}
    ]
    events += [
        {"day": 0.1 + n / 100, "type": "adjustment", "sku": "MUG-RED", "reason": "F", "quantity": 1}
        for n in range(20)
    ]
    events += [{"day": 1.5, "type": "adjustment", "sku": "MUG-RED", "reason": "M", "quantity": 1}]
    world = world_at(scenario(events), 0)
    delays = [(r.visible_at - r.occurred_at).total_seconds() / 86_400 for r in world.ledger]
    assert all(0.25 <= d <= 2.0 for d in delays[:-1])
    assert delays[-1] == 0.02  # outside the fault window: the normal posting delay
    assert world.last_visible_at() == max(r.visible_at for r in world.ledger)


def test_duplicate_rows_re_serve_whole_earlier_days_never_a_second_copy_within_a_day():
    events = [
        {"day": d / 4, "type": "adjustment", "sku": "MUG-RED", "reason": "F", "quantity": 1}
        for d in range(20)
    ]
    scn = scenario(events)
    world = world_at(scn, 6)
    window = (scn.at(3), scn.at(4.5))
    plain = world.ledger_rows_for(*window, world.now())
    world.add_fault("duplicate_rows")
    dup = world.ledger_rows_for(*window, world.now())
    assert set(plain) < set(dup) and len(set(dup)) == len(dup)
    days_plain = {r.date for r in plain}
    extra = [r for r in dup if r.date not in days_plain]
    assert extra and all(r.date < min(days_plain) for r in extra)
    # each re-served day is complete, exactly as Amazon has it
    for day in {r.date for r in extra}:
        assert Counter(r for r in extra if r.date == day) == Counter(r for r in world.ledger if r.date == day)


def test_rendered_report_round_trips_through_the_parser():
    world = world_at(load_scenario("05-packs-and-unmapped.json"), 5)
    text = world.render_ledger(world.ledger)
    assert '"\t"' in text and text.startswith('"Date"\t"FNSKU"')
    result = parse_ledger_report(text)
    assert result.issues == []
    assert [r.identity() for r in result.rows] == [
        (r.date.isoformat(), r.fnsku, r.msku, r.event_type, r.reference_id, r.fulfillment_center, r.disposition,
         r.reason, str(r.quantity))
        for r in world.ledger
    ]  # fmt: skip
    assert any('"' in r.title for r in result.rows)


# --- the slow streams ----------------------------------------------------------------------------


def test_returns_become_report_rows_and_refunds():
    world = world_at(load_scenario("03-returns.json"), 0)
    scn = world.scenario
    assert [(r.order_id, r.sku, r.disposition, r.license_plate_number, r.status) for r in world.returns] == [
        ("113-1000001-0000001", "TEE-M", "SELLABLE", "LPNRR0000001", "Unit returned to inventory"),
        ("113-1000001-0000001", "TEE-M", "CUSTOMER_DAMAGED", "LPNRR0000002", "Unit returned to inventory"),
        ("113-1000001-0000001", "TEE-M", "DAMAGED", "LPNRR0000003", "Unit returned to inventory"),
    ]
    assert [r.occurred_at for r in world.returns] == [scn.at(4), scn.at(5), scn.at(6)]
    assert all(r.visible_at == r.occurred_at + timedelta(days=0.02) for r in world.returns)
    # three returns and the unit never returned: four refunds, all on refund_day
    assert [(r.posted_at, r.quantity) for r in world.refunds] == [(scn.at(2), 1)] * 4
    assert len({r.adjustment_id for r in world.refunds}) == 4


def test_refund_day_defaults_to_three_days_before_the_return_and_never_before_day_0():
    events = [
        {"day": 5, "type": "customer_return", "order_id": "A", "sku": "MUG-RED", "quantity": 1,
         "disposition": "SELLABLE"},
        {"day": 1, "type": "customer_return", "order_id": "B", "sku": "MUG-RED", "quantity": 2,
         "disposition": "DEFECTIVE"},
        {"day": 2, "type": "return_not_received", "order_id": "C", "sku": "MUG-BLU", "quantity": 1},
    ]  # fmt: skip
    world = world_at(scenario(events), 0)
    scn = world.scenario
    assert [(r.order_id, r.posted_at) for r in world.refunds] == [
        ("B", scn.at(0)),
        ("C", scn.at(0)),
        ("A", scn.at(2)),
    ]
    assert [r.order_id for r in world.returns] == ["B", "A"]  # return_not_received: no returns row
    lpns = [r.license_plate_number for r in world.returns]
    assert all(lpn.startswith("LPN") for lpn in lpns) and len(set(lpns)) == 2
    assert lpns == [r.license_plate_number for r in world_at(scenario(events), 0).returns]  # deterministic


def test_removal_lines_are_versioned_states():
    events = [
        {"day": 0.1, "type": "removal_order", "order_id": "R1", "order_type": "Return",
         "items": [{"sku": "MUG-RED", "quantity": 3, "disposition": "SELLABLE"},
                   {"sku": "MUG-BLU", "quantity": 2, "disposition": "SELLABLE"}]},
        {"day": 0.12, "type": "removal_cancelled", "order_id": "R1", "sku": "MUG-BLU", "quantity": 2},
        {"day": 1.0, "type": "removal_order", "order_id": "D1", "order_type": "Disposal",
         "items": [{"sku": "MUG-RED", "quantity": 4, "disposition": "UNSELLABLE"}]},
        {"day": 1.5, "type": "removal_disposed", "order_id": "D1", "sku": "MUG-RED", "quantity": 1},
        {"day": 2.0, "type": "removal_shipped", "order_id": "R1", "sku": "MUG-RED", "quantity": 3,
         "tracking_number": "T1"},
    ]  # fmt: skip
    world = world_at(scenario(events), 0)
    scn = world.scenario

    def history(order_id: str, sku: str) -> list[tuple]:
        line = world.removal_lines[(order_id, sku)]
        return [
            (v.updated_at, v.status, v.requested, v.shipped, v.disposed, v.cancelled) for v in line.versions
        ]

    assert history("R1", "MUG-RED") == [
        (scn.at(0.1), "Pending", 3, 0, 0, 0),
        (scn.at(0.15), "In Process", 3, 0, 0, 0),
        (scn.at(2.0), "Completed", 3, 3, 0, 0),
    ]
    assert history("R1", "MUG-BLU") == [
        (scn.at(0.1), "Pending", 2, 0, 0, 0),
        (scn.at(0.12), "Cancelled", 2, 0, 0, 2),
    ]
    assert history("D1", "MUG-RED") == [
        (scn.at(1.0), "Pending", 4, 0, 0, 0),
        (scn.at(1.05), "In Process", 4, 0, 0, 0),
        (scn.at(1.5), "In Process", 4, 0, 1, 0),
    ]
    line = world.removal_lines[("D1", "MUG-RED")]
    assert line.at(scn.at(1.2)).disposed == 0 and line.at(scn.at(1.6)).in_process == 3
    assert line.at(scn.at(0.5)) is None
    assert [(s.order_id, s.quantity, s.tracking_number, s.order_type) for s in world.removal_shipments] == [
        ("R1", 3, "T1", "Return")
    ]


def test_inbound_shipments_are_versioned_states():
    world = world_at(load_scenario("04-removals-inbound.json"), 0)
    scn = world.scenario
    shipment = world.inbound_shipments["FBA17ABCDE12"]
    assert [(v.updated_at, v.status, v.items["BAG-BLK"]) for v in shipment.versions] == [
        (scn.at(1.6), "SHIPPED", (40, 0)),
        (scn.at(3.0), "RECEIVING", (40, 30)),
        (scn.at(3.5), "RECEIVING", (40, 38)),
        (scn.at(4.2), "CLOSED", (40, 38)),
    ]
    assert shipment.at(scn.at(1.6)) is None  # not before the posting delay
    assert shipment.at(scn.at(3.1)).items["BAG-BLK"] == (40, 30)
    assert shipment.name == world_at(scn, 0).inbound_shipments["FBA17ABCDE12"].name  # deterministic


def test_last_visible_at_covers_the_slow_streams():
    events = [
        {"day": 0.5, "type": "adjustment", "sku": "MUG-RED", "reason": "F", "quantity": 1},
        {"day": 3.0, "type": "return_not_received", "order_id": "C", "sku": "MUG-BLU", "quantity": 1,
         "refund_day": 4.0},
    ]  # fmt: skip
    world = world_at(scenario(events), 0)
    assert world.last_visible_at() == world.scenario.at(4.02) + ORDERS_TWO_MINUTE_RULE
    for extra, day in (
        ({"day": 5, "type": "removal_order", "order_id": "R", "order_type": "Return",
          "items": [{"sku": "MUG-RED", "quantity": 1}]}, 5.07),  # In Process after the Pending time
        ({"day": 6, "type": "inbound_closed", "shipment_id": "FBA1"}, 6.02),
        ({"day": 7, "type": "reimbursement", "reimbursement_id": "R-1", "sku": "MUG-RED",
          "reason": "Lost_Warehouse", "quantity_cash": 1, "quantity_inventory": 0}, 7.02),
        ({"day": 8, "type": "removal_shipped", "order_id": "R", "sku": "MUG-RED", "quantity": 1,
          "tracking_number": "T"}, 8.02),
        ({"day": 9, "type": "customer_return", "order_id": "C", "sku": "MUG-BLU", "quantity": 1,
          "disposition": "SELLABLE", "refund_day": 1}, 9.02),
    ):  # fmt: skip
        events.append(extra)
        world = world_at(scenario(events), 0)
        assert abs((world.last_visible_at() - world.scenario.at(day)).total_seconds()) < 1, extra["type"]


def test_backpost_applies_to_report_rows():
    events = [
        {"day": 0.0, "type": "fault", "api": "amazon", "kind": "backpost", "rate": 1.0, "until_day": 1.0}
    ]
    events += [
        {"day": 0.1 + n / 100, "type": "customer_return", "order_id": f"O{n}", "sku": "MUG-RED", "quantity": 1,
         "disposition": "SELLABLE"}
        for n in range(10)
    ]  # fmt: skip
    world = world_at(scenario(events), 0)
    delays = [(r.visible_at - r.occurred_at).total_seconds() / 86_400 for r in world.returns]
    assert all(0.25 <= d <= 2.0 for d in delays)
    assert all(
        r.visible_at - r.posted_at == timedelta(days=0.02) for r in world.refunds
    )  # an API, not a report


def test_slow_streams_leave_the_ledger_rows_as_they_were():
    ledger_only = [
        {"day": 0.1 * n, "type": "adjustment", "sku": "MUG-RED", "reason": "M", "quantity": 1}
        for n in range(10)
    ]
    slow = [
        {"day": 0.05 + 0.1 * n, "type": "reimbursement", "reimbursement_id": f"R{n}", "sku": "MUG-RED",
         "reason": "Lost_Warehouse", "quantity_cash": 1, "quantity_inventory": 0}
        for n in range(10)
    ] + [
        {"day": 0.07, "type": "removal_order", "order_id": "X", "order_type": "Return",
         "items": [{"sku": "MUG-BLU", "quantity": 1}]},
        {"day": 0.08, "type": "inbound_shipped", "shipment_id": "FBA1", "items": [{"sku": "MUG-BLU", "quantity": 1}]},
    ]  # fmt: skip
    plain, mixed = world_at(scenario(ledger_only), 0), world_at(scenario(ledger_only + slow), 0)
    assert [(r.fulfillment_center, r.reference_id) for r in plain.ledger] == [
        (r.fulfillment_center, r.reference_id) for r in mixed.ledger
    ]
    assert len(mixed.reimbursements) == 10


def test_rendered_slow_reports_round_trip_through_the_parsers():
    removals = world_at(load_scenario("04-removals-inbound.json"), 10)
    returns = world_at(load_scenario("03-returns.json"), 10)
    events = [
        {"day": 1.0, "type": "reimbursement", "reimbursement_id": "R-1", "sku": "MUG-RED",
         "reason": "Lost_Warehouse", "quantity_cash": 2, "quantity_inventory": 1},
    ]  # fmt: skip
    money = world_at(scenario(events), 10)
    for world, report_type, parse, count in (
        (returns, RETURNS_REPORT, parse_returns_report, 3),
        (removals, REMOVAL_DETAIL_REPORT, parse_removal_detail_report, 2),
        (removals, REMOVAL_SHIPMENT_REPORT, parse_removal_shipment_report, 1),
        (money, REIMBURSEMENTS_REPORT, parse_reimbursements_report, 1),
    ):
        scn = world.scenario
        rows = world.report_rows_for(report_type, scn.start, world.now(), world.now())
        text = world.render_report(report_type, rows)
        assert '"\t"' not in text  # unquoted
        parsed, issues = parse(text)
        assert issues == [] and len(parsed) == count, report_type
