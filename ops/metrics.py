"""Prometheus metrics of the worker, served at `http://<worker>:<metrics_port>/metrics`.

Most figures are derived from the ledger DB **when Prometheus scrapes** (a handful of aggregate
queries: COUNT/SUM/MIN/MAX … GROUP BY, never per-row work), so they are right after a restart and
agree with `starter.py status`. The rest are read from memory at scrape time (the API clients'
request counters) or fed by the code through the small API below, which hides prometheus_client:

    from ops import metrics
    metrics.record_stream("us", "ledger", rows_new)          # an activity stored new source rows
    metrics.record_gate_status("main", paused=False, ...)    # the worker's gate poll
    metrics.register_clients(clients)                        # expose their `stats` counters

Every call is safe: it never raises into the caller.

| metric | type | labels | what |
| --- | --- | --- | --- |
| `recon_ledger_up` | gauge | | 1 if the ledger queries of this scrape succeeded, else 0 |
| `recon_ledger_scrape_duration_seconds` | gauge | | time the ledger queries of this scrape took |
| `recon_account_info` | gauge | account, shop | 1 per configured account (to find accounts never synced) |
| `recon_last_successful_sync_timestamp_seconds` | gauge | account | end of the last successful cycle (CycleRun.ok) |
| `recon_last_cycle_timestamp_seconds` | gauge | account | end of the last cycle, successful or not |
| `recon_cycle_runs_total` | counter | account, result | cycles recorded (result = ok / failed) |
| `recon_cycle_failures_since_success` | gauge | account | failed cycles since the last successful one |
| `recon_cursor_position_timestamp_seconds` | gauge | account, stream | how far each stream has been read (business time) |
| `recon_stream_rows_ingested_total` | counter | account, stream | new source rows stored (`record_stream`; since start) |
| `recon_stream_reads_total` | counter | account, stream | stream reads reported (`record_stream`; since start) |
| `recon_effects` | gauge | shop, account, state, kind | effects by state and business kind |
| `recon_effects_applied_units_total` | counter | shop, account | Σ abs(delta) of applied effects (Shopify units moved) |
| `recon_skus_adjusted` | gauge | shop, account | distinct Shopify SKUs with at least one applied effect |
| `recon_holds_open` | gauge | shop, kind | holds waiting for a person |
| `recon_hold_oldest_open_timestamp_seconds` | gauge | shop, kind | creation time of the oldest open hold |
| `recon_cases_open` | gauge | account, case_type, state | cases not closed |
| `recon_claims_due` | gauge | account, case_type | open cases whose reimbursement claim is due |
| `recon_claims_due_units` | gauge | account, case_type | units owed by those cases |
| `recon_claim_deadline_next_timestamp_seconds` | gauge | account | earliest claim deadline of a due claim |
| `recon_quarantined_rows` | gauge | account, stream | open quarantined inputs |
| `recon_alerts_last_24h` | gauge | kind, account | alerts recorded in the last 24 hours (real time) |
| `recon_alerts_total` | counter | kind | alerts ever recorded |
| `recon_api_requests_total` | counter | api, client, operation | requests sent (api = amazon / shopify; client = account / shop) |
| `recon_api_throttles_total` | counter | api, client, operation | throttled answers (HTTP 429, Shopify THROTTLED) |
| `recon_api_errors_total` | counter | api, client, operation | requests that failed (Amazon) |
| `recon_api_retries_total` | counter | api, client, operation | reads retried after a 5xx/timeout (Shopify) |
| `recon_gate_up` | gauge | shop | 1 if the worker's last query of the gate answered |
| `recon_gate_paused` | gauge | shop | 1 while the gate is paused |
| `recon_gate_paused_since_timestamp_seconds` | gauge | shop | when the gate was paused (0 when running) |
| `recon_gate_last_pass_timestamp_seconds` | gauge | shop | end of the gate's last pass |
| `recon_worker_start_time_seconds` | gauge | | when the metrics server started |

The `recon_api_*` figures come from the clients' in-memory `stats` counters: they restart at 0 with
the worker (or when a client is rebuilt), which is how Prometheus counters behave (`rate()` handles it).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, create_engine, func, or_, select
from sqlalchemy.engine import Engine

from reconciler.ledger.tables import Alert, CaseRecord, Cursor, CycleRun, Effect, Hold, QuarantinedInput

if TYPE_CHECKING:
    from activities.clients import Clients

log = logging.getLogger("recon.metrics")

PREFIX = "recon_"


def _ts(dt: datetime | None) -> float:
    """Unix seconds; the ledger stores UTC (SQLite hands it back naive)."""
    if dt is None:
        return 0.0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _s(v: Any) -> str:
    return "" if v is None else str(v)


class LedgerCollector(Collector):
    """Aggregates of the ledger, computed on each scrape."""

    def __init__(self, engine: Engine, *, accounts: Iterable[tuple[str, str]] = ()) -> None:
        self.bind(engine, accounts)

    def bind(self, engine: Engine, accounts: Iterable[tuple[str, str]] = ()) -> None:
        self._engine = _reader(engine)
        self.accounts: list[tuple[str, str]] = list(accounts)  # (account, shop) pairs

    def describe(self) -> list[Metric]:
        return []  # don't query the DB at registration

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            families = self._families()
            up = 1.0
        except Exception as e:
            log.warning("ledger metrics failed", extra={"error": str(e)[:300]})
            families, up = [], 0.0
        yield from families
        yield GaugeMetricFamily(
            f"{PREFIX}ledger_up", "1 if the ledger queries of this scrape succeeded", value=up
        )
        yield GaugeMetricFamily(
            f"{PREFIX}ledger_scrape_duration_seconds",
            "time the ledger queries of this scrape took",
            value=time.perf_counter() - started,
        )

    def _families(self) -> list[Metric]:
        out: list[Metric] = []
        now = datetime.now(UTC)
        with self._engine.connect() as c:
            info = GaugeMetricFamily(
                f"{PREFIX}account_info", "1 per configured account", labels=["account", "shop"]
            )
            for account, shop in self.accounts:
                info.add_metric([account, shop], 1)
            out.append(info)

            # --- sync cycles -----------------------------------------------------------------------
            last_ok = GaugeMetricFamily(
                f"{PREFIX}last_successful_sync_timestamp_seconds",
                "end of the last successful sync cycle",
                labels=["account"],
            )
            last_any = GaugeMetricFamily(
                f"{PREFIX}last_cycle_timestamp_seconds",
                "end of the last sync cycle, successful or not",
                labels=["account"],
            )
            runs = CounterMetricFamily(
                f"{PREFIX}cycle_runs", "sync cycles recorded", labels=["account", "result"]
            )
            ok_at: dict[str, float] = {}
            any_at: dict[str, float] = {}
            for account, ok, n, last in c.execute(
                select(CycleRun.account, CycleRun.ok, func.count(), func.max(CycleRun.finished_at)).group_by(
                    CycleRun.account, CycleRun.ok
                )
            ):
                runs.add_metric([account, "ok" if ok else "failed"], n)
                if ok:
                    ok_at[account] = _ts(last)
                any_at[account] = max(any_at.get(account, 0.0), _ts(last))
            for account, t in sorted(ok_at.items()):
                last_ok.add_metric([account], t)
            for account, t in sorted(any_at.items()):
                last_any.add_metric([account], t)
            out += [last_ok, last_any, runs]

            last_success = (
                select(CycleRun.account.label("account"), func.max(CycleRun.finished_at).label("t"))
                .where(CycleRun.ok)
                .group_by(CycleRun.account)
                .subquery()
            )
            failures = GaugeMetricFamily(
                f"{PREFIX}cycle_failures_since_success",
                "failed sync cycles since the last successful one",
                labels=["account"],
            )
            failing = dict(
                c.execute(
                    select(CycleRun.account, func.count())
                    .select_from(CycleRun)
                    .join(last_success, last_success.c.account == CycleRun.account, isouter=True)
                    .where(
                        ~CycleRun.ok,
                        or_(last_success.c.t.is_(None), CycleRun.finished_at > last_success.c.t),
                    )
                    .group_by(CycleRun.account)
                ).all()
            )
            for a in sorted(set(any_at) | set(failing)):
                failures.add_metric([a], failing.get(a, 0))
            out.append(failures)

            cursor = GaugeMetricFamily(
                f"{PREFIX}cursor_position_timestamp_seconds",
                "how far each stream has been read (business time)",
                labels=["account", "stream"],
            )
            for account, stream, position in c.execute(
                select(Cursor.account, Cursor.stream, Cursor.position)
            ):
                cursor.add_metric([account, stream], _ts(position))
            out.append(cursor)

            # --- effects ---------------------------------------------------------------------------
            effects = GaugeMetricFamily(
                f"{PREFIX}effects", "effects by state and kind", labels=["shop", "account", "state", "kind"]
            )
            for shop, account, state, kind, n in c.execute(
                select(Effect.shop, Effect.account, Effect.state, Effect.kind, func.count()).group_by(
                    Effect.shop, Effect.account, Effect.state, Effect.kind
                )
            ):
                effects.add_metric([shop, account, state, kind], n)
            units = CounterMetricFamily(
                f"{PREFIX}effects_applied_units",
                "absolute Shopify units moved by applied effects",
                labels=["shop", "account"],
            )
            skus = GaugeMetricFamily(
                f"{PREFIX}skus_adjusted",
                "distinct Shopify SKUs with an applied effect",
                labels=["shop", "account"],
            )
            for shop, account, moved, n_skus in c.execute(
                select(
                    Effect.shop,
                    Effect.account,
                    func.coalesce(func.sum(func.abs(Effect.delta)), 0),
                    func.count(func.distinct(Effect.shopify_sku)),
                )
                .where(Effect.state == "applied")
                .group_by(Effect.shop, Effect.account)
            ):
                units.add_metric([shop, account], moved)
                skus.add_metric([shop, account], n_skus)
            out += [effects, units, skus]

            # --- holds -----------------------------------------------------------------------------
            holds = GaugeMetricFamily(
                f"{PREFIX}holds_open", "holds waiting for a person", labels=["shop", "kind"]
            )
            oldest = GaugeMetricFamily(
                f"{PREFIX}hold_oldest_open_timestamp_seconds",
                "creation time of the oldest open hold",
                labels=["shop", "kind"],
            )
            for shop, kind, n, first in c.execute(
                select(Hold.shop, Hold.kind, func.count(), func.min(Hold.created_at))
                .where(Hold.state == "open")
                .group_by(Hold.shop, Hold.kind)
            ):
                holds.add_metric([shop, kind], n)
                oldest.add_metric([shop, kind], _ts(first))
            out += [holds, oldest]

            # --- cases and claims ------------------------------------------------------------------
            cases = GaugeMetricFamily(
                f"{PREFIX}cases_open", "cases not closed", labels=["account", "case_type", "state"]
            )
            for account, case_type, state, n in c.execute(
                select(CaseRecord.account, CaseRecord.case_type, CaseRecord.state, func.count())
                .where(~CaseRecord.closed)
                .group_by(CaseRecord.account, CaseRecord.case_type, CaseRecord.state)
            ):
                cases.add_metric([account, case_type, state], n)
            claims = GaugeMetricFamily(
                f"{PREFIX}claims_due", "open cases whose claim is due", labels=["account", "case_type"]
            )
            claim_units = GaugeMetricFamily(
                f"{PREFIX}claims_due_units",
                "units owed by cases whose claim is due",
                labels=["account", "case_type"],
            )
            deadlines: dict[str, float] = {}
            for account, case_type, n, owed, deadline in c.execute(
                select(
                    CaseRecord.account,
                    CaseRecord.case_type,
                    func.count(),
                    func.coalesce(func.sum(CaseRecord.owed_units), 0),
                    func.min(CaseRecord.claim_deadline),
                )
                .where(and_(CaseRecord.claim_due, ~CaseRecord.closed))
                .group_by(CaseRecord.account, CaseRecord.case_type)
            ):
                claims.add_metric([account, case_type], n)
                claim_units.add_metric([account, case_type], owed)
                if deadline is not None:
                    t = _ts(deadline)
                    deadlines[account] = min(deadlines.get(account, t), t)
            next_deadline = GaugeMetricFamily(
                f"{PREFIX}claim_deadline_next_timestamp_seconds",
                "earliest claim deadline of a due claim",
                labels=["account"],
            )
            for account, t in sorted(deadlines.items()):
                next_deadline.add_metric([account], t)
            out += [cases, claims, claim_units, next_deadline]

            # --- quarantine and alerts -------------------------------------------------------------
            quarantined = GaugeMetricFamily(
                f"{PREFIX}quarantined_rows", "open quarantined inputs", labels=["account", "stream"]
            )
            for account, stream, n in c.execute(
                select(QuarantinedInput.account, QuarantinedInput.stream, func.count())
                .where(QuarantinedInput.state == "open")
                .group_by(QuarantinedInput.account, QuarantinedInput.stream)
            ):
                quarantined.add_metric([account, stream], n)
            recent = GaugeMetricFamily(
                f"{PREFIX}alerts_last_24h", "alerts recorded in the last 24 hours", labels=["kind", "account"]
            )
            for kind, account, n in c.execute(
                select(Alert.kind, Alert.account, func.count())
                .where(Alert.created_at >= now - timedelta(hours=24))
                .group_by(Alert.kind, Alert.account)
            ):
                recent.add_metric([kind, _s(account)], n)
            alerts = CounterMetricFamily(f"{PREFIX}alerts", "alerts ever recorded", labels=["kind"])
            for kind, n in c.execute(select(Alert.kind, func.count()).group_by(Alert.kind)):
                alerts.add_metric([kind], n)
            out += [quarantined, recent, alerts]
        return out


def _reader(engine: Engine) -> Engine:
    """The engine for scrape queries. The worker's SQLite engine takes the write lock at every BEGIN
    (reconciler/ledger/db.py); scrapes read through a plain engine on the same file (WAL: readers
    never block the writer). PostgreSQL and in-memory SQLite use the engine as it is."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
    return engine


