"""Awaiting an Amazon report from a workflow: one poll per activity attempt, the retry policy (backoff
1) doing the polling, so a crash never requests a report twice (ARCHITECTURE §4.2)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.sync import SyncActivities
    from reconciler.clock import Clock

HEARTBEAT = timedelta(seconds=15)


async def await_report(request_id: int, clock: Clock, summary: str) -> str:
    """DONE, CANCELLED or FATAL, once Amazon has finished the report."""
    poll = RetryPolicy(
        initial_interval=timedelta(seconds=min(5, clock.day_length / 20 + 0.5)),
        backoff_coefficient=1.0,
        maximum_interval=timedelta(seconds=30),
    )
    return await workflow.execute_activity_method(
        SyncActivities.await_report,
        request_id,
        start_to_close_timeout=timedelta(minutes=1),
        heartbeat_timeout=HEARTBEAT,
        schedule_to_close_timeout=timedelta(hours=4),
        retry_policy=poll,
        summary=summary,
    )
