"""What people and tools do to a running service: schedules, sync-now, pause/resume, approvals.
Shared by starter.py, the worker and the scenario runner, so all go through one path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from reconciler.config import AccountConfig, Settings
from reconciler.evidence import CASE_TYPES, case_type, removal_case
from reconciler.finance import FinanceReportInput
from reconciler.messages import (
    CaseInput,
    GateState,
    GateStatus,
    HoldDecision,
    HoldDecisionResult,
    PauseRequest,
    ReconcileInput,
    RemovalReceipt,
    RevertRequest,
    RevertResult,
    SyncCycleInput,
    Thresholds,
    WatchdogInput,
)
from workflows.cases import CASE_WORKFLOWS
from workflows.finance_report import MonthlyReportWorkflow
from workflows.full_reconciliation import FullReconciliationWorkflow
from workflows.gate import GateWorkflow
from workflows.search_attributes import CASE_TYPE, RECON_ACCOUNT
from workflows.sync_cycle import SyncCycleWorkflow
from workflows.watchdog import WatchdogWorkflow


def schedule_id(account: str) -> str:
    return f"sync:{account}"


def gate_id(shop: str) -> str:
    return f"gate:{shop}"


def cycle_input(settings: Settings, account: AccountConfig) -> SyncCycleInput:
    return SyncCycleInput(
        account=account.name,
        shop=account.shop,
        rules=account.rules,
        clock=settings.clock,
        max_retry_interval_s=settings.activity_max_retry_interval_s,
    )


def gate_state(settings: Settings, shop: str) -> GateState:
    return GateState(
        shop=shop,
        poll_seconds=settings.gate_poll_seconds,
        max_retry_interval_s=settings.activity_max_retry_interval_s,
        thresholds={
            a.name: Thresholds(units=a.rules.large_delta_units, pct=a.rules.large_delta_pct)
            for a in settings.accounts_of(shop)
        },
    )


def _schedule(settings: Settings, account: AccountConfig, interval: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            SyncCycleWorkflow.run,
            cycle_input(settings, account),
            id=f"sync-cycle:{account.name}",
            task_queue=settings.temporal.task_queue,
            typed_search_attributes=TypedSearchAttributes([SearchAttributePair(RECON_ACCOUNT, account.name)]),
            static_summary=f"Sync cycle for {account.name} ({account.marketplace} → {account.shop})",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def apply_schedules(
    client: Client,
    settings: Settings,
    *,
    interval: timedelta | None = None,
    reconcile_every: timedelta = timedelta(days=1),
    watchdog_every: timedelta | None = None,
) -> list[str]:
    """Create or update each account's sync schedule and daily full-reconciliation schedule, and the
    service's watchdog schedule (idempotent). Returns what was done per schedule."""
    every = interval or timedelta(minutes=settings.cycle_interval_minutes)
    done = []
    for account in settings.accounts:
        for sid, sched, period in (
            (schedule_id(account.name), _schedule(settings, account, every), every),
            (
                f"reconcile:{account.name}",
                _reconcile_schedule(settings, account, reconcile_every),
                reconcile_every,
            ),
            (
                finance_report_schedule_id(account.name),
                _finance_report_schedule(settings, account),
                f"month, on day {FINANCE_REPORT_DAY}, for the month before",
            ),
        ):
            try:
                await client.create_schedule(sid, sched)
                done.append(f"{sid}: created (every {period})")
            except ScheduleAlreadyRunningError:

                def _update(_: ScheduleUpdateInput, s: Schedule = sched) -> ScheduleUpdate:
                    return ScheduleUpdate(schedule=s)

                await client.get_schedule_handle(sid).update(_update)
                done.append(f"{sid}: updated (every {period})")
    watchdog = watchdog_every or timedelta(minutes=settings.alerts.watchdog_minutes)
    done.append(await _create_or_update(client, WATCHDOG_SCHEDULE, _watchdog_schedule(settings, watchdog)))
    return done


WATCHDOG_SCHEDULE = "watchdog"


