"""Every workflow and activity the worker registers, in one place (the worker and the tests use it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.cases import CaseActivities
from activities.clients import Clients
from activities.finance_report import FinanceReportActivities
from activities.gate import GateActivities
from activities.reconcile import ReconcileActivities
from activities.sync import SyncActivities
from activities.watchdog import WatchdogActivities
from reconciler.config import Settings


def build_activities(
    client: Client, settings: Settings, engine: Engine, clients: Clients
) -> list[Callable[..., Any]]:
    from ops import control  # ops imports the workflows, which import the activities

    async def wake(shop: str) -> None:
        await control.wake_gate(client, settings, shop)

    async def signal_case(case_id: str) -> None:
        await control.signal_case(client, settings, case_id)

    sync = SyncActivities(engine, clients, wake, signal_case)
    gate = GateActivities(engine, clients)
    cases = CaseActivities(engine, clients, wake)
    reconcile = ReconcileActivities(engine, clients)
    finance = FinanceReportActivities(engine, settings)
    watchdog = WatchdogActivities(engine, settings, client)
    return [
        sync.sync_orders,
        sync.request_report,
        sync.await_report,
        sync.ingest_report,
        sync.sync_inbound,
        sync.sync_refunds,
        sync.retry_quarantine,
        sync.signal_cases,
        sync.wake_gate,
        sync.record_cycle,
        gate.open_attempts,
        gate.plan_pass,
        gate.send_attempt,
        gate.decide_holds,
        gate.revert_corrections,
        cases.evaluate_case,
        cases.record_receipt,
        reconcile.start_run,
        reconcile.request_inventory_report,
        reconcile.store_amazon_snapshot,
        reconcile.choose_amazon_snapshot,
        reconcile.store_amazon_summaries,
        reconcile.store_shopify_snapshot,
        reconcile.compare_and_hold,
        finance.build_report,
        watchdog.check,
    ]


def all_workflows() -> list[type]:
    from workflows.cases import CASE_WORKFLOWS
    from workflows.finance_report import MonthlyReportWorkflow
    from workflows.full_reconciliation import FullReconciliationWorkflow
    from workflows.gate import GateWorkflow
    from workflows.sync_cycle import SyncCycleWorkflow
    from workflows.watchdog import WatchdogWorkflow

    return [
        SyncCycleWorkflow,
        GateWorkflow,
        FullReconciliationWorkflow,
        MonthlyReportWorkflow,
        WatchdogWorkflow,
        *CASE_WORKFLOWS.values(),
    ]
