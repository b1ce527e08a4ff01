"""Activities of the full reconciliation: snapshot Amazon (the MYI report, or getInventorySummaries for a
small catalogue: `choose_amazon_snapshot`) and Shopify's FBA location (a bulk operation) into the ledger, compare them allowing for the effects not yet written, and hold a
correction for every difference (never applied until a person approves it). Snapshots of 100,000
SKUs stay in the ledger, never in a workflow history."""

from __future__ import annotations

import asyncio
import csv
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.clients import Clients
from activities.heartbeat import heartbeats
from integrations.amazon import flat_reports
from integrations.amazon.errors import AmazonApiError, RateLimited
from integrations.amazon.snapshot import InventorySnapshotRow
from reconciler.clock import Clock, as_utc
from reconciler.config import AccountConfig, Rules
from reconciler.ledger.alerts import raise_alert
from reconciler.ledger.ingest import lock_out_ingest
from reconciler.ledger.tables import (
    CaseRecord,
    DiscrepancyRecord,
    Effect,
    Hold,
    LedgerSourceRow,
    ReconciliationRun,
    ReportRequest,
    SnapshotLevel,
)
from reconciler.messages import AmazonSnapshotChoice, ReconcileSummary
from reconciler.models import EffectState
from reconciler.reconciliation import (
    AmazonLevel,
    Discrepancy,
    LedgerEffect,
    ShopifyLevel,
    compare,
    snapshot_gap,
)

log = logging.getLogger("recon.reconcile")
UNWRITTEN = [EffectState.PENDING, EffectState.HELD, EffectState.APPROVED, EffectState.IN_FLIGHT]


