"""RemovalOrder case evaluator (ARCHITECTURE §4.3): warehouse incoming → available/damaged, overdue,
auto-receive, short receipts, disposals; effect keys stable across re-evaluation."""

from __future__ import annotations

import random

from reconciler.cases import CaseEffect, Evidence, evaluate_removal
from reconciler.config import Rules
from reconciler.models import LocationRole, QuantityName, ShopifyReason
from tests.case_helpers import d

CASE = "removal:us:RMV-0001"
TRACK = "1Z999AA10123456784"
RULES = Rules(removal_overdue_days=14)
W = LocationRole.WAREHOUSE


def detail(
    at: float, requested: int, shipped: int = 0, disposed: int = 0, cancelled: int = 0, **kw
) -> Evidence:
    data = {
        "order_type": kw.get("order_type", "Return"),
        "sku": kw.get("sku", "BAG-BLK"),
        "requested": requested,
        "shipped": shipped,
        "disposed": disposed,
        "cancelled": cancelled,
        "disposition": kw.get("disposition", "SELLABLE"),
    }
    return Evidence(kind="removal_detail", key=f"detail:{data['sku']}:{at}", occurred_at=d(at), data=data)


def shipment(
    at: float, q: int, tracking: str = TRACK, disposition: str = "SELLABLE", sku: str = "BAG-BLK"
) -> Evidence:
    return Evidence(
        kind="removal_shipment",
        key=f"ship:{sku}:{tracking}",
        occurred_at=d(at),
        quantity=q,
        data={"sku": sku, "tracking_number": tracking, "carrier": "UPS", "disposition": disposition},
    )


def receipt(key: str, at: float, q: int, tracking: str = TRACK, sku: str = "BAG-BLK") -> Evidence:
    return Evidence(
        kind="removal_receipt",
        key=key,
        occurred_at=d(at),
        quantity=q,
        data={"sku": sku, "tracking_number": tracking},
    )


def fx(
    key: str, name: QuantityName, delta: int, reason: ShopifyReason, doc: str | None, kind: str
) -> CaseEffect:
    return CaseEffect(
        key=key,
        location=W,
        name=name,
        delta=delta,
        reason=reason,
        ledger_document_uri_kind=doc,
        kind=kind,
        sku="BAG-BLK",
    )


SHIPPED = [detail(0.1, 6), detail(1.0, 6, shipped=6), shipment(1.0, 6)]
SHIP_FX = fx(
    f"{CASE}/ship/{TRACK}/BAG-BLK/incoming",
    QuantityName.INCOMING,
    6,
    ShopifyReason.MOVEMENT_CREATED,
    "RemovalOrder",
    "removal_shipped",
)


def by_key(effects: list[CaseEffect]) -> dict[str, CaseEffect]:
    return {e.key: e for e in effects}


def test_scenario_04_shipped_travels_and_is_received():
    v = evaluate_removal(CASE, [detail(0.1, 6)], d(0.5), RULES)
    assert v.state == "requested" and v.effects == [] and not v.closed
    assert v.details == "RMV-0001 (Return): 6 units requested; 6 units still to ship, dispose or cancel"

    v = evaluate_removal(CASE, SHIPPED, d(2), RULES)
    assert v.state == "in_transit" and v.effects == [SHIP_FX] and v.alerts == []
    assert v.next_wake == d(15) and not v.closed
    assert (
        v.details
        == "RMV-0001 (Return): 6 units requested, 0 of 6 shipped received; 6 units in transit since 2026-10-02"
    )

    v = evaluate_removal(CASE, [*SHIPPED, receipt("rcpt:1", 4, 6)], d(4), RULES)
    base = f"{CASE}/recv/rcpt:1/{TRACK}/BAG-BLK"
    assert v.effects == [
        SHIP_FX,
        fx(
            f"{base}/incoming",
            QuantityName.INCOMING,
            -6,
            ShopifyReason.MOVEMENT_RECEIVED,
            "RemovalOrder",
            "removal_received",
        ),
        fx(
            f"{base}/available",
            QuantityName.AVAILABLE,
            6,
            ShopifyReason.MOVEMENT_RECEIVED,
            None,
            "removal_received",
        ),
    ]
    assert v.closed and v.state == "closed" and v.alerts == [] and v.next_wake is None
    assert v.details == "RMV-0001 (Return): 6 units requested, 6 of 6 shipped received; complete"


def test_never_received_is_overdue_after_14_days():
    assert evaluate_removal(CASE, SHIPPED, d(14.9), RULES).alerts == []
    v = evaluate_removal(CASE, SHIPPED, d(15.5), RULES)
    assert v.state == "overdue" and not v.closed and v.next_wake is None
    [alert] = v.alerts
    assert alert.kind == "removal_overdue" and alert.key == f"{CASE}:overdue:{TRACK}"
    assert alert.message == (
        f"RMV-0001: 6 units shipped 2026-10-02 by UPS {TRACK} not received; overdue since 2026-10-16."
    )
    assert "6 units overdue since 2026-10-16" in v.details
    # received late: the alert is no longer emitted, the case closes
    v = evaluate_removal(CASE, [*SHIPPED, receipt("rcpt:1", 20, 6)], d(20), RULES)
    assert v.closed and v.alerts == []