_API_STATS = {
    "": ("api_requests", "requests sent"),
    "throttled": ("api_throttles", "throttled answers (HTTP 429, THROTTLED)"),
    "errors": ("api_errors", "requests that failed"),
    "retried": ("api_retries", "reads retried after a 5xx or timeout"),
}


class ClientStatsCollector(Collector):
    """The `stats` counters of the worker's Amazon and Shopify clients, read on each scrape."""

    def __init__(self) -> None:
        self._clients: list[weakref.ref[Clients]] = []  # a closed, dropped Clients disappears
        self._lock = threading.Lock()

    def add(self, clients: Clients) -> None:
        with self._lock:
            self._clients = [r for r in self._clients if r() is not None]
            if all(r() is not clients for r in self._clients):
                self._clients.append(weakref.ref(clients))

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        families = {
            prefix: CounterMetricFamily(f"{PREFIX}{name}", help_, labels=["api", "client", "operation"])
            for prefix, (name, help_) in _API_STATS.items()
        }
        totals: dict[tuple[str, str, str, str], float] = {}
        with self._lock:
            registered = [c for c in (r() for r in self._clients) if c is not None]
        for clients in registered:
            for api, attr in (("amazon", "_amazon"), ("shopify", "_shopify")):
                for name, client in list(getattr(clients, attr, {}).items()):
                    try:
                        stats = dict(client.stats)
                    except Exception:
                        continue
                    for key, n in stats.items():
                        prefix, _, operation = key.rpartition(":")
                        if prefix not in families:
                            continue
                        k = (prefix, api, name, operation)
                        totals[k] = totals.get(k, 0) + n
        for (prefix, api, name, operation), n in sorted(totals.items()):
            families[prefix].add_metric([api, name, operation], n)
        yield from families.values()


