"""A sandbox for workflow tests: both simulators on random ports loaded with a small scenario, a
ledger file, the real clients and activities, and a worker on a fresh task queue of the shared dev
server."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.worker import Worker

from activities.clients import Clients
from activities.registry import all_workflows, build_activities
from integrations.shopify.errors import ShopifyError
from ops import control
from reconciler.clock import Clock
from reconciler.config import Settings
from reconciler.ledger.db import make_engine
from reconciler.ledger.tables import Effect
from reconciler.messages import CycleSummary
from sandbox.amazon import server as amazon_server
from sandbox.amazon.world import AmazonWorld
from sandbox.scenario import Scenario
from sandbox.shopify import server as shopify_server
from sandbox.shopify.world import ShopifyWorld
from workflows.sync_cycle import SyncCycleWorkflow

T = TypeVar("T")

SECRETS = {
    "TEST_SHOPIFY_TOKEN": "shpat_sandbox_token",
    "TEST_LWA_CLIENT_ID": "amzn1.application-oa2-client.sandbox",
    "TEST_LWA_CLIENT_SECRET": "sandbox-secret",
    "TEST_REFRESH_TOKEN": "Atzr|sandbox-refresh",
}


def small_scenario(
    catalog: list[dict[str, Any]],
    events: list[dict[str, Any]] | None = None,
    config: dict[str, Any] | None = None,
) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "test",
            "start": "2026-10-01T00:00:00Z",
            "catalog": catalog,
            "events": events or [],
            "config": config or {},
        }
    )


def item(sku: str, fba: int = 100, damaged: int = 0, warehouse: int = 10, **kw: Any) -> dict[str, Any]:
    return {
        "sku": sku,
        "fnsku": f"X{abs(hash(sku)) % 10**9:09d}",
        "amazon": {"sellable": fba, "unsellable": damaged},
        "shopify": {"fba": {"available": fba, "damaged": damaged}, "warehouse": {"available": warehouse}},
        **kw,
    }


def amazon_only(sku: str, fba: int = 100) -> dict[str, Any]:
    """A catalogue item at Amazon that does not exist in Shopify."""
    return {**item(sku, fba=fba), "shopify": None}


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 40, what: str = "condition"
) -> None:
    """Wait until `check()` (plain or async) is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = check()
        if ok if isinstance(ok, bool) else await ok:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class SandboxEnv:
    def __init__(
        self,
        client: Client,
        scenario: Scenario,
        tmp_path: Path,
        *,
        day_seconds: float = 2.0,
        start_day: float = 0.0,
        rules: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.scenario = scenario
        self.tmp_path = tmp_path
        self.shop = f"shop-{uuid.uuid4().hex[:8]}"
        self.account = "us"
        self.task_queue = f"tq-{uuid.uuid4().hex[:8]}"
        self.clock = Clock(
            sim_epoch=scenario.start,
            real_epoch=datetime.now(UTC) - timedelta(seconds=start_day * day_seconds),
            day_length=day_seconds,
        )
        self.rules = {**scenario.config, **(rules or {})}
        self._runners: list[Any] = []
        self.worker: Worker | None = None

    async def __aenter__(self) -> SandboxEnv:
        os.environ.update(SECRETS)
        self.amazon = AmazonWorld.from_scenario(self.scenario, self.clock)
        self.shopify = ShopifyWorld.from_scenario(self.scenario, self.clock)
        r, amazon_url = await amazon_server.start(self.amazon)
        self._runners.append(r)
        r, shopify_url = await shopify_server.start(self.shopify)
        self._runners.append(r)
        self.settings = Settings(
            ledger_url=f"sqlite:///{self.tmp_path / 'ledger.db'}",
            gate_poll_seconds=1,
            activity_max_retry_interval_s=1,
            http_timeout_s=5,
            clock=self.clock,
            temporal={"task_queue": self.task_queue},
            shops=[
                {
                    "name": self.shop,
                    "domain": self.shopify.shop_domain,
                    "access_token_env": "TEST_SHOPIFY_TOKEN",
                    "base_url": shopify_url,
                }
            ],
            accounts=[
                {
                    "name": self.account,
                    "marketplace": "US",
                    "shop": self.shop,
                    "fba_location": f"Amazon FBA {self.scenario.marketplace}",
                    "lwa_client_id_env": "TEST_LWA_CLIENT_ID",
                    "lwa_client_secret_env": "TEST_LWA_CLIENT_SECRET",
                    "refresh_token_env": "TEST_REFRESH_TOKEN",
                    "endpoint": amazon_url,
                    "lwa_endpoint": amazon_url,
                    "rules": self.rules,
                }
            ],
        )
        self.engine = make_engine(self.settings.ledger_url)
        self.clients = Clients(self.settings, shopify_timeout_s=5, amazon_timeout_s=5)
        return self

    def make_worker(self, **kw: Any) -> Worker:
        activities = kw.pop("activities", None) or build_activities(
            self.client, self.settings, self.engine, self.clients
        )
        return Worker(
            self.client,
            task_queue=self.task_queue,
            workflows=all_workflows(),
            activities=activities,
            **kw,
        )

    async def __aexit__(self, *exc: object) -> None:
        try:
            handle = self.client.get_workflow_handle(control.gate_id(self.shop))
            await handle.terminate("test over")
        except Exception:
            pass
        await self.clients.aclose()
        for r in self._runners:
            await r.cleanup()

    # --- helpers -----------------------------------------------------------------------------------
    async def ids(self, shopify_sku: str, location: str) -> tuple[str, str]:
        """(inventory item, location) ids, looked up in the simulator (retrying its injected faults)."""
        a = self.settings.account(self.account)
        loc_name = a.fba_location if location == "fba" else self.settings.shop(self.shop).warehouse_location
        for _ in range(20):
            try:
                loc = await self.clients.location_id(self.shop, loc_name)
                items = await self.clients.shopify(self.shop).inventory_items_by_sku([shopify_sku])
                return items.items[shopify_sku], loc
            except ShopifyError as e:
                if not e.transient:
                    raise
        raise AssertionError(f"could not look up {shopify_sku} through the faults")

    async def add_effect(
        self,
        sku: str,
        delta: int,
        *,
        location: str = "fba",
        name: str = "available",
        reason: str = "correction",
        key: str | None = None,
        doc: str | None = None,
    ) -> int:
        item_id, loc_id = await self.ids(sku, location)
        effect = Effect(
            key=key or f"test:{uuid.uuid4().hex}",
            shop=self.shop,
            account=self.account,
            kind="test",
            msku=sku,
            shopify_sku=sku,
            inventory_item_id=item_id,
            location=location,
            location_id=loc_id,
            name=name,
            reason=reason,
            delta=delta,
            ledger_document_uri=doc,
        )
        with Session(self.engine) as s, s.begin():
            s.add(effect)
            s.flush()
            assert effect.id is not None
            return effect.id

    def effects(self, *states: str) -> list[Effect]:
        with Session(self.engine) as s:
            stmt = select(Effect).order_by(col(Effect.id))
            if states:
                stmt = stmt.where(col(Effect.state).in_(states))
            return list(s.exec(stmt).all())

    def qty(self, sku: str, location: str = "fba", name: str = "available") -> int:
        return self.shopify.snapshot()[sku][location][name]

    async def start_gate(self) -> Any:
        return await control.ensure_gate(self.client, self.settings, self.shop)

    async def execute(self, run: Any, arg: Any, result_type: type[T], id_prefix: str) -> T:
        """Run one workflow to its end on this sandbox's task queue, under a fresh id."""
        return await self.client.execute_workflow(
            run,
            arg,
            id=f"{id_prefix}-{uuid.uuid4().hex[:8]}",
            task_queue=self.task_queue,
            result_type=result_type,
        )


async def run_cycle(env: SandboxEnv) -> CycleSummary:
    """One sync cycle of the sandbox's account, run to its end."""
    inp = control.cycle_input(env.settings, env.settings.account(env.account))
    return await env.execute(SyncCycleWorkflow.run, inp, CycleSummary, "cycle")
