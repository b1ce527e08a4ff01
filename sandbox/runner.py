"""Runs a scenario from nothing (../shared/SCENARIOS.md): a Temporal dev server, both simulators
loaded with the scenario, a worker process; drives simulated time, performs the people's and
Shopify's events, waits until quiet and writes the result file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio.service import RPCError

from ops import control
from ops.temporal import connect
from reconciler.clock import Clock, as_utc
from reconciler.config import ConfigError, Rules, Settings, format_validation_error, load_settings
from reconciler.ledger.db import make_engine
from reconciler.ledger.gate_store import open_holds
from reconciler.ledger.tables import (
    Alert,
    Attempt,
    Batch,
    CaseRecord,
    CycleRun,
    DiscrepancyRecord,
    Effect,
    Evidence,
    LedgerSourceRow,
    OrderItemState,
    QuarantinedInput,
    ReconciliationRun,
)
from reconciler.marketplaces import marketplace
from reconciler.messages import HoldDecision, RemovalReceipt
from sandbox.amazon import server as amazon_server
from sandbox.amazon.world import AmazonWorld
from sandbox.scenario import AMAZON_EVENTS, Scenario, ScenarioEvent
from sandbox.shopify import server as shopify_server
from sandbox.shopify.world import ShopifyWorld
from sandbox.temporal_server import DevServer, free_port

log = logging.getLogger("recon.demo")
REPO = Path(__file__).resolve().parents[1]
SHOP = "sandbox"
SECRETS = {
    "RECON_SANDBOX_SHOPIFY_TOKEN": "shpat_sandbox_token",
    "RECON_SANDBOX_LWA_CLIENT_ID": "amzn1.application-oa2-client.sandbox",
    "RECON_SANDBOX_LWA_CLIENT_SECRET": "sandbox-secret",
    "RECON_SANDBOX_REFRESH_TOKEN": "Atzr|sandbox-refresh",
}
CYCLE_EVERY_DAYS = 0.5
BUSY_STATES = ["pending", "approved", "in_flight"]


class ScenarioError(Exception):
    """The scenario cannot be run (bad file, bad config); the message is the one-line reason."""


def validate_rules(scenario: Scenario, source: str) -> Rules:
    try:
        return Rules(**scenario.config)
    except ValidationError as e:
        raise ScenarioError(format_validation_error(e, f"{source}: config").replace("\n", " ")) from None


class DemoRun:
    def __init__(
        self,
        scenario: Scenario,
        *,
        day_seconds: float,
        seed: int,
        workdir: Path,
        ui_port: int | None = None,
        source: str = "scenario",
    ) -> None:
        self.scenario = scenario
        self.rules = validate_rules(scenario, source)
        self.day_seconds = day_seconds
        self.seed = seed
        self.workdir = workdir
        self.account = scenario.marketplace.lower()
        self.market = marketplace(scenario.marketplace)
        self.temporal = DevServer(workdir / "temporal.db", ui_port=ui_port, log_file=workdir / "temporal.log")
        self.worker: subprocess.Popen[bytes] | None = None
        self.clock: Clock | None = None
        self.notes: list[str] = []
        self.reconciliations: list[Any] = []
        self._runners: list[Any] = []

    # --- set-up ------------------------------------------------------------------------------------
    def _config(self, amazon_url: str, shopify_url: str, shop_domain: str) -> dict[str, Any]:
        assert self.clock is not None
        overrides = [
            {"msku": c.sku, "shopify_sku": c.shopify_sku_or_sku, "pack": c.pack}
            for c in self.scenario.catalog
            if c.shopify_sku_or_sku != c.sku or c.pack != 1
        ]
        return {
            "ledger_url": f"sqlite:///{self.workdir / 'ledger.db'}",
            "cycle_interval_minutes": 525_600,  # the runner, not the interval, decides when cycles run
            "gate_poll_seconds": max(1.0, self.day_seconds / 2),
            "activity_max_retry_interval_s": 2,
            "http_timeout_s": 8,
            "metrics_port": 0,  # several demos may run at once; no fixed port for their workers
            "clock": self.clock.model_dump(mode="json"),
            "temporal": {
                "address": self.temporal.address,
                "task_queue": "fba-reconciler",
                "ui_url": self.temporal.ui_url,
            },
            "shops": [
                {
                    "name": SHOP,
                    "domain": shop_domain,
                    "access_token_env": "RECON_SANDBOX_SHOPIFY_TOKEN",
                    "base_url": shopify_url,
                    "warehouse_location": "Warehouse",
                }
            ],
            "accounts": [
                {
                    "name": self.account,
                    "marketplace": self.scenario.marketplace,
                    "shop": SHOP,
                    "fba_location": f"Amazon FBA {self.scenario.marketplace}",
                    "lwa_client_id_env": "RECON_SANDBOX_LWA_CLIENT_ID",
                    "lwa_client_secret_env": "RECON_SANDBOX_LWA_CLIENT_SECRET",
                    "refresh_token_env": "RECON_SANDBOX_REFRESH_TOKEN",
                    "endpoint": amazon_url,
                    "lwa_endpoint": amazon_url,
                    "rules": self.rules.model_dump(mode="json", exclude_none=True),
                    "sku_map": {"overrides": overrides},
                }
            ],
        }

    async def setup(self, lead_s: float = 6.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self.temporal.start()
        # Day 0 starts once everything is up; the clock never stops after that.
        self.clock = Clock(
            sim_epoch=self.scenario.start,
            real_epoch=datetime.now(UTC) + timedelta(seconds=lead_s),
            day_length=self.day_seconds,
        )
        self.amazon = AmazonWorld.from_scenario(self.scenario, self.clock, seed=self.seed)
        self.shopify = ShopifyWorld.from_scenario(self.scenario, self.clock, seed=self.seed)
        runner, amazon_url = await amazon_server.start(self.amazon, port=free_port())
        self._runners.append(runner)
        runner, shopify_url = await shopify_server.start(self.shopify, port=free_port())
        self._runners.append(runner)
        config = self._config(amazon_url, shopify_url, self.shopify.shop_domain)
        self.config_file = self.workdir / "recon.toml"
        self.config_file.write_text(_toml(config))
        self.settings: Settings = load_settings(self.config_file)
        self.engine = make_engine(self.settings.ledger_url)
        self._start_worker()
        self.client = await connect(self.settings)
        # The runner triggers cycles itself, and a scenario's expected alerts are its own: keep the
        # watchdog (stale syncs between the runner's triggers, no rotation date configured) out of it.
        await control.apply_schedules(
            self.client,
            self.settings,
            interval=timedelta(days=365),
            reconcile_every=timedelta(days=365),
            watchdog_every=timedelta(days=365),
        )
        await control.ensure_gate(self.client, self.settings, SHOP)
        await self._wait(lambda: self._gate_answers(), 60, "the worker did not start")

    def _start_worker(self) -> None:
        env = {**os.environ, **SECRETS, "PYTHONUNBUFFERED": "1"}
        log_file = open(self.workdir / "worker.log", "ab")  # noqa: SIM115
        self.worker = subprocess.Popen(
            [sys.executable, str(REPO / "worker.py"), "--config", str(self.config_file)],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )

    async def _gate_answers(self) -> bool:
        try:
            await asyncio.wait_for(control.gate_status(self.client, SHOP), 5)
            return True
        except Exception:
            return False

    async def teardown(self) -> None:
        if self.worker and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            for _ in range(100):
                if self.worker.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            if self.worker.poll() is None:
                self.worker.kill()
        for r in self._runners:
            with contextlib.suppress(Exception):
                await r.cleanup()
        await self.temporal.stop()

    # --- time ----------------------------------------------------------------------------------------
    def day(self) -> float:
        assert self.clock is not None
        return self.clock.business_day()

    async def until_day(self, day: float) -> None:
        while (left := (day - self.day()) * self.day_seconds) > 0:
            await asyncio.sleep(min(left, 0.5))

    async def _wait(self, check, timeout_s: float, what: str) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await check():
                return True
            await asyncio.sleep(0.25)
        self.notes.append(f"timed out after {timeout_s:.0f} s: {what}")
        log.warning("timed out: %s", what)
        return False

    async def _rpc(self, call, what: str, timeout_s: float = 90):  # type: ignore[no-untyped-def]
        """Call Temporal, riding out a server restart (the `restart_temporal` event)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return await call()
            except RPCError as e:
                if time.monotonic() > deadline:
                    raise
                log.info("temporal not answering (%s: %s); retrying", what, e)
                await asyncio.sleep(0.5)

    # --- the run -------------------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        ticker = asyncio.create_task(self._cycle_ticker())
        try:
            for event in self.scenario.ordered_events():
                await self.until_day(event.day)
                await self._perform(event)
            last = self.scenario.last_event_day
            await self.until_day(last + 0.05)
            await self.quiet()
            assert self.clock is not None
            visible = self.amazon.last_visible_at()
            tz = self.market.tz
            next_midnight = datetime.combine(
                visible.astimezone(tz).date() + timedelta(days=1), datetime.min.time(), tz
            )
            end_day = max(
                last + self.scenario.settle_days,
                self._to_day(visible) + 0.01,
                self._to_day(next_midnight) + 0.01,
            )
            await self.until_day(end_day)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await self.quiet()
        return self.result()

    def _to_day(self, t: datetime) -> float:
        return (t - self.scenario.start).total_seconds() / 86_400

    async def _cycle_ticker(self) -> None:
        """At least one cycle per simulated day (here: every half day)."""
        while True:
            with contextlib.suppress(Exception):
                await self._rpc(lambda: control.sync_now(self.client, self.account), "sync-now", timeout_s=5)
            await self.until_day(self.day() + CYCLE_EVERY_DAYS)

    async def _perform(self, e: ScenarioEvent) -> None:
        t = e.type
        if t in AMAZON_EVENTS or t == "fault":
            return  # the simulators publish these as simulated time passes
        log.info("day %.2f: %s", e.day, t)
        if t == "shopify_manual_adjustment":
            self.shopify.manual_adjust(e.get("sku"), e.get("location"), e.get("name"), int(e.get("delta")))
        elif t == "shopify_sale":
            self.shopify.sale(e.get("sku"), int(e.get("quantity")))
        elif t == "kill_worker":
            assert self.worker is not None
            self.worker.kill()
            self.worker.wait()
            self._start_worker()
        elif t == "restart_temporal":
            await self.temporal.restart()
        elif t == "pause":
            await self.quiet()
            reason = e.get("reason") or "scenario pause"
            await self._rpc(lambda: control.pause(self.client, SHOP, reason, by="scenario"), "pause")
        elif t == "resume":
            await self.quiet()
            await self._rpc(lambda: control.resume(self.client, SHOP), "resume")
        elif t == "approve_all":
            await self.quiet()
            ids = [h.id for h, _ in open_holds(self.engine, SHOP) if h.id is not None]
            if ids:
                await control.decide(
                    self.client, SHOP, HoldDecision(hold_ids=ids, by="scenario"), approve=True
                )
        elif t == "full_reconciliation":
            await self.quiet()
            handle = await self._rpc(
                lambda: control.start_reconciliation(self.client, self.settings, self.account), "reconcile"
            )
            summary = await handle.result()
            self.reconciliations.append(summary)
            log.info("full reconciliation %s: %s differences", summary.run_id, summary.discrepancies)
        elif t == "removal_received":
            await self.quiet()
            receipt = RemovalReceipt(
                order_id=e.get("order_id"),
                sku=e.get("sku"),
                quantity=int(e.get("quantity")),
                tracking_number=e.get("tracking_number") or "",
                by="scenario",
                receipt_id=f"scenario-day-{e.day}",
            )
            await self._rpc(
                lambda: control.receive_removal(self.client, self.settings, self.account, receipt),
                "removal receive",
            )
        else:
            self.notes.append(f"day {e.day}: {t} is not supported by this version; skipped")
            log.warning("event %s is not supported yet; skipped", t)

    async def quiet(self, timeout_s: float = 180) -> None:
        """A cycle that started after now has completed, and the gate has nothing left to write."""
        await asyncio.sleep(0.05 * self.day_seconds)  # rows just due are posted after a short delay
        started = datetime.now(UTC)
        await self._rpc(lambda: control.sync_now(self.client, self.account), "sync-now")

        async def cycle_done() -> bool:
            with Session(self.engine) as s:
                latest = s.exec(
                    select(func.max(CycleRun.started_at)).where(CycleRun.account == self.account)
                ).one()
            return latest is not None and as_utc(latest) >= started

        await self._wait(cycle_done, timeout_s, "a sync cycle to complete")

        async def cases_settled() -> bool:
            with Session(self.engine) as s:
                unsignalled = s.exec(
                    select(func.count()).select_from(Evidence).where(col(Evidence.signalled_at).is_(None))
                ).one()
                counts = dict(s.exec(select(Evidence.case_id, func.count()).group_by(Evidence.case_id)).all())
                seen = {r.case_id: r.evidence_seen for r in s.exec(select(CaseRecord)).all()}
            return unsignalled == 0 and all(seen.get(case, -1) >= n for case, n in counts.items())

        await self._wait(cases_settled, timeout_s, "every case to evaluate its evidence")
        status = await self._rpc(lambda: control.gate_status(self.client, SHOP), "gate status")
        if status.paused:
            return  # paused: pending effects wait for resume, by design

        async def gate_idle() -> bool:
            with Session(self.engine) as s:
                busy = s.exec(
                    select(func.count()).select_from(Effect).where(col(Effect.state).in_(BUSY_STATES))
                ).one()
                open_attempts = s.exec(
                    select(func.count()).select_from(Attempt).where(Attempt.state == "open")
                ).one()
            return busy == 0 and open_attempts == 0

        await self._rpc(lambda: control.wake_gate(self.client, self.settings, SHOP), "wake gate")
        await self._wait(gate_idle, timeout_s, "the gate to write every pending effect")

    # --- the result ----------------------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        snapshot = self.shopify.snapshot()
        in_shopify = {c.shopify_sku_or_sku for c in self.scenario.catalog if c.shopify is not None}
        with Session(self.engine) as s:
            alerts = [
                {"kind": a.kind, "key": a.key, "message": a.message}
                for a in s.exec(select(Alert).order_by(col(Alert.id))).all()
            ]
            last_run = s.exec(
                select(func.max(ReconciliationRun.id)).where(
                    ReconciliationRun.account == self.account, ReconciliationRun.state == "compared"
                )
            ).one()
            discrepancies = (
                [
                    {
                        "sku": d.sku,
                        "location": d.location,
                        "name": d.name,
                        "amazon": d.amazon,
                        "shopify": d.shopify,
                        "expected_shopify": d.expected_shopify,
                        "difference": d.difference,
                    }
                    for d in s.exec(
                        select(DiscrepancyRecord)
                        .where(DiscrepancyRecord.run_id == last_run)
                        .order_by(col(DiscrepancyRecord.id))
                    ).all()
                ]
                if last_run
                else []
            )
            cases = [
                {
                    "type": r.case_type,
                    "id": r.case_id,
                    "state": r.state,
                    "claim_due": r.claim_due,
                    "claim_expired": r.claim_expired,
                    "details": r.details,
                }
                for r in s.exec(select(CaseRecord).order_by(col(CaseRecord.case_id))).all()
            ]
            quarantined = [
                {"stream": q.stream, "key": q.key, "reason": q.reason}
                for q in s.exec(
                    select(QuarantinedInput)
                    .where(QuarantinedInput.state == "open")
                    .order_by(col(QuarantinedInput.id))
                ).all()
            ]
            stats = {
                "cycles": s.exec(select(func.count()).select_from(CycleRun)).one(),
                "effects_applied": s.exec(
                    select(func.count()).select_from(Effect).where(Effect.state == "applied")
                ).one(),
                "batches": s.exec(
                    select(func.count()).select_from(Batch).where(Batch.state == "applied")
                ).one(),
                "ledger_rows": s.exec(select(func.count()).select_from(LedgerSourceRow)).one(),
                "order_items": s.exec(select(func.count()).select_from(OrderItemState)).one(),
                "shopify_requests": self.shopify.request_count,
                "amazon_requests": self.amazon.request_count,
            }
        holds = [
            {
                "id": str(h.id),
                "sku": e.shopify_sku if e else None,
                "location": e.location if e else None,
                "name": e.name if e else None,
                "delta": e.delta if e else None,
                "why": h.why,
            }
            for h, e in open_holds(self.engine, SHOP)
        ]
        return {
            "scenario": self.scenario.name,
            "shopify": {sku: q for sku, q in sorted(snapshot.items()) if sku in in_shopify},
            "holds": holds,
            "cases": cases,
            "alerts": alerts,
            "quarantined": quarantined,
            "discrepancies": discrepancies,
            "stats": stats,
            "notes": self.notes,
        }


