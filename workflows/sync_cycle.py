"""SyncCycleWorkflow: one pass over an account's Amazon streams (ARCHITECTURE §5).

Started by the account's Schedule (overlap SKIP); manual runs go through the schedule's trigger.
Each stream is read, stored, turned into effects or evidence, and its cursor advanced in one
activity; the workflow only sequences them and carries counts. Then the cases with new evidence are
told and the gate is woken."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.sync import SyncActivities
    from reconciler.messages import CycleRecord, CycleSummary, StreamOutcome, StreamRequest, SyncCycleInput
    from reconciler.models import ShipmentsSource
    from workflows.reports import await_report

# Activities heartbeat every few seconds: a killed worker's activity is retried within this.
HEARTBEAT = timedelta(seconds=15)
# Ledger first (it moves stock); the others feed the case workflows.
REPORT_STREAMS = ["ledger", "returns", "removal_detail", "removal_shipments", "reimbursements"]


@workflow.defn
class SyncCycleWorkflow:
    @workflow.run
    async def run(self, cycle: SyncCycleInput) -> CycleSummary:
        self._retry = RetryPolicy(maximum_interval=timedelta(seconds=cycle.max_retry_interval_s))
        outcomes: list[StreamOutcome] = []
        try:
            return await self._cycle(cycle, outcomes)
        except ActivityError as e:
            if isinstance(e.cause, CancelledError):
                raise
            # A cycle that fails (a non-retryable error: transient ones are retried) is recorded as
            # failed with its error, so the watchdog counts it among the account's failing cycles.
            error = f"{e.activity_type or 'an activity'} failed: {e.cause or e}"[:500]
            await self._activity(
                SyncActivities.record_cycle, self._record(cycle, outcomes, error), "record the failed cycle"
            )
            raise

    def _record(self, cycle: SyncCycleInput, outcomes: list[StreamOutcome], error: str | None) -> CycleRecord:
        info = workflow.info()
        return CycleRecord(
            account=cycle.account,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            started_at=info.start_time,
            outcomes=outcomes,
            error=error,
        )

    async def _cycle(self, cycle: SyncCycleInput, outcomes: list[StreamOutcome]) -> CycleSummary:
        stream = StreamRequest(account=cycle.account, rules=cycle.rules, clock=cycle.clock)

        if cycle.rules.shipments_source == ShipmentsSource.ORDERS:
            workflow.set_current_details(f"Reading shipped FBA orders for {cycle.account}")
            outcomes.append(await self._activity(SyncActivities.sync_orders, stream, "orders", minutes=10))

        workflow.set_current_details(f"Reading {len(REPORT_STREAMS)} Amazon reports for {cycle.account}")
        outcomes += await asyncio.gather(*(self._report(stream, name) for name in REPORT_STREAMS))

        workflow.set_current_details(f"Reading inbound shipments and refunds for {cycle.account}")
        outcomes.append(await self._activity(SyncActivities.sync_inbound, stream, "inbound", minutes=10))
        outcomes.append(await self._activity(SyncActivities.sync_refunds, stream, "refunds", minutes=10))
        outcomes.append(
            await self._activity(SyncActivities.retry_quarantine, stream, "retry quarantine", minutes=10)
        )

        if any(o.effects for o in outcomes):
            await self._activity(SyncActivities.wake_gate, cycle.shop, "wake the gate")
        await self._activity(
            SyncActivities.signal_cases, None, "tell the cases with new evidence", minutes=10
        )
        summary = CycleSummary(account=cycle.account, outcomes=outcomes)
        await self._activity(
            SyncActivities.record_cycle, self._record(cycle, outcomes, None), "record the cycle"
        )
        workflow.set_current_details(f"Done: {summary.sentence()}")
        return summary

    async def _activity(self, fn: Any, arg: Any, summary: str, *, minutes: float = 1) -> Any:
        args = [] if arg is None else [arg]
        return await workflow.execute_activity_method(
            fn,
            args=args,
            start_to_close_timeout=timedelta(minutes=minutes),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=self._retry,
            summary=summary,
        )

    async def _report(self, stream: StreamRequest, name: str) -> StreamOutcome:
        """Request (stored first, so a crash never requests twice), await, ingest."""
        request_id = await workflow.execute_activity_method(
            SyncActivities.request_report,
            args=[stream, name],
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=self._retry,
            summary=f"request {name} report",
        )
        if request_id is None:
            return StreamOutcome(stream=name, skipped="read too recently")
        status = await await_report(request_id, stream.clock, f"await {name} report")
        if status == "FATAL":
            return StreamOutcome(stream=name, status="fatal")
        return await workflow.execute_activity_method(
            SyncActivities.ingest_report,
            args=[stream, request_id],
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=HEARTBEAT,
            summary=f"ingest {name} report",
            retry_policy=RetryPolicy(
                maximum_interval=self._retry.maximum_interval, non_retryable_error_types=["ReportFormatError"]
            ),
        )
