"""Shared helpers for the Amazon tests: scenarios, a simulator on a random port, a client for it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sp_api.asyncio.api  # noqa: F401  (before sp_api.asyncio.auth)
from sp_api.asyncio.auth import access_token_client

from integrations.amazon.client import AmazonClient, SpApiCredentials
from reconciler.clock import Clock
from sandbox.amazon.server import start
from sandbox.amazon.world import AmazonWorld
from sandbox.scenario import Scenario

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SCENARIOS = SHARED / "scenarios"
CONTRACTS = SHARED / "contracts"
START = datetime(2026, 10, 1, tzinfo=UTC)


def scenario(
    events: list[dict[str, Any]], *, catalog: list[dict[str, Any]] | None = None, **extra: Any
) -> Scenario:
    """A small US scenario starting 2026-10-01T00:00Z."""
    catalog = catalog or [
        {"sku": "MUG-RED", "fnsku": "X00MUGRED1", "asin": "B0MUGRED01", "amazon": {"sellable": 40}},
        {"sku": "MUG-BLU", "fnsku": "X00MUGBLU1", "asin": "B0MUGBLU01", "amazon": {"sellable": 30}},
    ]
    return Scenario.model_validate(
        {
            "name": "test",
            "marketplace": "US",
            "start": START.isoformat(),
            "catalog": catalog,
            "events": events,
        }
        | extra
    )


def load_scenario(name: str) -> Scenario:
    """An example scenario; tests/data keeps copies of ../shared/scenarios so these tests run anywhere."""
    return Scenario.load(Path(__file__).parent / "data" / name)


def clock_at(scenario: Scenario, day: float, day_length: float = 2.0) -> Clock:
    """A clock whose business time is scenario day `day` now, and runs `day_length` s per day."""
    return Clock(
        sim_epoch=scenario.start,
        real_epoch=datetime.now(UTC) - timedelta(seconds=day * day_length),
        day_length=day_length,
    )


def move_clock(clock: Clock, day: float) -> None:
    """Jump the (shared) clock so that business time is `day` now."""
    clock.real_epoch = datetime.now(UTC) - timedelta(seconds=day * clock.day_length)


@contextlib.asynccontextmanager
async def running_world(
    scn: Scenario, *, day: float, day_length: float = 2.0, **world_kwargs: Any
) -> AsyncIterator[tuple[AmazonWorld, str]]:
    world = AmazonWorld.from_scenario(scn, clock_at(scn, day, day_length), **world_kwargs)
    runner, base_url = await start(world)
    try:
        yield world, base_url
    finally:
        await runner.cleanup()


def client_for(world: AmazonWorld, base_url: str, **kwargs: Any) -> AmazonClient:
    access_token_client.cache.clear()
    kwargs.setdefault("backoff_base_s", 0.02)
    kwargs.setdefault("backoff_max_s", 0.5)
    kwargs.setdefault("timeout_s", 5.0)
    credentials = SpApiCredentials(
        refresh_token=kwargs.pop("refresh_token", world.refresh_token),
        lwa_app_id=kwargs.pop("lwa_app_id", world.client_id),
        lwa_client_secret=kwargs.pop("lwa_client_secret", world.client_secret),
    )
    return AmazonClient(credentials, world.marketplace_id, endpoint=base_url, lwa_endpoint=base_url, **kwargs)


@contextlib.asynccontextmanager
async def sim_and_client(
    scn: Scenario,
    *,
    day: float,
    day_length: float = 2.0,
    client_kwargs: dict[str, Any] | None = None,
    **world_kwargs: Any,
) -> AsyncIterator[tuple[AmazonWorld, AmazonClient]]:
    async with running_world(scn, day=day, day_length=day_length, **world_kwargs) as (world, base_url):
        client = client_for(world, base_url, **(client_kwargs or {}))
        try:
            yield world, client
        finally:
            await client.aclose()
