"""The example scenarios end exactly at their `expect` (../shared/scenarios), run the way
`starter.py demo` runs them: own dev server, simulators, a worker process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.runner import run_demo
from tests.conftest import SHARED

EXAMPLES = [
    "01-shipments.json",
    "02-ledger-adjustments.json",
    "03-returns.json",
    "04-removals-inbound.json",
    "05-packs-and-unmapped.json",
    "06-faults.json",
]
OURS = Path(__file__).parent / "scenarios"


@pytest.mark.parametrize("name", EXAMPLES)
async def test_example_scenario_ends_at_expect(name: str, tmp_path: Path) -> None:
    # The examples live in ../shared/scenarios; tests/data keeps copies for checkouts without it.
    shared = SHARED / "scenarios" / name
    path = shared if shared.exists() else Path(__file__).parent / "data" / name
    out = tmp_path / "result.json"
    result = await run_demo(
        str(path), str(out), day_seconds=2.0, workdir=str(tmp_path / "run"), printer=lambda *_: None
    )
    expect = json.loads(path.read_text())["expect"]
    assert result["shopify"] == expect, result["notes"]
    for key in ("holds", "cases", "alerts", "quarantined", "discrepancies", "stats"):
        assert key in result
    if name.startswith("03"):
        # The unit damaged by Amazon is owed past its reimbursement window.
        [case] = result["cases"]
        assert case["type"] == "return" and case["claim_due"] and "113-1000001-0000001" in case["id"]
        assert [a["kind"] for a in result["alerts"]] == ["claim_due"]
    if name.startswith("04"):
        cases = {c["id"]: c for c in result["cases"]}
        assert {"removal:us:RMV-0001", "removal:us:RMV-0002", "inbound:us:FBA17ABCDE12"} <= set(cases)
        assert cases["removal:us:RMV-0001"]["state"] == "closed"
        assert [a["kind"] for a in result["alerts"]] == ["inbound_shortage"]
    if name.startswith("05"):
        assert [q["reason"] for q in result["quarantined"]] and all(
            "GHOST-1" in q["reason"] for q in result["quarantined"]
        )


@pytest.mark.parametrize("name", sorted(p.name for p in OURS.glob("*.json")))
async def test_our_scenario_ends_at_expect(name: str, tmp_path: Path) -> None:
    """Scenarios of our own: chaos (ledger-sourced shipments, timeouts, a killed worker, a Temporal
    restart, a pause with a manual edit meanwhile, a held loss approved) and money Amazon owes and never
    pays (claims due, an overdue removal, an inbound shortage)."""
    path = OURS / name
    result = await run_demo(
        str(path),
        str(tmp_path / "result.json"),
        day_seconds=2.0,
        workdir=str(tmp_path / "run"),
        printer=lambda *_: None,
    )
    scenario = json.loads(path.read_text())
    assert result["shopify"] == scenario["expect"], result["notes"]
    assert result["holds"] == [] and result["notes"] == []
    cases = {c["id"]: c for c in result["cases"]}
    for case_id, want in scenario.get("expect_cases", {}).items():
        assert case_id in cases, sorted(cases)
        assert {k: cases[case_id][k] for k in want} == want, cases[case_id]
    if "expect_discrepancies" in scenario:
        assert result["discrepancies"] == scenario["expect_discrepancies"]
    if "expect_alert_kinds" in scenario:
        assert sorted(a["kind"] for a in result["alerts"]) == scenario["expect_alert_kinds"], result["alerts"]
