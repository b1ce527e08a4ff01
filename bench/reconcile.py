"""Full reconciliation of N SKUs through the real activities, on the sandbox.

Builds a seeded catalogue of N SKUs on both simulators (Amazon's FBA stock and Shopify's FBA
location agree), then plants a known ~1% of differences: manual edits of `available` and `damaged`
in the Shopify admin, SKUs Amazon holds that Shopify lacks, SKUs stocked in Shopify that Amazon
does not list, plus decoys (a Shopify edit exactly covered by a pending effect, which must NOT be
reported). Then runs the FullReconciliationWorkflow's activities in its order, each through
`temporalio.testing.ActivityEnvironment` (no Temporal server):

    start_run -> request_inventory_report -> await_report (polled until DONE)
              -> store_amazon_snapshot -> store_shopify_snapshot -> compare_and_hold

or, with `--amazon summaries`, `store_amazon_summaries` (getInventorySummaries, every page) in place
of the report's three.

Prints wall time per phase (and how much of it the in-process simulators took), the process's peak
RSS and the RSS growth of each phase (the simulators run in this process: their worlds count too),
rows stored, differences found against those planted, held corrections and the report paths.

    .venv/bin/python -m bench.reconcile                      # 100,000 SKUs, SQLite
    .venv/bin/python -m bench.reconcile --skus 20000 --db postgres
    .venv/bin/python -m bench.reconcile --amazon summaries

Figures measured on the development machine: bench/README.md, "bench.reconcile".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio.testing import ActivityEnvironment

from activities.clients import Clients
from activities.reconcile import ReconcileActivities
from activities.sync import ReportNotReady, SyncActivities
from bench.common import peak_rss_mb, rate, table
from bench.ingest import PG_URL, fresh_engine, pg_reachable
from ops.control import reconcile_input
from reconciler.ledger.tables import (
    DiscrepancyRecord,
    Effect,
    Hold,
    ReconciliationRun,
    SnapshotLevel,
)
from reconciler.messages import ReconcileSummary
from sandbox.amazon import inventory_api
from sandbox.amazon.world import AmazonWorld
from sandbox.scenario import Scenario
from sandbox.shopify import world as shopify_world
from tests.harness import SandboxEnv

T = TypeVar("T")
# Share of the N SKUs in each planted category (each at least one SKU).
SHARES = {
    "edit_available": 0.005,  # a manual edit of fba `available` in Shopify: one difference
    "edit_damaged": 0.002,  # a manual edit of fba `damaged` in Shopify: one difference
    "amazon_only": 0.001,  # at Amazon, not in Shopify: reported, no correction (no inventory item)
    "shopify_only": 0.001,  # stocked at Shopify's FBA location, Amazon does not list it
    "decoy": 0.001,  # Shopify edit of -d plus a pending effect of +d: no difference
}


@dataclass
class Plan:
    """The scenario and what the reconciliation must find."""

    scenario: Scenario
    categories: dict[str, list[str]]
    shopify_only: dict[str, int]  # sku -> fba available (added to Shopify only)
    edits: list[tuple[str, str, int]]  # (sku, name, delta) manual edits in Shopify's admin
    decoys: dict[str, int]  # sku -> delta of the pending effect that covers the edit
    expected: dict[tuple[str, str], int] = field(default_factory=dict)  # (sku, name) -> difference
    expected_held: int = 0


def build_plan(n: int, seed: int) -> Plan:
    rng = random.Random(seed)
    skus = [f"RC{i:06d}" for i in range(n)]
    picks = rng.sample(range(n), min(n, sum(max(1, round(n * s)) for s in SHARES.values())))
    categories: dict[str, list[str]] = {}
    start = 0
    for name, share in SHARES.items():
        k = max(1, round(n * share))
        categories[name] = [skus[i] for i in picks[start : start + k]]
        start += k
    category_of = {sku: name for name, members in categories.items() for sku in members}

    catalog: list[dict[str, Any]] = []
    expected: dict[tuple[str, str], int] = {}
    shopify_only: dict[str, int] = {}
    edits: list[tuple[str, str, int]] = []
    decoys: dict[str, int] = {}
    for i, sku in enumerate(skus):
        sellable = rng.randint(0, 400)
        unsellable = rng.randint(1, 5) if rng.random() < 0.1 else 0
        warehouse = rng.randint(0, 50)
        kind = category_of.get(sku)
        if kind == "shopify_only":
            shopify_only[sku] = max(1, sellable)
            expected[(sku, "available")] = max(1, sellable)  # Amazon does not list it: 0 there
            continue
        if kind in ("amazon_only", "decoy"):
            sellable = max(sellable, 10)
        entry: dict[str, Any] = {
            "sku": sku,
            "fnsku": f"X{i:09d}",
            "asin": f"B{i:09d}",
            "amazon": {"sellable": sellable, "unsellable": unsellable},
            "shopify": {
                "fba": {"available": sellable, "damaged": unsellable},
                "warehouse": {"available": warehouse},
            },
        }
        if kind == "amazon_only":
            entry["shopify"] = None
            expected[(sku, "available")] = -sellable
            if unsellable:
                expected[(sku, "damaged")] = -unsellable
        elif kind == "edit_available":
            delta = rng.choice((-1, 1)) * rng.randint(1, 20)
            if sellable + delta < 0:
                delta = -delta
            edits.append((sku, "available", delta))
            expected[(sku, "available")] = delta
        elif kind == "edit_damaged":
            delta = rng.randint(1, 5)
            edits.append((sku, "damaged", delta))
            expected[(sku, "damaged")] = delta
        elif kind == "decoy":
            decoys[sku] = rng.randint(1, 10)
            edits.append((sku, "available", -decoys[sku]))
        catalog.append(entry)
    scenario = Scenario.model_validate(
        {"name": "bench-reconcile", "start": "2026-10-01T00:00:00Z", "catalog": catalog, "events": []}
    )
    held = sum(1 for (sku, _) in expected if category_of.get(sku) != "amazon_only")
    return Plan(scenario, categories, shopify_only, edits, decoys, expected, held)


# --- measuring ------------------------------------------------------------------------------------


def current_rss_mb() -> float | None:
    """Resident set size now (Linux /proc), MiB; None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


