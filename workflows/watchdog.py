"""WatchdogWorkflow: the periodic look for trouble that no source reports (reconciler/watchdog.py).

Started by the Schedule `watchdog` (every `alerts.watchdog_minutes`, overlap SKIP; `schedules apply`
creates it). One activity reads the ledger and asks every gate its status, decides with the pure rules
and records the alerts; this history carries only the counts."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.watchdog import WatchdogActivities
    from reconciler.messages import WatchdogInput, WatchdogReport

HEARTBEAT = timedelta(seconds=15)


@workflow.defn
class WatchdogWorkflow:
    @workflow.run
    async def run(self, inp: WatchdogInput) -> WatchdogReport:
        workflow.set_current_details(
            "Looking for stale syncs, failing cycles, long pauses, sustained differences and due credentials"
        )
        report = await workflow.execute_activity_method(
            WatchdogActivities.check,
            inp,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=HEARTBEAT,
            # A few tries, then fail: the next scheduled run looks again (and a failed run shows in the
            # UI), rather than one run retrying for ever while the schedule skips every other.
            retry_policy=RetryPolicy(
                maximum_interval=timedelta(seconds=inp.max_retry_interval_s), maximum_attempts=3
            ),
            summary="check",
        )
        workflow.set_current_details(f"Done: {report.sentence()}")
        return report
