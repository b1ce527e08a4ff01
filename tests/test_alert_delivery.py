"""ops/alert_delivery.py: alerts raised in a transaction reach a local Slack-compatible webhook once,
with the cool-down applied per kind and key, retries on 5xx, and a webhook that is down leaving alerts
undelivered (and retried later) without blocking the others. Real ledger (SQLite, and PostgreSQL where
reachable); the webhook is an aiohttp server on a random port."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ops.alert_delivery import (
    AlertDispatcher,
    LogSink,
    WebhookSink,
    build_dispatcher,
    ensure_delivery_column,
)
from reconciler.config import ConfigError, Settings
from reconciler.ledger.alerts import raise_alert
from reconciler.ledger.tables import Alert
from tests.ledger_helpers import ledger_engine

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON_CMD = str(PYTHON) if PYTHON.exists() else sys.executable


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with ledger_engine(request.param, tmp_path) as e:
        yield e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    """A webhook: records each JSON body; answers the queued statuses first, then 200."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hits: int = 0

    def texts(self) -> list[str]:
        return [r["text"] for r in self.received]


async def start_receiver(port: int = 0) -> tuple[Receiver, web.AppRunner]:
    port = port or _free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/services/T000/B000/secret-token")

    async def hook(request: web.Request) -> web.Response:
        receiver.hits += 1
        if receiver.statuses:
            return web.Response(status=receiver.statuses.pop(0), text="no")
        receiver.received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/services/{a}/{b}/{c}", hook)
    runner = web.AppRunner(app, access_log=None)  # the test server would log the path
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return receiver, runner


@pytest.fixture
async def webhook() -> AsyncIterator[Receiver]:
    receiver, runner = await start_receiver()
    try:
        yield receiver
    finally:
        await runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.t = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)


def dispatcher(engine: Engine, url: str, clock: Clock, **kw: Any) -> AlertDispatcher:
    sink = WebhookSink(SecretStr(url), timeout_s=2, tries=kw.pop("tries", 3), backoff_s=0.01)
    return AlertDispatcher(
        engine, [sink, LogSink()], cooldown=timedelta(minutes=60), poll_seconds=0.05, now=clock, **kw
    )


def alert(engine: Engine, kind: str, key: str, message: str = "something happened", **kw: Any) -> None:
    with Session(engine) as s, s.begin():
        raise_alert(s, kind, key, message, **kw)


def undelivered(engine: Engine) -> list[int]:
    with Session(engine) as s:
        return [
            a.id or 0
            for a in s.exec(select(Alert).where(col(Alert.delivered_at).is_(None)).order_by(col(Alert.id)))
        ]


def count_alerts(engine: Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(Alert.id)).all())