class ReconcileActivities:
    def __init__(self, engine: Engine, clients: Clients) -> None:
        self._engine, self._clients = engine, clients

    @activity.defn
    @heartbeats
    async def start_run(self, account: str, workflow_id: str) -> int:
        with Session(self._engine) as s, s.begin():
            run = ReconciliationRun(account=account, workflow_id=workflow_id)
            s.add(run)
            s.flush()
            assert run.id is not None
            return run.id

    @activity.defn
    @heartbeats
    async def request_inventory_report(self, run_id: int, clock: Clock) -> int:
        """The Amazon snapshot: stored before it is asked for, reused on retry."""
        with Session(self._engine) as s, s.begin():
            run = s.get(ReconciliationRun, run_id)
            assert run is not None
            existing = s.exec(
                select(ReportRequest).where(ReportRequest.stream == f"inventory:{run_id}")
            ).first()
            if existing is None:
                now = clock.now()
                existing = ReportRequest(
                    account=run.account,
                    stream=f"inventory:{run_id}",
                    report_type=flat_reports.INVENTORY_REPORT,
                    data_start=now,
                    data_end=now,
                    state="requesting",
                )
                s.add(existing)
                s.flush()
            request_id, account, state = existing.id, run.account, existing.state
            start = existing.data_start
        assert request_id is not None
        if state == "requesting":
            report_id = await self._clients.amazon(account).create_report(
                flat_reports.INVENTORY_REPORT, start, start
            )
            with Session(self._engine) as s, s.begin():
                r = s.get(ReportRequest, request_id)
                assert r is not None
                r.report_id, r.state = report_id, "requested"
        return request_id

    @activity.defn
    @heartbeats
    async def store_amazon_snapshot(self, run_id: int, request_id: int) -> int:
        with Session(self._engine) as s:
            request = s.get(ReportRequest, request_id)
            assert request is not None
            account, document_id, snapshot_at = request.account, request.document_id, request.data_end
            report_id = request.report_id
        amazon = self._clients.amazon(account)
        if report_id:
            # The stock is Amazon's when it started processing, not when we asked: movements in between
            # are in the snapshot, and the comparison and late rows are judged by this time.
            status = await amazon.get_report(report_id)
            snapshot_at = status.processing_start or snapshot_at
        text = await amazon.download_document(document_id) if document_id else ""
        rows, issues = (
            await asyncio.to_thread(flat_reports.parse_inventory_report, text) if text else ([], [])
        )
        if issues:
            log.warning("inventory report lines not read", extra={"run_id": run_id, "issues": len(issues)})
        return await asyncio.to_thread(self._store_amazon_rows, run_id, rows, snapshot_at, request_id)

    @activity.defn
    @heartbeats
    async def choose_amazon_snapshot(self, run_id: int, rules: Rules) -> AmazonSnapshotChoice:
        """`reconcile_snapshot = "auto"`: getInventorySummaries while the account's catalogue is at most
        `summaries_max_skus` SKUs (50 a page at 2 pages a second: ~5 s for 500), the MYI report above
        that or while nothing tells the catalogue's size. The catalogue, as far as the ledger knows: the
        larger of the last Amazon snapshot's rows and the MSKUs its ledger rows and SKU map name."""
        if rules.reconcile_snapshot != "auto":
            return AmazonSnapshotChoice(source=rules.reconcile_snapshot, reason="configured")
        limit = rules.summaries_max_skus

        def size() -> int | None:
            with Session(self._engine) as s:
                run = s.get(ReconciliationRun, run_id)
                assert run is not None
                return _catalogue_size(s, self._clients.settings.account(run.account), limit)

        catalogue = await asyncio.to_thread(size)
        if catalogue is None:
            return AmazonSnapshotChoice(
                source="report",
                reason="the catalogue's size is not known yet (no snapshot, ledger row or SKU map)",
            )
        if catalogue <= limit:
            return AmazonSnapshotChoice(
                source="summaries", catalogue=catalogue, reason=f"{catalogue} SKU(s), at most {limit}"
            )
        return AmazonSnapshotChoice(
            source="report", catalogue=catalogue, reason=f"more than {limit} SKUs (summaries_max_skus)"
        )

    @activity.defn
    @heartbeats
    async def store_amazon_summaries(self, run_id: int, clock: Clock | None = None) -> int:
        """Amazon's snapshot through getInventorySummaries: every page (heartbeating the count), then
        the same rows as the report's in one transaction. A retry starts from the first page again
        (a nextToken lives 30 s). `clock`: business time of the snapshot (default: the settings')."""
        with Session(self._engine) as s:
            run = s.get(ReconciliationRun, run_id)
            assert run is not None
            account = run.account
        snapshot_at = (clock or self._clients.settings.clock).now()

        def progress(n: int) -> None:
            if activity.in_activity():
                activity.heartbeat(f"{n} summaries")

        try:
            rows = await self._clients.amazon(account).inventory_summaries(on_page=progress)
        except AmazonApiError as e:
            if e.status in (400, 404) and not isinstance(e, RateLimited) and "expired" not in str(e).lower():
                raise ApplicationError(str(e), type="AmazonApiError", non_retryable=True) from e
            raise  # throttled, an expired nextToken, a revoked token: try again from the first page
        log.info("inventory summaries read", extra={"run_id": run_id, "account": account, "rows": len(rows)})
        return await asyncio.to_thread(self._store_amazon_rows, run_id, rows, snapshot_at, None)

    def _store_amazon_rows(
        self,
        run_id: int,
        rows: list[InventorySnapshotRow],
        snapshot_at: datetime | None,
        request_id: int | None,
    ) -> int:
        """Amazon's snapshot rows of a run, replacing any a previous try stored (report or summaries)."""
        with Session(self._engine) as s, s.begin():
            _replace_snapshot(
                s,
                run_id,
                "amazon",
                (
                    {
                        "sku": r.msku,
                        "inventory_item_id": "",
                        "available": r.fulfillable,
                        "reserved": r.reserved,
                        "damaged": r.unsellable,
                    }
                    for r in rows
                ),
            )
            run = s.get(ReconciliationRun, run_id)
            assert run is not None
            run.amazon_rows, run.snapshot_at = len(rows), snapshot_at
            if request_id is not None:
                request = s.get(ReportRequest, request_id)
                assert request is not None
                request.state = "ingested"
        return len(rows)

    @activity.defn
    @heartbeats
    async def store_shopify_snapshot(self, run_id: int) -> int:
        with Session(self._engine) as s:
            run = s.get(ReconciliationRun, run_id)
            assert run is not None
            account = self._clients.settings.account(run.account)
        location_id = await self._clients.location_id(account.shop, account.fba_location)
        started = datetime.now(UTC)
        levels = await self._clients.shopify(account.shop).location_snapshot(
            location_id, on_progress=lambda n: activity.heartbeat(f"{n} objects")
        )

        def store() -> int:
            with Session(self._engine) as s, s.begin():
                _replace_snapshot(
                    s,
                    run_id,
                    "shopify",
                    (
                        {
                            "sku": lv.sku,
                            "inventory_item_id": lv.inventory_item_id,
                            "available": lv.quantities.get("available", 0),
                            "reserved": 0,
                            "damaged": lv.quantities.get("damaged", 0),
                        }
                        for lv in levels
                        if lv.sku
                    ),
                )
                r = s.get(ReconciliationRun, run_id)
                assert r is not None
                r.shopify_rows, r.shopify_snapshot_at = len(levels), started
            return len(levels)

        return await asyncio.to_thread(store)

    @activity.defn
    @heartbeats
    async def compare_and_hold(self, run_id: int, rules: Rules, shadow: bool = False) -> ReconcileSummary:
        """Every difference recorded and explained, and held as a correction for a person to approve.
        A shadow run records and reports the same, and holds nothing: the report is the preview."""
        settings = self._clients.settings
        with Session(self._engine) as s:
            run = s.get(ReconciliationRun, run_id)
            assert run is not None
            account = settings.account(run.account)
        shop = settings.shop(account.shop)
        location_id = await self._clients.location_id(account.shop, account.fba_location)

        def work() -> ReconcileSummary:
            with Session(self._engine) as s, s.begin():
                lock_out_ingest(s.connection(), account.name)
                # Plain column tuples, not ORM objects: at 100,000 SKUs an identity map of both
                # snapshots costs hundreds of MiB.
                amazon: list[AmazonLevel] = []
                shopify: dict[str, ShopifyLevel] = {}
                for source, sku, item_id, available, reserved, damaged in s.execute(
                    select(
                        SnapshotLevel.source,
                        SnapshotLevel.sku,
                        SnapshotLevel.inventory_item_id,
                        SnapshotLevel.available,
                        SnapshotLevel.reserved,
                        SnapshotLevel.damaged,
                    ).where(SnapshotLevel.run_id == run_id)
                ):
                    if source == "amazon":
                        amazon.append(
                            AmazonLevel(
                                msku=sku, fulfillable=available, reserved=reserved, unsellable=damaged
                            )
                        )
                    elif source == "shopify":
                        shopify[sku] = ShopifyLevel(
                            sku=sku, inventory_item_id=item_id, available=available, damaged=damaged
                        )
                run = s.get(ReconciliationRun, run_id)
                assert run is not None
                unwritten, written_after = snapshot_gap(
                    _effects_around(s, account.shop, location_id, run), run.snapshot_at, account.market.tz
                )
                diffs = compare(
                    amazon,
                    shopify,
                    account.sku_map.resolve,
                    unwritten,
                    track_unfulfillable=rules.track_unfulfillable,
                    written_after=written_after,
                    context=_open_cases(s, account.name, account.sku_map.resolve),
                )
                held = 0
                for d in diffs:
                    effect_id = (
                        None
                        if shadow
                        else self._hold_correction(
                            s, run_id, account.name, account.shop, location_id, shopify.get(d.sku), d
                        )
                    )
                    held += effect_id is not None
                    s.add(
                        DiscrepancyRecord(
                            run_id=run_id,
                            account=account.name,
                            sku=d.sku,
                            location=d.location,
                            name=d.name,
                            amazon=d.amazon,
                            shopify=d.shopify,
                            expected_shopify=d.expected_shopify,
                            difference=d.difference,
                            explanation=d.explanation,
                            effect_id=effect_id,
                        )
                    )
                stocked = {sku for sku, lv in shopify.items() if lv.inventory_item_id}
                csv_path, md_path = write_reports(
                    settings.reports_dir, run_id, account.name, diffs, stocked, shadow=shadow
                )
                if diffs and not shadow:
                    units = sum(abs(d.difference) for d in diffs)
                    raise_alert(
                        s,
                        "discrepancy",
                        f"reconcile:{run_id}",
                        f"Full reconciliation {run_id} of {account.name}: {len(diffs)} difference(s), "
                        f"{units} units in all; {held} correction(s) wait for approval. Report: {md_path}",
                        account=account.name,
                    )
                run = s.get(ReconciliationRun, run_id)
                assert run is not None
                run.state = "previewed" if shadow else "compared"
                run.discrepancies, run.corrections_held = len(diffs), held
                run.report_csv, run.report_md, run.finished_at = (
                    str(csv_path),
                    str(md_path),
                    datetime.now(UTC),
                )
                summary = ReconcileSummary(
                    run_id=run_id,
                    account=account.name,
                    shadow=shadow,
                    amazon_rows=run.amazon_rows,
                    shopify_rows=run.shopify_rows,
                    discrepancies=len(diffs),
                    corrections_held=held,
                    report_csv=str(csv_path),
                    report_md=str(md_path),
                )
            log.info(
                "reconciliation compared",
                extra={
                    "account": account.name,
                    "run_id": run_id,
                    "discrepancies": len(diffs),
                    "held": held,
                    "shadow": shadow,
                    "report": str(md_path),
                    "shop": shop.name,
                },
            )
            return summary

        return await asyncio.to_thread(work)

    @staticmethod
    def _hold_correction(
        s: Session,
        run_id: int,
        account: str,
        shop: str,
        location_id: str,
        level: ShopifyLevel | None,
        d: Discrepancy,
    ) -> int | None:
        if level is None or not level.inventory_item_id:
            return None  # not stocked at the FBA location in Shopify: reported, nothing to correct
        doc = None if d.name == "available" else f"gid://fba-reconciler/Reconciliation/{run_id}"
        effect = Effect(
            key=f"reconcile:{run_id}:{d.sku}:{d.name}",
            shop=shop,
            account=account,
            kind="correction",
            msku=d.msku,
            shopify_sku=d.sku,
            inventory_item_id=level.inventory_item_id,
            location="fba",
            location_id=location_id,
            name=d.name,
            reason="correction",
            ledger_document_uri=doc,
            delta=-d.difference,
            state=EffectState.HELD,
        )
        s.add(effect)
        s.flush()
        hold = Hold(
            shop=shop,
            kind="correction",
            effect_id=effect.id,
            why=f"full reconciliation {run_id}: Shopify shows {d.shopify} {d.name} of {d.sku} at fba, "
            f"expected {d.expected_shopify} ({d.difference:+d}); approve to set it right",
        )
        s.add(hold)
        s.flush()
        effect.hold_id = hold.id
        return effect.id


