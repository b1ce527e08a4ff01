"""CustomerReturn case evaluator (ARCHITECTURE §4.3): pure, deterministic, order-independent."""

from __future__ import annotations

import random
from functools import partial

from reconciler.cases import Evidence, evaluate_return
from reconciler.config import Rules
from tests.case_helpers import d, reimbursement_for

CASE = "return:us:113-1000001-0000001:TEE-M"
RULES = Rules(return_window_days=45, reimbursement_window_days=30, claim_window_days=60)


reimbursement = partial(reimbursement_for, reason="CustomerReturn")


def refund(n: int, at: float = 2.0, q: int = 1) -> Evidence:
    return Evidence(
        kind="refund", key=f"refund:{n}", occurred_at=d(at), quantity=q, data={"adjustment_id": f"A{n}"}
    )


def graded(lpn: str, disposition: str, at: float, q: int = 1, key: str | None = None) -> Evidence:
    return Evidence(
        kind="return_graded",
        key=key or f"grade:{lpn}:{disposition}",
        occurred_at=d(at),
        quantity=q,
        data={"lpn": lpn, "disposition": disposition},
    )


def reversal(rid: str, original: str, at: float, cash: int = 0, amount: float | None = None) -> Evidence:
    return Evidence(
        kind="reimbursement_reversal",
        key=f"reimb:{rid}",
        occurred_at=d(at),
        data={
            "original_reimbursement_id": original,
            "quantity_cash": -cash,
            "quantity_inventory": 0,
            "amount_total": amount,
        },
    )


# Scenario 03: 4 units refunded on day 2; graded SELLABLE day 4, CUSTOMER_DAMAGED day 5, DAMAGED day 6;
# one never returned.
SCENARIO = [
    *(refund(n) for n in range(1, 5)),
    graded("LPNRR0000001", "SELLABLE", 4),
    graded("LPNRR0000002", "CUSTOMER_DAMAGED", 5),
    graded("LPNRR0000003", "DAMAGED", 6),
]


def test_before_any_deadline_the_case_awaits_the_missing_unit():
    v = evaluate_return(CASE, SCENARIO, d(7), RULES)
    assert v.case_type == "return" and v.sku == "TEE-M"
    assert v.state == "awaiting_return"
    assert not v.claim_due and not v.closed and v.owed_units == 0
    assert v.next_wake == d(36)  # the DAMAGED unit's reimbursement due date comes first
    assert v.effects == [] and v.alerts == []
    assert v.details == (
        "4 units refunded on 2026-10-03: 1 restocked, 1 unsellable (CUSTOMER_DAMAGED), 1 damaged by Amazon, "
        "1 awaited until 2026-11-17; 1 unit awaiting reimbursement until 2026-11-06"
    )


def test_day_40_the_damaged_unit_is_owed_but_the_unreturned_one_is_not_yet_due():
    v = evaluate_return(CASE, SCENARIO, d(40), RULES)
    assert v.claim_due and not v.claim_expired
    assert v.state == "claim_due"
    assert v.owed_units == 1 and v.owed_amount is None
    assert v.claim_deadline == d(96)  # due day 36 + 60 days to file
    assert v.next_wake == d(47)  # the return window of the missing unit ends
    assert not v.closed
    [alert] = v.alerts
    assert alert.kind == "claim_due" and alert.key == f"{CASE}:claim_due"
    assert (
        "1 unit" in alert.message and "2027-01-05" in alert.message and "damaged by Amazon" in alert.message
    )


def test_after_the_return_window_the_missing_unit_waits_for_its_reimbursement():
    v = evaluate_return(CASE, SCENARIO, d(50), RULES)
    assert v.owed_units == 1  # the never-returned unit is due on day 77 only
    assert v.next_wake == d(77)
    assert "1 never returned" in v.details


def test_day_80_both_units_are_owed():
    v = evaluate_return(CASE, SCENARIO, d(80), RULES)
    assert v.claim_due and v.owed_units == 2
    assert v.claim_deadline == d(96)  # the earliest deadline still open
    assert v.next_wake == d(96)
    assert (
        "2 units (1 damaged by Amazon due 2026-11-06 and 1 never returned due 2026-12-17)"
        in v.alerts[0].message
    )


def test_a_reimbursement_covering_both_closes_the_case():
    v = evaluate_return(CASE, [*SCENARIO, reimbursement("R1", 82, cash=2, amount=30.0)], d(85), RULES)
    assert v.closed and v.state == "closed"
    assert not v.claim_due and v.owed_units == 0 and v.alerts == []
    assert v.next_wake is None
    assert v.details.endswith("; 2 reimbursed; closed")


def test_a_partial_reimbursement_covers_the_oldest_due_unit_and_prices_the_rest():
    ev = [*SCENARIO, reimbursement("R1", 38, cash=1, amount=15.0)]
    v40 = evaluate_return(CASE, ev, d(40), RULES)
    assert not v40.claim_due and v40.state == "awaiting_return"
    v80 = evaluate_return(CASE, ev, d(80), RULES)
    assert v80.owed_units == 1 and v80.owed_amount == 15.0
    assert v80.claim_deadline == d(137)
    assert "about 15.00" in v80.alerts[0].message and "never returned" in v80.alerts[0].message