class SimClock:
    """Seconds the in-process simulators spend building what they serve: Amazon's inventory report
    (computed inside the createReport request) or its inventory for getInventorySummaries (inside the
    first page's request), and Shopify's bulk JSONL (built in slices between requests after
    bulkOperationRunQuery has answered: `_BulkBuild.advance`)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def watching(self, amazon: AmazonWorld) -> Iterator[None]:
        create_report = amazon.create_report
        advance = shopify_world._BulkBuild.advance
        inventory_at = inventory_api._inventory_at

        def timed_create(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return create_report(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t

        def timed_advance(build: Any, *a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return advance(build, *a, **kw)
            finally:
                self.seconds += time.perf_counter() - t

        def timed_inventory(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return inventory_at(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t

        amazon.create_report = timed_create  # type: ignore[method-assign]
        shopify_world._BulkBuild.advance = timed_advance  # type: ignore[method-assign]
        inventory_api._inventory_at = timed_inventory
        try:
            yield
        finally:
            del amazon.create_report
            shopify_world._BulkBuild.advance = advance  # type: ignore[method-assign]
            inventory_api._inventory_at = inventory_at


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    sim_seconds: float = 0.0
    tries: int = 0
    rss_before: float | None = None
    rss_after: float | None = None
    peak_before: float = 0.0
    peak_after: float = 0.0
    note: str = ""


class Runner:
    """Runs activities one try per fresh ActivityEnvironment, retrying failures as the workflow's
    retry policy would (backoff doubling from 1 s, capped at `cap` s; `poll` s flat for await_report),
    and records each phase."""

    def __init__(self, sim: SimClock, cap: float) -> None:
        self.sim, self.cap = sim, cap
        self.phases: list[Phase] = []
        self.failures: dict[str, list[str]] = {}

    async def run(
        self, name: str, fn: Callable[..., Awaitable[T]], *args: Any, poll: float | None = None
    ) -> T:
        phase = Phase(name, rss_before=current_rss_mb(), peak_before=peak_rss_mb())
        sim_start = self.sim.seconds
        start = time.perf_counter()
        delay = poll or 1.0
        try:
            for _ in range(200):
                phase.tries += 1
                try:
                    return await ActivityEnvironment().run(fn, *args)
                except ReportNotReady:
                    pass  # the poll: not a failure
                except Exception as e:
                    if getattr(e, "non_retryable", False):
                        raise
                    self.failures.setdefault(name, []).append(f"{type(e).__name__}: {str(e)[:160]}")
                    print(f"  {name}: try {phase.tries} failed ({type(e).__name__}: {str(e)[:160]})")
                await asyncio.sleep(delay)
                if poll is None:
                    delay = min(self.cap, delay * 2)
            raise RuntimeError(f"{name} kept failing after {phase.tries} tries")
        finally:
            phase.seconds = time.perf_counter() - start
            phase.sim_seconds = self.sim.seconds - sim_start
            phase.rss_after, phase.peak_after = current_rss_mb(), peak_rss_mb()
            self.phases.append(phase)


def mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def signed_mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+,.0f}"


# --- the run --------------------------------------------------------------------------------------


async def noop(_: str) -> None:
    return None


async def run(args: argparse.Namespace) -> int:
    print(f"reconcile: {args.skus:,} SKUs, {args.db}, Amazon by {args.amazon}, seed {args.seed}", flush=True)
    rss_start, peak_start = current_rss_mb(), peak_rss_mb()
    t0 = time.perf_counter()
    plan = build_plan(args.skus, args.seed)
    reports_dir = Path(args.reports_dir or tempfile.mkdtemp(prefix="bench-reconcile-reports-"))
    sim = SimClock()
    runner = Runner(sim, cap=args.max_retry_interval)

    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp, fresh_engine(args.db) as engine:
        # No Temporal client: only ActivityEnvironment is used, never a worker.
        async with SandboxEnv(None, plan.scenario, Path(tmp)) as env:  # type: ignore[arg-type]
            env.settings.reports_dir = reports_dir
            # The worker's timeouts (settings.http_timeout_s, 30 s), not the tests' 5 s.
            await env.clients.aclose()
            timeout = env.settings.http_timeout_s
            env.clients = Clients(env.settings, shopify_timeout_s=timeout, amazon_timeout_s=timeout)
            env.engine.dispose()
            env.engine = engine  # the benchmark's own ledger (a fresh SQLite file or PostgreSQL schema)
            world = env.shopify
            for sku, available in plan.shopify_only.items():
                world.add_item(sku, fba={"available": available, "damaged": 0}, warehouse={"available": 5})
            for sku, name, delta in plan.edits:
                world.manual_adjust(sku, "fba", name, delta)
            fba_id = world.roles["fba"]
            with Session(engine) as s, s.begin():
                for sku, delta in plan.decoys.items():
                    item = world.find_item(sku)
                    assert item is not None
                    s.add(
                        Effect(
                            key=f"bench-reconcile:{sku}",
                            shop=env.shop,
                            account=env.account,
                            kind="bench",
                            msku=sku,
                            shopify_sku=sku,
                            inventory_item_id=item.id,
                            location="fba",
                            location_id=fba_id,
                            name="available",
                            reason="received",
                            delta=delta,
                            state="pending",
                        )
                    )
            setup_s = time.perf_counter() - t0
            rss_setup, peak_setup = current_rss_mb(), peak_rss_mb()
            print(
                f"set-up (not timed below): {setup_s:.1f} s; RSS {mib(rss_setup)} MiB "
                f"(simulator worlds + scenario), planted {len(plan.expected):,} differences "
                f"and {len(plan.decoys):,} decoys",
                flush=True,
            )

            inp = reconcile_input(env.settings, env.account)
            recon = ReconcileActivities(engine, env.clients)
            sync = SyncActivities(engine, env.clients, noop, noop)
            poll = min(5.0, inp.clock.day_length / 20 + 0.5)  # workflows/reports.py await_report
            with sim.watching(env.amazon):
                run_id = await runner.run("start_run", recon.start_run, env.account, "bench-reconcile")
                if args.amazon == "summaries":  # every page, at the simulator's scaled rate limit
                    amazon_rows = await runner.run(
                        "store_amazon_summaries", recon.store_amazon_summaries, run_id, inp.clock
                    )
                else:
                    request_id = await runner.run(
                        "request_inventory_report", recon.request_inventory_report, run_id, inp.clock
                    )
                    status = await runner.run("await_report", sync.await_report, request_id, poll=poll)
                    if status != "DONE":
                        print(f"Amazon's inventory report ended {status}; nothing to compare")
                        return 1
                    amazon_rows = await runner.run(
                        "store_amazon_snapshot", recon.store_amazon_snapshot, run_id, request_id
                    )
                shopify_rows = await runner.run(
                    "store_shopify_snapshot", recon.store_shopify_snapshot, run_id
                )
                summary: ReconcileSummary = await runner.run(
                    "compare_and_hold", recon.compare_and_hold, run_id, inp.rules
                )

            with Session(engine) as s:
                stored = dict(
                    s.exec(
                        select(SnapshotLevel.source, func.count())
                        .where(SnapshotLevel.run_id == run_id)
                        .group_by(SnapshotLevel.source)
                    ).all()
                )
                found = {
                    (r.sku, r.name): r.difference
                    for r in s.exec(select(DiscrepancyRecord).where(DiscrepancyRecord.run_id == run_id))
                }
                records = s.scalar(
                    select(func.count())
                    .select_from(DiscrepancyRecord)
                    .where(DiscrepancyRecord.run_id == run_id)
                )
                held_effects = s.scalar(
                    select(func.count())
                    .select_from(Effect)
                    .where(col(Effect.key).startswith(f"reconcile:{run_id}:"), Effect.state == "held")
                )
                holds = s.scalar(select(func.count()).select_from(Hold).where(Hold.kind == "correction"))
                run_row = s.get(ReconciliationRun, run_id)
                assert run_row is not None
                run_state = run_row.state
            amazon_doc = sum(len(d) for d in env.amazon.documents.values())
            bulk_ops = list(world.bulk_operations.values())
            bulk_file = bulk_ops[-1].file_size_total if bulk_ops else 0
            shopify_calls = dict(sorted(env.clients.shopify(env.shop).stats.items()))
            amazon_calls = dict(sorted(env.amazon.requests.items()))

    total = sum(p.seconds for p in runner.phases)
    rows = [["phase", "wall s", "simulator s", "tries", "RSS after MiB", "RSS growth MiB", "peak growth MiB"]]
    for p in runner.phases:
        growth = None if p.rss_after is None or p.rss_before is None else p.rss_after - p.rss_before
        rows.append(
            [
                p.name,
                f"{p.seconds:.2f}",
                f"{p.sim_seconds:.2f}" if p.sim_seconds else "-",
                str(p.tries),
                mib(p.rss_after),
                signed_mib(growth),
                signed_mib(p.peak_after - p.peak_before),
            ]
        )
    sim_total = sum(p.sim_seconds for p in runner.phases)
    rows.append(["total", f"{total:.2f}", f"{sim_total:.2f}", "", "", "", ""])
    print()
    print(table(rows))

    matched = sum(1 for k, v in plan.expected.items() if found.get(k) == v)
    wrong = sorted(k for k, v in plan.expected.items() if k in found and found[k] != v)
    missed = sorted(k for k in plan.expected if k not in found)
    unexpected = sorted(k for k in found if k not in plan.expected)
    decoys_reported = sum(1 for sku in plan.decoys if (sku, "available") in found)
    cats = ", ".join(f"{k} {len(v):,}" for k, v in plan.categories.items())
    figures = [
        ["figure", "value"],
        ["SKUs", f"{args.skus:,} ({cats})"],
        ["database", args.db if args.db == "sqlite" else f"postgres ({PG_URL}, fresh schema)"],
        ["Amazon snapshot", args.amazon],
        ["run", f"{run_id} ({run_state})"],
        ["rows stored: Amazon snapshot", f"{stored.get('amazon', 0):,} (activity said {amazon_rows:,})"],
        ["rows stored: Shopify snapshot", f"{stored.get('shopify', 0):,} (activity said {shopify_rows:,})"],
        ["rows stored: discrepancy records", f"{records or 0:,}"],
        ["rows stored: held corrections", f"{held_effects or 0:,} effects, {holds or 0:,} holds"],
        ["differences found", f"{matched:,} of {len(plan.expected):,} expected"],
        ["  expected held corrections", f"{plan.expected_held:,}"],
        ["  wrong difference / missed", f"{len(wrong):,} / {len(missed):,}"],
        ["  unexpected", f"{len(unexpected):,}"],
        ["  decoys reported (should be 0)", f"{decoys_reported:,} of {len(plan.decoys):,}"],
        ["summary", f"{summary.discrepancies:,} discrepancies, {summary.corrections_held:,} held"],
        ["Amazon report document (gzip)", f"{amazon_doc / 1024:,.0f} KiB"],
        ["Shopify bulk JSONL (last)", f"{bulk_file / 1024:,.0f} KiB"],
        ["Shopify bulk queries run", f"{len(bulk_ops):,}"],
        ["total wall (phases)", f"{total:.2f} s, {rate(args.skus, total)} SKUs"],
        ["  of which in-process simulators", f"{sim_total:.2f} s"],
        ["set-up (scenario, worlds, edits)", f"{setup_s:.1f} s"],
        ["RSS at start / after set-up", f"{mib(rss_start)} / {mib(rss_setup)} MiB"],
        ["peak RSS at start / after set-up", f"{peak_start:,.0f} / {peak_setup:,.0f} MiB"],
        ["peak RSS (process)", f"{peak_rss_mb():,.0f} MiB, simulators included"],
        ["report (csv)", summary.report_csv or "-"],
        ["report (md)", summary.report_md or "-"],
    ]
    print()
    print(table(figures, left=2))
    for label, keys in (("wrong", wrong), ("missed", missed), ("unexpected", unexpected)):
        if keys:
            print(
                f"{label}: "
                + ", ".join(f"{s}/{n}" for s, n in keys[:10])
                + (" ..." if len(keys) > 10 else "")
            )
    print(f"Shopify client calls: {shopify_calls}")
    print(f"Amazon simulator requests: {amazon_calls}")
    if runner.failures:
        print("activity failures retried: " + str({k: len(v) for k, v in runner.failures.items()}))
    print(
        "note: both simulators run in this process (their worlds, the report and the bulk file are in "
        "the RSS figures), and the simulator seconds are spent inside the timed phases.",
        flush=True,
    )
    ok = matched == len(plan.expected) and not unexpected and not wrong
    return 0 if ok else 2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.reconcile", description=__doc__.split("\n\n")[0])
    p.add_argument("--skus", type=int, default=100_000, help="SKUs in the catalogue (default 100,000)")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite", help="default sqlite")
    p.add_argument(
        "--amazon",
        choices=["report", "summaries"],
        default="report",
        help="Amazon's snapshot: the MYI report (default) or getInventorySummaries (50 SKUs a page; the "
        "simulator's clock scales its 2 requests/s, so this is not the 1,000 s 100,000 SKUs take at Amazon)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--reports-dir",
        help="where compare_and_hold writes its CSV and Markdown (default: a new temporary directory, kept)",
    )
    p.add_argument(
        "--max-retry-interval",
        type=float,
        default=5.0,
        help="cap of the retry backoff for failing activities, s (default 5)",
    )
    args = p.parse_args(argv)
    if args.skus < 20:
        p.error("--skus must be at least 20")
    if args.db == "postgres" and (why := pg_reachable()):
        print(f"PostgreSQL at {PG_URL} is unreachable ({why})")
        return 1
    return asyncio.run(run(args))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