def _toml(data: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for the generated config (tables, arrays of tables, scalars, inline lists)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(inline(x) if isinstance(x, dict) else scalar(x) for x in v) + "]"
        return json.dumps(str(v))

    def inline(d: dict[str, Any]) -> str:
        return (
            "{"
            + ", ".join(f"{k} = {inline(v) if isinstance(v, dict) else scalar(v)}" for k, v in d.items())
            + "}"
        )

    lines, tables = [], []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append((k, v, False))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and k in ("shops", "accounts"):
            tables.append((k, v, True))
        elif v is not None:
            lines.append(f"{k} = {scalar(v)}")
    out = "\n".join(lines) + "\n"
    for k, v, is_array in tables:
        name = f"{prefix}{k}"
        for item in v if is_array else [v]:
            out += f"\n[[{name}]]\n" if is_array else f"\n[{name}]\n"
            out += (
                "\n".join(
                    f"{kk} = {inline(vv) if isinstance(vv, dict) else scalar(vv)}"
                    for kk, vv in item.items()
                    if vv is not None
                )
                + "\n"
            )
    return out


async def run_demo(
    scenario_path: str,
    out: str,
    *,
    day_seconds: float = 2.0,
    seed: int = 0,
    ui_port: int | None = None,
    workdir: str | None = None,
    linger_s: float = 0,
    printer=print,
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    try:
        scenario = Scenario.load(scenario_path)
    except (OSError, ValueError) as e:
        raise ScenarioError(f"cannot read scenario {scenario_path}: {e}".replace("\n", " ")) from None
    wd = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"recon-demo-{scenario.name}-"))
    run = DemoRun(
        scenario, day_seconds=day_seconds, seed=seed, workdir=wd, ui_port=ui_port, source=scenario_path
    )
    t0 = time.monotonic()
    try:
        try:
            await run.setup()
        except ConfigError as e:
            raise ScenarioError(str(e).replace("\n", " ")) from None
        printer(
            f"Scenario {scenario.name}: {len(scenario.catalog)} SKUs, {len(scenario.events)} events over "
            f"{scenario.last_event_day:g} days (+{scenario.settle_days:g} settling), {day_seconds:g} s per day"
        )
        printer(f"Temporal UI: {run.temporal.ui_url}   (work files: {wd})")
        result = await run.run()
        result["stats"]["seconds"] = round(time.monotonic() - t0, 1)
        Path(out).write_text(json.dumps(result, indent=1, default=str))
        st = result["stats"]
        printer(
            f"Done in {st['seconds']} s: {st['ledger_rows']} ledger rows and {st['order_items']} order items "
            f"ingested in {st['cycles']} cycles; {st['effects_applied']} effects applied in {st['batches']} "
            f"batches ({st['shopify_requests']} Shopify requests, {st['amazon_requests']} Amazon requests); "
            f"{len(result['holds'])} holds, {len(result['quarantined'])} quarantined, {len(result['alerts'])} alerts."
        )
        due = [c["id"] for c in result["cases"] if c["claim_due"]]
        kinds = sorted({a["kind"] for a in result["alerts"]})
        printer(
            f"Cases: {len(result['cases'])} ({sum(c['state'] != 'closed' for c in result['cases'])} open), "
            f"{len(due)} with a claim due{': ' + ', '.join(due[:5]) if due else ''}; alerts: {', '.join(kinds) or 'none'}."
        )
        for r in run.reconciliations:
            printer(
                f"Full reconciliation {r.run_id}: {r.amazon_rows} Amazon rows vs {r.shopify_rows} Shopify levels, "
                f"{r.discrepancies} differences, {r.corrections_held} corrections held; report {r.report_md}"
            )
        printer(f"Result: {out}")
        if linger_s > 0:
            printer(f"The Temporal UI stays up at {run.temporal.ui_url} for {linger_s:g} s (Ctrl-C to stop).")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(linger_s)
        return result
    finally:
        await run.teardown()