def test_an_early_reimbursement_also_covers_a_unit_still_awaited():
    ev = [*SCENARIO, reimbursement("R1", 20, cash=1, inventory=1)]
    v = evaluate_return(CASE, ev, d(21), RULES)
    assert v.closed and v.state == "closed"


def test_evidence_twice_or_out_of_order_gives_the_same_view():
    ev = [*SCENARIO, reimbursement("R1", 38, cash=1, amount=15.0)]
    expected = evaluate_return(CASE, ev, d(80), RULES)
    rng = random.Random(7)
    for _ in range(20):
        mixed = ev + rng.sample(ev, 3)
        rng.shuffle(mixed)
        assert evaluate_return(CASE, mixed, d(80), RULES) == expected


def test_a_regrade_of_a_license_plate_replaces_its_first_grade():
    regraded = [*SCENARIO, graded("LPNRR0000003", "SELLABLE", 9)]
    v = evaluate_return(CASE, regraded, d(40), RULES)
    assert not v.claim_due and "2 restocked" in v.details and "damaged by Amazon" not in v.details
    # the other way round: graded SELLABLE first, regraded DAMAGED later → a reimbursement is expected
    other = [*SCENARIO[:4], graded("LPNRR0000001", "SELLABLE", 4), graded("LPNRR0000001", "DAMAGED", 8)]
    v = evaluate_return(CASE, other, d(37), RULES)
    assert v.claim_due is False and v.next_wake == d(38)
    assert evaluate_return(CASE, list(reversed(other)), d(39), RULES).owed_units == 1


def test_a_reversal_reopens_the_claim_with_a_new_alert():
    paid = [*SCENARIO, reimbursement("R1", 82, cash=2, amount=30.0)]
    assert evaluate_return(CASE, paid, d(85), RULES).closed
    reversed_ = [*paid, reversal("R2", "R1", 90, cash=1, amount=-15.0)]
    v = evaluate_return(CASE, reversed_, d(91), RULES)
    assert not v.closed and v.claim_due and v.owed_units == 1 and v.owed_amount == 15.0
    assert [a.key for a in v.alerts] == [f"{CASE}:claim_due:after-reversal:reimb:R2"]
    # covered oldest-first: the damaged unit (due day 36, file by day 96) stays covered
    assert v.claim_deadline == d(137)


def test_past_the_filing_window_the_claim_expires_and_stays_due():
    v = evaluate_return(CASE, SCENARIO, d(100), RULES)
    assert v.claim_due and v.claim_expired and v.owed_units == 2
    assert v.state == "claim_due" and not v.closed  # the never-returned unit can still be claimed
    assert {a.kind for a in v.alerts} == {"claim_due", "claim_expired"}
    v = evaluate_return(CASE, SCENARIO, d(140), RULES)
    assert v.closed and v.state == "claim_expired" and v.claim_due and v.claim_expired
    assert v.next_wake is None and v.claim_deadline == d(137)


def test_unsellable_grades_owe_nothing_and_close_once_everything_is_graded():
    ev = [refund(1, q=2), graded("L1", "SELLABLE", 4), graded("L2", "DEFECTIVE", 5)]
    v = evaluate_return(CASE, ev, d(6), RULES)
    assert v.closed and v.state == "closed" and not v.claim_due and v.next_wake is None
    assert v.details == "2 units refunded on 2026-10-03: 1 restocked, 1 unsellable (DEFECTIVE); closed"


def test_grades_without_a_refund_count_as_the_returned_units():
    v = evaluate_return(CASE, [graded("L1", "DAMAGED", 4)], d(10), RULES)
    assert v.state == "awaiting_reimbursement" and v.next_wake == d(34)
    assert v.details.startswith("1 unit returned without a refund seen yet")


def test_only_a_reimbursement_waits_for_the_refund():
    v = evaluate_return(CASE, [reimbursement("R1", 3, cash=1)], d(4), RULES)
    assert v.state == "awaiting_refund" and not v.closed and v.next_wake is None


def test_an_amount_of_zero_means_unknown_and_a_per_unit_amount_prices_the_claim():
    unknown = reimbursement("R1", 38, cash=1, amount=0.0)
    assert evaluate_return(CASE, [*SCENARIO, unknown], d(80), RULES).owed_amount is None
    per_unit = Evidence(
        kind="reimbursement",
        key="reimb:R1",
        occurred_at=d(38),
        data={"reimbursement_id": "R1", "quantity_cash": 1, "amount_total": 0.0, "amount_per_unit": 12.0},
    )
    assert evaluate_return(CASE, [*SCENARIO, per_unit], d(80), RULES).owed_amount == 12.0


def test_dispatch_by_case_id_prefix():
    from reconciler.cases import evaluate

    assert evaluate(CASE, SCENARIO, d(40), RULES) == evaluate_return(CASE, SCENARIO, d(40), RULES)
    assert evaluate("lost:us:X1", [], d(1), RULES).case_type == "lost"
    assert evaluate("removal:us:R1", [], d(1), RULES).case_type == "removal"
    assert evaluate("inbound:us:S1", [], d(1), RULES).case_type == "inbound"
    try:
        evaluate("gate:shop", [], d(1), RULES)
    except ValueError as e:
        assert "not a case id" in str(e)
    else:
        raise AssertionError("an unknown prefix must be refused")
