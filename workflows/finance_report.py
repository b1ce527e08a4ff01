"""MonthlyReportWorkflow: the monthly finance report of one account (ARCHITECTURE §5, ReportWorkflow).

Started by `starter.py report --month YYYY-MM` or by the monthly schedule `finance-report:{account}`
(no month: the one before the business date it starts on). One activity reads the ledger and writes
CSV + Markdown; this history carries the month, the paths and the totals, never the rows."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.finance_report import FinanceReportActivities
    from reconciler.finance import (
        FinanceReportInput,
        FinanceReportRequest,
        FinanceReportSummary,
        previous_month,
    )

HEARTBEAT = timedelta(seconds=15)


@workflow.defn
class MonthlyReportWorkflow:
    @workflow.run
    async def run(self, inp: FinanceReportInput) -> FinanceReportSummary:
        month = inp.month or previous_month(inp.clock.now(workflow.now()).date())
        workflow.set_current_details(f"Finance report {month} of {inp.account}: reading the ledger")
        summary = await workflow.execute_activity_method(
            FinanceReportActivities.build_report,
            FinanceReportRequest(account=inp.account, month=month),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=inp.max_retry_interval_s)),
            summary=f"build finance report {month}",
        )
        workflow.set_current_details(
            f"Finance report {month} of {inp.account}: {summary.effects_applied} effects, "
            f"{summary.claims_due} claims due; {summary.md_path}"
        )
        return summary
