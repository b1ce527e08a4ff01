"""The worker: runs the sync cycles and the gates of every configured account and shop.

    python worker.py --config recon.toml

Stops gracefully on SIGTERM / SIGINT (running activities finish or are cancelled and retried)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.clients import Clients
from activities.registry import all_workflows, build_activities
from ops import alert_delivery, control, logs
from ops import metrics as recon_metrics
from ops.temporal import connect, ensure_search_attributes
from reconciler.config import ConfigError, Settings, load_settings
from reconciler.ledger.db import make_engine

log = logging.getLogger("recon.worker")


async def connect_with_retry(settings: Settings, stop: asyncio.Event) -> Client | None:
    """Temporal may be down or restarting when the worker starts: keep trying, with backoff."""
    delay = 0.5
    while not stop.is_set():
        try:
            client = await connect(settings)
            await ensure_search_attributes(client)
            return client
        except Exception as e:  # connection refused, DNS, TLS handshake…
            log.warning(
                "cannot reach Temporal; retrying",
                extra={"address": settings.temporal.address, "error": str(e)[:200], "retry_in_s": delay},
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30)
    return None


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect_with_retry(settings, stop)
    if client is None:
        return
    engine = make_engine(settings.ledger_url)
    clients = Clients(
        settings, shopify_timeout_s=settings.http_timeout_s, amazon_timeout_s=settings.http_timeout_s
    )
    metrics_server = None
    if settings.metrics_port:  # None or 0: no metrics endpoint
        try:
            metrics_server, _ = recon_metrics.start_metrics_server(settings.metrics_port, engine, clients)
        except OSError as e:  # port taken: run without metrics rather than not at all
            log.error(
                "cannot start the metrics server",
                extra={"port": settings.metrics_port, "error": str(e)[:200]},
            )
    worker = Worker(
        client,
        task_queue=settings.temporal.task_queue,
        workflows=all_workflows(),
        activities=build_activities(client, settings, engine, clients),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    for shop in settings.shops:
        await _ensure_gate(client, settings, shop.name, stop)
    log.info(
        "worker started",
        extra={
            "task_queue": settings.temporal.task_queue,
            "accounts": ",".join(a.name for a in settings.accounts),
            "shops": ",".join(s.name for s in settings.shops),
        },
    )
    refresher = asyncio.create_task(_refresh_gate_metrics(client, settings, stop)) if metrics_server else None
    alerts = _start_alert_delivery(settings, engine, stop)
    try:
        async with worker:
            await stop.wait()
            log.info("worker stopping")
    finally:
        for task in (refresher, alerts):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if metrics_server is not None:
            metrics_server.shutdown()
        await clients.aclose()


def _start_alert_delivery(
    settings: Settings, engine: Engine, stop: asyncio.Event
) -> asyncio.Task[None] | None:
    """Deliver alerts (ops/alert_delivery.py) beside the worker. A webhook configured without its secret
    turns delivery off with an error: the alerts wait in the ledger until the worker restarts fixed."""
    try:
        dispatcher = alert_delivery.build_dispatcher(settings, engine)
    except ConfigError as e:
        log.error("alert delivery is off; alerts stay undelivered in the ledger", extra={"error": str(e)})
        return None
    return asyncio.create_task(dispatcher.run(stop), name="alert-delivery")


GATE_METRICS_INTERVAL_S = 30.0


async def _refresh_gate_metrics(client: Client, settings: Settings, stop: asyncio.Event) -> None:
    """The gate's pause state lives in its workflow, not in the ledger: query each gate now and then
    and refresh its gauges (everything else is derived from the ledger when Prometheus scrapes)."""
    while not stop.is_set():
        for shop in settings.shops:
            try:
                status = await asyncio.wait_for(control.gate_status(client, shop.name), 10)
                recon_metrics.record_gate_status(
                    shop.name,
                    paused=status.paused,
                    paused_at=status.paused_at,
                    last_pass_at=status.last_pass_at,
                )
            except Exception as e:  # the gate may be starting, continuing-as-new or unreachable
                recon_metrics.record_gate_unreachable(shop.name)
                log.debug("gate status query failed", extra={"shop": shop.name, "error": str(e)[:200]})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), GATE_METRICS_INTERVAL_S)


async def _ensure_gate(client: Client, settings: Settings, shop: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await control.ensure_gate(client, settings, shop)
            return
        except RPCError as e:
            log.warning("cannot start the gate yet; retrying", extra={"shop": shop, "error": str(e)[:200]})
            await asyncio.sleep(1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=os.environ.get("RECON_CONFIG", "recon.toml"))
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logs.setup(args.log_level)
    try:
        settings = load_settings(args.config)
    except ConfigError as e:
        print(f"worker: {e}", file=sys.stderr)
        return 2
    stop = asyncio.Event()

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(runner())
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the SDK sometimes crashes at interpreter exit (ARCHITECTURE §7)
