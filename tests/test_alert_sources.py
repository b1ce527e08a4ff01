"""Alerts raised where the trouble happens, through the real paths: an ingest that quarantines rows (sync
cycle on the dev server, and a case report's unreadable lines), a write that leaves a Shopify quantity
below zero (the gate against the simulator), and a cycle that fails being recorded with its error
(what the watchdog's `failing_cycles` reads)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.registry import build_activities
from ops import control
from reconciler.ledger.db import make_engine
from reconciler.ledger.evidence_store import store_evidence
from reconciler.ledger.tables import Alert, CycleRun
from reconciler.messages import StreamOutcome, StreamRequest
from reconciler.models import FlatFileIssue
from reconciler.watchdog import cycle_error
from tests.harness import SandboxEnv, amazon_only, eventually, item, run_cycle, small_scenario


def alerts(env: SandboxEnv, kind: str) -> list[Alert]:
    with Session(env.engine) as s:
        return list(s.exec(select(Alert).where(Alert.kind == kind).order_by(col(Alert.id))).all())


async def test_an_ingest_that_quarantines_rows_raises_one_alert_per_stream(
    temporal_client: Client, tmp_path: Path
) -> None:
    events = [
        {
            "day": 0.1,
            "type": "order_shipped",
            "order_id": "113-7",
            "items": [{"sku": "GHOST", "quantity": 2}],
        },
        {"day": 0.2, "type": "adjustment", "sku": "GHOST", "reason": "F", "quantity": 1},
        {"day": 0.3, "type": "adjustment", "sku": "GHOST", "reason": "M", "quantity": 1},
    ]
    scenario = small_scenario([item("MUG"), amazon_only("GHOST", fba=5)], events=events)
    async with SandboxEnv(temporal_client, scenario, tmp_path, start_day=0.6) as env, env.make_worker():
        await run_cycle(env)
        by_key = {a.key: a for a in alerts(env, "quarantined_input")}
        assert sorted(by_key) == ["us:ledger", "us:orders"], by_key
        ledger, orders = by_key["us:ledger"], by_key["us:orders"]
        assert ledger.account == "us" and "2 ledger row(s) quarantined" in ledger.message
        assert "1 orders row(s) quarantined" in orders.message
        assert "unmapped sku GHOST" in ledger.message and "quarantine list" in ledger.message
        # The same rows read again quarantine nothing new: no new alert.
        await asyncio.sleep(0.2)
        await run_cycle(env)
        assert len(alerts(env, "quarantined_input")) == 2


def test_unreadable_case_report_lines_raise_one_alert_in_the_read(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    issues = [
        FlatFileIssue(report="returns", line_no=n, message="not a date: 'yesterday'", raw="x\ty")
        for n in (3, 4, 5, 6, 7)
    ]
    result = store_evidence(
        engine, [], account="us", stream="returns", issues=issues, report_request_id=9, cursor_position=None
    )
    assert result.issues == 5
    with Session(engine) as s:
        [alert] = s.exec(select(Alert).where(Alert.kind == "quarantined_input")).all()
    assert alert.key == "us:returns" and "5 returns row(s) quarantined" in alert.message
    assert "returns line 3: not a date" in alert.message and "and 2 other reasons" in alert.message
    # Re-ingesting the same report: its lines are quarantined already, nothing new to say.
    store_evidence(engine, [], account="us", stream="returns", issues=issues, report_request_id=9)
    with Session(engine) as s:
        assert len(s.exec(select(Alert).where(Alert.kind == "quarantined_input")).all()) == 1


async def test_a_write_that_leaves_a_quantity_below_zero_raises_negative_quantity(
    temporal_client: Client, tmp_path: Path
) -> None:
    async with (
        SandboxEnv(
            temporal_client, small_scenario([item("MUG", fba=2), item("CUP", fba=9)]), tmp_path
        ) as env,
        env.make_worker(),
    ):
        await env.start_gate()
        await env.add_effect("MUG", -5)
        await env.add_effect("CUP", -1)  # stays positive: no alert
        await control.wake_gate(temporal_client, env.settings, env.shop)
        await eventually(lambda: len(env.effects("applied")) == 2, what="both effects applied")
        assert env.qty("MUG") == -3
        [alert] = alerts(env, "negative_quantity")
        assert alert.key == f"{env.shop}:MUG:fba:available" and alert.account == "us"
        assert "MUG at fba has available = -3" in alert.message

        # Shopify may answer quantityAfterChange: null; the quantity is then changeFromQuantity + delta.
        env.shopify.null_quantity_after_change = True
        await env.add_effect("MUG", -1)
        await control.wake_gate(temporal_client, env.settings, env.shop)
        await eventually(lambda: len(env.effects("applied")) == 3, what="the next write applied")
        assert [
            a.message.split(" after")[0].rsplit(" ", 1)[-1] for a in alerts(env, "negative_quantity")
        ] == [
            "-3",
            "-4",
        ]


async def test_a_cycle_that_fails_is_recorded_failed_with_its_error(
    temporal_client: Client, tmp_path: Path
) -> None:
    @activity.defn(name="sync_refunds")
    async def refunds_refused(req: StreamRequest) -> StreamOutcome:
        raise ApplicationError("the Finances API refused the token", type="AuthError", non_retryable=True)

    async with SandboxEnv(temporal_client, small_scenario([item("MUG")]), tmp_path, start_day=0.5) as env:
        real = build_activities(temporal_client, env.settings, env.engine, env.clients)
        acts = [a for a in real if getattr(a, "__name__", "") != "sync_refunds"] + [refunds_refused]
        async with env.make_worker(activities=acts):
            with pytest.raises(WorkflowFailureError):
                await run_cycle(env)
        with Session(env.engine) as s:
            [run] = s.exec(select(CycleRun)).all()
        assert not run.ok
        error = cycle_error(run.summary)
        assert "sync_refunds failed" in error and "the Finances API refused the token" in error, error