def _open_cases(s: Session, account: str, resolve: Callable[[str], tuple[str, int]]) -> dict[str, str]:
    """Shopify SKU → a sentence naming its open cases: a return awaiting its grade, units lost and
    not yet found or reimbursed, a removal or inbound shipment under way — what ops checks first."""
    by_sku: dict[str, list[str]] = defaultdict(list)
    for case_id, state, sku in s.exec(
        select(CaseRecord.case_id, CaseRecord.state, CaseRecord.sku).where(
            CaseRecord.account == account, col(CaseRecord.closed).is_(False)
        )
    ):
        if sku:
            by_sku[resolve(sku)[0]].append(f"{case_id} ({state})")
    return {
        sku: f"open case{'s' if len(cases) > 1 else ''}: {', '.join(sorted(cases)[:5])}"
        + (f" and {len(cases) - 5} more" if len(cases) > 5 else "")
        for sku, cases in by_sku.items()
    }


def _effects_around(
    s: Session, shop: str, location_id: str, run: ReconciliationRun
) -> Iterator[LedgerEffect]:
    """The effects that can make the two snapshots disagree: those not written yet, and those written
    since the run started (before or after Shopify's snapshot began)."""
    shopify_at = as_utc(run.shopify_snapshot_at) if run.shopify_snapshot_at else None
    cols = (
        Effect.shopify_sku,
        Effect.name,
        Effect.delta,
        Effect.state,
        Effect.applied_at,
        Effect.occurred_at,
        Effect.occurred_on,
    )
    base = select(*cols).where(Effect.shop == shop, Effect.location_id == location_id)
    for query in (
        base.where(col(Effect.state).in_(UNWRITTEN)),
        base.where(Effect.state == EffectState.APPLIED, col(Effect.applied_at) > run.created_at),
    ):
        for sku, name, delta, state, applied_at, occurred_at, occurred_on in s.exec(query):
            written = state == EffectState.APPLIED and (
                shopify_at is None or applied_at is None or as_utc(applied_at) <= shopify_at
            )
            yield LedgerEffect(
                sku=sku,
                name=name,
                delta=delta,
                written=written,
                occurred_at=as_utc(occurred_at) if occurred_at else None,
                occurred_on=occurred_on,
            )


