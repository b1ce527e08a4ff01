"""FullReconciliationWorkflow: compare Amazon's snapshot with Shopify's FBA location (ARCHITECTURE §5).

Amazon's snapshot is the MYI inventory report or, for a small catalogue, getInventorySummaries
(`Rules.reconcile_snapshot`; "auto" asks `choose_amazon_snapshot`, so a replay takes the same path).
Snapshots go to the ledger (100,000 SKUs never pass through this history); every difference becomes
a held correction that waits for a person. It reports, it never sets anything by itself."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities
    from reconciler.messages import AmazonSnapshotChoice, ReconcileInput, ReconcileSummary
    from workflows.reports import await_report

HEARTBEAT = timedelta(seconds=15)


@workflow.defn
class FullReconciliationWorkflow:
    def __init__(self) -> None:
        self._progress = "starting"
        self._amazon_source = "report"

    @workflow.run
    async def run(self, inp: ReconcileInput) -> ReconcileSummary:
        retry = RetryPolicy(maximum_interval=timedelta(seconds=inp.max_retry_interval_s))
        run_id = await workflow.execute_activity_method(
            ReconcileActivities.start_run,
            args=[inp.account, workflow.info().workflow_id],
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=retry,
        )
        self._show(f"Run {run_id}: taking Amazon's and Shopify's snapshots of {inp.account}")
        amazon_rows, shopify_rows = await asyncio.gather(
            self._amazon(inp, run_id, retry), self._shopify(run_id, retry)
        )
        self._show(f"Run {run_id}: comparing {amazon_rows} Amazon rows with {shopify_rows} Shopify levels")
        summary = await workflow.execute_activity_method(
            ReconcileActivities.compare_and_hold,
            args=[run_id, inp.rules, inp.shadow],
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=retry,
        )
        summary = summary.model_copy(update={"amazon_snapshot": self._amazon_source})
        held = "previewed (shadow run: nothing held)" if inp.shadow else "held for approval"
        self._show(
            f"Run {run_id}: {summary.discrepancies} differences, {summary.corrections_held} corrections "
            f"{held}; report {summary.report_md}"
        )
        return summary

    async def _amazon(self, inp: ReconcileInput, run_id: int, retry: RetryPolicy) -> int:
        choice = AmazonSnapshotChoice(source="report", reason="before reconcile_snapshot existed")
        if workflow.patched("reconcile-snapshot-source"):  # runs started earlier read the report
            choice = AmazonSnapshotChoice(source="report", reason="configured")
            if inp.rules.reconcile_snapshot == "auto":
                choice = await workflow.execute_activity_method(
                    ReconcileActivities.choose_amazon_snapshot,
                    args=[run_id, inp.rules],
                    start_to_close_timeout=timedelta(minutes=2),
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=retry,
                )
            elif inp.rules.reconcile_snapshot == "summaries":
                choice = AmazonSnapshotChoice(source="summaries", reason="configured")
        self._amazon_source = choice.source
        what = "getInventorySummaries" if choice.source == "summaries" else "the MYI inventory report"
        self._show(f"Run {run_id}: reading Amazon's inventory by {what} ({choice.reason}) and Shopify's")
        if choice.source == "summaries":
            return await workflow.execute_activity_method(
                ReconcileActivities.store_amazon_summaries,
                args=[run_id, inp.clock],
                start_to_close_timeout=timedelta(hours=1),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=retry,
                summary="getInventorySummaries, every page",
            )
        request_id = await workflow.execute_activity_method(
            ReconcileActivities.request_inventory_report,
            args=[run_id, inp.clock],
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=retry,
        )
        status = await await_report(request_id, inp.clock, "await inventory report")
        if status == "FATAL":
            raise ApplicationError(
                "Amazon's inventory report failed (FATAL); run the reconciliation again", non_retryable=True
            )
        return await workflow.execute_activity_method(
            ReconcileActivities.store_amazon_snapshot,
            args=[run_id, request_id],
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=retry,
        )

    async def _shopify(self, run_id: int, retry: RetryPolicy) -> int:
        return await workflow.execute_activity_method(
            ReconcileActivities.store_shopify_snapshot,
            run_id,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=retry,
        )

    def _show(self, text: str) -> None:
        self._progress = text
        workflow.set_current_details(text)

    @workflow.query
    def progress(self) -> str:
        return self._progress
