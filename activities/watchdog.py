"""The watchdog's activity: read the facts (cycles, reconciliation runs, gate status, configured rotation
dates), let reconciler/watchdog.py decide, record each finding once per episode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio import activity
from temporalio.client import Client

from activities.heartbeat import heartbeats
from reconciler.clock import as_utc
from reconciler.config import Settings
from reconciler.ledger.alerts import raise_alert
from reconciler.ledger.tables import CycleRun, DiscrepancyRecord, ReconciliationRun
from reconciler.messages import GateStatus, WatchdogInput, WatchdogReport
from reconciler.watchdog import (
    CycleFact,
    DiffKey,
    Finding,
    RunDiffs,
    credential_rotation,
    cycle_error,
    failing_cycles,
    lwa_secrets,
    paused_too_long,
    stale_sync,
    sustained_candidates,
    sustained_discrepancies,
)

log = logging.getLogger("recon.watchdog")

GATE_QUERY_TIMEOUT_S = 10.0
# How far back a discrepancy streak is followed to find its first run (daily runs: over a year).
RUN_HISTORY = 400
IN_CHUNK = 900  # SQLite builds have had a limit of 999 bound parameters

T = TypeVar("T")


def _chunks(items: Sequence[T]) -> list[Sequence[T]]:
    return [items[i : i + IN_CHUNK] for i in range(0, len(items), IN_CHUNK)]


class WatchdogActivities:
    def __init__(self, engine: Engine, settings: Settings, client: Client) -> None:
        self._engine, self._settings, self._client = engine, settings, client

    @activity.defn
    @heartbeats
    async def check(self, inp: WatchdogInput) -> WatchdogReport:
        now = datetime.now(UTC)
        statuses, unreachable = await self._gate_statuses()
        report = await asyncio.to_thread(self._check, now, statuses)
        report.gates_unreachable = unreachable
        log.info(
            "watchdog looked",
            extra={
                "raised": sum(report.raised.values()),
                "lasting": report.lasting,
                "summary": report.sentence(),
            },
        )
        return report

    async def _gate_statuses(self) -> tuple[list[GateStatus], list[str]]:
        """Each shop's gate status (the pause lives in the gate workflow, not in the ledger). A gate that
        does not answer is reported, not judged: Prometheus' ReconGateUnreachable covers it."""
        from ops import control  # ops imports the workflows, which import the activities

        statuses, unreachable = [], []
        for shop in self._settings.shops:
            try:
                statuses.append(
                    await asyncio.wait_for(control.gate_status(self._client, shop.name), GATE_QUERY_TIMEOUT_S)
                )
            except Exception as e:  # not started yet, continuing-as-new, Temporal unreachable…
                unreachable.append(shop.name)
                log.info("gate status unknown", extra={"shop": shop.name, "error": str(e)[:200]})
        return statuses, unreachable

    def _check(self, now: datetime, statuses: list[GateStatus]) -> WatchdogReport:
        cfg = self._settings.alerts
        report = WatchdogReport(accounts=len(self._settings.accounts), shops=len(self._settings.shops))
        with Session(self._engine) as s, s.begin():
            findings: list[Finding] = []
            for account in self._settings.accounts:
                findings += self._cycle_findings(s, account.name, now)
                findings += self._discrepancy_findings(s, account.name, cfg.sustained_runs)
            for status in statuses:
                finding = paused_too_long(
                    status.shop,
                    paused=status.paused,
                    paused_at=as_utc(status.paused_at) if status.paused_at else None,
                    reason=status.pause_reason,
                    now=now,
                    limit_hours=cfg.paused_too_long_hours,
                )
                findings += [finding] if finding else []
            secrets = lwa_secrets(
                [(a.name, a.lwa_client_secret_env, a.lwa_secret_rotated_on) for a in self._settings.accounts]
            )
            for secret in secrets:
                finding = credential_rotation(secret, today=now.date(), warn_days=cfg.rotation_warn_days)
                findings += [finding] if finding else []
            for f in findings:
                if raise_alert(s, f.kind, f.key, f.message, account=f.account, once=True):
                    report.raised[f.kind] = report.raised.get(f.kind, 0) + 1
                else:
                    report.lasting += 1
        return report

    # --- sync cycles ---------------------------------------------------------------------------------
    def _cycle_findings(self, s: Session, account: str, now: datetime) -> list[Finding]:
        cfg = self._settings.alerts
        last_ok = s.exec(
            select(CycleRun.run_id, CycleRun.finished_at)
            .where(CycleRun.account == account, col(CycleRun.ok).is_(True))
            .order_by(col(CycleRun.finished_at).desc(), col(CycleRun.id).desc())
            .limit(1)
        ).first()
        first = None
        if last_ok is None:
            first = s.exec(select(func.min(CycleRun.finished_at)).where(CycleRun.account == account)).one()
        latest = s.exec(
            select(CycleRun)
            .where(CycleRun.account == account)
            .order_by(col(CycleRun.finished_at).desc(), col(CycleRun.id).desc())
            .limit(cfg.failing_cycles)
        ).all()
        out: list[Finding | None] = [
            stale_sync(
                account,
                last_success_at=as_utc(last_ok[1]) if last_ok else None,
                first_cycle_at=as_utc(first) if first else None,
                now=now,
                clock=self._settings.clock,
                window_days=cfg.stale_sync_days,
            ),
            failing_cycles(
                account,
                latest=[
                    CycleFact(
                        run_id=c.run_id,
                        finished_at=as_utc(c.finished_at),
                        ok=c.ok,
                        error=cycle_error(c.summary),
                    )
                    for c in latest
                ],
                last_success_run=last_ok[0] if last_ok else None,
                n=cfg.failing_cycles,
            ),
        ]
        return [f for f in out if f is not None]

    # --- full reconciliations ------------------------------------------------------------------------
    def _discrepancy_findings(self, s: Session, account: str, n: int) -> list[Finding]:
        """Two reads: the differences of the latest `n` runs (few rows), then, only for the SKUs that
        differed in all of them, how far back each streak goes."""
        run_ids = list(
            s.exec(
                select(ReconciliationRun.id)
                .where(
                    ReconciliationRun.account == account,
                    col(ReconciliationRun.finished_at).is_not(None),
                    ReconciliationRun.state != "previewed",  # shadow runs hold nothing: not a streak
                )
                .order_by(col(ReconciliationRun.id).desc())
                .limit(RUN_HISTORY)
            ).all()
        )
        if len(run_ids) < n:
            return []
        latest = self._diffs(s, [i for i in run_ids[:n] if i is not None])
        candidates = sustained_candidates(latest, n)
        if not candidates:
            return []
        ids = [i for i in run_ids if i is not None]
        history = self._diffs(s, ids, skus=sorted({sku for sku, _, _ in candidates}))
        return sustained_discrepancies(account, history, n)

    def _diffs(self, s: Session, run_ids: list[int], skus: list[str] | None = None) -> list[RunDiffs]:
        """RunDiffs of each run, newest first (every run, also one without differences)."""
        by_run: dict[int, dict[DiffKey, int]] = {i: {} for i in run_ids}
        d = DiscrepancyRecord
        for ids in _chunks(run_ids):
            stmt: Any = select(d.run_id, d.sku, d.location, d.name, d.difference).where(
                col(d.run_id).in_(list(ids)), d.difference != 0
            )
            for sku_chunk in _chunks(skus) if skus is not None else [None]:
                part = stmt if sku_chunk is None else stmt.where(col(d.sku).in_(list(sku_chunk)))
                for run_id, sku, location, name, difference in s.exec(part).all():
                    diffs = by_run[run_id]
                    diffs[(sku, location, name)] = diffs.get((sku, location, name), 0) + difference
        return [RunDiffs(run_id=i, diffs=by_run[i]) for i in run_ids]
