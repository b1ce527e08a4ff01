"""Activities of the sync cycle: read each stream from its cursor with the overlap of
ARCHITECTURE §4.2, store rows, derive effects and advance the cursor in one transaction."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.clients import Clients
from activities.heartbeat import heartbeats
from integrations.amazon import flat_reports, ledger_report
from integrations.amazon.errors import ReportFormatError
from integrations.amazon.ledger_report import parse_ledger_report
from ops import metrics
from reconciler.clock import as_utc
from reconciler.config import Rules
from reconciler.evidence import (
    EvidenceIn,
    from_inbound_item,
    from_refund,
    from_reimbursement,
    from_removal_detail,
    from_removal_shipment,
    from_return_row,
)
from reconciler.ledger.alerts import raise_alert
from reconciler.ledger.evidence_store import (
    derive_lost_evidence,
    mark_signalled,
    store_evidence,
    unsignalled_cases,
)
from reconciler.ledger.ingest import (
    IngestContext,
    IngestResult,
    ingest_ledger_read,
    ingest_order_shipments,
    retry_quarantined,
)
from reconciler.ledger.tables import Cursor, CycleRun, Movement, QuarantinedInput, ReportRequest
from reconciler.messages import CycleRecord, StreamOutcome, StreamRequest
from reconciler.models import LedgerParseResult

log = logging.getLogger("recon.sync")

LEDGER_REPORT = ledger_report.REPORT_TYPE
FATAL_ALERT_AFTER = 3
REPORT_TYPES = {
    "ledger": LEDGER_REPORT,
    "returns": flat_reports.RETURNS_REPORT,
    "removal_detail": flat_reports.REMOVAL_DETAIL_REPORT,
    "removal_shipments": flat_reports.REMOVAL_SHIPMENT_REPORT,
    "reimbursements": flat_reports.REIMBURSEMENTS_REPORT,
}
# Each report stream: its parser and the evidence one row is.
CASE_REPORTS: dict[str, tuple[Callable[[str], Any], Callable[[str, Any], EvidenceIn | None]]] = {
    "returns": (flat_reports.parse_returns_report, from_return_row),
    "removal_detail": (flat_reports.parse_removal_detail_report, from_removal_detail),
    "removal_shipments": (flat_reports.parse_removal_shipment_report, from_removal_shipment),
    "reimbursements": (flat_reports.parse_reimbursements_report, from_reimbursement),
}
# Business minutes between reads of a stream: near-real-time reports regenerate at most every 30 minutes,
# daily ones every 4 hours (ARCHITECTURE §4.2).
MIN_INTERVAL_MINUTES = {
    "returns": 240,
    "reimbursements": 240,
    "removal_detail": 30,
    "removal_shipments": 30,
    "inbound": 30,
    "refunds": 60,
}


def min_interval_minutes(stream: str, rules: Rules) -> float:
    if stream == "ledger":
        return rules.ledger_min_interval_minutes
    if stream == "orders":
        return rules.orders_min_interval_minutes
    return MIN_INTERVAL_MINUTES[stream]


class ReportNotReady(Exception):
    """Raised while Amazon is still processing; the activity's retry policy does the polling."""


def _outcome(stream: str, r: IngestResult, status: str = "ok") -> StreamOutcome:
    return StreamOutcome(
        stream=stream,
        status=status,
        rows_read=r.rows_read,
        rows_new=r.rows_new,
        effects=r.effects,
        absorbed=r.absorbed,
        quarantined=r.quarantined,
        issues=r.issues,
    )


