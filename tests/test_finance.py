"""The finance report's and the claims' pure parts, without a database or a server: aggregation by
kind, reason, location and SKU; reimbursements net of reversals per currency; claims and their value;
and the claim a seller files, built from a case's evidence."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.cases.model import Evidence
from reconciler.claims import ClaimRow, build_claim, evidence_reference
from reconciler.finance import (
    EffectTotal,
    FinanceReportInput,
    LedgerAdjustmentTotal,
    ReimbursementLine,
    build_report,
    csv_rows,
    markdown,
    month_bounds,
    previous_month,
)
from tests.case_helpers import d


def claim(case_id: str, units: int, amount: float | None, currency: str = "USD") -> ClaimRow:
    return ClaimRow(
        case_id=case_id,
        case_type=case_id.split(":")[0],
        account="us",
        msku="MUG",
        units_owed=units,
        amount_owed=amount,
        currency=currency,
        deadline=date(2026, 6, 1),
    )


def reimbursement(
    rid: str, amount: float, *, cash: int = 1, inventory: int = 0, **kw: object
) -> ReimbursementLine:
    values: dict[str, object] = {
        "reimbursement_id": rid,
        "reversal": False,
        "reason": "Lost_Warehouse",
        "sku": "MUG",
        "case_id": "lost:us:X1",
        "cash_units": cash,
        "inventory_units": inventory,
        "amount": amount,
        "currency": "USD",
    }
    values.update(kw)
    return ReimbursementLine(**values)  # type: ignore[arg-type]


def test_months() -> None:
    assert month_bounds("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert month_bounds("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert previous_month(date(2026, 3, 8)) == "2026-02"
    assert previous_month(date(2026, 1, 8)) == "2025-12"
    with pytest.raises(ValidationError):
        FinanceReportInput(account="us", month="2026-13")
    assert FinanceReportInput(account="us").month is None  # the schedule's: the month before


def test_report_rolls_units_up_by_kind_reason_location_and_sku() -> None:
    report = build_report(
        account="us",
        month="2026-03",
        generated_at=datetime(2026, 4, 8, tzinfo=UTC),
        moved=[
            EffectTotal("shipment", "correction", "fba", "available", "MUG", 0, 40, 25),
            EffectTotal("shipment", "correction", "fba", "available", "CUP", 0, 10, 9),
            EffectTotal("return", "restock", "fba", "available", "MUG", 3, 0, 3),
            EffectTotal("return", "damaged", "fba", "damaged", "MUG", 1, 0, 1),
            EffectTotal("found", "correction", "fba", "available", "CUP", 2, 0, 2),
            EffectTotal("removal_shipped", "movement_created", "warehouse", "incoming", "MUG", 6, 0, 2),
        ],
        adjustments=[
            LedgerAdjustmentTotal("MUG", "X1", "M", -4, 2),
            LedgerAdjustmentTotal("MUG", "X1", "5", -1, 1),
            LedgerAdjustmentTotal("CUP", "X2", "F", 2, 1),
        ],
        reimbursements=[
            reimbursement("R1", 20.0, cash=2),
            reimbursement("R2", 0.0, cash=0, inventory=1),
            reimbursement("R3", 10.0, reversal=True, reason="Reimbursement_Reversal"),
            reimbursement("R4", 7.5, currency="CAD"),
            reimbursement("R5", 3.0, currency=""),  # no currency on the row: the marketplace's
        ],
        claims=[
            claim("lost:us:X1", 3, 30.0),
            claim("return:us:O1:MUG", 1, None),
            claim("inbound:us:S", 2, 5.0),
        ],
        unwritten_effects=4,
        default_currency="USD",
    )
    assert (report.effects_applied, report.units_in, report.units_out, report.net_units) == (42, 12, 50, -38)
    assert [(u.key, u.units_in, u.units_out, u.effects) for u in report.by_kind] == [
        ("shipment", 0, 50, 34),
        ("removal_shipped", 6, 0, 2),
        ("return", 4, 0, 4),
        ("found", 2, 0, 2),
    ]
    assert {u.key: u.net for u in report.by_reason} == {
        "correction": -48,
        "restock": 3,
        "damaged": 1,
        "movement_created": 6,
    }
    assert {u.key: u.net for u in report.by_location} == {
        "fba.available": -45,
        "fba.damaged": 1,
        "warehouse.incoming": 6,
    }
    assert {u.key: (u.units_in, u.units_out) for u in report.by_sku} == {"MUG": (10, 40), "CUP": (2, 10)}
    assert (report.lost_units, report.found_units) == (5, 2)
    assert [(s.sku, s.units, s.rows) for s in report.lost] == [("MUG", 5, 3)]
    usd, cad = report.reimbursed[1], report.reimbursed[0]
    assert (usd.currency, usd.cash_units, usd.inventory_units, usd.amount) == ("USD", 2, 1, 13.0)
    assert (usd.reimbursements, usd.reversals) == (3, 1)
    assert (cad.currency, cad.units, cad.amount) == ("CAD", 1, 7.5)
    assert report.reimbursed_units == 4
    assert (report.claims_due_units, report.claims_due_value, report.claims_unvalued) == (6, {"USD": 35.0}, 1)

    summary = report.summary("r.csv", "r.md")
    assert summary.reimbursed_amounts == {"CAD": 7.5, "USD": 13.0}
    assert (summary.claims_due, summary.claims_due_value) == (3, {"USD": 35.0})

    text = io.StringIO()
    csv.writer(text).writerows(csv_rows(report))
    rows = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert sum(int(r["net_units"]) for r in rows if r["section"] == "moved") == -38
    [reversal] = [r for r in rows if r["section"] == "reimbursement_reversal"]
    assert (reversal["amount"], reversal["net_units"]) == ("-10.00", "-1")
    assert reversal["detail"] == "R3 (lost:us:X1): 1 cash, 0 inventory"
    assert [r["net_units"] for r in rows if r["section"] == "claim_due"] == ["3", "1", "2"]

    md = markdown(report)
    assert "| units in / out / net (Shopify units) | 12 / 50 / -38 |" in md
    assert "| reimbursed amount | 7.50 CAD, 13.00 USD |" in md
    assert "35.00 USD; 1 without a known value" in md
    assert "4 effect(s) of the month are not written to Shopify yet" in md


def test_an_empty_month_says_so() -> None:
    report = build_report(
        account="us",
        month="2026-03",
        generated_at=datetime(2026, 4, 8, tzinfo=UTC),
        moved=[],
        adjustments=[],
        reimbursements=[],
        claims=[],
    )
    md = markdown(report)
    assert "| effects applied to Shopify | 0 |" in md
    assert "No reimbursement approved this month." in md and "No claim is due." in md
    assert list(csv_rows(report))[1:] == []


# --- claims -------------------------------------------------------------------------------------------


def ev(kind: str, key: str, at: float, quantity: int = 0, **data: object) -> Evidence:
    return Evidence(kind=kind, key=key, occurred_at=d(at), quantity=quantity, data=data)


def claim_of(case_id: str, *, details: str = "", **kw: Any) -> ClaimRow:
    """`build_claim` for a case of account "us", its type read from the case id."""
    return build_claim(case_id=case_id, case_type=case_id.split(":")[0], account="us", details=details, **kw)


def test_a_lost_units_claim_names_the_losses_and_their_ledger_rows() -> None:
    row = claim_of(
        "lost:us:X00MUG",
        owed_units=3,
        owed_amount=37.5,
        deadline=d(80),
        details="FNSKU X00MUG: …",
        evidence=[
            ev("lost", "l1", 0, 3, sku="MUG", reason="M", movement="ledger:us:h1:1"),
            ev("found", "f1", 5, 1, sku="MUG", reason="F", movement="ledger:us:h2:1"),
            ev("reimbursement", "r1", 20, 1, reimbursement_id="R-100", case_id="9123", currency="EUR"),
            ev("lost", "l1", 0, 3, sku="MUG", reason="M", movement="ledger:us:h1:1"),  # seen twice: once
        ],
        ledger_references={"ledger:us:h1:1": "ADJ-1 (PHX7)", "ledger:us:h2:1": "ADJ-2 (PHX7)"},
        default_currency="USD",
    )
    assert (row.fnsku, row.msku, row.units_owed, row.amount_owed, row.currency) == (
        "X00MUG",
        "MUG",
        3,
        37.5,
        "EUR",
    )
    assert row.deadline == d(80).date()
    assert row.event_dates == [
        "2026-10-01 lost 3 (M)",
        "2026-10-06 found 1 (F)",
        "2026-10-21 reimbursement 1 R-100",
    ]
    assert row.reimbursement_ids_paid == ["R-100"]
    assert row.other_references == ["ledger ADJ-1 (PHX7)", "ledger ADJ-2 (PHX7)", "Amazon case 9123"]
    assert (
        row.csv_row()[9] == "2026-10-01 lost 3 (M); 2026-10-06 found 1 (F); 2026-10-21 reimbursement 1 R-100"
    )


def test_a_return_claim_carries_the_order_and_the_reversed_reimbursement() -> None:
    row = claim_of(
        "return:us:111-222:CUP",
        owed_units=1,
        owed_amount=None,
        deadline=d(120),
        evidence=[
            ev("refund", "rf", 0, 1, adjustment_id="ADJ-9"),
            ev("return_graded", "g", 10, 1, lpn="LPN1", disposition="DAMAGED", fnsku="X00CUP"),
            ev("reimbursement", "r", 30, 1, reimbursement_id="R-7", amazon_order_id="111-222"),
            ev(
                "reimbursement_reversal", "rv", 40, 1, reimbursement_id="R-8", original_reimbursement_id="R-7"
            ),
        ],
        default_currency="GBP",
    )
    assert (row.order_ids, row.msku, row.fnsku, row.currency, row.amount_owed) == (
        ["111-222"],
        "CUP",
        "X00CUP",
        "GBP",
        None,
    )
    assert row.reimbursement_ids_paid == ["R-7", "reversal of R-8"]
    assert "2026-10-11 return_graded 1 DAMAGED" in row.event_dates
    assert row.other_references == ["refund ADJ-9", "LPN LPN1"]
    assert row.csv_row()[6] == ""  # value unknown: empty, never 0


def test_an_inbound_claim_lists_the_short_skus_and_the_dates() -> None:
    row = claim_of(
        "inbound:us:FBA15",
        owed_units=2,
        owed_amount=None,
        deadline=d(100),
        evidence=[
            ev("inbound_item", "a1", 0, 5, sku="A", fnsku="XA", status="WORKING", quantity_shipped=5),
            ev("inbound_item", "a2", 2, 5, sku="A", fnsku="XA", status="SHIPPED", quantity_shipped=5),
            ev("inbound_item", "b2", 2, 4, sku="B", fnsku="XB", status="SHIPPED", quantity_shipped=4),
            ev("inbound_item", "a3", 9, 5, sku="A", fnsku="XA", status="CLOSED", quantity_shipped=5, quantity_received=3),
            ev("inbound_item", "b3", 9, 4, sku="B", fnsku="XB", status="CLOSED", quantity_shipped=4, quantity_received=4),
        ],
    )  # fmt: skip
    assert (row.shipment_ids, row.msku, row.units_owed) == (["FBA15"], "A", 2)
    assert row.event_dates == ["2026-10-03 shipment left the warehouse", "2026-10-10 shipment closed"]
    assert row.other_references == ["A: 3 of 5 received"]


def test_evidence_references() -> None:
    assert evidence_reference("reimbursement", {"reimbursement_id": "R1"}) == "R1"
    assert evidence_reference("removal_shipment", {"tracking_number": "1Z"}) == "1Z"
    assert evidence_reference("return_graded", {"lpn": "LPN"}) == "LPN"
    assert evidence_reference("removal_detail", {"sku": "A"}) == ""
