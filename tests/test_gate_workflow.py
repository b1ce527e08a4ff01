"""The gate on a real dev server against the Shopify simulator: pause, resume, approvals, replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from ops import control
from reconciler.messages import HoldDecision
from tests.harness import SandboxEnv, eventually, item, small_scenario
from workflows.gate import GateWorkflow
from workflows.sync_cycle import SyncCycleWorkflow


async def test_pause_holds_every_write_and_resume_applies_the_queue_once(
    temporal_client: Client, tmp_path: Path
) -> None:
    scenario = small_scenario([item("MUG", fba=40), item("CUP", fba=10)])
    async with SandboxEnv(temporal_client, scenario, tmp_path) as env, env.make_worker():
        await env.start_gate()
        await control.pause(temporal_client, env.shop, "stocktake", by="test")
        # A pass under way when the pause lands may still plan (never send) what it finds, which
        # would split the queue this test wants netted: add the effects once the gate is idle.
        await eventually(lambda: _idle(temporal_client, env.shop), what="the paused gate to be idle")
        status = await control.gate_status(temporal_client, env.shop)
        assert status.paused and "stocktake" in (status.pause_reason or "")
        await env.add_effect("MUG", -3)
        await env.add_effect("MUG", -2)
        await env.add_effect("CUP", 4)
        await control.wake_gate(temporal_client, env.settings, env.shop)
        await asyncio.sleep(2.5)  # more than a poll interval: a paused gate still writes nothing
        assert env.qty("MUG") == 40 and env.qty("CUP") == 10
        assert env.shopify.mutation_count == 0
        # Planned or not, nothing was sent: a pass that started before the pause stops before sending.
        assert len(env.effects("pending", "in_flight")) == 3

        await control.resume(temporal_client, env.shop)
        await eventually(lambda: len(env.effects("applied")) == 3, what="queued effects applied")
        assert env.qty("MUG") == 35 and env.qty("CUP") == 14
        # Netting: the queue went out as one adjustment group (a resend after a slow answer is a
        # replay of the same key, not a second write), and waking the gate again writes nothing more.
        sent = [r.operation for r in env.shopify.requests if r.operation and "Adjust" in r.operation]
        assert env.shopify.applied_group_count == 1, sent
        writes = env.shopify.mutation_count
        await control.wake_gate(temporal_client, env.settings, env.shop)
        await asyncio.sleep(1.5)
        assert env.qty("MUG") == 35 and env.shopify.mutation_count == writes


async def _idle(client: Client, shop: str) -> bool:
    return not (await control.gate_status(client, shop)).in_pass


async def test_large_effect_is_held_while_ordinary_ones_flow_then_approved(
    temporal_client: Client, tmp_path: Path
) -> None:
    scenario = small_scenario(
        [item("LAMP", fba=100)], config={"large_delta_units": 20, "large_delta_pct": 10}
    )
    async with SandboxEnv(temporal_client, scenario, tmp_path) as env, env.make_worker():
        await env.start_gate()
        big = await env.add_effect("LAMP", -60)
        await env.add_effect("LAMP", -2)
        await control.wake_gate(temporal_client, env.settings, env.shop)
        await eventually(
            lambda: len(env.effects("applied")) == 1 and len(env.effects("held")) == 1, what="hold"
        )
        assert env.qty("LAMP") == 98
        held = env.effects("held")[0]
        assert held.id == big and held.hold_id is not None

        result = await control.decide(
            temporal_client, env.shop, HoldDecision(hold_ids=[held.hold_id], by="alice"), approve=True
        )
        assert result.resolved == [held.hold_id]
        await eventually(lambda: len(env.effects("applied")) == 2, what="approved effect applied")
        assert env.qty("LAMP") == 38
        again = await control.decide(
            temporal_client, env.shop, HoldDecision(hold_ids=[held.hold_id], by="alice"), approve=True
        )
        assert again.not_open == [held.hold_id] and env.qty("LAMP") == 38


async def test_rejected_hold_is_never_written(temporal_client: Client, tmp_path: Path) -> None:
    scenario = small_scenario(
        [item("LAMP", fba=100)], config={"large_delta_units": 20, "large_delta_pct": 10}
    )
    async with SandboxEnv(temporal_client, scenario, tmp_path) as env, env.make_worker():
        await env.start_gate()
        await env.add_effect("LAMP", 70)
        await control.wake_gate(temporal_client, env.settings, env.shop)
        await eventually(lambda: len(env.effects("held")) == 1, what="hold")
        hold_id = env.effects("held")[0].hold_id
        assert hold_id is not None
        await control.decide(
            temporal_client,
            env.shop,
            HoldDecision(hold_ids=[hold_id], by="bob", note="count is right"),
            approve=False,
        )
        await eventually(lambda: len(env.effects("rejected")) == 1, what="rejected")
        await control.wake_gate(temporal_client, env.settings, env.shop)
        await asyncio.sleep(1.5)
        assert env.qty("LAMP") == 100 and env.shopify.mutation_count == 0


async def test_validator_refuses_an_approval_without_holds_or_author(
    temporal_client: Client, tmp_path: Path
) -> None:
    async with SandboxEnv(temporal_client, small_scenario([item("A")]), tmp_path) as env, env.make_worker():
        handle = await env.start_gate()
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(GateWorkflow.approve, HoldDecision(hold_ids=[], by="alice"))
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(GateWorkflow.reject, HoldDecision(hold_ids=[1], by="  "))
        # A refused update leaves no trace in the history: the gate goes on working.
        await env.add_effect("A", -1)
        await control.wake_gate(temporal_client, env.settings, env.shop)
        await eventually(lambda: len(env.effects("applied")) == 1, what="applied after refused updates")


async def test_recorded_gate_history_replays_deterministically(
    temporal_client: Client, tmp_path: Path
) -> None:
    scenario = small_scenario([item("A", fba=50)], config={"large_delta_units": 5, "large_delta_pct": 5})
    async with SandboxEnv(temporal_client, scenario, tmp_path) as env, env.make_worker():
        handle = await env.start_gate()
        await control.pause(temporal_client, env.shop, "check")
        await env.add_effect("A", -1)
        await env.add_effect("A", -30)
        await control.resume(temporal_client, env.shop)
        await eventually(
            lambda: len(env.effects("held")) == 1 and len(env.effects("applied")) == 1, what="pass"
        )
        hold_id = env.effects("held")[0].hold_id
        assert hold_id is not None
        await control.decide(
            temporal_client, env.shop, HoldDecision(hold_ids=[hold_id], by="alice"), approve=True
        )
        await eventually(lambda: len(env.effects("applied")) == 2, what="approved")
        history = await handle.fetch_history()
    await Replayer(
        workflows=[GateWorkflow, SyncCycleWorkflow], data_converter=pydantic_data_converter
    ).replay_workflow(history)


async def test_gate_continues_as_new_carrying_its_state(temporal_client: Client, tmp_path: Path) -> None:
    async with (
        SandboxEnv(temporal_client, small_scenario([item("A", fba=50)]), tmp_path) as env,
        env.make_worker(),
    ):
        state = control.gate_state(env.settings, env.shop).model_copy(update={"passes_per_run": 2})
        handle = await temporal_client.start_workflow(
            GateWorkflow.run, state, id=control.gate_id(env.shop), task_queue=env.task_queue
        )
        first_run = (await handle.describe()).run_id
        for _ in range(3):
            await env.add_effect("A", -1)
            await control.wake_gate(temporal_client, env.settings, env.shop)
            await eventually(
                lambda n=len(env.effects("applied")): len(env.effects("applied")) > n, what="pass"
            )
        await control.pause(temporal_client, env.shop, "after continue-as-new")
        latest = temporal_client.get_workflow_handle(control.gate_id(env.shop))
        await eventually(lambda: True)
        assert (await latest.describe()).run_id != first_run
        status = await control.gate_status(temporal_client, env.shop)
        assert status.paused and status.effects_applied == 3 and env.qty("A") == 47