def test_auto_receive_after_the_configured_days():
    rules = Rules(removal_overdue_days=14, removal_auto_receive_days=10)
    v = evaluate_removal(CASE, SHIPPED, d(5), rules)
    assert v.next_wake == d(11) and v.effects == [SHIP_FX]
    v = evaluate_removal(CASE, SHIPPED, d(11), rules)
    auto = f"{CASE}/auto/{TRACK}/BAG-BLK"
    assert [e.key for e in v.effects] == [SHIP_FX.key, f"{auto}/incoming", f"{auto}/available"]
    assert [e.kind for e in v.effects][1:] == ["removal_auto_received"] * 2
    assert v.closed and "6 received automatically" in v.details
    # a confirmation dated after the auto-receipt moves nothing more
    later = evaluate_removal(CASE, [*SHIPPED, receipt("rcpt:1", 12, 6)], d(12), rules)
    assert later.effects == v.effects and later.closed
    # a partial receipt before it: the rest is auto-received
    partial = evaluate_removal(CASE, [*SHIPPED, receipt("rcpt:1", 5, 4, tracking="")], d(11), rules)
    deltas = {e.key: e.delta for e in partial.effects}
    assert deltas[f"{auto}/available"] == 2
    assert deltas[f"{CASE}/recv/rcpt:1/{TRACK}/BAG-BLK/available"] == 4


def test_unsellable_units_land_in_damaged():
    ev = [detail(0.1, 3, shipped=3, disposition="UNSELLABLE"), shipment(1, 3, disposition="CUSTOMER_DAMAGED")]
    v = evaluate_removal(CASE, [*ev, receipt("rcpt:1", 3, 3)], d(3), RULES)
    landed = v.effects[-1]
    assert landed.name == QuantityName.DAMAGED and landed.delta == 3
    assert (
        landed.reason == ShopifyReason.MOVEMENT_RECEIVED and landed.ledger_document_uri_kind == "RemovalOrder"
    )
    assert landed.key.endswith("/damaged") and v.closed


def test_short_receipt_is_a_discrepancy_and_the_rest_stays_incoming():
    v = evaluate_removal(CASE, [*SHIPPED, receipt("rcpt:1", 4, 4)], d(4), RULES)
    assert sum(e.delta for e in v.effects if e.name == QuantityName.INCOMING) == 2  # still incoming
    assert sum(e.delta for e in v.effects if e.name == QuantityName.AVAILABLE) == 4
    [alert] = v.alerts
    assert alert.kind == "removal_short_receipt" and alert.key == f"{CASE}:short:{TRACK}"
    assert alert.message == (
        f"RMV-0001: only 4 of 6 units shipped 2026-10-02 under tracking {TRACK} were received (BAG-BLK); "
        "2 units missing stay incoming at the warehouse until someone reviews it."
    )
    assert v.state == "short_received" and v.closed
    # not overdue later either: a person has to decide
    assert [
        a.kind for a in evaluate_removal(CASE, [*SHIPPED, receipt("rcpt:1", 4, 4)], d(30), RULES).alerts
    ] == ["removal_short_receipt"]


def test_disposal_closes_when_disposed_equals_requested():
    case = "removal:us:RMV-0002"
    first = detail(0.2, 4, order_type="Disposal", disposition="UNSELLABLE")
    v = evaluate_removal(case, [first], d(1), RULES)
    assert v.state == "requested" and not v.closed
    v = evaluate_removal(case, [first, detail(1.5, 4, disposed=4, order_type="Disposal")], d(2), RULES)
    assert v.closed and v.state == "closed" and v.effects == [] and v.alerts == []
    assert v.details == "RMV-0002 (Disposal): 4 units requested, 4 disposed; complete"


def test_effect_keys_are_stable_across_re_evaluation_and_evidence_order():
    ev = [
        detail(0.1, 10),
        detail(3, 10, shipped=10),
        shipment(1, 4, tracking="T1"),
        shipment(2, 6, tracking="T2"),
        receipt("rcpt:a", 5, 5, tracking=""),  # FIFO: 4 from T1, 1 from T2
        receipt("rcpt:b", 7, 5, tracking="T2"),
    ]
    seen: dict[str, CaseEffect] = {}
    for n in range(1, len(ev) + 1):
        v = evaluate_removal(CASE, ev[:n], d(8), RULES)
        for e in v.effects:
            assert seen.setdefault(e.key, e) == e  # a key never changes its meaning
    assert v.closed
    totals = {name: sum(e.delta for e in seen.values() if e.name == name) for name in QuantityName}
    assert totals[QuantityName.INCOMING] == 0 and totals[QuantityName.AVAILABLE] == 10
    rng = random.Random(5)
    for _ in range(10):
        mixed = ev + rng.sample(ev, 2)
        rng.shuffle(mixed)
        assert evaluate_removal(CASE, mixed, d(8), RULES) == v


def test_a_receipt_before_its_shipment_row_waits_for_it():
    early = [detail(0.1, 6), detail(1, 6, shipped=6), receipt("rcpt:1", 3, 6)]
    v = evaluate_removal(CASE, early, d(3), RULES)
    assert v.effects == [] and not v.closed and v.state == "in_transit"
    assert "6 units received matching no shipment" in v.details
    v = evaluate_removal(CASE, [*early, shipment(1, 6)], d(3.5), RULES)
    assert v.closed and len(v.effects) == 3
