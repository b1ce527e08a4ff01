"""The simulated Amazon account: what each scenario event becomes, and when it becomes visible."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from integrations.amazon.ledger_report import parse_ledger_report
from sandbox.amazon.world import AmazonWorld, default_order_item_id
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
