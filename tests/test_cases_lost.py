"""LostUnits case evaluator (ARCHITECTURE §4.3): FIFO settlement, research and claim windows."""

from __future__ import annotations

import random
from functools import partial

from reconciler.cases import Evidence, evaluate_lost
from reconciler.config import Rules
from tests.case_helpers import d, reimbursement_for

CASE = "lost:us:X00TEEM001"
RULES = Rules(lost_research_days=30, claim_window_days=60)


reimbursed = partial(reimbursement_for, reason="Lost_Warehouse")


def lost(key: str, at: float, q: int) -> Evidence:
    return Evidence(kind="lost", key=key, occurred_at=d(at), quantity=-q, data={"reason": "M"})


def found(key: str, at: float, q: int) -> Evidence:
    return Evidence(kind="found", key=key, occurred_at=d(at), quantity=q, data={"reason": "F"})


BASIC = [lost("L1", 0, 3), found("F1", 5, 1), reimbursed("R1", 10, cash=1, amount=12.5)]


def test_during_research_nothing_is_owed():
    v = evaluate_lost(CASE, BASIC, d(20), RULES)
    assert v.case_type == "lost" and v.sku == "X00TEEM001"
    assert v.state == "researching" and not v.claim_due and not v.closed
    assert v.next_wake == d(30)
    assert v.details == (
        "FNSKU X00TEEM001: 3 units lost since 2026-10-01, 1 found, 1 reimbursed; "
        "1 unit under Amazon's research until 2026-10-31"
    )


def test_after_research_the_unsettled_unit_is_a_claim_due():
    v = evaluate_lost(CASE, BASIC, d(31), RULES)
    assert v.state == "claim_due" and v.claim_due and v.owed_units == 1
    assert v.owed_amount == 12.5 and v.claim_deadline == d(90)
    assert v.next_wake == d(90) and v.effects == []
    [alert] = v.alerts
    assert alert.kind == "claim_due" and alert.key == f"{CASE}:claim_due:L1"
    assert "1 unit lost since 2026-10-01" in alert.message and "2026-12-30" in alert.message
    assert "12.50" in alert.message


def test_fifo_across_two_losses():
    ev = [lost("L1", 0, 2), lost("L2", 20, 3), found("F1", 25, 2)]
    v = evaluate_lost(CASE, ev, d(35), RULES)  # L1 settled by the found units; L2 still researched
    assert v.state == "researching" and not v.claim_due and v.next_wake == d(50)
    v = evaluate_lost(CASE, ev, d(55), RULES)
    assert v.claim_due and v.owed_units == 3 and v.claim_deadline == d(110)
    assert v.alerts[0].key == f"{CASE}:claim_due:L2"
    # one found unit only: 1 unit of L1 is owed first, L2 still researched
    ev = [lost("L1", 0, 2), lost("L2", 20, 3), found("F1", 25, 1)]
    v = evaluate_lost(CASE, ev, d(35), RULES)
    assert v.state == "claim_due" and v.owed_units == 1 and v.next_wake == d(50)


def test_closes_when_the_balance_reaches_zero():
    v = evaluate_lost(CASE, [*BASIC, found("F2", 40, 1)], d(41), RULES)
    assert v.closed and v.state == "closed" and not v.claim_due and v.alerts == []
    assert v.next_wake is None and v.details.endswith("settled")


def test_same_view_whatever_the_order_or_repeats():
    ev = [*BASIC, lost("L2", 12, 2)]
    want = evaluate_lost(CASE, ev, d(45), RULES)
    rng = random.Random(3)
    for _ in range(20):
        mixed = ev + rng.sample(ev, 2)
        rng.shuffle(mixed)
        assert evaluate_lost(CASE, mixed, d(45), RULES) == want


def test_a_reversal_reopens_and_the_claim_expires_after_its_window():
    ev = [lost("L1", 0, 1), reimbursed("R1", 10, cash=1, amount=9.0)]
    assert evaluate_lost(CASE, ev, d(40), RULES).closed
    ev.append(
        Evidence(
            kind="reimbursement_reversal",
            key="reimb:R2",
            occurred_at=d(45),
            data={"original_reimbursement_id": "R1", "quantity_cash": -1, "amount_total": -9.0},
        )
    )
    v = evaluate_lost(CASE, ev, d(46), RULES)
    assert v.claim_due and not v.closed and v.alerts[0].key == f"{CASE}:claim_due:L1:after-reversal:reimb:R2"
    v = evaluate_lost(CASE, ev, d(91), RULES)
    assert v.claim_due and v.claim_expired and v.closed and v.state == "claim_expired"
    assert {a.kind for a in v.alerts} == {"claim_due", "claim_expired"}


def test_found_without_a_loss_closes_and_counts_as_credit_for_a_later_loss():
    v = evaluate_lost(CASE, [found("F1", 1, 2)], d(2), RULES)
    assert v.state == "closed" and v.closed and v.next_wake is None
    assert v.details == "FNSKU X00TEEM001: 2 units found; no loss recorded yet"


def test_a_loss_after_an_unmatched_find_is_settled_by_it():
    v = evaluate_lost(CASE, [found("F1", 1, 2), lost("L1", 3, 2)], d(40), RULES)
    assert v.closed and not v.claim_due
