"""ops/metrics.py: each figure changes when its event happens. Rows go into a real ledger (SQLite, and
PostgreSQL where reachable) through SQLModel sessions; the registry is scraped with generate_latest."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from activities.clients import Clients
from ops import metrics as recon_metrics
from ops.metrics import ReconMetrics
from reconciler.config import load_settings
from reconciler.ledger.tables import Alert, CaseRecord, Cursor, CycleRun, Effect, Hold, QuarantinedInput
from tests.ledger_helpers import ledger_engine

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with ledger_engine(request.param, tmp_path) as e:
        yield e


@pytest.fixture
def m(engine: Engine) -> ReconMetrics:
    metrics = ReconMetrics(CollectorRegistry())
    metrics.attach_ledger(engine, [("us", "main"), ("ca", "main")])
    return metrics


def scrape(m: ReconMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(m.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def value(m: ReconMetrics, name: str, **labels: str) -> float | None:
    return scrape(m).get((name, frozenset(labels.items())))


def add(engine: Engine, *rows: SQLModel) -> None:
    with Session(engine) as s:
        s.add_all(rows)
        s.commit()


def effect(
    key: str, *, state: str = "pending", kind: str = "shipment", sku: str = "MUG", delta: int = -1
) -> Effect:
    return Effect(
        key=key,
        shop="main",
        account="us",
        kind=kind,
        msku=sku,
        shopify_sku=sku,
        inventory_item_id=f"gid://shopify/InventoryItem/{sku}",
        location="fba",
        location_id="gid://shopify/Location/1",
        name="available",
        reason="correction",
        delta=delta,
        state=state,
    )


def cycle(run: str, *, ok: bool, finished: datetime, account: str = "us") -> CycleRun:
    return CycleRun(
        account=account,
        workflow_id=f"cycle:{account}",
        run_id=run,
        started_at=finished - timedelta(seconds=30),
        finished_at=finished,
        ok=ok,
    )


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- ledger figures --------------------------------------------------------------------------------


def test_empty_ledger_scrapes_with_ledger_up_and_account_info(m: ReconMetrics) -> None:
    got = scrape(m)
    assert got[("recon_ledger_up", frozenset())] == 1
    assert got[("recon_account_info", frozenset({("account", "us"), ("shop", "main")}))] == 1
    assert value(m, "recon_last_successful_sync_timestamp_seconds", account="us") is None


def test_cycles_set_last_success_failures_and_run_counts(m: ReconMetrics, engine: Engine) -> None:
    t0 = now() - timedelta(hours=3)
    add(engine, cycle("r1", ok=True, finished=t0))
    assert value(m, "recon_last_successful_sync_timestamp_seconds", account="us") == t0.timestamp()
    assert value(m, "recon_cycle_runs_total", account="us", result="ok") == 1
    assert value(m, "recon_cycle_failures_since_success", account="us") == 0

    t1, t2 = t0 + timedelta(minutes=15), t0 + timedelta(minutes=30)
    add(engine, cycle("r2", ok=False, finished=t1), cycle("r3", ok=False, finished=t2))
    assert value(m, "recon_last_successful_sync_timestamp_seconds", account="us") == t0.timestamp()
    assert value(m, "recon_last_cycle_timestamp_seconds", account="us") == t2.timestamp()
    assert value(m, "recon_cycle_runs_total", account="us", result="failed") == 2
    assert value(m, "recon_cycle_failures_since_success", account="us") == 2

    t3 = t0 + timedelta(minutes=45)
    add(engine, cycle("r4", ok=True, finished=t3), cycle("c1", ok=False, finished=t3, account="ca"))
    assert value(m, "recon_last_successful_sync_timestamp_seconds", account="us") == t3.timestamp()
    assert value(m, "recon_cycle_failures_since_success", account="us") == 0
    # never succeeded: every failure counts, and there is no last-success sample
    assert value(m, "recon_cycle_failures_since_success", account="ca") == 1
    assert value(m, "recon_last_successful_sync_timestamp_seconds", account="ca") is None


def test_cursor_position(m: ReconMetrics, engine: Engine) -> None:
    pos = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    add(engine, Cursor(account="us", stream="ledger", position=pos))
    assert (
        value(m, "recon_cursor_position_timestamp_seconds", account="us", stream="ledger") == pos.timestamp()
    )


def test_effects_by_state_and_kind_units_and_skus(m: ReconMetrics, engine: Engine) -> None:
    add(engine, effect("e1"), effect("e2", kind="return", delta=3))
    assert value(m, "recon_effects", shop="main", account="us", state="pending", kind="shipment") == 1
    assert value(m, "recon_effects", shop="main", account="us", state="pending", kind="return") == 1
    assert value(m, "recon_effects_applied_units_total", shop="main", account="us") is None

    add(
        engine,
        effect("e3", state="applied", delta=-4),
        effect("e4", state="applied", kind="return", delta=2),
        effect("e5", state="applied", sku="LAMP", delta=-1),
    )
    assert value(m, "recon_effects", shop="main", account="us", state="applied", kind="shipment") == 2
    assert value(m, "recon_effects", shop="main", account="us", state="applied", kind="return") == 1
    assert value(m, "recon_effects_applied_units_total", shop="main", account="us") == 7
    assert value(m, "recon_skus_adjusted", shop="main", account="us") == 2


def test_open_holds_and_the_oldest(m: ReconMetrics, engine: Engine) -> None:
    old = now() - timedelta(hours=30)
    add(
        engine,
        Hold(shop="main", kind="large_delta", why="big", created_at=old),
        Hold(shop="main", kind="large_delta", why="big", created_at=now()),
        Hold(shop="main", kind="correction", why="diff", state="approved"),
    )
    assert value(m, "recon_holds_open", shop="main", kind="large_delta") == 2
    assert value(m, "recon_holds_open", shop="main", kind="correction") is None
    assert (
        value(m, "recon_hold_oldest_open_timestamp_seconds", shop="main", kind="large_delta")
        == old.timestamp()
    )


def test_open_cases_and_claims_due(m: ReconMetrics, engine: Engine) -> None:
    deadline = datetime(2026, 5, 1, tzinfo=UTC)
    add(
        engine,
        CaseRecord(case_id="lost:us:1", account="us", case_type="lost", state="researching"),
        CaseRecord(
            case_id="lost:us:2",
            account="us",
            case_type="lost",
            state="claim_due",
            claim_due=True,
            owed_units=3,
            claim_deadline=deadline,
        ),
        CaseRecord(case_id="return:us:3", account="us", case_type="return", state="done", closed=True),
    )
    assert value(m, "recon_cases_open", account="us", case_type="lost", state="researching") == 1
    assert value(m, "recon_cases_open", account="us", case_type="lost", state="claim_due") == 1
    assert value(m, "recon_cases_open", account="us", case_type="return", state="done") is None
    assert value(m, "recon_claims_due", account="us", case_type="lost") == 1
    assert value(m, "recon_claims_due_units", account="us", case_type="lost") == 3
    assert value(m, "recon_claim_deadline_next_timestamp_seconds", account="us") == deadline.timestamp()

    with Session(engine) as s:
        case = s.get(CaseRecord, "lost:us:2")
        assert case is not None
        case.closed = True
        s.add(case)
        s.commit()
    assert value(m, "recon_claims_due", account="us", case_type="lost") is None


def test_quarantined_rows_open_only(m: ReconMetrics, engine: Engine) -> None:
    add(
        engine,
        QuarantinedInput(account="us", stream="ledger", key="k1", reason="unmapped SKU"),
        QuarantinedInput(account="us", stream="ledger", key="k2", reason="unmapped SKU"),
        QuarantinedInput(account="us", stream="orders", key="k3", reason="x", state="resolved"),
    )
    assert value(m, "recon_quarantined_rows", account="us", stream="ledger") == 2
    assert value(m, "recon_quarantined_rows", account="us", stream="orders") is None


def test_alerts_in_the_last_24h(m: ReconMetrics, engine: Engine) -> None:
    add(
        engine,
        Alert(kind="fatal_report", key="a1", account="us", message="m"),
        Alert(
            kind="fatal_report", key="a2", account="us", message="m", created_at=now() - timedelta(hours=30)
        ),
        Alert(kind="large_delta", key="a3", message="m"),
    )
    assert value(m, "recon_alerts_last_24h", kind="fatal_report", account="us") == 1
    assert value(m, "recon_alerts_last_24h", kind="large_delta", account="") == 1
    assert value(m, "recon_alerts_total", kind="fatal_report") == 2


def test_a_failing_ledger_reports_ledger_down_instead_of_failing_the_scrape(tmp_path: Path) -> None:
    m = ReconMetrics(CollectorRegistry())
    with ledger_engine("sqlite", tmp_path) as engine:
        m.attach_ledger(engine)
        with engine.begin() as c:
            c.exec_driver_sql("DROP TABLE cycle_run")
        got = scrape(m)
    assert got[("recon_ledger_up", frozenset())] == 0


# --- in-process figures ----------------------------------------------------------------------------


def test_record_stream_counts_rows_and_reads() -> None:
    m = ReconMetrics(CollectorRegistry())
    m.record_stream("us", "ledger", 10)
    m.record_stream("us", "ledger", 0)
    m.record_stream("us", "orders", -5)  # nonsense is ignored, never raised
    assert value(m, "recon_stream_rows_ingested_total", account="us", stream="ledger") == 10
    assert value(m, "recon_stream_reads_total", account="us", stream="ledger") == 2
    assert value(m, "recon_stream_rows_ingested_total", account="us", stream="orders") == 0


def test_module_api_goes_to_the_installed_instance() -> None:
    m = ReconMetrics(CollectorRegistry())
    previous = recon_metrics.use(m)
    try:
        recon_metrics.record_stream("ca", "orders", 4)
        recon_metrics.record_gate_status("main", paused=True, paused_at=datetime(2026, 3, 1, tzinfo=UTC))
    finally:
        recon_metrics.use(previous)
    assert value(m, "recon_stream_rows_ingested_total", account="ca", stream="orders") == 4
    assert value(m, "recon_gate_paused", shop="main") == 1
    assert value(m, "recon_gate_up", shop="main") == 1
    assert (
        value(m, "recon_gate_paused_since_timestamp_seconds", shop="main")
        == datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    )


def test_gate_status_and_unreachable() -> None:
    m = ReconMetrics(CollectorRegistry())
    last = datetime(2026, 3, 2, 12, tzinfo=UTC)
    m.record_gate_status("main", paused=False, last_pass_at=last)
    assert value(m, "recon_gate_paused", shop="main") == 0
    assert value(m, "recon_gate_paused_since_timestamp_seconds", shop="main") == 0
    assert value(m, "recon_gate_last_pass_timestamp_seconds", shop="main") == last.timestamp()
    m.record_gate_unreachable("main")
    assert value(m, "recon_gate_up", shop="main") == 0


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Clients:
    for name in (
        "SHOPIFY_MAIN_ACCESS_TOKEN",
        "SP_API_LWA_CLIENT_ID",
        "SP_API_LWA_CLIENT_SECRET",
        "SP_API_REFRESH_TOKEN_US",
        "SP_API_REFRESH_TOKEN_CA",
    ):
        monkeypatch.setenv(name, "test-secret")
    return Clients(load_settings(REPO / "recon.example.toml"))


async def test_api_requests_and_throttles_from_client_stats(clients: Clients) -> None:
    m = ReconMetrics(CollectorRegistry())
    m.register_clients(clients)
    m.register_clients(clients)  # twice is once
    shopify, amazon = clients.shopify("main"), clients.amazon("us")
    try:
        assert value(m, "recon_api_requests_total", api="shopify", client="main", operation="x") is None
        # what the clients do per request (integrations/*/client.py, integrations/amazon/ratelimit.py)
        shopify.stats["inventoryAdjustQuantities"] += 2
        shopify.stats["throttled:inventoryAdjustQuantities"] += 1
        shopify.stats["retried:inventoryItems"] += 1
        amazon.stats["createReport"] += 3
        amazon.stats["throttled:createReport"] += 1
        amazon.stats["errors:getReport"] += 1
        got = scrape(m)

        def at(name: str, api: str, client: str, operation: str) -> float | None:
            return got.get((name, frozenset({("api", api), ("client", client), ("operation", operation)})))

        assert at("recon_api_requests_total", "shopify", "main", "inventoryAdjustQuantities") == 2
        assert at("recon_api_throttles_total", "shopify", "main", "inventoryAdjustQuantities") == 1
        assert at("recon_api_retries_total", "shopify", "main", "inventoryItems") == 1
        assert at("recon_api_requests_total", "amazon", "us", "createReport") == 3
        assert at("recon_api_throttles_total", "amazon", "us", "createReport") == 1
        assert at("recon_api_errors_total", "amazon", "us", "getReport") == 1

        shopify.stats["throttled:inventoryAdjustQuantities"] += 1
        assert (
            value(
                m,
                "recon_api_throttles_total",
                api="shopify",
                client="main",
                operation="inventoryAdjustQuantities",
            )
            == 2
        )
    finally:
        await clients.aclose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_server_serves_ledger_and_client_figures(tmp_path: Path, clients: Clients) -> None:
    m = ReconMetrics(CollectorRegistry())
    port = _free_port()
    with ledger_engine("sqlite", tmp_path) as engine:
        add(engine, cycle("r1", ok=True, finished=now()))
        server, _ = recon_metrics.start_metrics_server(port, engine, clients, addr="127.0.0.1", m=m)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                body: Any = r.read().decode()
        finally:
            server.shutdown()
    assert 'recon_last_successful_sync_timestamp_seconds{account="us"}' in body
    assert 'recon_account_info{account="ca",shop="main"} 1.0' in body
    assert "recon_worker_start_time_seconds" in body
    assert "recon_ledger_up 1.0" in body


def test_every_documented_metric_is_exposed_and_vice_versa(m: ReconMetrics, engine: Engine) -> None:
    """The docstring table of ops/metrics.py lists exactly the families a full scrape shows."""
    t = now()
    add(
        engine,
        cycle("r1", ok=True, finished=t),
        Cursor(account="us", stream="ledger", position=t),
        effect("e1", state="applied"),
        Hold(shop="main", kind="large_delta", why="big"),
        CaseRecord(case_id="c1", account="us", case_type="lost", state="s", claim_due=True, claim_deadline=t),
        QuarantinedInput(account="us", stream="ledger", key="k", reason="r"),
        Alert(kind="k", key="k", message="m"),
    )
    m.record_stream("us", "ledger", 1)
    m.record_gate_status("main", paused=False, last_pass_at=t)
    m.worker_start.set(1)
    fake = type("FakeClients", (), {})()
    fake._amazon = {"us": type("C", (), {"stats": {"op": 1, "throttled:op": 1, "errors:op": 1}})()}
    fake._shopify = {"main": type("C", (), {"stats": {"retried:op": 1}})()}
    m.register_clients(fake)
    families = text_string_to_metric_families(generate_latest(m.registry).decode())
    exposed = {fam.name for fam in families if not fam.name.endswith("_created")}
    documented = recon_metrics.documented_metrics()
    # prometheus_client names counter families without their _total suffix
    assert {n.removesuffix("_total") for n in documented} == exposed
