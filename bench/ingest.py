"""Ledger ingestion throughput: `reconciler.ledger.ingest.ingest_ledger_read` on SQLite and PostgreSQL.

Generates a seeded, realistic inventory-ledger read (GET_LEDGER_DETAIL_VIEW_DATA rows over 7
marketplace days: mostly Shipments, then Receipts, Adjustments with many reason codes, returns in
several dispositions, warehouse transfers, vendor returns, a few identical legitimate duplicates, a
few unmapped SKUs and unknown reason codes) and times three reads into a fresh ledger DB:

  (a) first ingest      the 7-day read into an empty ledger: every row is new;
  (b) re-ingest         the very same read again: dedup only, nothing new;
  (c) overlapping read  days 5..8: days 5-7 re-served with a few back-posted rows, plus a new day 8.

Prints rows/s and the process's peak RSS after each phase. With `--db both` each database runs in
its own child process, so each peak RSS is that database's own.

    .venv/bin/python -m bench.ingest                       # 200,000 rows, 100,000 SKUs, SQLite
    .venv/bin/python -m bench.ingest --db both --rows 50000
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bench.common import peak_rss_mb, rate, table, timed
from reconciler.config import Rules
from reconciler.ledger.db import make_engine
from reconciler.ledger.ingest import IngestContext, IngestResult, ResolvedSku, ingest_ledger_read
from reconciler.ledger.tables import Effect, LedgerSourceRow, Movement, QuarantinedInput
from reconciler.models import LedgerParseResult, LedgerRow
from tests.ledger_helpers import PG_URL, postgres_schema_engine

FIRST_DAY = date(2026, 3, 1)
DAYS = 7
FULFILMENT_CENTRES = ["PHX7", "ONT8", "LGB8", "SBD1", "MDW2", "BFI4", "TEB9", "CLT2", "DFW6", "ABE8"]

# (weight, event type); Shipments dominate a real ledger.
EVENTS = [
    (55, "Shipments"),
    (14, "Receipts"),
    (13, "Adjustments"),
    (8, "CustomerReturns"),
    (8, "WhseTransfers"),
    (2, "VendorReturns"),
]
# (weight, reason code, sign); "P" follows its out-of-disposition partner, "Z" is unknown (quarantined).
ADJUSTMENTS = [
    (25, "M", -1),
    (18, "F", +1),
    (5, "5", -1),
    (5, "N", +1),
    (5, "O", -1),
    (8, "D", -1),
    (2, "G", -1),
    (12, "E", -1),
    (6, "H", -1),
    (4, "Q", -1),
    (3, "6", -1),
    (3, "3", +1),
    (3, "4", -1),
    (1, "Z", -1),
]
RETURN_DISPOSITIONS = [
    (60, "SELLABLE"),
    (20, "CUSTOMER_DAMAGED"),
    (14, "DEFECTIVE"),
    (4, "CARRIER_DAMAGED"),
    (2, "EXPIRED"),
]


def _pick(rng: random.Random, weighted: list[tuple[int, Any]] | list[tuple[int, Any, int]]) -> Any:
    return rng.choices(weighted, weights=[w[0] for w in weighted])[0]


class LedgerGenerator:
    """Seeded ledger rows for `skus` SKUs; a few popular SKUs get many rows (a long tail gets few)."""

    def __init__(self, skus: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.skus = skus
        self._order = 0

    def sku(self) -> int:
        return min(self.skus - 1, int(self.skus * self.rng.random() ** 2.5))

    def _order_id(self) -> str:
        self._order += 1
        return f"111-{self._order:07d}-{self.rng.randrange(10**7):07d}"

    def rows_for_day(self, day: date, n: int) -> list[LedgerRow]:
        out: list[LedgerRow] = []
        while len(out) < n:
            out.extend(self._event(day))
        return out[:n]

    def _row(self, day: date, sku: int, event_type: str, quantity: int, **kw: Any) -> LedgerRow:
        values: dict[str, Any] = {
            "date": day,
            "fnsku": f"X{sku:09d}",
            "msku": f"SKU-{sku:06d}",
            "asin": f"B{sku:09d}",
            "title": f"Product {sku}",
            "event_type": event_type,
            "quantity": quantity,
            "fulfillment_center": self.rng.choice(FULFILMENT_CENTRES),
            "disposition": "SELLABLE",
            "country": "US",
        }
        values.update(kw)
        return LedgerRow(**values)

    def _event(self, day: date) -> list[LedgerRow]:
        rng, sku = self.rng, self.sku()
        _, event = _pick(rng, EVENTS)
        if event == "Shipments":
            q = -1 if rng.random() < 0.9 else -rng.randint(2, 5)
            return [self._row(day, sku, event, q, reference_id=self._order_id())]
        if event == "Receipts":
            ref = f"FBA15{rng.randrange(16**7):07X}"
            disposition = "SELLABLE" if rng.random() < 0.98 else "WAREHOUSE_DAMAGED"
            return [self._row(day, sku, event, rng.randint(1, 48), reference_id=ref, disposition=disposition)]
        if event == "CustomerReturns":
            _, disposition = _pick(rng, RETURN_DISPOSITIONS)
            return [self._row(day, sku, event, 1, reference_id=self._order_id(), disposition=disposition)]
        if event == "WhseTransfers":
            q, fc_from, fc_to = rng.randint(1, 12), *rng.sample(FULFILMENT_CENTRES, 2)
            return [
                self._row(day, sku, event, -q, fulfillment_center=fc_from),
                self._row(day, sku, event, q, fulfillment_center=fc_to),
            ]
        if event == "VendorReturns":
            disposition = "SELLABLE" if rng.random() < 0.5 else "CUSTOMER_DAMAGED"
            ref = f"R{rng.randrange(10**8):08d}"
            return [self._row(day, sku, event, -rng.randint(1, 6), reference_id=ref, disposition=disposition)]
        _, reason, sign = _pick(rng, ADJUSTMENTS)
        q = sign * (1 if rng.random() < 0.85 else rng.randint(2, 4))
        if reason in ("E", "H", "Q", "6"):  # out of one disposition, into another (P)
            out_disp = {"E": "SELLABLE", "H": "CUSTOMER_DAMAGED", "Q": "SELLABLE", "6": "CARRIER_DAMAGED"}[
                reason
            ]
            in_disp = "WAREHOUSE_DAMAGED" if out_disp == "SELLABLE" else "SELLABLE"
            fc = rng.choice(FULFILMENT_CENTRES)
            return [
                self._row(day, sku, event, q, reason=reason, disposition=out_disp, fulfillment_center=fc),
                self._row(day, sku, event, -q, reason="P", disposition=in_disp, fulfillment_center=fc),
            ]
        disposition = "SELLABLE" if rng.random() < 0.9 else "DEFECTIVE"
        return [self._row(day, sku, event, q, reason=reason, disposition=disposition)]

    def with_duplicates(self, rows: list[LedgerRow], rate_: float) -> list[LedgerRow]:
        """Insert identical copies of a share of the rows next to them (legitimate: e.g. two units lost
        in the same FC on the same day are two identical rows)."""
        out: list[LedgerRow] = []
        for r in rows:
            out.append(r)
            if self.rng.random() < rate_:
                out.append(r.model_copy())
        return out


def sku_map(skus: int, seed: int) -> dict[str, ResolvedSku]:
    """0.2% of MSKUs unmapped, 0.1% mapped to a Shopify SKU Shopify does not have, 5% packs of 2."""
    rng = random.Random(seed + 1)
    out: dict[str, ResolvedSku] = {}
    for i in range(skus):
        draw = rng.random()
        if draw < 0.002:
            continue
        msku = f"SKU-{i:06d}"
        out[msku] = ResolvedSku(
            shopify_sku=msku,
            pack=2 if rng.random() < 0.05 else 1,
            inventory_item_id=None if draw < 0.003 else f"gid://shopify/InventoryItem/{1_000_000 + i}",
        )
    return out


class Reads:
    def __init__(self, rows: int, skus: int, dup_rate: float, seed: int) -> None:
        gen = LedgerGenerator(skus, seed)
        per_day = rows // DAYS
        days = [FIRST_DAY + timedelta(days=d) for d in range(DAYS + 1)]
        by_day: list[list[LedgerRow]] = []
        for d in range(DAYS):
            n = per_day + (rows - per_day * DAYS if d == DAYS - 1 else 0)
            # The duplicates are part of the N rows.
            by_day.append(gen.with_duplicates(gen.rows_for_day(days[d], n), dup_rate)[:n])
        self.first = [r for day in by_day for r in day]
        self.first_days = (days[0], days[DAYS - 1])
        # Overlap: re-serve the last 3 days, plus back-posted rows (0.5%) dated on them, plus a new day.
        re_served = [r for day in by_day[DAYS - 3 :] for r in day]
        back_posted = [
            r for d in range(DAYS - 3, DAYS) for r in gen.rows_for_day(days[d], max(1, len(by_day[d]) // 200))
        ]
        new_day = gen.with_duplicates(gen.rows_for_day(days[DAYS], per_day), dup_rate)[:per_day]
        self.overlap = re_served + back_posted + new_day
        self.overlap_days = (days[DAYS - 3], days[DAYS])
        self.expected_overlap_new = len(back_posted) + len(new_day)
        self.skus = sku_map(skus, seed)


@contextmanager
def fresh_engine(kind: str) -> Iterator[Engine]:
    if kind == "sqlite":
        d = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
        engine = make_engine(f"sqlite:///{d / 'ledger.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
            shutil.rmtree(d, ignore_errors=True)
        return
    with postgres_schema_engine("bench") as engine:
        yield engine


def pg_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as e:  # any failure means "not here"
        return f"{type(e).__name__}: {e}"


def context() -> IngestContext:
    return IngestContext(
        account="us",
        shop="bench",
        rules=Rules(),
        fba_location_id="gid://shopify/Location/1",
        warehouse_location_id="gid://shopify/Location/2",
    )


def ingest(
    engine: Engine, rows: list[LedgerRow], days: tuple[date, date], skus: dict[str, ResolvedSku]
) -> IngestResult:
    return ingest_ledger_read(
        engine,
        context(),
        report_request_id=None,
        first_day=days[0],
        last_day=days[1],
        parsed=LedgerParseResult(rows=rows),
        skus=skus,
        cursor_position=datetime.combine(days[1] + timedelta(days=1), datetime.min.time(), UTC),
    )


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {
            name: s.scalar(select(func.count()).select_from(model)) or 0
            for name, model in (
                ("source rows", LedgerSourceRow),
                ("movements", Movement),
                ("effects", Effect),
                ("quarantined", QuarantinedInput),
            )
        }


def run_one(kind: str, args: argparse.Namespace) -> None:
    with timed() as t:
        reads = Reads(args.rows, args.skus, args.dup_rate, args.seed)
    print(
        f"[{kind}] generated {len(reads.first):,} rows ({args.skus:,} SKUs, {DAYS} days) and an overlapping read "
        f"of {len(reads.overlap):,} rows in {t.seconds:.1f} s; peak RSS {peak_rss_mb():,.0f} MiB",
        flush=True,
    )
    table_rows = [
        [
            "phase",
            "rows read",
            "rows new",
            "movements",
            "effects",
            "quarantined",
            "seconds",
            "rows/s",
            "peak RSS MiB",
        ]
    ]
    with fresh_engine(kind) as engine:
        phases = [
            ("(a) first ingest", reads.first, reads.first_days),
            ("(b) re-ingest same read", reads.first, reads.first_days),
            ("(c) overlapping read", reads.overlap, reads.overlap_days),
        ]
        for name, rows, days in phases:
            with timed() as t:
                r = ingest(engine, rows, days, reads.skus)
            table_rows.append(
                [
                    name,
                    f"{r.rows_read:,}",
                    f"{r.rows_new:,}",
                    f"{r.movements:,}",
                    f"{r.effects:,}",
                    f"{r.quarantined:,}",
                    f"{t.seconds:.2f}",
                    rate(r.rows_read, t.seconds),
                    f"{peak_rss_mb():,.0f}",
                ]
            )
            print(f"[{kind}] {name}: {t.seconds:.2f} s", flush=True)
        stored = counts(engine)
    print(f"\n[{kind}] ledger ingestion, {args.rows:,} rows / {args.skus:,} SKUs")
    print(table(table_rows))
    print(f"[{kind}] stored: " + ", ".join(f"{k} {v:,}" for k, v in stored.items()))
    print(
        f"[{kind}] overlapping read: {reads.expected_overlap_new:,} rows were new by construction\n",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--rows", type=int, default=200_000, help="ledger rows in the 7-day read (default 200,000)"
    )
    p.add_argument("--skus", type=int, default=100_000, help="distinct SKUs (default 100,000)")
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite", help="default sqlite")
    p.add_argument(
        "--dup-rate", type=float, default=0.01, help="share of identical legit duplicates (default 0.01)"
    )
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.rows < DAYS or args.skus < 1:
        p.error(f"--rows must be at least {DAYS} and --skus at least 1")

    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in kinds and (why := pg_reachable()):
        print(f"PostgreSQL at {PG_URL} is unreachable ({why}); skipping it")
        kinds.remove("postgres")
    if len(kinds) == 1:
        run_one(kinds[0], args)
        return 0
    # One child process per database, so each one's peak RSS is its own.
    code = 0
    for kind in kinds:
        child = [sys.executable, "-m", "bench.ingest", "--db", kind, "--rows", str(args.rows)]
        child += ["--skus", str(args.skus), "--dup-rate", str(args.dup_rate), "--seed", str(args.seed)]
        code = max(code, subprocess.call(child))
    return code


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main())