def _catalogue_size(s: Session, account: AccountConfig, limit: int) -> int | None:
    """The account's SKUs as far as the ledger knows (counted up to `limit` + 1 where that is enough):
    the larger of its last Amazon snapshot and the MSKUs its ledger rows and SKU map name. None: none."""
    last = s.exec(
        select(ReconciliationRun.amazon_rows)
        .where(ReconciliationRun.account == account.name, col(ReconciliationRun.amazon_rows) > 0)
        .order_by(col(ReconciliationRun.id).desc())
        .limit(1)
    ).first()
    named = {o.msku for o in account.sku_map.overrides}
    named.update(
        s.exec(
            select(LedgerSourceRow.msku)
            .where(LedgerSourceRow.account == account.name)
            .distinct()
            .limit(limit + 1)
        ).all()
    )
    size = max(last or 0, len(named))
    return size or None


def _replace_snapshot(
    s: Session, run_id: int, source: str, levels: Iterable[dict[str, object]], chunk: int = 10_000
) -> None:
    """One side's snapshot rows of a run (`source`: amazon or shopify), replacing any a previous try
    stored. By the hundred thousand: Core inserts, not ORM objects (~15× faster, far less memory)."""
    s.execute(
        delete(SnapshotLevel).where(col(SnapshotLevel.run_id) == run_id, col(SnapshotLevel.source) == source)
    )
    rows = [{"run_id": run_id, "source": source, **level} for level in levels]
    for i in range(0, len(rows), chunk):
        s.execute(insert(SnapshotLevel), rows[i : i + chunk])


