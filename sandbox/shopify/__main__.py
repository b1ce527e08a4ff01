"""Serve a scenario's starting Shopify world:

    python -m sandbox.shopify --scenario FILE [--port P] [--day-seconds S] [--seed N]

Prints one JSON line (base_url, shop_domain, api_version, access_token, fba_location,
warehouse_location) once it is listening, then serves until killed. The simulated clock starts at
the scenario's `start` now, one business day every `--day-seconds` real seconds (fault windows
follow it; Shopify's cost bucket and key retention stay in real time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

from reconciler.clock import Clock
from sandbox.scenario import Scenario
from sandbox.shopify.server import start
from sandbox.shopify.world import ShopifyWorld


async def serve(args: argparse.Namespace) -> None:
    scenario = Scenario.load(args.scenario)
    clock = Clock(sim_epoch=scenario.start, real_epoch=datetime.now(UTC), day_length=args.day_seconds)
    world = ShopifyWorld.from_scenario(scenario, clock, seed=args.seed)
    world.timeout_delay_s = args.timeout_delay
    runner, base_url = await start(world, host="127.0.0.1", port=args.port)
    print(
        json.dumps(
            {
                "base_url": base_url,
                "shop_domain": world.shop_domain,
                "api_version": "2026-04",
                "access_token": world.access_token,
                "fba_location": world.location_for("fba").name,
                "warehouse_location": world.location_for("warehouse").name,
            }
        ),
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.shopify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", required=True, help="scenario JSON file")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--day-seconds", type=float, default=86_400.0, help="real seconds per simulated day")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    parser.add_argument(
        "--timeout-delay", type=float, default=12.0, help="how long a `timeout` fault holds a response"
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
