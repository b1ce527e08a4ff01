"""The full reconciliation end to end on the sandbox: a shadow run previews and holds nothing; a real
run holds a correction that changes nothing until approved; a late ledger row the snapshot already
counted is absorbed, not applied twice; an applied correction can be reverted."""

from __future__ import annotations

import csv
import dataclasses
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select
from temporalio.client import Client

from integrations.amazon.flat_reports import INVENTORY_REPORT
from ops import control
from reconciler.clock import as_utc
from reconciler.ledger.tables import Alert, Hold, ReconciliationRun
from reconciler.messages import HoldDecision, ReconcileSummary, RevertRequest
from reconciler.models import EffectState
from tests.harness import SandboxEnv, eventually, item, run_cycle, small_scenario

FAR = timedelta(days=365)


async def _reconcile(env: SandboxEnv, *, shadow: bool = False) -> ReconcileSummary:
    handle = await control.start_reconciliation(env.client, env.settings, env.account, shadow=shadow)
    return await handle.result()


def _hold_late_ledger_rows(env: SandboxEnv) -> None:
    """Amazon posts the shipment's ledger row only much later (a back-post)."""
    env.amazon.ledger[:] = [dataclasses.replace(r, visible_at=r.visible_at + FAR) for r in env.amazon.ledger]


def _post_late_ledger_rows(env: SandboxEnv) -> None:
    now = env.clock.now()
    env.amazon.ledger[:] = [
        dataclasses.replace(r, visible_at=min(r.visible_at, now)) for r in env.amazon.ledger
    ]


async def test_manual_edit_and_late_row_corrected_once_then_reverted(
    temporal_client: Client, tmp_path: Path
) -> None:
    events = [
        {"day": 0.1, "type": "order_shipped", "order_id": "113-1", "items": [{"sku": "MUG", "quantity": 3}]}
    ]
    scenario = small_scenario(
        [item("MUG", fba=50, warehouse=8), item("CUP", fba=10)],
        events=events,
        config={"shipments_source": "ledger", "large_delta_units": 1000},
    )
    async with (
        SandboxEnv(temporal_client, scenario, tmp_path, start_day=0.3, day_seconds=30.0) as env,
        env.make_worker(),
    ):
        env.settings.reports_dir = tmp_path / "reports"
        _hold_late_ledger_rows(env)
        env.shopify.manual_adjust("MUG", "fba", "available", -5)  # a person's slip in the Shopify admin
        await env.start_gate()

        # Shadow run: the preview lists the change, nothing is held or written.
        preview = await _reconcile(env, shadow=True)
        assert preview.shadow and preview.discrepancies == 1 and preview.corrections_held == 0
        with open(preview.report_csv or "") as f:
            (line,) = list(csv.DictReader(f))
        # Amazon holds 47 after the shipment; Shopify shows 45: the shipment it has not heard of (-3) and
        # the slip (-5) leave it 2 short.
        assert (line["sku"], line["amazon"], line["shopify"], line["correction"]) == ("MUG", "47", "45", "+2")
        assert env.effects() == []

        summary = await _reconcile(env)
        assert summary.discrepancies == 1 and summary.corrections_held == 1
        with Session(env.engine) as s:
            run = s.get(ReconciliationRun, summary.run_id)
            assert run is not None and run.snapshot_at is not None
        # The snapshot's time is when Amazon started processing the report, which is when the stock
        # in it was taken, not when we asked: late rows are judged against that moment.
        (report,) = [r for r in env.amazon.reports.values() if r.report_type == INVENTORY_REPORT][-1:]
        assert report.processing_start > report.created_at  # (reports carry whole seconds)
        assert as_utc(run.snapshot_at) == report.processing_start.replace(microsecond=0)
        (correction,) = env.effects()
        assert (correction.kind, correction.delta, correction.state) == ("correction", 2, EffectState.HELD)
        with Session(env.engine) as s:
            assert s.exec(select(Alert).where(Alert.kind == "discrepancy")).one().account == "us"
            hold = s.exec(select(Hold).where(Hold.kind == "correction")).one()
        assert env.qty("MUG") == 45  # held: the reconciliation changes nothing by itself

        await control.decide(env.client, env.shop, HoldDecision(hold_ids=[hold.id], by="ops"), approve=True)
        await eventually(lambda: env.qty("MUG") == 47, what="the approved correction written")

        # The shipment's ledger row arrives after all: the snapshot counted it, so it is absorbed.
        _post_late_ledger_rows(env)
        await run_cycle(env)
        (late,) = [e for e in env.effects() if e.kind != "correction"]
        assert late.delta == -3 and late.state == EffectState.ABSORBED and late.absorbed_by == correction.id
        await control.wake_gate(env.client, env.settings, env.shop)
        await eventually(lambda: env.effects(EffectState.PENDING, EffectState.APPROVED) == [], what="idle")
        assert env.qty("MUG") == 47 and env.qty("MUG", "warehouse") == 8 and env.qty("CUP") == 10

        # Revert: the correction is undone and the shipment it covered is written after all.
        result = await control.revert(env.client, env.shop, RevertRequest(hold_ids=[hold.id], by="ops"))
        assert result.reverted == [hold.id] and result.released == 1
        await eventually(lambda: env.qty("MUG") == 42, what="revert and released shipment written")
        assert env.qty("MUG", "warehouse") == 8
        again = await control.revert(env.client, env.shop, RevertRequest(hold_ids=[hold.id], by="ops"))
        assert again.reverted == [] and "already reverted" in again.refused[hold.id]