class ReconMetrics:
    """The worker's metrics on one registry (the process-wide default, or a dedicated one in tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.rows_ingested = Counter(
            f"{PREFIX}stream_rows_ingested",
            "new source rows stored, per stream",
            ["account", "stream"],
            registry=r,
        )
        self.stream_reads = Counter(
            f"{PREFIX}stream_reads", "stream reads reported, per stream", ["account", "stream"], registry=r
        )
        self.gate_up = Gauge(
            f"{PREFIX}gate_up", "1 if the worker's last query of the gate answered", ["shop"], registry=r
        )
        self.gate_paused = Gauge(f"{PREFIX}gate_paused", "1 while the gate is paused", ["shop"], registry=r)
        self.gate_paused_since = Gauge(
            f"{PREFIX}gate_paused_since_timestamp_seconds",
            "when the gate was paused (0 when running)",
            ["shop"],
            registry=r,
        )
        self.gate_last_pass = Gauge(
            f"{PREFIX}gate_last_pass_timestamp_seconds", "end of the gate's last pass", ["shop"], registry=r
        )
        self.worker_start = Gauge(
            f"{PREFIX}worker_start_time_seconds", "when the metrics server started", registry=r
        )
        self.clients = ClientStatsCollector()
        r.register(self.clients)
        self.ledger: LedgerCollector | None = None

    # --- wiring ---------------------------------------------------------------------------------
    def attach_ledger(self, engine: Engine, accounts: Iterable[tuple[str, str]] = ()) -> LedgerCollector:
        """Derive the ledger figures from `engine` on each scrape (a later call replaces the engine)."""
        if self.ledger is None:
            self.ledger = LedgerCollector(engine, accounts=accounts)
            self.registry.register(self.ledger)
        else:
            self.ledger.bind(engine, accounts)
        return self.ledger

    def register_clients(self, clients: Clients) -> None:
        self.clients.add(clients)

    # --- events ---------------------------------------------------------------------------------
    def record_stream(self, account: str, stream: str, rows_new: int) -> None:
        try:
            self.stream_reads.labels(account, stream).inc()
            self.rows_ingested.labels(account, stream).inc(max(0, int(rows_new)))
        except Exception as e:  # metrics never break the caller
            log.debug("record_stream failed: %s", e)

    def record_gate_status(
        self,
        shop: str,
        *,
        paused: bool,
        paused_at: datetime | None = None,
        last_pass_at: datetime | None = None,
    ) -> None:
        try:
            self.gate_up.labels(shop).set(1)
            self.gate_paused.labels(shop).set(1 if paused else 0)
            self.gate_paused_since.labels(shop).set(_ts(paused_at) if paused else 0)
            if last_pass_at is not None:
                self.gate_last_pass.labels(shop).set(_ts(last_pass_at))
        except Exception as e:
            log.debug("record_gate_status failed: %s", e)

    def record_gate_unreachable(self, shop: str) -> None:
        try:
            self.gate_up.labels(shop).set(0)
        except Exception as e:
            log.debug("record_gate_unreachable failed: %s", e)

    def exposition(self) -> bytes:
        """The text Prometheus would scrape (tests, debugging)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def documented_metrics() -> set[str]:
    """The metric names of this module's docstring table (counters with their `_total` suffix)."""
    return set(re.findall(r"^\| `(recon_[a-z0-9_]+)` \|", __doc__ or "", re.MULTILINE))


