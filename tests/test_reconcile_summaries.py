"""FullReconciliationWorkflow reads Amazon's side by the MYI report or by getInventorySummaries
(`Rules.reconcile_snapshot`), on a real dev server against both simulators: the two paths store the same
snapshot rows and find the same differences; "auto" takes summaries for a small catalogue and the
report above `summaries_max_skus`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select
from temporalio.client import Client

from ops import control
from reconciler.config import SkuMap, SkuOverride
from reconciler.ledger.tables import DiscrepancyRecord, SnapshotLevel
from reconciler.messages import ReconcileSummary
from tests.harness import SandboxEnv, amazon_only, item, small_scenario
from workflows.full_reconciliation import FullReconciliationWorkflow

pytestmark = pytest.mark.timeout(180)

CATALOG: list[dict[str, Any]] = [
    item("MUG", fba=40),
    item("CUP", fba=20, damaged=1),
    {**item("TEE-2PK", fba=10), "shopify_sku": "TEE", "pack": 2,
     "shopify": {"fba": {"available": 20, "damaged": 0}, "warehouse": {"available": 4}}},
    amazon_only("LAMP", fba=5),
]  # fmt: skip
EVENTS: list[dict[str, Any]] = [
    {"day": 0.2, "type": "order_shipped", "order_id": "113-1", "items": [{"sku": "MUG", "quantity": 2}]},
    # shipped in two parts: until the second, the rest is reserved (still Shopify's `available`)
    {"day": 0.3, "type": "order_shipped", "order_id": "113-2", "items": [{"sku": "CUP", "quantity": 1}]},
    {"day": 30.0, "type": "order_shipped", "order_id": "113-2", "items": [{"sku": "CUP", "quantity": 2}]},
    {
        "day": 0.4,
        "type": "customer_return",
        "order_id": "113-9",
        "sku": "TEE-2PK",
        "quantity": 1,
        "disposition": "CUSTOMER_DAMAGED",
        "lpn": "LPN1",
    },
]
# What both paths must find (Shopify was never told about Amazon's movements, plus two edits in Shopify).
EXPECTED = [
    ("CUP", "available", 17 + 2, 20 - 3, 17 + 2, -2),  # 1 shipped (2 reserved, still there); edit −3
    ("EXTRA", "available", 0, 4, 0, 4),  # stocked in Shopify only
    ("LAMP", "available", 5, 0, 5, -5),  # at Amazon only
    ("MUG", "available", 38, 40, 38, 2),
    ("TEE", "damaged", 2, 0, 2, -2),  # one damaged return of a 2-pack
    ("TEE", "available", 20, 21, 20, 1),  # edit +1
]


async def reconcile(env: SandboxEnv, **rules: Any) -> ReconcileSummary:
    inp = control.reconcile_input(env.settings, env.account, shadow=True)  # shadow: holds nothing
    inp = inp.model_copy(update={"rules": inp.rules.model_copy(update=rules)})
    return await env.execute(FullReconciliationWorkflow.run, inp, ReconcileSummary, "reconcile")


def differences(env: SandboxEnv, run_id: int) -> list[tuple[str, str, int, int, int, int]]:
    with Session(env.engine) as s:
        records = s.exec(select(DiscrepancyRecord).where(DiscrepancyRecord.run_id == run_id)).all()
        return sorted((d.sku, d.name, d.amazon, d.shopify, d.expected_shopify, d.difference) for d in records)


def amazon_rows(env: SandboxEnv, run_id: int) -> list[tuple[str, int, int, int]]:
    with Session(env.engine) as s:
        rows = s.exec(
            select(SnapshotLevel)
            .where(SnapshotLevel.run_id == run_id, SnapshotLevel.source == "amazon")
            .order_by(col(SnapshotLevel.sku))
        ).all()
        return [(r.sku, r.available, r.reserved, r.damaged) for r in rows]


async def test_summaries_and_report_find_the_same_differences(
    temporal_client: Client, tmp_path: Path
) -> None:
    scenario = small_scenario(CATALOG, events=EVENTS)
    # 20 s a business day: the world stands still (no event due) while the runs follow one another.
    async with (
        SandboxEnv(temporal_client, scenario, tmp_path, day_seconds=20, start_day=1.0) as env,
        env.make_worker(),
    ):
        env.settings.reports_dir = tmp_path / "reports"
        account = env.settings.accounts[0]
        env.settings.accounts[0] = account.model_copy(
            update={"sku_map": SkuMap(overrides=[SkuOverride(msku="TEE-2PK", shopify_sku="TEE", pack=2)])}
        )
        env.shopify.add_item("EXTRA", fba={"available": 4}, warehouse={"available": 1})
        env.shopify.manual_adjust("CUP", "fba", "available", -3)
        env.shopify.manual_adjust("TEE", "fba", "available", 1)

        by_report = await reconcile(env, reconcile_snapshot="report")
        by_summaries = await reconcile(env, reconcile_snapshot="summaries")
        auto_small = await reconcile(env, reconcile_snapshot="auto")  # 4 SKUs known ≤ 500
        auto_large = await reconcile(env, reconcile_snapshot="auto", summaries_max_skus=3)
        calls = dict(env.amazon.requests)

    assert [r.amazon_snapshot for r in (by_report, by_summaries, auto_small, auto_large)] == [
        "report",
        "summaries",
        "summaries",
        "report",
    ]
    assert differences(env, by_report.run_id) == sorted(EXPECTED)
    for other in (by_summaries, auto_small, auto_large):
        assert differences(env, other.run_id) == differences(env, by_report.run_id)
        assert amazon_rows(env, other.run_id) == amazon_rows(env, by_report.run_id)
        assert (other.amazon_rows, other.shopify_rows, other.discrepancies) == (
            by_report.amazon_rows,
            by_report.shopify_rows,
            by_report.discrepancies,
        )
    assert ("CUP", 17, 2, 1) in amazon_rows(env, by_summaries.run_id)  # reserved units kept apart
    assert calls["getInventorySummaries"] == 2 and calls["createReport"] == 2
    assert by_summaries.corrections_held == 0  # shadow runs hold nothing


async def test_auto_reads_the_report_while_the_catalogue_is_unknown(
    temporal_client: Client, tmp_path: Path
) -> None:
    scenario = small_scenario([item("MUG", fba=4)])
    async with (
        SandboxEnv(temporal_client, scenario, tmp_path, day_seconds=20, start_day=1.0) as env,
        env.make_worker(),
    ):
        env.settings.reports_dir = tmp_path / "reports"
        first = await reconcile(env, reconcile_snapshot="auto")  # no snapshot, ledger row or SKU map yet
        second = await reconcile(env, reconcile_snapshot="auto")  # the first snapshot counted 1 SKU
    assert (first.amazon_snapshot, second.amazon_snapshot) == ("report", "summaries")
    assert first.discrepancies == second.discrepancies == 0 and first.amazon_rows == second.amazon_rows == 1