def _watchdog_schedule(settings: Settings, every: timedelta) -> Schedule:
    """One watchdog for the service (every account and shop): the alerts no source raises."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WatchdogWorkflow.run,
            WatchdogInput(max_retry_interval_s=settings.activity_max_retry_interval_s),
            id=WATCHDOG_SCHEDULE,
            task_queue=settings.temporal.task_queue,
            static_summary="Watchdog: stale syncs, failing cycles, long pauses, sustained differences, credentials",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def _create_or_update(client: Client, sid: str, sched: Schedule) -> str:
    every = sched.spec.intervals[0].every if sched.spec.intervals else None
    try:
        await client.create_schedule(sid, sched)
        return f"{sid}: created (every {every})"
    except ScheduleAlreadyRunningError:

        def _update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=sched)

        await client.get_schedule_handle(sid).update(_update)
        return f"{sid}: updated (every {every})"


def _reconcile_schedule(settings: Settings, account: AccountConfig, every: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            FullReconciliationWorkflow.run,
            reconcile_input(settings, account.name),
            id=f"reconcile:{account.name}",
            task_queue=settings.temporal.task_queue,
            typed_search_attributes=TypedSearchAttributes([SearchAttributePair(RECON_ACCOUNT, account.name)]),
            static_summary=f"Daily full reconciliation of {account.name}",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def sync_now(client: Client, account: str) -> None:
    """Run a cycle now, through the schedule: never a second concurrent cycle."""
    await client.get_schedule_handle(schedule_id(account)).trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)


async def ensure_gate(client: Client, settings: Settings, shop: str) -> WorkflowHandle:
    return await client.start_workflow(
        GateWorkflow.run,
        gate_state(settings, shop),
        id=gate_id(shop),
        task_queue=settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Single writer to Shopify shop {shop}",
    )


async def wake_gate(client: Client, settings: Settings, shop: str) -> None:
    await client.start_workflow(
        GateWorkflow.run,
        gate_state(settings, shop),
        id=gate_id(shop),
        task_queue=settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="wake",
        static_summary=f"Single writer to Shopify shop {shop}",
    )


def case_input(settings: Settings, case_id: str) -> CaseInput:
    account = settings.account(case_id.split(":")[1])
    return CaseInput(
        case_id=case_id,
        account=account.name,
        shop=account.shop,
        rules=account.rules,
        clock=settings.clock,
        max_retry_interval_s=settings.activity_max_retry_interval_s,
    )


async def signal_case(
    client: Client, settings: Settings, case_id: str, signal: str = "evidence_added", args: Sequence[Any] = ()
) -> None:
    """Signal-with-start: the case runs if it was not running (a closed case restarts on new evidence)."""
    kind = case_type(case_id)
    account = case_id.split(":")[1]
    await client.start_workflow(
        CASE_WORKFLOWS[kind].run,
        case_input(settings, case_id),
        id=case_id,
        task_queue=settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=signal,
        start_signal_args=list(args),
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(RECON_ACCOUNT, account), SearchAttributePair(CASE_TYPE, kind)]
        ),
        static_summary=f"{CASE_TYPES[kind]} case {case_id.split(':', 2)[2]} ({account})",
    )


async def receive_removal(client: Client, settings: Settings, account: str, receipt: RemovalReceipt) -> None:
    await signal_case(client, settings, removal_case(account, receipt.order_id), "receive", [receipt])


def reconcile_input(settings: Settings, account_name: str, *, shadow: bool = False) -> ReconcileInput:
    account = settings.account(account_name)
    return ReconcileInput(
        shadow=shadow,
        account=account.name,
        shop=account.shop,
        rules=account.rules,
        clock=settings.clock,
        max_retry_interval_s=settings.activity_max_retry_interval_s,
    )


async def start_reconciliation(
    client: Client, settings: Settings, account: str, *, shadow: bool = False
) -> WorkflowHandle:
    """A full reconciliation now (the starter script's way; the daily schedule starts the same workflow).
    `shadow`: compare and report every change it would make, hold nothing (onboarding's preview)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return await client.start_workflow(
        FullReconciliationWorkflow.run,
        reconcile_input(settings, account, shadow=shadow),
        id=f"{'preview' if shadow else 'reconcile'}:{account}:{stamp}",
        task_queue=settings.temporal.task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(RECON_ACCOUNT, account)]),
        static_summary=f"{'Shadow (preview) reconciliation' if shadow else 'Full reconciliation'} of {account}",
    )


async def pause(client: Client, shop: str, reason: str, by: str = "operator") -> None:
    await client.get_workflow_handle(gate_id(shop)).signal(
        GateWorkflow.pause, PauseRequest(reason=reason, by=by)
    )


async def resume(client: Client, shop: str) -> None:
    await client.get_workflow_handle(gate_id(shop)).signal(GateWorkflow.resume)


async def decide(client: Client, shop: str, decision: HoldDecision, *, approve: bool) -> HoldDecisionResult:
    handle = client.get_workflow_handle(gate_id(shop))
    update = GateWorkflow.approve if approve else GateWorkflow.reject
    return await handle.execute_update(update, decision, result_type=HoldDecisionResult)


async def revert(client: Client, shop: str, request: RevertRequest) -> RevertResult:
    """Undo applied corrections through the gate (the single writer), which writes the opposite changes."""
    handle = client.get_workflow_handle(gate_id(shop))
    return await handle.execute_update(GateWorkflow.revert, request, result_type=RevertResult)


async def gate_status(client: Client, shop: str) -> GateStatus:
    return await client.get_workflow_handle(gate_id(shop)).query(GateWorkflow.status, result_type=GateStatus)


# The monthly report waits a week into the month: Amazon back-posts ledger rows for up to
# `backfill_days` (7 by default), so the previous month's figures settle first.
FINANCE_REPORT_DAY = 8


def finance_report_schedule_id(account: str) -> str:
    return f"finance-report:{account}"


def finance_report_input(settings: Settings, account: str, month: str | None) -> FinanceReportInput:
    """Validated here, on the client: a bad month never reaches a workflow task."""
    return FinanceReportInput(
        account=settings.account(account).name,
        month=month,
        clock=settings.clock,
        max_retry_interval_s=settings.activity_max_retry_interval_s,
    )


def _finance_report_schedule(settings: Settings, account: AccountConfig) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MonthlyReportWorkflow.run,
            finance_report_input(settings, account.name, None),
            id=finance_report_schedule_id(account.name),
            task_queue=settings.temporal.task_queue,
            typed_search_attributes=TypedSearchAttributes([SearchAttributePair(RECON_ACCOUNT, account.name)]),
            static_summary=f"Monthly finance report of {account.name} (the month before)",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(FINANCE_REPORT_DAY)], hour=[ScheduleRange(6)]
                )
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def start_finance_report(
    client: Client, settings: Settings, account: str, month: str
) -> WorkflowHandle:
    """The finance report of one account and month now. One id per account and month: asked twice while
    it runs, the second caller waits for the same run; asked again later, it is written afresh."""
    return await client.start_workflow(
        MonthlyReportWorkflow.run,
        finance_report_input(settings, account, month),
        id=f"finance-report:{account}:{month}",
        task_queue=settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes([SearchAttributePair(RECON_ACCOUNT, account)]),
        static_summary=f"Finance report {month} of {account}",
    )