async def test_raised_alerts_are_delivered_once_as_slack_json(
    engine: Engine, webhook: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    alert(engine, "claim_due", "lost:us:1", "lost:us:1 owes 3 units <since 2026-03-01>", account="us")
    alert(engine, "report_fatal", "us:ledger", "the ledger report failed", account="us", once=False)
    d = dispatcher(engine, webhook.url, Clock())
    try:
        with caplog.at_level(logging.INFO):
            first = await d.deliver_pending()
            again = await d.deliver_pending()
    finally:
        await d.aclose()
    assert len(first.sent) == 2 and not first.failed and not first.suppressed
    assert again.sent == again.suppressed == again.failed == []
    assert undelivered(engine) == []
    assert len(webhook.received) == 2
    body = webhook.received[0]
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith(":warning: Claim due: lost:us:1 owes 3 units &lt;since")
    section, context = body["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "*:warning: Claim due*" in section["text"]["text"]
    assert context["type"] == "context"
    assert "`claim_due`" in context["elements"][0]["text"]
    assert "account `us`" in context["elements"][0]["text"]
    assert "Amazon report keeps failing" in webhook.received[1]["text"]
    # the log sink: one structured line per alert; the URL's secret path never appears
    lines = [r for r in caplog.records if r.name == "recon.alert" and getattr(r, "alert_id", None)]
    assert [r.__dict__["alert"] for r in lines] == ["claim_due", "report_fatal"]
    assert all("secret-token" not in r.getMessage() for r in caplog.records)


async def test_cool_down_marks_repeats_without_sending_then_sends_after_it(
    engine: Engine, webhook: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    d = dispatcher(engine, webhook.url, clock)
    try:
        alert(engine, "large_delta", "main:MUG:fba", "MUG changes by -80", once=False)
        assert len((await d.deliver_pending()).sent) == 1

        clock.advance(minutes=20)
        alert(engine, "large_delta", "main:MUG:fba", "MUG changes by -90", once=False)
        alert(engine, "large_delta", "main:CUP:fba", "CUP changes by -70", once=False)  # another key
        with caplog.at_level(logging.INFO):
            second = await d.deliver_pending()
        assert len(second.suppressed) == 1 and len(second.sent) == 1
        assert webhook.texts()[1].endswith("CUP changes by -70")
        assert undelivered(engine) == [], "a suppressed alert is marked delivered"
        assert count_alerts(engine) == 3, "and stays in the ledger"
        assert any("cool-down" in r.getMessage() for r in caplog.records)

        # the suppressed repeat does not extend the cool-down: it runs from the last send
        clock.advance(minutes=41)
        alert(engine, "large_delta", "main:MUG:fba", "MUG changes by -95", once=False)
        third = await d.deliver_pending()
        assert len(third.sent) == 1
        assert webhook.texts()[-1].endswith("MUG changes by -95")
        assert len(webhook.received) == 3
    finally:
        await d.aclose()


async def test_cool_down_survives_a_restart(engine: Engine, webhook: Receiver) -> None:
    clock = Clock()
    alert(engine, "large_delta", "k", "first", once=False)
    d = dispatcher(engine, webhook.url, clock)
    await d.deliver_pending()
    await d.aclose()
    alert(engine, "large_delta", "k", "second", once=False)
    fresh = dispatcher(engine, webhook.url, clock)  # a new process: nothing in memory
    try:
        assert len((await fresh.deliver_pending()).suppressed) == 1
    finally:
        await fresh.aclose()
    assert len(webhook.received) == 1


async def test_webhook_500_is_retried_and_delivered_once(engine: Engine, webhook: Receiver) -> None:
    webhook.statuses = [500, 503]
    alert(engine, "inbound_shortage", "inbound:us:FBA1", "FBA1 arrived 4 short", account="us")
    d = dispatcher(engine, webhook.url, Clock())
    try:
        result = await d.deliver_pending()
    finally:
        await d.aclose()
    assert len(result.sent) == 1
    assert webhook.hits == 3
    assert len(webhook.received) == 1
    assert undelivered(engine) == []


async def test_webhook_down_leaves_alerts_undelivered_and_retries_them_later(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    port = _free_port()  # nothing listens here yet
    url = f"http://127.0.0.1:{port}/services/T000/B000/secret-token"
    clock = Clock()
    for i in range(5):
        alert(engine, "removal_overdue", f"removal:us:RMV-{i}", f"RMV-{i} overdue", account="us")
    d = dispatcher(engine, url, clock, tries=2, max_failures_per_pass=2, retry_backoff_s=30)
    try:
        with caplog.at_level(logging.INFO):
            first = await asyncio.wait_for(d.deliver_pending(), 10)
        assert first.sent == [] and len(first.failed) == 2, "the pass stops after 2 failures"
        ids = undelivered(engine)
        assert ids == first.failed + ids[2:] and len(ids) == 5, "nothing is marked, nothing is lost"
        assert all("secret-token" not in r.getMessage() for r in caplog.records)
        assert all("secret-token" not in str(r.__dict__.get("error", "")) for r in caplog.records)

        # the next pass tries the others: the failed ones wait out their backoff
        second = await asyncio.wait_for(d.deliver_pending(), 10)
        assert set(second.failed).isdisjoint(first.failed) and len(second.failed) == 2

        receiver, runner = await start_receiver(port)  # the webhook is back
        try:
            third = await d.deliver_pending()
            assert len(third.sent) == 1, "only the alert not in backoff"
            clock.advance(minutes=1)  # past every backoff
            fourth = await d.deliver_pending()
            assert len(fourth.sent) == 4
        finally:
            await runner.cleanup()
        assert undelivered(engine) == []
        assert sorted(receiver.texts()) == sorted(
            f":warning: Removal order overdue: RMV-{i} overdue" for i in range(5)
        )
    finally:
        await d.aclose()


async def test_a_refused_alert_does_not_block_the_rest(engine: Engine, webhook: Receiver) -> None:
    webhook.statuses = [400]  # the webhook refuses the first alert only, and 4xx is not retried at once
    alert(engine, "claim_expired", "lost:us:1", "first")
    alert(engine, "claim_expired", "lost:us:2", "second")
    d = dispatcher(engine, webhook.url, Clock(), batch_size=1)
    try:
        r1 = await d.deliver_pending()
        r2 = await d.deliver_pending()  # the first is in its backoff: the batch moves past it
    finally:
        await d.aclose()
    assert len(r1.failed) == 1 and webhook.hits == 2
    assert len(r2.sent) == 1 and webhook.texts() == [":warning: Claim window expired: second"]
    assert undelivered(engine) == r1.failed


async def test_run_loop_delivers_and_stops(engine: Engine, webhook: Receiver) -> None:
    d = dispatcher(engine, webhook.url, Clock())
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    try:
        alert(engine, "removal_short_receipt", "removal:us:RMV-9", "RMV-9 received 2 of 6")
        for _ in range(100):
            if webhook.received:
                break
            await asyncio.sleep(0.05)
        assert len(webhook.received) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def settings(tmp_path: Path, **alerts: Any) -> Settings:
    return Settings(
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        alerts=alerts,
        shops=[{"name": "main", "domain": "x.myshopify.com", "access_token_env": "T"}],
        accounts=[{"name": "us", "shop": "main", "fba_location": "Amazon FBA US"}],
    )


def test_build_dispatcher_reads_the_url_as_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_ALERT_WEBHOOK", raising=False)
    s = settings(tmp_path, webhook_url_env="T_ALERT_WEBHOOK", cooldown_minutes=5)
    with pytest.raises(ConfigError, match="T_ALERT_WEBHOOK"):
        build_dispatcher(s, None)  # type: ignore[arg-type]
    monkeypatch.setenv("T_ALERT_WEBHOOK", "https://hooks.example.com/services/x")
    assert build_dispatcher(s, None).sink_names == ["webhook", "log"]  # type: ignore[arg-type]
    assert build_dispatcher(settings(tmp_path), None).sink_names == ["log"]  # type: ignore[arg-type]
    assert "hooks.example.com" not in repr(s)


def test_an_older_ledger_gets_the_column_and_its_alerts_count_as_delivered(tmp_path: Path) -> None:
    with ledger_engine("sqlite", tmp_path) as engine:
        alert(engine, "claim_due", "old", "raised before delivery existed")
        with engine.begin() as c:
            c.exec_driver_sql("DROP INDEX ix_alert_delivered_at")
            c.exec_driver_sql("ALTER TABLE alert DROP COLUMN delivered_at")
        ensure_delivery_column(engine)
        ensure_delivery_column(engine)  # twice is once
        assert undelivered(engine) == []
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM alert WHERE delivered_at IS NOT NULL")).scalar() == 1


def test_starter_alerts_list_json(tmp_path: Path) -> None:
    with ledger_engine("sqlite", tmp_path) as engine:
        alert(engine, "claim_due", "lost:us:1", "lost:us:1 owes 3 units", account="us")
        alert(engine, "large_delta", "main:MUG:fba", "MUG changes by -80", once=False)
        with Session(engine) as s, s.begin():
            s.add(
                Alert(
                    kind="claim_due",
                    key="old",
                    message="long ago",
                    created_at=datetime.now(UTC) - timedelta(hours=50),
                    delivered_at=datetime.now(UTC) - timedelta(hours=50),
                )
            )
    config = tmp_path / "recon.toml"
    config.write_text(
        f"""
ledger_url = "sqlite:///{tmp_path / "ledger.db"}"

[alerts]
cooldown_minutes = 30

[[shops]]
name = "main"
domain = "example.myshopify.com"
access_token_env = "T_SHOP_TOKEN"

[[accounts]]
name = "us"
shop = "main"
fba_location = "Amazon FBA US"
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECON_")}

    def run(*args: str) -> Any:
        r = subprocess.run(
            [PYTHON_CMD, "starter.py", "--config", str(config), "alerts", "list", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    rows = run("--json")
    assert [(r["kind"], r["key"], r["delivered_at"]) for r in rows] == [
        ("claim_due", "lost:us:1", None),
        ("large_delta", "main:MUG:fba", None),
    ]
    assert rows[0]["account"] == "us" and rows[0]["message"] == "lost:us:1 owes 3 units"
    assert [r["key"] for r in run("--json", "--since", "72", "--kind", "claim_due")] == ["lost:us:1", "old"]
    assert [r["key"] for r in run("--json", "--since", "0")] == ["lost:us:1", "main:MUG:fba", "old"]
