"""Run the SP-API simulator for a scenario:

    python -m sandbox.amazon --port 8100 --scenario scenarios/01-shipments.json [--day-seconds 2]

Prints one JSON line (base_url, lwa_url, client_id, client_secret, refresh_token, marketplace_id)
and serves until killed. Business time starts at the scenario's `start` now (or at --real-epoch).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime

from reconciler.clock import Clock
from sandbox.amazon.server import start
from sandbox.amazon.world import AmazonWorld
from sandbox.scenario import Scenario


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.amazon", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", required=True, help="scenario JSON file")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--day-seconds", type=float, default=2.0, help="real seconds per business day")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--real-epoch", help="ISO time (UTC) at which business time = scenario start; default: now"
    )
    parser.add_argument(
        "--timeout-delay", type=float, default=12.0, help="seconds a timeout fault holds a reply"
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    scenario = Scenario.load(args.scenario)
    real_epoch = datetime.fromisoformat(args.real_epoch) if args.real_epoch else datetime.now(UTC)
    if real_epoch.tzinfo is None:
        real_epoch = real_epoch.replace(tzinfo=UTC)
    clock = Clock(sim_epoch=scenario.start, real_epoch=real_epoch, day_length=args.day_seconds)
    world = AmazonWorld.from_scenario(scenario, clock, seed=args.seed)
    world.timeout_delay_s = args.timeout_delay
    runner, base_url = await start(world, args.host, args.port)
    print(
        json.dumps(
            {
                "base_url": base_url,
                "lwa_url": f"{base_url}/auth/o2/token",
                "client_id": world.client_id,
                "client_secret": world.client_secret,
                "refresh_token": world.refresh_token,
                "marketplace_id": world.marketplace_id,
            }
        ),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    try:
        asyncio.run(_serve(_parse_args(argv)))
    except (OSError, ValueError) as exc:
        print(f"sandbox.amazon: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