def write_reports(
    folder: Path,
    run_id: int,
    account: str,
    diffs: list[Discrepancy],
    stocked: set[str] | None = None,
    *,
    shadow: bool = False,
) -> tuple[Path, Path]:
    """CSV and Markdown. `correction` is the change that would set Shopify right (empty where the SKU
    is not stocked at the FBA location, so there is nothing to correct)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{'preview' if shadow else 'reconciliation'}-{account}-{run_id}"

    def correction(d: Discrepancy) -> str:
        return "" if stocked is not None and d.sku not in stocked else f"{-d.difference:+d}"

    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "sku",
                "location",
                "name",
                "amazon",
                "shopify",
                "expected_shopify",
                "difference",
                "correction",
                "explanation",
            ]
        )
        for d in diffs:
            w.writerow(
                [
                    d.sku,
                    d.location,
                    d.name,
                    d.amazon,
                    d.shopify,
                    d.expected_shopify,
                    d.difference,
                    correction(d),
                    d.explanation,
                ]
            )
    title = "Shadow reconciliation (preview)" if shadow else "Full reconciliation"
    what = (
        "nothing was held or written: this is a preview of every change a confirmed run would hold "
        "for approval."
        if shadow
        else "each is held as a correction until a person approves it "
        "(`starter.py holds list`, `starter.py approve ID`)."
    )
    lines = [f"# {title} {run_id} — account {account}", "", f"{len(diffs)} difference(s); {what}", ""]
    if diffs:
        lines += [
            "| SKU | location | name | Amazon | Shopify | expected | difference | correction | explanation |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        lines += [
            f"| {d.sku} | {d.location} | {d.name} | {d.amazon} | {d.shopify} | {d.expected_shopify} | "
            f"{d.difference:+d} | {correction(d)} | {d.explanation} |"
            for d in diffs
        ]
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path
