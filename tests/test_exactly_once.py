"""Exactly-once writes (ARCHITECTURE §5): attempts stored before they are sent, resent byte for byte,
STALE re-reads, one bad change split out, faults from Shopify."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import Session, select
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.gate import GateActivities
from ops import control
from reconciler.ledger import gate_store
from reconciler.ledger.tables import Attempt
from reconciler.messages import AttemptResult, PlanRequest, Thresholds
from tests.harness import SandboxEnv, eventually, item, small_scenario


def plan_request(env: SandboxEnv) -> PlanRequest:
    return PlanRequest(shop=env.shop, thresholds={env.account: Thresholds(units=10_000, pct=100)})


def attempts(env: SandboxEnv) -> list[Attempt]:
    with Session(env.engine) as s:
        return list(s.exec(select(Attempt).order_by(Attempt.id)).all())  # type: ignore[arg-type]


async def test_crash_after_shopify_applied_resends_and_applies_nothing_twice(
    temporal_client: Client, tmp_path: Path
) -> None:
    async with SandboxEnv(temporal_client, small_scenario([item("MUG", fba=40)]), tmp_path) as env:
        await env.add_effect("MUG", -5)
        gate = GateActivities(env.engine, env.clients)
        plan = await ActivityEnvironment().run(gate.plan_pass, plan_request(env))
        [attempt_id] = plan.attempt_ids
        # The attempt is sent and Shopify applies it; the worker dies before the ledger records it.
        sent = gate_store.prepare_send(env.engine, attempt_id)
        assert not isinstance(sent, AttemptResult)
        await env.clients.shopify(env.shop).adjust(sent.request, sent.key)
        assert env.qty("MUG") == 35 and attempts(env)[0].state == "open"

        # The gate starts again: it resends the open attempt first, the same bytes under the same key.
        async with env.make_worker():
            await env.start_gate()
            await eventually(lambda: len(env.effects("applied")) == 1, what="effect applied")
        assert env.qty("MUG") == 35
        [a] = attempts(env)
        assert a.state == "succeeded" and a.sends == 2 and a.group_id


async def test_attempt_failing_after_shopify_success_is_retried_once(
    temporal_client: Client, tmp_path: Path
) -> None:
    """The activity dies between Shopify's success and the ledger's record; its retry must not double."""
    async with SandboxEnv(
        temporal_client, small_scenario([item("MUG", fba=40), item("CUP", fba=8)]), tmp_path
    ) as env:
        gate = GateActivities(env.engine, env.clients)
        crashed: list[int] = []

        @activity.defn(name="send_attempt")
        async def send_attempt_crashing_once(attempt_id: int) -> AttemptResult:
            if not crashed:
                crashed.append(attempt_id)
                sent = gate_store.prepare_send(env.engine, attempt_id)
                assert not isinstance(sent, AttemptResult)
                await env.clients.shopify(env.shop).adjust(sent.request, sent.key)
                raise RuntimeError("worker lost after Shopify answered")
            return await gate.send_attempt(attempt_id)

        acts = [gate.open_attempts, gate.plan_pass, send_attempt_crashing_once, gate.decide_holds]
        async with env.make_worker(activities=acts):
            await env.start_gate()
            await env.add_effect("MUG", -4)
            await env.add_effect("CUP", 3)
            await control.wake_gate(temporal_client, env.settings, env.shop)
            await eventually(lambda: len(env.effects("applied")) == 2, what="both applied")
        assert crashed and env.qty("MUG") == 36 and env.qty("CUP") == 11
        assert env.shopify.applied_group_count == 1


async def test_stale_after_a_storefront_sale_rereads_only_that_item(
    temporal_client: Client, tmp_path: Path
) -> None:
    scenario = small_scenario([item("MUG", warehouse=30), item("CUP", warehouse=20)])
    async with SandboxEnv(temporal_client, scenario, tmp_path) as env:
        await env.add_effect("MUG", 5, location="warehouse")
        await env.add_effect("CUP", 2, location="warehouse")
        gate = GateActivities(env.engine, env.clients)
        plan = await ActivityEnvironment().run(gate.plan_pass, plan_request(env))
        env.shopify.sale("MUG", 3)  # between our read and our write
        first = await ActivityEnvironment().run(gate.send_attempt, plan.attempt_ids[0])
        assert first.state == "stale" and first.next_attempt_id is not None
        second = await ActivityEnvironment().run(gate.send_attempt, first.next_attempt_id)
        assert second.state == "succeeded" and second.effects_applied == 2
        assert env.qty("MUG", "warehouse") == 32 and env.qty("CUP", "warehouse") == 22
        a1, a2 = attempts(env)
        r1, r2 = (
            gate_store.AdjustRequest.model_validate_json(a1.request_json),
            gate_store.AdjustRequest.model_validate_json(a2.request_json),
        )
        froms1 = {c.inventory_item_id: c.change_from_quantity for c in r1.changes}
        froms2 = {c.inventory_item_id: c.change_from_quantity for c in r2.changes}
        mug, _ = await env.ids("MUG", "warehouse")
        cup, _ = await env.ids("CUP", "warehouse")
        assert (froms1[mug], froms2[mug]) == (30, 27) and froms1[cup] == froms2[cup] == 20


async def test_one_invalid_change_among_250_fails_alone(temporal_client: Client, tmp_path: Path) -> None:
    catalog = [item(f"S{i:03d}", fba=10) for i in range(250)]
    async with SandboxEnv(temporal_client, small_scenario(catalog), tmp_path) as env:
        for i in range(249):
            await env.add_effect(f"S{i:03d}", -1)
        # An item Shopify does not stock at the FBA location.
        bad = await env.add_effect("S249", -1)
        with Session(env.engine) as s, s.begin():
            from reconciler.ledger.tables import Effect

            e = s.get(Effect, bad)
            assert e is not None
            e.inventory_item_id = "gid://shopify/InventoryItem/999999999"
        gate = GateActivities(env.engine, env.clients)
        plan = await ActivityEnvironment().run(gate.plan_pass, plan_request(env))
        assert len(plan.attempt_ids) == 1
        first = await ActivityEnvironment().run(gate.send_attempt, plan.attempt_ids[0])
        assert first.state == "split" and first.effects_failed == 1 and first.next_attempt_id
        second = await ActivityEnvironment().run(gate.send_attempt, first.next_attempt_id)
        assert second.state == "succeeded" and second.effects_applied == 249
        failed = env.effects("failed")
        assert [e.id for e in failed] == [bad] and "Shopify refused" in (failed[0].error or "")
        assert all(env.qty(f"S{i:03d}") == 9 for i in range(249)) and env.qty("S249") == 10


async def test_throttled_and_5xx_from_shopify_still_apply_exactly_once(
    temporal_client: Client, tmp_path: Path
) -> None:
    faults = [
        {"day": 0, "type": "fault", "api": "shopify", "kind": k, "rate": r, "until_day": 1000}
        for k, r in (("rate_limit", 0.4), ("server_error", 0.4))
    ]
    scenario = small_scenario([item(f"T{i}", fba=50) for i in range(6)], events=faults)
    async with SandboxEnv(temporal_client, scenario, tmp_path) as env, env.make_worker():
        await env.start_gate()
        for round_ in range(4):
            for i in range(6):
                await env.add_effect(f"T{i}", -(i + 1), reason="correction" if round_ % 2 else "shrinkage")
            await control.wake_gate(temporal_client, env.settings, env.shop)
            await asyncio.sleep(0.3)
        await eventually(lambda: len(env.effects("applied")) == 24, timeout=90, what="all applied")
        assert [env.qty(f"T{i}") for i in range(6)] == [50 - 4 * (i + 1) for i in range(6)]
