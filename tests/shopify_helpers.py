"""Shared helpers for the Shopify client, simulator and contract tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
from graphql import GraphQLSchema, build_schema

from integrations.shopify.client import ShopifyClient
from reconciler.clock import Clock
from sandbox.scenario import CatalogItem, FbaStock, Scenario, ShopifyStock, WarehouseStock
from sandbox.shopify.server import start
from sandbox.shopify.world import ShopifyWorld

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = REPO.parent / "shared" / "contracts"
REAL_SCHEMA = CONTRACTS / "shopify" / "admin-2026-04.graphql"
START = datetime(2026, 10, 1, tzinfo=UTC)
REFERENCE = "gid://fba-reconciler/AdjustmentBatch/1"


@cache
def real_schema() -> GraphQLSchema:
    """The real Admin API 2026-04 schema, built once. graphql-core refuses to validate the schema
    itself (four deprecations differ from their interfaces, see contracts/README.md); operations
    validate fine once the cached schema-validation errors are cleared."""
    schema = build_schema(REAL_SCHEMA.read_text())
    schema._validation_errors = []  # type: ignore[attr-defined]
    return schema


def stock(
    fba: int = 0, fba_damaged: int = 0, wh: int = 0, wh_incoming: int = 0, wh_damaged: int = 0
) -> ShopifyStock:
    return ShopifyStock(
        fba=FbaStock(available=fba, damaged=fba_damaged),
        warehouse=WarehouseStock(available=wh, incoming=wh_incoming, damaged=wh_damaged),
    )


def scenario(events: list[dict[str, Any]] | None = None) -> Scenario:
    return Scenario(
        name="shopify-test",
        start=START,
        catalog=[
            CatalogItem(sku="MUG-RED", fnsku="X00MUGRED1", shopify=stock(fba=40, wh=100)),
            CatalogItem(
                sku="MUG-RED-2PK", fnsku="X00MUGRED2", shopify_sku="MUG-RED", pack=2, shopify=stock(fba=1)
            ),
            CatalogItem(
                sku="CUP", fnsku="X00CUP0001", shopify=stock(fba=10, fba_damaged=2, wh=5, wh_incoming=3)
            ),
            CatalogItem(sku="GHOST-1", fnsku="X00GHOST01"),
        ],
        events=events or [],
    )


def clock_at(day: float = 0.0, day_length: float = 86_400.0) -> Clock:
    """A clock (sim_epoch = the scenario's start) that reads business day `day` now."""
    real_epoch = datetime.now(UTC) - timedelta(seconds=day * day_length)
    return Clock(sim_epoch=START, real_epoch=real_epoch, day_length=day_length)


def make_world(events: list[dict[str, Any]] | None = None, **kwargs: Any) -> ShopifyWorld:
    return ShopifyWorld.from_scenario(scenario(events), clock_at(), **kwargs)


@asynccontextmanager
async def running(world: ShopifyWorld, **client_kwargs: Any) -> AsyncIterator[tuple[ShopifyClient, str]]:
    """The simulator on a random port and a real client pointed at it."""
    runner, base_url = await start(world)
    try:
        async with ShopifyClient(
            world.shop_domain, world.access_token, base_url=base_url, **client_kwargs
        ) as client:
            yield client, base_url
    finally:
        await runner.cleanup()


async def post_graphql(
    base_url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str = "shpat_sandbox_token",
    version: str = "2026-04",
) -> tuple[int, Any]:
    """A raw request, for what the client never sends (missing directive, absent fields…)."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base_url}/admin/api/{version}/graphql.json",
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": token},
        ) as resp,
    ):
        return resp.status, await resp.json(content_type=None)
