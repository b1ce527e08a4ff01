"""Wall time of example scenarios run end to end through `sandbox.runner.run_demo`.

Each scenario starts from nothing, as `starter.py demo` does: a Temporal dev server, both
simulators, a worker process, simulated time at `--day-seconds` real seconds per day, until the
gate has written everything. Prints the runner's wall time, the time the scenario needs by its own
clock (events + settling days × day seconds: the floor a run cannot beat), the overhead above it,
and the stats of the result (cycles, ledger rows, order items, effects, batches, Shopify and Amazon
requests, holds, quarantined, alerts, notes).

    .venv/bin/python -m bench.scenario                                   # ../shared/scenarios/06-faults.json
    .venv/bin/python -m bench.scenario --scenario ../shared/scenarios/01-shipments.json \\
        --scenario ../shared/scenarios/02-ledger-adjustments.json --day-seconds 1
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb, table, timed
from sandbox.runner import ScenarioError, run_demo
from sandbox.scenario import Scenario

DEFAULT = str(Path(__file__).resolve().parents[1].parent / "shared" / "scenarios" / "06-faults.json")


async def run_one(
    path: str, day_seconds: float, seed: int, quiet: bool
) -> tuple[dict[str, Any], float, float]:
    scenario = Scenario.load(path)
    floor_s = (scenario.last_event_day + scenario.settle_days) * day_seconds
    with tempfile.TemporaryDirectory(prefix="bench-scenario-") as tmp, timed() as t:
        result = await run_demo(
            path,
            str(Path(tmp) / "result.json"),
            day_seconds=day_seconds,
            seed=seed,
            workdir=str(Path(tmp) / "work"),
            printer=(lambda *_: None) if quiet else print,
        )
    return result, t.seconds, floor_s


async def run(args: argparse.Namespace) -> int:
    rows = [
        [
            "scenario",
            "wall s",
            "floor s",
            "overhead s",
            "cycles",
            "ledger rows",
            "order items",
            "effects",
            "batches",
            "Shopify req",
            "Amazon req",
            "holds",
            "quar.",
            "alerts",
        ]
    ]
    code = 0
    for path in args.scenario:
        try:
            result, wall, floor_s = await run_one(path, args.day_seconds, args.seed, args.quiet)
        except ScenarioError as e:
            print(f"{path}: {e}", file=sys.stderr)
            code = 1
            continue
        st = result["stats"]
        rows.append(
            [
                result["scenario"],
                f"{wall:.1f}",
                f"{floor_s:.1f}",
                f"{wall - floor_s:.1f}",
                str(st["cycles"]),
                f"{st['ledger_rows']:,}",
                f"{st['order_items']:,}",
                f"{st['effects_applied']:,}",
                str(st["batches"]),
                f"{st['shopify_requests']:,}",
                f"{st['amazon_requests']:,}",
                str(len(result["holds"])),
                str(len(result["quarantined"])),
                str(len(result["alerts"])),
            ]
        )
        print(f"{result['scenario']}: stats {st}", flush=True)
        for note in result["notes"]:
            print(f"{result['scenario']}: note: {note}", flush=True)
    print(
        f"\nscenarios at {args.day_seconds:g} s per simulated day (floor = (last event day + settle days) × day s)"
    )
    print(table(rows))
    print(
        f"peak RSS of this process (the worker and Temporal run in their own): {peak_rss_mb():,.0f} MiB",
        flush=True,
    )
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scenario", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--scenario",
        action="append",
        help=f"scenario JSON file; repeat for several (default {os.path.relpath(DEFAULT)})",
    )
    p.add_argument(
        "--day-seconds", type=float, default=2.0, help="real seconds per simulated day (default 2)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="do not print the runner's own lines")
    args = p.parse_args(argv)
    args.scenario = args.scenario or [DEFAULT]
    if args.day_seconds <= 0:
        p.error("--day-seconds must be positive")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(args))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
