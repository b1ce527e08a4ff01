"""InboundShipment case evaluator (ARCHITECTURE §4.3): departure from the warehouse, shortage at CLOSED,
reimbursement window, claim."""

from __future__ import annotations

import random
from functools import partial

from reconciler.cases import CaseEffect, Evidence, evaluate_inbound
from reconciler.config import Rules
from reconciler.models import LocationRole, QuantityName, ShopifyReason
from tests.case_helpers import d, reimbursement_for

CASE = "inbound:us:FBA17ABCDE12"
RULES = Rules(reimbursement_window_days=30, claim_window_days=60)


reimbursed = partial(reimbursement_for, reason="Lost_Inbound")


def item(at: float, status: str, shipped: int, received: int = 0, sku: str = "BAG-BLK") -> Evidence:
    return Evidence(
        kind="inbound_item",
        key=f"item:{sku}:{at}",
        occurred_at=d(at),
        data={"sku": sku, "status": status, "quantity_shipped": shipped, "quantity_received": received},
    )


DEPART = CaseEffect(
    key=f"{CASE}/depart/BAG-BLK",
    location=LocationRole.WAREHOUSE,
    name=QuantityName.AVAILABLE,
    delta=-40,
    reason=ShopifyReason.MOVEMENT_CREATED,
    ledger_document_uri_kind=None,
    kind="inbound_departure",
    sku="BAG-BLK",
)
# Scenario 04: 40 shipped on day 1.6, 30 then 8 received, closed on day 4.2.
SCENARIO = [
    item(1.6, "SHIPPED", 40),
    item(3.0, "RECEIVING", 40, 30),
    item(3.5, "RECEIVING", 40, 38),
    item(4.2, "CLOSED", 40, 38),
]


def test_scenario_04_through_its_life():
    v = evaluate_inbound(CASE, [item(1.0, "WORKING", 40)], d(1.1), RULES)
    assert v.state == "working" and v.effects == [] and not v.closed
    assert v.details == "FBA17ABCDE12 (BAG-BLK): 40 units planned, not shipped yet"

    v = evaluate_inbound(CASE, SCENARIO[:1], d(2), RULES)
    assert v.state == "in_transit" and v.effects == [DEPART] and v.next_wake is None
    assert v.details == "FBA17ABCDE12 (BAG-BLK): 0 of 40 units shipped 2026-10-02 received, in transit"

    v = evaluate_inbound(CASE, SCENARIO[:3], d(3.6), RULES)
    assert v.state == "receiving" and v.effects == [DEPART] and v.alerts == []

    v = evaluate_inbound(CASE, SCENARIO, d(4.3), RULES)
    assert v.state == "closed_short_awaiting_reimbursement" and not v.claim_due and not v.closed
    assert v.effects == [DEPART] and v.next_wake == d(34.2)
    [alert] = v.alerts
    assert alert.kind == "inbound_shortage" and alert.key == f"{CASE}:shortage"
    assert alert.message == (
        "Inbound shipment FBA17ABCDE12 closed on 2026-10-05 short by 2 units (BAG-BLK 38 of 40 received); "
        "Amazon should reimburse by 2026-11-04, else file a claim by 2027-01-03."
    )
    assert v.details.endswith("closed 2026-10-05 short by 2; reimbursement awaited until 2026-11-04")

    v = evaluate_inbound(CASE, SCENARIO, d(35), RULES)
    assert v.state == "claim_due" and v.claim_due and v.owed_units == 2
    assert v.claim_deadline == d(94.2) and v.next_wake == d(94.2)
    assert [a.kind for a in v.alerts] == ["inbound_shortage", "claim_due"]
    assert "file a claim by 2027-01-03" in v.alerts[1].message

    v = evaluate_inbound(CASE, SCENARIO, d(95), RULES)
    assert v.state == "claim_expired" and v.claim_due and v.claim_expired and v.closed
    assert v.next_wake is None


def test_a_lost_inbound_reimbursement_settles_the_shortage():
    v = evaluate_inbound(CASE, [*SCENARIO, reimbursed("R1", 20, 2, amount=31.0)], d(35), RULES)
    assert v.closed and v.state == "closed" and not v.claim_due and v.alerts == []
    assert v.details.endswith("short by 2, 2 reimbursed, settled")
    # late, after the claim became due: closes too
    v = evaluate_inbound(CASE, [*SCENARIO, reimbursed("R1", 40, 2)], d(41), RULES)
    assert v.closed and not v.claim_due
    # partly: 1 unit owed, priced from the reimbursement
    v = evaluate_inbound(CASE, [*SCENARIO, reimbursed("R1", 20, 1, amount=15.5)], d(35), RULES)
    assert v.owed_units == 1 and v.owed_amount == 15.5 and v.state == "claim_due"


def test_complete_receipt_closes_without_alert():
    ev = [item(1, "SHIPPED", 10), item(2, "CLOSED", 10, 10)]
    v = evaluate_inbound(CASE, ev, d(2), RULES)
    assert v.closed and v.state == "closed" and v.alerts == [] and v.next_wake is None
    assert (
        v.details
        == "FBA17ABCDE12 (BAG-BLK): 10 of 10 units shipped 2026-10-02 received, closed 2026-10-03 complete"
    )


def test_no_warehouse_effect_when_another_system_decrements_it():
    rules = Rules(inbound_decrements_warehouse=False)
    v = evaluate_inbound(CASE, SCENARIO, d(4.3), rules)
    assert v.effects == [] and v.alerts[0].kind == "inbound_shortage"


def test_shipped_quantity_growth_is_one_more_effect():
    ev = [item(1.6, "SHIPPED", 40), item(2.0, "SHIPPED", 45), item(2.5, "IN_TRANSIT", 45)]
    v = evaluate_inbound(CASE, ev, d(3), RULES)
    assert [(e.key, e.delta) for e in v.effects] == [
        (f"{CASE}/depart/BAG-BLK", -40),
        (f"{CASE}/depart/BAG-BLK/45", -5),
    ]
    # the planned quantity before departure does not matter
    ev = [item(1.0, "WORKING", 30), item(1.6, "SHIPPED", 40)]
    assert [(e.key, e.delta) for e in evaluate_inbound(CASE, ev, d(3), RULES).effects] == [(DEPART.key, -40)]


def test_two_skus_and_evidence_order_do_not_matter():
    ev = [
        *SCENARIO,
        item(1.6, "SHIPPED", 12, sku="BAG-RED"),
        item(4.2, "CLOSED", 12, 12, sku="BAG-RED"),
    ]
    want = evaluate_inbound(CASE, ev, d(5), RULES)
    assert want.sku == "BAG-BLK" and {e.sku: e.delta for e in want.effects} == {
        "BAG-BLK": -40,
        "BAG-RED": -12,
    }
    rng = random.Random(11)
    for _ in range(10):
        mixed = ev + rng.sample(ev, 2)
        rng.shuffle(mixed)
        assert evaluate_inbound(CASE, mixed, d(5), RULES) == want


def test_cancelled_before_leaving_closes_without_effect():
    v = evaluate_inbound(CASE, [item(1, "WORKING", 10), item(2, "CANCELLED", 10)], d(3), RULES)
    assert v.closed and v.state == "cancelled" and v.effects == []
