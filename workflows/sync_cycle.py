"""SyncCycleWorkflow: one pass over an account's Amazon streams (ARCHITECTURE §5).

Started by the account's Schedule (overlap SKIP); manual runs go through the schedule's trigger.
Each stream is read, stored, turned into effects and its cursor advanced in one activity; the
workflow only sequences them and carries counts."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

# Activities heartbeat every few seconds: a killed worker's activity is retried within this.
HEARTBEAT = timedelta(seconds=15)

with workflow.unsafe.imports_passed_through():
    from activities.sync import SyncActivities
    from reconciler.messages import CycleRecord, CycleSummary, StreamOutcome, StreamRequest, SyncCycleInput
    from reconciler.models import ShipmentsSource


@workflow.defn
class SyncCycleWorkflow:
    @workflow.run
    async def run(self, cycle: SyncCycleInput) -> CycleSummary:
        retry = RetryPolicy(maximum_interval=timedelta(seconds=cycle.max_retry_interval_s))
        stream = StreamRequest(account=cycle.account, rules=cycle.rules, clock=cycle.clock)
        outcomes: list[StreamOutcome] = []

        if cycle.rules.shipments_source == ShipmentsSource.ORDERS:
            workflow.set_current_details(f"Reading shipped FBA orders for {cycle.account}")
            outcomes.append(
                await workflow.execute_activity_method(
                    SyncActivities.sync_orders,
                    stream,
                    start_to_close_timeout=timedelta(minutes=10),
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=retry,
                    summary="orders",
                )
            )

        workflow.set_current_details(f"Reading the FBA inventory ledger for {cycle.account}")
        outcomes.append(await self._ledger(stream, retry))

        workflow.set_current_details(f"Reprocessing quarantined rows of {cycle.account}")
        outcomes.append(
            await workflow.execute_activity_method(
                SyncActivities.retry_quarantine,
                stream,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=retry,
                summary="retry quarantine",
            )
        )

        if any(o.effects for o in outcomes):
            await workflow.execute_activity_method(
                SyncActivities.wake_gate,
                cycle.shop,
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=retry,
            )
        summary = CycleSummary(account=cycle.account, outcomes=outcomes)
        info = workflow.info()
        await workflow.execute_activity_method(
            SyncActivities.record_cycle,
            CycleRecord(
                account=cycle.account,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                started_at=info.start_time,
                outcomes=outcomes,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=retry,
        )
        workflow.set_current_details(f"Done: {summary.sentence()}")
        return summary

    async def _ledger(self, stream: StreamRequest, retry: RetryPolicy) -> StreamOutcome:
        request_id = await workflow.execute_activity_method(
            SyncActivities.request_ledger_report,
            stream,
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=retry,
            summary="request ledger report",
        )
        if request_id is None:
            return StreamOutcome(stream="ledger", skipped="read too recently")
        # Polls through activity retries with backoff 1, so a worker crash never requests twice.
        poll = RetryPolicy(
            initial_interval=timedelta(seconds=min(5, stream.clock.day_length / 20 + 0.5)),
            backoff_coefficient=1.0,
            maximum_interval=timedelta(seconds=30),
            non_retryable_error_types=["ReportFormatError"],
        )
        status = await workflow.execute_activity_method(
            SyncActivities.await_report,
            request_id,
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=HEARTBEAT,
            schedule_to_close_timeout=timedelta(hours=4),
            retry_policy=poll,
            summary="await ledger report",
        )
        if status == "FATAL":
            return StreamOutcome(stream="ledger", status="fatal")
        return await workflow.execute_activity_method(
            SyncActivities.ingest_ledger_report,
            args=[stream, request_id],
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RetryPolicy(
                maximum_interval=retry.maximum_interval, non_retryable_error_types=["ReportFormatError"]
            ),
            summary="ingest ledger report",
        )
