"""The sync cycle on a real dev server against the Amazon simulator: each row counted once across
re-reads, duplicates, back-posts, cancelled and failed reports."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlmodel import Session, select
from temporalio.client import Client

from reconciler.ledger.tables import Alert, Cursor, QuarantinedInput
from reconciler.messages import CycleSummary
from tests.harness import SandboxEnv, amazon_only, item, run_cycle, small_scenario


def ledger_status(summary: CycleSummary) -> str:
    return next(o.status for o in summary.outcomes if o.stream == "ledger")


def deltas(env: SandboxEnv) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for e in env.effects():
        out[(e.shopify_sku, e.name)] = out.get((e.shopify_sku, e.name), 0) + e.delta
    return out


EVENTS: list[dict[str, Any]] = [
    {"day": 0.1, "type": "order_shipped", "order_id": "113-1", "items": [{"sku": "MUG", "quantity": 2}]},
    {"day": 0.2, "type": "adjustment", "sku": "MUG", "reason": "M", "quantity": 1},
    {"day": 0.2, "type": "adjustment", "sku": "MUG", "reason": "M", "quantity": 1},  # identical, legitimate
    {"day": 0.3, "type": "adjustment", "sku": "CUP", "reason": "E", "quantity": 1},
    {
        "day": 0.4,
        "type": "customer_return",
        "order_id": "113-1",
        "sku": "MUG",
        "quantity": 1,
        "disposition": "SELLABLE",
        "lpn": "LPN1",
    },
]


async def test_cycle_turns_orders_and_ledger_rows_into_effects_once(
    temporal_client: Client, tmp_path: Path
) -> None:
    scenario = small_scenario([item("MUG"), item("CUP")], events=EVENTS)
    async with SandboxEnv(temporal_client, scenario, tmp_path, start_day=0.8) as env, env.make_worker():
        first = await run_cycle(env)
        assert {o.stream for o in first.outcomes} == {
            "orders",
            "ledger",
            "returns",
            "removal_detail",
            "removal_shipments",
            "reimbursements",
            "inbound",
            "refunds",
            "quarantine",
        }
        expected = {("MUG", "available"): -2 - 1 - 1 + 1, ("CUP", "available"): -1, ("CUP", "damaged"): 1}
        assert deltas(env) == expected
        await asyncio.sleep(0.2)
        await run_cycle(env)  # the same rows again: nothing new
        assert deltas(env) == expected
        # Ledger Shipments rows are recorded but not applied: orders are the shipment source.
        assert all(e.kind != "shipment" or e.key.startswith("order:") for e in env.effects())


async def test_duplicated_and_backposted_rows_count_once(temporal_client: Client, tmp_path: Path) -> None:
    faults = [
        {"day": 0, "type": "fault", "api": "amazon", "kind": k, "rate": 1.0, "until_day": 3}
        for k in ("duplicate_rows", "backpost")
    ]
    scenario = small_scenario([item("MUG"), item("CUP")], events=faults + EVENTS)
    async with (
        SandboxEnv(temporal_client, scenario, tmp_path, start_day=0.5, day_seconds=1.0) as env,
        env.make_worker(),
    ):
        for _ in range(5):
            await run_cycle(env)
            await asyncio.sleep(0.8)
        # Wait until the last back-posted row is visible and a new marketplace day has begun (its first
        # read re-reads the backfill window), then read once more.
        wait_days = (env.amazon.last_visible_at() - env.clock.now()).total_seconds() / 86_400
        await asyncio.sleep(max(0.0, wait_days) * 1.0 + 1.05)
        await run_cycle(env)
        assert deltas(env) == {("MUG", "available"): -3, ("CUP", "available"): -1, ("CUP", "damaged"): 1}


async def test_cancelled_report_is_recovered_by_a_later_overlapping_read(
    temporal_client: Client, tmp_path: Path
) -> None:
    faults = [
        {
            "day": 0,
            "type": "fault",
            "api": "amazon",
            "kind": "report_cancelled",
            "rate": 1.0,
            "until_day": 0.9,
        }
    ]
    events = [{"day": 0.2, "type": "adjustment", "sku": "CUP", "reason": "F", "quantity": 2}]
    scenario = small_scenario([item("CUP")], events=faults + events, config={"shipments_source": "ledger"})
    async with (
        SandboxEnv(temporal_client, scenario, tmp_path, start_day=0.5, day_seconds=1.0) as env,
        env.make_worker(),
    ):
        summary = await run_cycle(env)
        assert ledger_status(summary) == "cancelled" and deltas(env) == {}
        await asyncio.sleep(0.6)  # past the fault window
        await run_cycle(env)
        assert deltas(env) == {("CUP", "available"): 2}


async def test_fatal_report_keeps_the_cursor_and_alerts_after_three(
    temporal_client: Client, tmp_path: Path
) -> None:
    faults = [
        {"day": 0, "type": "fault", "api": "amazon", "kind": "report_fatal", "rate": 1.0, "until_day": 1.5}
    ]
    events = [{"day": 0.2, "type": "adjustment", "sku": "CUP", "reason": "M", "quantity": 1}]
    scenario = small_scenario([item("CUP")], events=faults + events, config={"shipments_source": "ledger"})
    async with (
        SandboxEnv(temporal_client, scenario, tmp_path, start_day=0.5, day_seconds=2.0) as env,
        env.make_worker(),
    ):
        for _ in range(3):
            summary = await run_cycle(env)
            assert ledger_status(summary) == "fatal"
        with Session(env.engine) as s:
            assert s.get(Cursor, (env.account, "ledger")) is None
            alerts = s.exec(select(Alert).where(Alert.kind == "report_fatal", Alert.key == "us:ledger")).all()
        assert len(alerts) == 1 and "3 times" in alerts[0].message
        while env.clock.business_day() < 1.55:
            await asyncio.sleep(0.1)
        await run_cycle(env)
        assert deltas(env) == {("CUP", "available"): -1}


async def test_rows_of_a_sku_missing_in_shopify_are_quarantined_then_reprocessed_once(
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
    ]
    scenario = small_scenario([item("MUG"), amazon_only("GHOST", fba=5)], events=events)
    async with SandboxEnv(temporal_client, scenario, tmp_path, start_day=0.6) as env, env.make_worker():
        await run_cycle(env)
        with Session(env.engine) as s:
            open_rows = s.exec(select(QuarantinedInput).where(QuarantinedInput.state == "open")).all()
        assert {q.stream for q in open_rows} == {"orders", "ledger"}
        assert all("unmapped sku GHOST" in q.reason for q in open_rows) and deltas(env) == {}

        env.shopify.add_item("GHOST", fba={"available": 5})  # the merchant creates the product
        await asyncio.sleep(0.1)
        summary = await run_cycle(env)
        assert [o.effects for o in summary.outcomes if o.stream == "quarantine"] == [2]
        assert deltas(env) == {("GHOST", "available"): -2 + 1}
        await run_cycle(env)
        assert deltas(env) == {("GHOST", "available"): -1}