class SyncActivities:
    def __init__(
        self,
        engine: Engine,
        clients: Clients,
        wake_gate: Callable[[str], Awaitable[None]],
        signal_case: Callable[[str], Awaitable[None]],
    ) -> None:
        self._engine, self._clients, self._wake_gate = engine, clients, wake_gate
        self._signal_case = signal_case

    # --- helpers ---------------------------------------------------------------------------------
    def _cursor(self, account: str, stream: str) -> Cursor | None:
        with Session(self._engine) as s:
            return s.get(Cursor, (account, stream))

    async def _context(self, account: str, rules: Rules) -> IngestContext:
        return await ingest_context(self._clients, account, rules)

    def _local_midnight(self, account: str, day: date) -> datetime:
        tz = self._clients.settings.account(account).market.tz
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)

    def _local_date(self, account: str, t: datetime) -> date:
        return t.astimezone(self._clients.settings.account(account).market.tz).date()

    # --- orders (shipments, fast path §4.1) -------------------------------------------------------
    @activity.defn
    @heartbeats
    async def sync_orders(self, req: StreamRequest) -> StreamOutcome:
        now = req.clock.now()
        cursor = self._cursor(req.account, "orders")
        if cursor is not None and now - as_utc(cursor.position) < timedelta(
            minutes=req.rules.orders_min_interval_minutes
        ):
            return StreamOutcome(stream="orders", skipped="read too recently")
        if cursor is None:
            after = self._local_midnight(
                req.account, self._local_date(req.account, now) - timedelta(days=req.rules.backfill_days)
            )
        else:
            after = self._local_midnight(
                req.account, self._local_date(req.account, as_utc(cursor.position)) - timedelta(days=1)
            )
        before = now - timedelta(minutes=3)  # searchOrders wants lastUpdatedBefore ≥ 2 minutes in the past
        if before <= after:
            return StreamOutcome(stream="orders", skipped="window empty")
        shipments = await self._clients.amazon(req.account).shipped_order_items(after, before)
        activity.heartbeat(f"{len(shipments)} order items read")
        skus = await self._clients.resolve_skus(self._engine, req.account, {s.msku for s in shipments})
        ctx = await self._context(req.account, req.rules)
        result = await asyncio.to_thread(
            ingest_order_shipments,
            self._engine,
            ctx,
            shipments=shipments,
            skus=skus,
            cursor_position=before,
            local_date=lambda t: self._local_date(req.account, t),
        )
        log.info(
            "orders read", extra={"account": req.account, "items": len(shipments), "effects": result.effects}
        )
        return _outcome("orders", result)

    # --- the inventory ledger (reports flow) -----------------------------------------------------
    @activity.defn
    @heartbeats
    async def request_report(self, req: StreamRequest, stream: str) -> int | None:
        """Store the report request before asking Amazon, and reuse an unfinished one, so a crash or a
        retry never requests twice. Returns the request's id, or None when the stream is not due."""
        with Session(self._engine) as s:
            unfinished = s.exec(
                select(ReportRequest)
                .where(
                    ReportRequest.account == req.account,
                    ReportRequest.stream == stream,
                    col(ReportRequest.state).in_(["requesting", "requested", "done", "cancelled"]),
                )
                .order_by(col(ReportRequest.id).desc())
            ).first()
        if unfinished is not None and unfinished.state != "requesting":
            return unfinished.id
        now = req.clock.now()
        cursor = self._cursor(req.account, stream)
        report_type = REPORT_TYPES[stream]
        today = self._local_date(req.account, now)
        if unfinished is None:
            if cursor is not None and now - as_utc(cursor.position) < timedelta(
                minutes=min_interval_minutes(stream, req.rules)
            ):
                return None
            first_day = today - timedelta(days=req.rules.backfill_days)
            if cursor is not None:
                # Re-read from the start of the previous marketplace day; the first read of each day also
                # re-reads the last backfill_days, because Amazon back-posts rows.
                previous_day = self._local_date(req.account, as_utc(cursor.position)) - timedelta(days=1)
                first_day = (
                    previous_day if cursor.last_backfill_day == today else min(previous_day, first_day)
                )
            with Session(self._engine) as s, s.begin():
                request = ReportRequest(
                    account=req.account,
                    stream=stream,
                    report_type=report_type,
                    data_start=self._local_midnight(req.account, first_day),
                    data_end=now,
                    state="requesting",
                )
                s.add(request)
                s.flush()
                request_id = request.id
        else:
            request_id = unfinished.id
        with Session(self._engine) as s:
            request = s.get(ReportRequest, request_id)
            assert request is not None
            start, end = as_utc(request.data_start), as_utc(request.data_end)
        report_id = await self._clients.amazon(req.account).create_report(report_type, start, end)
        with Session(self._engine) as s, s.begin():
            request = s.get(ReportRequest, request_id)
            assert request is not None
            request.report_id, request.state = report_id, "requested"
        log.info(
            "report requested",
            extra={
                "stream": stream,
                "account": req.account,
                "report_id": report_id,
                "from": start.isoformat(),
                "to": end.isoformat(),
            },
        )
        return request_id

    @activity.defn
    @heartbeats
    async def await_report(self, request_id: int) -> str:
        """One poll of getReport. Not ready → raise, and the retry policy (backoff 1) polls again."""
        with Session(self._engine) as s:
            request = s.get(ReportRequest, request_id)
            assert request is not None
            if request.state in ("done", "cancelled", "fatal", "ingested"):
                return request.state.upper()
            account, report_id, stream = request.account, request.report_id, request.stream
        assert report_id is not None
        status = await self._clients.amazon(account).get_report(report_id)
        if status.processing_status in ("IN_QUEUE", "IN_PROGRESS"):
            raise ReportNotReady(f"report {report_id} is {status.processing_status}")
        with Session(self._engine) as s, s.begin():
            request = s.get(ReportRequest, request_id)
            assert request is not None
            request.finished_at = datetime.now(UTC)
            if status.processing_status == "DONE":
                request.state, request.document_id = "done", status.document_id
            elif status.processing_status == "CANCELLED":
                request.state = "cancelled"  # Amazon found no data: an empty read
            else:
                request.state = "fatal"
                s.flush()
                failures = _fatal_streak(s, account, stream)
                if failures == FATAL_ALERT_AFTER:  # once per streak
                    raise_alert(
                        s,
                        "report_fatal",
                        f"{account}:{stream}",
                        f"account {account}: the {stream} report failed (FATAL) {failures} times in a row; "
                        "the cursor has not moved and the report is requested again each cycle",
                        account=account,
                        once=False,
                    )
        log.info(
            "report finished",
            extra={"account": account, "report_id": report_id, "status": status.processing_status},
        )
        return status.processing_status

    @activity.defn
    @heartbeats
    async def ingest_report(self, req: StreamRequest, request_id: int) -> StreamOutcome:
        """Download, parse and store a finished report: ledger rows become movements and effects, the
        other reports become evidence for the case workflows. One transaction with the cursor."""
        with Session(self._engine) as s:
            request = s.get(ReportRequest, request_id)
            assert request is not None
            state, document_id, stream = request.state, request.document_id, request.stream
            start, end = as_utc(request.data_start), as_utc(request.data_end)
        if state == "ingested":
            return StreamOutcome(stream=stream, status="ok")
        text = ""
        if state == "done" and document_id:
            text = await self._clients.amazon(req.account).download_document(document_id)
            activity.heartbeat("downloaded")
        try:
            if stream == "ledger":
                outcome = await self._ingest_ledger(req, request_id, text, start, end)
            else:
                outcome = await self._ingest_case_report(req, stream, request_id, text, end)
        except ReportFormatError as e:
            # A report we cannot read at all: refuse it loudly, keep the cursor, alert.
            with Session(self._engine) as s, s.begin():
                raise_alert(
                    s,
                    "report_unreadable",
                    f"{req.account}:{stream}:{request_id}",
                    f"{stream} report {request_id}: {e}",
                    account=req.account,
                )
                r = s.get(ReportRequest, request_id)
                assert r is not None
                r.state = "fatal"
            raise ApplicationError(str(e), type="ReportFormatError", non_retryable=True) from e
        today = self._local_date(req.account, end)
        with Session(self._engine) as s, s.begin():
            cursor = s.get(Cursor, (req.account, stream))
            if (
                cursor is not None
                and (today - self._local_date(req.account, start)).days >= req.rules.backfill_days
            ):
                cursor.last_backfill_day = today
        log.info(
            "report ingested",
            extra={
                "account": req.account,
                "stream": stream,
                "request_id": request_id,
                "rows": outcome.rows_read,
                "new": outcome.rows_new,
                "effects": outcome.effects,
            },
        )
        if state == "cancelled":
            outcome.status = "cancelled"
        return outcome

    async def _ingest_ledger(
        self, req: StreamRequest, request_id: int, text: str, start: datetime, end: datetime
    ) -> StreamOutcome:
        parsed = await asyncio.to_thread(parse_ledger_report, text) if text else LedgerParseResult()
        skus = await self._clients.resolve_skus(self._engine, req.account, {r.msku for r in parsed.rows})
        ctx = await self._context(req.account, req.rules)
        result = await asyncio.to_thread(
            ingest_ledger_read,
            self._engine,
            ctx,
            report_request_id=request_id,
            first_day=self._local_date(req.account, start),
            last_day=self._local_date(req.account, end),
            parsed=parsed,
            skus=skus,
            cursor_position=end,
            on_progress=lambda done, total: log.info(
                "ledger read: stored %s of %s rows",
                done,
                total,
                extra={"account": req.account, "report_request_id": request_id},
            ),
        )
        # Losses and finds are also evidence for the FNSKU's LostUnits case.
        await asyncio.to_thread(derive_lost_evidence, self._engine, req.account)
        return _outcome("ledger", result)

    async def _ingest_case_report(
        self, req: StreamRequest, stream: str, request_id: int, text: str, end: datetime
    ) -> StreamOutcome:
        parse, to_evidence = CASE_REPORTS[stream]
        rows, issues = await asyncio.to_thread(parse, text) if text else ([], [])
        evidence = [e for e in (to_evidence(req.account, r) for r in rows) if e is not None]
        result = await asyncio.to_thread(
            store_evidence,
            self._engine,
            evidence,
            account=req.account,
            stream=stream,
            cursor_position=end,
            issues=issues,
            report_request_id=request_id,
        )
        return StreamOutcome(
            stream=stream,
            rows_read=len(rows),
            rows_new=result.new,
            quarantined=result.unrouted + result.issues,
            issues=result.issues,
        )

    # --- API streams of the slow cases ------------------------------------------------------------
    def _api_window(self, req: StreamRequest, stream: str) -> tuple[datetime, datetime] | None:
        now = req.clock.now()
        cursor = self._cursor(req.account, stream)
        if cursor is not None and now - as_utc(cursor.position) < timedelta(
            minutes=min_interval_minutes(stream, req.rules)
        ):
            return None
        if cursor is None:
            day = self._local_date(req.account, now) - timedelta(days=req.rules.backfill_days)
        else:
            day = self._local_date(req.account, as_utc(cursor.position)) - timedelta(days=1)
        return self._local_midnight(req.account, day), now - timedelta(minutes=3)

    @activity.defn
    @heartbeats
    async def sync_inbound(self, req: StreamRequest) -> StreamOutcome:
        """Inbound shipments and their received quantities (a state stream: evidence on every change)."""
        seen_at = req.clock.now()
        return await self._api_stream(
            req,
            "inbound",
            self._clients.amazon(req.account).inbound_items,
            lambda i: from_inbound_item(req.account, i, seen_at),
        )

    @activity.defn
    @heartbeats
    async def sync_refunds(self, req: StreamRequest) -> StreamOutcome:
        """Refunds from the Finances API: each starts (or adds to) a customer-return case."""
        return await self._api_stream(
            req, "refunds", self._clients.amazon(req.account).refunds, lambda r: from_refund(req.account, r)
        )

    async def _api_stream(
        self,
        req: StreamRequest,
        stream: str,
        fetch: Callable[[datetime, datetime], Awaitable[list[Any]]],
        to_evidence: Callable[[Any], EvidenceIn],
    ) -> StreamOutcome:
        """Read an API stream's window, store its evidence and advance its cursor in one transaction."""
        window = self._api_window(req, stream)
        if window is None:
            return StreamOutcome(stream=stream, skipped="read too recently")
        rows = await fetch(*window)
        evidence = [to_evidence(r) for r in rows]
        result = await asyncio.to_thread(
            store_evidence,
            self._engine,
            evidence,
            account=req.account,
            stream=stream,
            cursor_position=window[1],
        )
        return StreamOutcome(
            stream=stream, rows_read=len(rows), rows_new=result.new, quarantined=result.unrouted
        )

    @activity.defn
    @heartbeats
    async def signal_cases(self) -> int:
        """Tell each case with newly stored evidence (signal-with-start); crash-safe: evidence is marked
        once its case was told, and telling twice is harmless."""
        told = 0
        while case_ids := await asyncio.to_thread(unsignalled_cases, self._engine):
            for case_id in case_ids:
                await self._signal_case(case_id)
            await asyncio.to_thread(mark_signalled, self._engine, case_ids)
            told += len(case_ids)
        return told

    # --- quarantine --------------------------------------------------------------------------------
    @activity.defn
    @heartbeats
    async def retry_quarantine(self, req: StreamRequest) -> StreamOutcome:
        """Rows quarantined for an unmapped SKU are reprocessed once the SKU resolves (a mapping was
        added, or the product now exists in Shopify). Cheap when nothing is quarantined."""
        result = await reprocess_quarantined(self._engine, self._clients, req.account, req.rules)
        return StreamOutcome(
            stream="quarantine",
            rows_read=result.rows_read,
            effects=result.effects,
            quarantined=result.quarantined,
        )

    # --- end of cycle ----------------------------------------------------------------------------
    @activity.defn
    @heartbeats
    async def wake_gate(self, shop: str) -> None:
        await self._wake_gate(shop)

    @activity.defn
    @heartbeats
    async def record_cycle(self, record: CycleRecord) -> None:
        with Session(self._engine) as s, s.begin():
            if s.exec(select(CycleRun).where(CycleRun.run_id == record.run_id)).first() is None:
                for o in record.outcomes:  # once per cycle, also when this activity is retried
                    metrics.record_stream(record.account, o.stream, o.rows_new)
                s.add(
                    CycleRun(
                        account=record.account,
                        workflow_id=record.workflow_id,
                        run_id=record.run_id,
                        started_at=record.started_at,
                        ok=record.error is None and all(o.status != "fatal" for o in record.outcomes),
                        # The watchdog reads the failing streams and the error back (cycle_error).
                        summary="; ".join(
                            [o.model_dump_json() for o in record.outcomes]
                            + ([json.dumps({"error": record.error})] if record.error else [])
                        ),
                    )
                )


