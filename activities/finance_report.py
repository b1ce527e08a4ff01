"""The monthly finance report's one activity: read the month's figures from the ledger (grouped in SQL,
so a busy month is a few thousand totals, not 100,000 rows), aggregate them (reconciler/finance.py),
write CSV + Markdown into `settings.reports_dir`, and return only the paths and the headline totals.

Idempotent: the files of an account and month are rewritten whole on a retry or a re-run."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
from datetime import UTC, datetime, time
from pathlib import Path

from sqlalchemy import Date, case, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities.heartbeat import heartbeats
from reconciler.cases.common import to_float, to_int
from reconciler.claims import marketplace_currency
from reconciler.config import AccountConfig, Settings
from reconciler.finance import (
    FOUND_CODES,
    LOST_CODES,
    EffectTotal,
    FinanceReport,
    FinanceReportRequest,
    FinanceReportSummary,
    LedgerAdjustmentTotal,
    ReimbursementLine,
    build_report,
    csv_rows,
    markdown,
    month_bounds,
)
from reconciler.ledger.claims_due import load_claims_due
from reconciler.ledger.tables import Effect, Evidence, Movement
from reconciler.models import EffectState

log = logging.getLogger("recon.finance")

# Not written to Shopify, and not by a person's decision (rejected effects are meant to stay unwritten).
UNWRITTEN = [
    EffectState.PENDING,
    EffectState.HELD,
    EffectState.APPROVED,
    EffectState.IN_FLIGHT,
    EffectState.FAILED,
]


class FinanceReportActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine, self._settings = engine, settings

    @activity.defn
    @heartbeats
    async def build_report(self, req: FinanceReportRequest) -> FinanceReportSummary:
        account = self._settings.account(req.account)
        report = await asyncio.to_thread(self.read_report, account, req.month)
        csv_path, md_path = await asyncio.to_thread(write_report, self._settings.reports_dir, report)
        summary = report.summary(str(csv_path), str(md_path))
        log.info(
            "finance report written",
            extra={
                "account": req.account,
                "month": req.month,
                "effects": summary.effects_applied,
                "claims_due": summary.claims_due,
                "report": str(md_path),
            },
        )
        return summary

    def read_report(self, account: AccountConfig, month: str) -> FinanceReport:
        first, last = month_bounds(month)
        # Ledger and order effects carry their business date; corrections only their applied time.
        day = func.coalesce(Effect.occurred_on, func.date(Effect.applied_at), type_=Date)
        delta = col(Effect.delta)
        currency = marketplace_currency(account.marketplace)
        with Session(self._engine) as s:
            moved = [
                EffectTotal(kind, reason, location, name, sku, int(units_in), int(units_out), int(n))
                for kind, reason, location, name, sku, units_in, units_out, n in s.exec(
                    select(
                        Effect.kind,
                        Effect.reason,
                        Effect.location,
                        Effect.name,
                        Effect.shopify_sku,
                        func.sum(case((delta > 0, delta), else_=0)),
                        func.sum(case((delta < 0, -delta), else_=0)),
                        func.count(),
                    )
                    .where(
                        Effect.account == account.name,
                        Effect.state == EffectState.APPLIED,
                        day >= first,
                        day <= last,
                    )
                    .group_by(Effect.kind, Effect.reason, Effect.location, Effect.name, Effect.shopify_sku)
                )
            ]
            unwritten = s.exec(
                select(func.count())
                .select_from(Effect)
                .where(
                    Effect.account == account.name,
                    col(Effect.state).in_(UNWRITTEN),
                    day >= first,
                    day <= last,
                )
            ).one()
            adjustments = [
                LedgerAdjustmentTotal(msku, fnsku, reason, int(quantity), int(rows))
                for msku, fnsku, reason, quantity, rows in s.exec(
                    select(
                        Movement.msku,
                        Movement.fnsku,
                        Movement.reason,
                        func.sum(Movement.quantity),
                        func.count(),
                    )
                    .where(
                        Movement.account == account.name,
                        Movement.event_type == "Adjustments",
                        col(Movement.reason).in_(sorted(LOST_CODES | FOUND_CODES)),
                        col(Movement.occurred_on) >= first,
                        col(Movement.occurred_on) <= last,
                    )
                    .group_by(Movement.msku, Movement.fnsku, Movement.reason)
                )
            ]
            # Approval dates are instants: the month is the marketplace's local month.
            tz = account.market.tz
            start = datetime.combine(first, time.min, tzinfo=tz).astimezone(UTC)
            end = datetime.combine(last, time.max, tzinfo=tz).astimezone(UTC)
            reimbursements = [
                _reimbursement(key, case_id, kind, data)
                for key, case_id, kind, data in s.exec(
                    select(Evidence.key, Evidence.case_id, Evidence.kind, Evidence.data)
                    .where(
                        Evidence.account == account.name,
                        col(Evidence.kind).in_(["reimbursement", "reimbursement_reversal"]),
                        col(Evidence.occurred_at) >= start,
                        col(Evidence.occurred_at) <= end,
                    )
                    .order_by(col(Evidence.occurred_at), col(Evidence.id))
                )
            ]
        claims = load_claims_due(self._engine, account=account.name, currencies={account.name: currency})
        return build_report(
            account=account.name,
            month=month,
            generated_at=datetime.now(UTC),
            moved=moved,
            adjustments=adjustments,
            reimbursements=reimbursements,
            claims=claims,
            unwritten_effects=int(unwritten),
            default_currency=currency,
        )


def _reimbursement(key: str, case_id: str, kind: str, raw: str) -> ReimbursementLine:
    data = json.loads(raw)
    # The key is `reimbursement:{account}:{reimbursement id}:{msku}` (reconciler/evidence.py).
    parts = key.split(":", 3)
    msku = parts[3] if len(parts) == 4 and parts[0] == "reimbursement" else ""
    cash, inventory = abs(to_int(data.get("quantity_cash"))), abs(to_int(data.get("quantity_inventory")))
    amount = abs(to_float(data.get("amount_total")) or 0.0)
    if not amount and cash and to_float(data.get("amount_per_unit")):
        amount = abs(to_float(data.get("amount_per_unit")) or 0.0) * cash
    return ReimbursementLine(
        reimbursement_id=str(data.get("reimbursement_id") or ""),
        reversal=kind == "reimbursement_reversal",
        reason=str(data.get("reason") or ""),
        sku=msku or str(data.get("fnsku") or ""),
        case_id=case_id,
        cash_units=cash,
        inventory_units=inventory,
        amount=round(amount, 2),
        currency=str(data.get("currency") or ""),
    )


def write_report(folder: Path, report: FinanceReport) -> tuple[Path, Path]:
    """`finance-{account}-{month}.csv` and `.md`, each written to a temporary file and renamed, so a
    reader never sees half a report."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"finance-{report.account}-{report.month}"
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    tmp = csv_path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        csv.writer(f).writerows(csv_rows(report))
    os.replace(tmp, csv_path)
    tmp = md_path.with_suffix(".md.tmp")
    tmp.write_text(markdown(report))
    os.replace(tmp, md_path)
    return csv_path, md_path
