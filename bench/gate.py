"""Shopify requests per 1,000 effects, and effects/s, through the real gate activities.

Loads the Shopify simulator with S SKUs (stocked at the FBA location and the warehouse), stores E
pending effects over them with a mix of quantity names (available, damaged with a ledger-day
document), reasons and locations, some of which net to zero, then runs the gate's activities as the
GateWorkflow would, each through `temporalio.testing.ActivityEnvironment` (no Temporal server):
`plan_pass` until nothing is pending, then `send_attempt` for every attempt, and for every follow-up
attempt (STALE, split). A transient failure (5xx, THROTTLED past the client's own retries) is
retried like an activity retry would, with a short capped backoff, and counted.

Prints effects, batches, attempts, Shopify HTTP requests (the simulator's `request_count`, split
into quantity reads and mutations), requests per 1,000 effects, wall time and effects/s, and checks
that Shopify's final quantities are the starting ones plus every effect (exactly once).

    .venv/bin/python -m bench.gate                 # 5,000 effects over 1,000 SKUs
    .venv/bin/python -m bench.gate --faults        # rate_limit 0.2 + server_error 0.1 on Shopify
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, insert, select
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from activities.gate import GateActivities
from bench.common import peak_rss_mb, rate, table, timed
from reconciler.config import Rules
from reconciler.ledger.tables import Attempt, Batch, Effect, Hold
from reconciler.messages import AttemptResult, PlanRequest, Thresholds
from tests.harness import SandboxEnv, item, small_scenario

T = TypeVar("T")
START_FBA, START_DAMAGED, START_WAREHOUSE = 1_000, 50, 500
FIRST_DAY = date(2026, 10, 1)
# (weight, location role, name, reason, sign); sign 0: either.
MIX = [
    (30, "fba", "available", "correction", 0),
    (20, "fba", "available", "shrinkage", -1),
    (12, "fba", "available", "received", +1),
    (10, "fba", "available", "restock", +1),
    (4, "fba", "available", "movement_created", -1),
    (12, "fba", "damaged", "damaged", 0),
    (6, "fba", "damaged", "shrinkage", -1),
    (4, "warehouse", "available", "movement_received", +1),
    (2, "warehouse", "available", "correction", 0),
]


class Retrying:
    """Runs an activity in a fresh ActivityEnvironment per try, retrying failures the way Temporal's
    retry policy would (here: backoff 0.2 s doubling, capped at 2 s; non-retryable errors re-raised)."""

    def __init__(self) -> None:
        self.retries: Counter[str] = Counter()

    async def run(self, what: str, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        delay = 0.2
        for _ in range(50):
            try:
                return await ActivityEnvironment().run(fn, *args)
            except Exception as e:
                if getattr(e, "non_retryable", False):
                    raise
                self.retries[f"{what}: {type(e).__name__}"] += 1
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
        raise RuntimeError(f"{what} kept failing after 50 tries")


def make_effects(
    env: SandboxEnv, n: int, skus: list[str], items: dict[str, str], locations: dict[str, str], seed: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    weights = [m[0] for m in MIX]
    rows = []
    for i in range(n):
        sku = rng.choice(skus)
        _, role, name, reason, sign = rng.choices(MIX, weights=weights)[0]
        size = 1 if rng.random() < 0.7 else rng.randint(2, 6)
        delta = size * (sign or rng.choice((-1, 1)))
        day = FIRST_DAY + timedelta(days=rng.randrange(7))
        rows.append(
            {
                "key": f"bench:{seed}:{i}",
                "shop": env.shop,
                "account": env.account,
                "kind": "bench",
                "msku": sku,
                "shopify_sku": sku,
                "inventory_item_id": items[sku],
                "location": role,
                "location_id": locations[role],
                "name": name,
                "reason": reason,
                # Shopify wants a ledger document for every name but available; one per ledger day.
                "ledger_document_uri": None
                if name == "available"
                else f"gid://fba-reconciler/FbaLedgerDay/{env.account}-{day.isoformat()}",
                "delta": delta,
                "state": "pending",
                "occurred_on": day,
            }
        )
    return rows


def count(env: SandboxEnv, model: Any, *where: Any) -> int:
    with Session(env.engine) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def run(args: argparse.Namespace) -> None:
    skus = [f"B{i:05d}" for i in range(args.skus)]
    catalog = [item(s, fba=START_FBA, damaged=START_DAMAGED, warehouse=START_WAREHOUSE) for s in skus]
    events = (
        [
            {"day": 0, "type": "fault", "api": "shopify", "kind": kind, "rate": r, "until_day": 10_000}
            for kind, r in (("rate_limit", 0.2), ("server_error", 0.1))
        ]
        if args.faults
        else []
    )
    scenario = small_scenario(catalog, events=events)
    retrying = Retrying()
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        # No Temporal client: only ActivityEnvironment is used, never a worker.
        async with SandboxEnv(None, scenario, Path(tmp)) as env:  # type: ignore[arg-type]
            world = env.shopify
            faults, world.faults = world.faults, []  # set-up look-ups without faults
            shopify = env.clients.shopify(env.shop)
            resolved = await shopify.inventory_items_by_sku(skus)
            fba_name = env.settings.account(env.account).fba_location
            wh_name = env.settings.shop(env.shop).warehouse_location
            locations = {
                "fba": await env.clients.location_id(env.shop, fba_name),
                "warehouse": await env.clients.location_id(env.shop, wh_name),
            }
            effects = make_effects(env, args.effects, skus, resolved.items, locations, args.seed)
            with Session(env.engine) as s, s.begin():
                s.execute(insert(Effect.__table__), effects)  # type: ignore[attr-defined]
            before = world.snapshot()
            world.faults = faults
            base = world.counters()
            shopify.stats.clear()

            gate = GateActivities(env.engine, env.clients)
            rules = Rules()
            request = PlanRequest(
                shop=env.shop,
                thresholds={
                    env.account: Thresholds(units=rules.large_delta_units, pct=rules.large_delta_pct)
                },
                max_effects=args.max_effects,
            )
            passes, attempts_sent, outcomes = 0, 0, Counter[str]()
            held = zero = 0
            with timed() as t:
                while True:
                    plan = await retrying.run("plan_pass", gate.plan_pass, request)
                    passes += 1
                    held += plan.effects_held
                    zero += plan.effects_netted_to_zero
                    queue = list(plan.attempt_ids)
                    while queue:
                        attempt_id = queue.pop(0)
                        result: AttemptResult = await retrying.run(
                            "send_attempt", gate.send_attempt, attempt_id
                        )
                        attempts_sent += 1
                        outcomes[result.state] += 1
                        if result.next_attempt_id is not None:
                            queue.append(result.next_attempt_id)
                    if not plan.more:
                        break
            after = world.counters()
            world.faults = []  # the check below reads the world directly; no faults needed

            used = {k: after[k] - base[k] for k in after}
            requests, mutations = used["request_count"], used["mutation_count"]
            batches = count(env, Batch)
            applied = count(env, Effect, Effect.state == "applied")
            # Exactly once: Shopify's quantities moved by exactly the sum of the applied effects.
            expected = {sku: {r: dict(q) for r, q in v.items()} for sku, v in before.items()}
            with Session(env.engine) as s:
                for sku, role, name, delta in s.execute(
                    select(Effect.shopify_sku, Effect.location, Effect.name, Effect.delta).where(
                        Effect.state == "applied"
                    )
                ):
                    expected[sku][role][name] += delta
            exact = world.snapshot() == expected
            holds = count(env, Hold)
            open_attempts = count(env, Attempt, Attempt.state == "open")

    print(
        f"\ngate: {args.effects:,} effects over {args.skus:,} SKUs, faults "
        + ("rate_limit 0.2 + server_error 0.1" if args.faults else "off")
    )
    rows = [
        ["figure", "value"],
        ["effects", f"{args.effects:,}"],
        ["  applied (incl. netted to zero)", f"{applied:,}"],
        ["  netted to zero (no call)", f"{zero:,}"],
        ["  held by guardrails", f"{held:,} ({holds:,} holds)"],
        ["plan passes", f"{passes:,}"],
        ["batches", f"{batches:,}"],
        ["attempts sent (incl. follow-ups)", f"{attempts_sent:,} " + str(dict(outcomes))],
        ["open attempts left", f"{open_attempts:,}"],
        ["Shopify HTTP requests", f"{requests:,}"],
        ["  quantity reads", f"{requests - mutations:,}"],
        ["  mutations", f"{mutations:,}"],
        ["  throttled / faults injected", f"{used['throttled_count']:,} / {used['fault_count']:,}"],
        ["  replays of a stored key", f"{used['replay_count']:,}"],
        ["requests per 1,000 effects", f"{requests * 1000 / args.effects:,.1f}"],
        ["activity retries", f"{sum(retrying.retries.values()):,} " + str(dict(retrying.retries))],
        ["wall time", f"{t.seconds:.2f} s"],
        ["effects/s", rate(args.effects, t.seconds)],
        ["quantities == start + applied", "yes" if exact else "NO (exactly-once violated?)"],
        ["peak RSS", f"{peak_rss_mb():,.0f} MiB"],
    ]
    print(table(rows, left=2))
    print("client calls by operation: " + str(dict(sorted(shopify.stats.items()))), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gate", description=__doc__.split("\n\n")[0])
    p.add_argument("--effects", type=int, default=5_000, help="pending effects to write (default 5,000)")
    p.add_argument("--skus", type=int, default=1_000, help="SKUs they fall on (default 1,000)")
    p.add_argument("--faults", action="store_true", help="Shopify rate_limit 0.2 + server_error 0.1")
    p.add_argument(
        "--max-effects",
        type=int,
        default=PlanRequest.model_fields["max_effects"].default,
        help="effects per plan pass (PlanRequest.max_effects; default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.effects < 1 or args.skus < 1:
        p.error("--effects and --skus must be at least 1")
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