async def ingest_context(clients: Clients, account: str, rules: Rules) -> IngestContext:
    """Where an account's effects land: its shop and the ids of its fba and warehouse locations."""
    a = clients.settings.account(account)
    shop = clients.settings.shop(a.shop)
    return IngestContext(
        account=account,
        shop=a.shop,
        rules=rules,
        fba_location_id=await clients.location_id(a.shop, a.fba_location),
        warehouse_location_id=await clients.location_id(a.shop, shop.warehouse_location),
        app_name=shop.app_name,
        timezone=a.market.timezone,
    )


async def reprocess_quarantined(engine: Engine, clients: Clients, account: str, rules: Rules) -> IngestResult:
    with Session(engine) as s:
        mskus = set(
            s.exec(
                select(Movement.msku)
                .join(QuarantinedInput, col(QuarantinedInput.movement_id) == Movement.id)
                .where(QuarantinedInput.account == account, QuarantinedInput.state == "open")
            ).all()
        )
    if not mskus:
        return IngestResult()
    skus = await clients.resolve_skus(engine, account, mskus)
    ctx = await ingest_context(clients, account, rules)
    return await asyncio.to_thread(retry_quarantined, engine, ctx, skus=skus)


def _fatal_streak(s: Session, account: str, stream: str) -> int:
    """How many of the stream's latest report requests in a row ended FATAL."""
    states = s.exec(
        select(ReportRequest.state)
        .where(ReportRequest.account == account, ReportRequest.stream == stream)
        .order_by(col(ReportRequest.id).desc())
        .limit(50)
    ).all()
    streak = 0
    for state in states:
        if state != "fatal":
            break
        streak += 1
    return streak
