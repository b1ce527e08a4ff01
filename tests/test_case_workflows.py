"""Case workflows on the dev server with per-workflow time skipping: long business windows pass in
seconds, evidence arrives twice and out of order, a worker dies while a case waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import TimeSkipper, TimeSkippingConfig

from ops import control
from reconciler.clock import Clock
from reconciler.evidence import EvidenceIn
from reconciler.ledger.evidence_store import store_evidence
from reconciler.ledger.tables import Alert, CaseRecord
from reconciler.messages import RemovalReceipt
from tests.harness import SandboxEnv, eventually, item, small_scenario
from workflows.cases import CASE_WORKFLOWS

DAY = timedelta(days=1)


def real_time_env(client: Client, tmp_path: Path, rules: dict[str, Any] | None = None) -> SandboxEnv:
    """Business time = real time, so the dev server's time skipping moves both."""
    env = SandboxEnv(client, small_scenario([item("BAG", fba=50, warehouse=200)]), tmp_path, rules=rules)
    now = datetime.now(UTC)
    env.clock = Clock(sim_epoch=now, real_epoch=now, day_length=86_400)
    return env


def evidence(
    env: SandboxEnv, case_id: str, kind: str, key: str, at: datetime, quantity: int, **data: Any
) -> EvidenceIn:
    return EvidenceIn(
        key=key,
        account=env.account,
        case_id=case_id,
        kind=kind,
        occurred_at=at,
        quantity=quantity,
        data=data,
        stream="test",
    )


async def start_case(env: SandboxEnv, skipper: TimeSkipper, case_id: str) -> WorkflowHandle:
    kind = case_id.split(":")[0]
    return await skipper.client.start_workflow(
        CASE_WORKFLOWS[kind].run,
        control.case_input(env.settings, case_id),
        id=case_id,
        task_queue=env.task_queue,
        start_signal="evidence_added",
    )


def record(env: SandboxEnv, case_id: str) -> CaseRecord | None:
    with Session(env.engine) as s:
        return s.get(CaseRecord, case_id)


def alerts(env: SandboxEnv, kind: str) -> list[Alert]:
    with Session(env.engine) as s:
        return list(s.exec(select(Alert).where(Alert.kind == kind)).all())


async def test_removal_travels_goes_overdue_and_is_received_into_the_warehouse(
    temporal_client: Client, tmp_path: Path
) -> None:
    env = real_time_env(temporal_client, tmp_path, rules={"removal_overdue_days": 14})
    async with env, env.make_worker():
        await env.start_gate()
        skipper = TimeSkipper(temporal_client, config=TimeSkippingConfig(enabled=False))
        case_id = f"removal:{env.account}:RMV-1"
        now = env.clock.now()
        detail = {
            "order_type": "Return",
            "sku": "BAG",
            "requested": 6,
            "shipped": 6,
            "disposed": 0,
            "cancelled": 0,
            "disposition": "SELLABLE",
            "order_status": "Completed",
        }
        shipment = evidence(
            env,
            case_id,
            "removal_shipment",
            "ship-1",
            now - DAY,
            6,
            sku="BAG",
            tracking_number="1Z1",
            carrier="UPS",
            disposition="SELLABLE",
        )
        # Evidence delivered twice and out of order: the shipment before the order line, each twice.
        for ev in [
            shipment,
            evidence(env, case_id, "removal_detail", "detail-6", now - 2 * DAY, 6, **detail),
        ] * 2:
            store_evidence(env.engine, [ev], account=env.account, stream="test")
        handle = await start_case(env, skipper, case_id)
        await eventually(lambda: env.qty("BAG", "warehouse", "incoming") == 6, what="incoming +6")
        assert env.qty("BAG", "warehouse", "available") == 200 and alerts(env, "removal_overdue") == []

        await skipper.fast_forward(handle, 14 * DAY)
        await eventually(lambda: len(alerts(env, "removal_overdue")) == 1, what="overdue alert")
        assert "RMV-1" in alerts(env, "removal_overdue")[0].message

        receipt = RemovalReceipt(
            order_id="RMV-1", sku="BAG", quantity=6, tracking_number="1Z1", receipt_id="r1"
        )
        await handle.signal("receive", receipt)
        await handle.signal("receive", receipt)  # the same confirmation twice counts once
        status = await handle.result()
        assert status.closed
        await control.wake_gate(temporal_client, env.settings, env.shop)
        await eventually(lambda: env.qty("BAG", "warehouse", "incoming") == 0, what="incoming −6")
        assert env.qty("BAG", "warehouse", "available") == 206
        assert len(alerts(env, "removal_overdue")) == 1


async def test_damaged_return_becomes_claim_due_when_no_reimbursement_comes(
    temporal_client: Client, tmp_path: Path
) -> None:
    env = real_time_env(
        temporal_client, tmp_path, rules={"reimbursement_window_days": 30, "return_window_days": 45}
    )
    case_id = f"return:{env.account}:113-1:BAG"
    skipper = TimeSkipper(temporal_client, config=TimeSkippingConfig(enabled=False))
    async with env:
        async with env.make_worker():
            now = env.clock.now()
            store_evidence(
                env.engine,
                [
                    evidence(env, case_id, "refund", "refund-1", now - 2 * DAY, 1),
                    evidence(
                        env, case_id, "return_graded", "grade-1", now, 1, lpn="LPN1", disposition="DAMAGED"
                    ),
                ],
                account=env.account,
                stream="test",
            )
            handle = await start_case(env, skipper, case_id)
            await eventually(
                lambda: (r := record(env, case_id)) is not None and r.evidence_seen == 2, what="evaluated"
            )
            assert not record(env, case_id).claim_due  # type: ignore[union-attr]

            await skipper.fast_forward(handle, 31 * DAY)
            await eventually(lambda: record(env, case_id).claim_due, what="claim due")  # type: ignore[union-attr]
            assert len(alerts(env, "claim_due")) == 1
        # The worker is gone while the case waits; a new one picks it up, and a late reimbursement closes it.
        async with env.make_worker():
            store_evidence(
                env.engine,
                [
                    evidence(
                        env,
                        case_id,
                        "reimbursement",
                        "reimb-1",
                        env.clock.now(),
                        1,
                        reimbursement_id="R1",
                        quantity_cash=1,
                        quantity_inventory=0,
                        amount_total=12.5,
                        reason="CustomerReturn",
                    )
                ],
                account=env.account,
                stream="test",
            )
            await handle.signal("evidence_added")
            status = await handle.result()
            assert status.closed and len(alerts(env, "claim_due")) == 1