# --- the process-wide instance: what the rest of the code calls --------------------------------------
_default: ReconMetrics | None = None
_default_lock = threading.Lock()


def metrics() -> ReconMetrics:
    """The process-wide metrics, on prometheus_client's default registry (with its process_* and
    python_* metrics), created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ReconMetrics(REGISTRY)
        return _default


def use(m: ReconMetrics | None) -> ReconMetrics | None:
    """Make `m` the process-wide instance (None: back to lazily creating one); returns the previous."""
    global _default
    with _default_lock:
        previous, _default = _default, m
        return previous


def record_stream(account: str, stream: str, rows_new: int) -> None:
    """A stream read stored `rows_new` new source rows."""
    metrics().record_stream(account, stream, rows_new)


def record_gate_status(
    shop: str, *, paused: bool, paused_at: datetime | None = None, last_pass_at: datetime | None = None
) -> None:
    metrics().record_gate_status(shop, paused=paused, paused_at=paused_at, last_pass_at=last_pass_at)


def record_gate_unreachable(shop: str) -> None:
    metrics().record_gate_unreachable(shop)


def register_clients(clients: Clients) -> None:
    """Expose the request/throttle counters of these clients (`Clients._amazon` / `_shopify`)."""
    metrics().register_clients(clients)


def start_metrics_server(
    port: int,
    engine: Engine,
    clients: Clients | None = None,
    *,
    addr: str = "0.0.0.0",
    m: ReconMetrics | None = None,
) -> tuple[Any, threading.Thread]:
    """Serve /metrics on `addr:port` from a daemon thread; returns (server, thread): call
    `server.shutdown()` to stop it."""
    m = m or metrics()
    accounts: list[tuple[str, str]] = []
    if clients is not None:
        m.register_clients(clients)
        accounts = [(a.name, a.shop) for a in clients.settings.accounts]
    m.attach_ledger(engine, accounts)
    m.worker_start.set(time.time())
    server, thread = start_http_server(port, addr=addr, registry=m.registry)
    log.info("metrics server started", extra={"port": port, "addr": addr})
    return server, thread
