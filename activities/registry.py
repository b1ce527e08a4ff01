"""Every activity the worker registers, in one place (the worker and the tests use it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.gate import GateActivities
from activities.sync import SyncActivities


def all_activities(sync: SyncActivities, gate: GateActivities) -> list[Callable[..., Any]]:
    return [
        sync.sync_orders,
        sync.request_ledger_report,
        sync.await_report,
        sync.ingest_ledger_report,
        sync.retry_quarantine,
        sync.wake_gate,
        sync.record_cycle,
        gate.open_attempts,
        gate.plan_pass,
        gate.send_attempt,
        gate.decide_holds,
    ]
