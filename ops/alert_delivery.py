"""Alert delivery: the sinks of the one alert path (reconciler/ledger/alerts.py).

`raise_alert` records an alert as a ledger row inside the transaction of whatever found it. Delivery
happens afterwards and outside those transactions: the worker runs an `AlertDispatcher` that polls the
undelivered rows (`delivered_at IS NULL`, oldest first, in batches) and, for each one,

1. applies the cool-down: when an alert of the same kind and key was *sent* within
   `alerts.cooldown_minutes`, this one is not sent again; it is marked delivered with a log line saying
   so, and stays in the ledger (`starter.py alerts list` shows it);
2. sends it to every sink, in order: the webhook sink when `alerts.webhook_url_env` is configured
   (Slack-compatible JSON `{"text": …, "blocks": […]}`), then the log sink (one structured line);
3. marks it delivered (`delivered_at`), in its own short transaction.

Guarantees and limits:

- **At least once.** `delivered_at` is written after the sinks accepted the alert, so a crash (or a
  shutdown) between the send and the mark sends that alert once more on the next start. A row is never
  marked before it was sent or suppressed, so nothing is lost.
- **Failures never crash the worker and never block the others forever.** The webhook is retried with
  backoff on timeouts, connection errors, 429 and 5xx (a few tries per send); an alert it still refuses
  stays undelivered and waits out its own growing backoff (`RETRY_BACKOFF_S` … `RETRY_BACKOFF_MAX_S`)
  while later alerts are tried; a pass stops after `max_failures_per_pass` failures (the webhook is
  probably down) and the next pass tries again. Nothing is ever given up: the row waits in the ledger.
- **The webhook URL is a secret** (Slack's carries its token in the path): it is read through
  `Settings.secret`, and no log line or error message here contains it.
- **One dispatcher per ledger.** Two workers on the same ledger would each deliver: run alert delivery
  in one of them. The cool-down remembers what this process sent; after a restart it counts the last
  delivery (sent or suppressed) of a kind and key as sent, which can delay one reminder, never repeat
  one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp
from pydantic import SecretStr
from sqlalchemy import func, inspect, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reconciler.config import Settings
from reconciler.ledger.tables import Alert

log = logging.getLogger("recon.alert.delivery")
alert_log = logging.getLogger("recon.alert")

BATCH_SIZE = 50
MAX_FAILURES_PER_PASS = 3
RETRY_BACKOFF_S = 30.0  # an alert the sinks refused waits this long, doubling, before it is tried again
RETRY_BACKOFF_MAX_S = 15 * 60.0
WEBHOOK_TIMEOUT_S = 10.0
WEBHOOK_TRIES = 3
WEBHOOK_BACKOFF_S = 0.5
SLACK_SECTION_LIMIT = 3000  # characters of a section block's text
SLACK_TEXT_LIMIT = 4000

TITLES = {
    "claim_due": "Claim due",
    "claim_expired": "Claim window expired",
    "removal_overdue": "Removal order overdue",
    "removal_short_receipt": "Removal received short",
    "removal_unmatched_receipt": "Removal receipt without a matching order",
    "inbound_shortage": "Inbound shipment short",
    "report_fatal": "Amazon report keeps failing",
    "report_unreadable": "Amazon report unreadable",
    "large_delta": "Large inventory change",
    "discrepancy": "Full reconciliation found differences",
    # the watchdog (reconciler/watchdog.py)
    "stale_sync": "No successful sync cycle",
    "failing_cycles": "Sync cycles keep failing",
    "paused_too_long": "Writes to Shopify paused too long",
    "sustained_discrepancy": "The same difference in every full reconciliation",
    "credential_rotation": "Amazon LWA client secret rotation",
    # at the source
    "quarantined_input": "Rows quarantined",
    "negative_quantity": "Shopify quantity below zero",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(t: datetime) -> datetime:
    """SQLite hands datetimes back naive; every time stored here is UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PendingAlert:
    """What a sink needs of an alert row (detached from any session)."""

    id: int
    kind: str
    key: str
    account: str | None
    message: str
    created_at: datetime

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, self.kind.replace("_", " ").capitalize())


class DeliveryError(Exception):
    """A sink could not take an alert; the message never contains a secret."""


class Sink(Protocol):
    name: str

    async def send(self, alert: PendingAlert) -> None:
        """Deliver or raise DeliveryError."""
        ...


class LogSink:
    """One structured line per delivered alert (always configured; never fails)."""

    name = "log"

    async def send(self, alert: PendingAlert) -> None:
        alert_log.warning(
            f"{alert.title}: {alert.message}",
            extra={
                "alert": alert.kind,
                "key": alert.key,
                "account": alert.account,
                "alert_id": alert.id,
                "raised_at": alert.created_at.isoformat(),
            },
        )


def _escape(s: str) -> str:
    """Slack mrkdwn: only &, < and > need escaping."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(s: str, limit: int) -> str:
    return s if len(s) <= limit else s[: limit - 1] + "…"


def slack_payload(alert: PendingAlert) -> dict[str, Any]:
    """Slack-compatible incoming-webhook JSON: `text` (the notification and fallback) and `blocks`."""
    title, message = _escape(alert.title), _escape(alert.message)
    context = [f"kind `{_escape(alert.kind)}`", f"key `{_escape(alert.key)}`"]
    if alert.account:
        context.append(f"account `{_escape(alert.account)}`")
    context.append(f"raised {alert.created_at.strftime('%Y-%m-%d %H:%M:%S')} UTC · alert #{alert.id}")
    return {
        "text": _cut(f":warning: {title}: {message}", SLACK_TEXT_LIMIT),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _cut(f"*:warning: {title}*\n{message}", SLACK_SECTION_LIMIT),
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(" · ".join(context), 3000)}]},
        ],
    }


class WebhookSink:
    """POSTs `slack_payload` to a webhook URL (a secret: never logged, never in an error message).
    Retries timeouts, connection errors, 429 and 5xx a few times with backoff; any other status fails
    the send at once (the dispatcher tries the alert again later)."""

    name = "webhook"

    def __init__(
        self,
        url: SecretStr,
        *,
        timeout_s: float = WEBHOOK_TIMEOUT_S,
        tries: int = WEBHOOK_TRIES,
        backoff_s: float = WEBHOOK_BACKOFF_S,
    ) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._tries = max(1, tries)
        self._backoff_s = backoff_s
        self._session: aiohttp.ClientSession | None = None

    async def send(self, alert: PendingAlert) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = json.dumps(slack_payload(alert))
        problem = ""
        for attempt in range(1, self._tries + 1):
            delay = self._backoff_s * 2 ** (attempt - 1)
            try:
                async with self._session.post(
                    self._url.get_secret_value(),
                    data=body,
                    headers={"Content-Type": "application/json"},
                    allow_redirects=False,
                ) as r:
                    if 200 <= r.status < 300:
                        return
                    problem = f"HTTP {r.status}"
                    if r.status != 429 and r.status < 500:
                        raise DeliveryError(f"the webhook refused the alert ({problem})")
                    retry_after = r.headers.get("Retry-After", "")
                    if r.status == 429 and retry_after.isdigit():
                        delay = max(delay, min(float(retry_after), 30.0))
            except TimeoutError:
                problem = "timeout"
            except aiohttp.ClientError as e:
                # str(e) may carry the URL: name only the kind of failure.
                problem = type(e).__name__
            if attempt < self._tries:
                log.info(
                    "webhook send failed; retrying",
                    extra={"alert_id": alert.id, "error": problem, "try": attempt, "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
        raise DeliveryError(f"the webhook failed {self._tries} times (last: {problem})")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass
class PassResult:
    sent: list[int] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


@dataclass
class _Backoff:
    failures: int
    next_try: datetime


class AlertDispatcher:
    """Polls undelivered alerts and hands each to every sink; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        sinks: Sequence[Sink],
        *,
        cooldown: timedelta = timedelta(minutes=60),
        poll_seconds: float = 10.0,
        batch_size: int = BATCH_SIZE,
        max_failures_per_pass: int = MAX_FAILURES_PER_PASS,
        retry_backoff_s: float = RETRY_BACKOFF_S,
        retry_backoff_max_s: float = RETRY_BACKOFF_MAX_S,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._sinks = list(sinks)
        self._cooldown = cooldown
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._max_failures = max(1, max_failures_per_pass)
        self._retry_backoff_s = retry_backoff_s
        self._retry_backoff_max_s = retry_backoff_max_s
        self._now = now
        self._last_sent: dict[tuple[str, str], datetime] = {}
        self._backoff: dict[int, _Backoff] = {}

    @property
    def sink_names(self) -> list[str]:
        return [s.name for s in self._sinks]

    # --- the loop --------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set. A failing pass (the ledger unreachable…) is logged and retried."""
        log.info("alert delivery started", extra={"sinks": ",".join(self.sink_names)})
        schema_checked = False
        try:
            while not stop.is_set():
                try:
                    if not schema_checked:
                        await asyncio.to_thread(ensure_delivery_column, self._engine)
                        schema_checked = True
                    result = await self.deliver_pending(stop)
                    if len(result.sent) + len(result.suppressed) == self._batch_size:
                        continue  # a full batch went through: there may be more waiting
                except Exception as e:
                    log.error(
                        "alert delivery pass failed", extra={"error": f"{type(e).__name__}: {str(e)[:200]}"}
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll_seconds)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        for sink in self._sinks:
            close = getattr(sink, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    async def deliver_pending(self, stop: asyncio.Event | None = None) -> PassResult:
        """One pass: at most one batch of undelivered alerts, oldest first, skipping those still in
        their backoff; stops after `max_failures_per_pass` failed sends."""
        result = PassResult()
        now = self._now()
        waiting = [i for i, b in self._backoff.items() if b.next_try > now]
        batch = await asyncio.to_thread(self._fetch, waiting)
        for alert in batch:
            if stop is not None and stop.is_set():
                break
            outcome = await self._deliver_one(alert)
            getattr(result, outcome).append(alert.id)
            if len(result.failed) >= self._max_failures:
                log.warning(
                    "alert delivery pass stopped after repeated failures; retrying on the next pass",
                    extra={"failed": len(result.failed), "undelivered_in_batch": len(batch)},
                )
                break
        return result

    async def _deliver_one(self, alert: PendingAlert) -> str:
        last = self._last_sent.get((alert.kind, alert.key))
        if last is None:
            last = await asyncio.to_thread(self._last_delivery, alert)
        now = self._now()
        if last is not None and now - last < self._cooldown:
            await asyncio.to_thread(self._mark, alert.id, now)
            self._backoff.pop(alert.id, None)
            alert_log.info(
                "alert not sent again within the cool-down; marked delivered",
                extra={
                    "alert": alert.kind,
                    "key": alert.key,
                    "alert_id": alert.id,
                    "last_sent_at": last.isoformat(),
                    "cooldown_minutes": self._cooldown.total_seconds() / 60,
                },
            )
            return "suppressed"
        for sink in self._sinks:
            try:
                await sink.send(alert)
            except Exception as e:  # DeliveryError, or a sink's bug: never the worker's end
                self._failed(alert, sink.name, e)
                return "failed"
        sent_at = self._now()
        await asyncio.to_thread(self._mark, alert.id, sent_at)
        self._last_sent[(alert.kind, alert.key)] = sent_at
        self._backoff.pop(alert.id, None)
        return "sent"

    def _failed(self, alert: PendingAlert, sink: str, e: Exception) -> None:
        previous = self._backoff.get(alert.id)
        failures = (previous.failures if previous else 0) + 1
        wait = min(self._retry_backoff_s * 2 ** (failures - 1), self._retry_backoff_max_s)
        self._backoff[alert.id] = _Backoff(failures, self._now() + timedelta(seconds=wait))
        error = str(e) if isinstance(e, DeliveryError) else type(e).__name__
        log.error(
            "alert not delivered; it stays in the ledger and is tried again",
            extra={
                "alert": alert.kind,
                "alert_id": alert.id,
                "sink": sink,
                "error": error[:200],
                "failures": failures,
                "retry_in_s": wait,
            },
        )

    # --- the ledger (each call its own short transaction) ----------------------------------------------
    def _fetch(self, skip: list[int]) -> list[PendingAlert]:
        with Session(self._engine) as s, s.begin():
            stmt = select(Alert).where(col(Alert.delivered_at).is_(None))
            if skip:
                stmt = stmt.where(col(Alert.id).not_in(skip))
            rows = s.exec(stmt.order_by(col(Alert.id)).limit(self._batch_size)).all()
            return [
                PendingAlert(
                    id=a.id or 0,
                    kind=a.kind,
                    key=a.key,
                    account=a.account,
                    message=a.message,
                    created_at=_utc(a.created_at),
                )
                for a in rows
            ]

    def _last_delivery(self, alert: PendingAlert) -> datetime | None:
        with Session(self._engine) as s, s.begin():
            last = s.exec(
                select(func.max(Alert.delivered_at)).where(
                    Alert.kind == alert.kind, Alert.key == alert.key, Alert.id != alert.id
                )
            ).one()
        return _utc(last) if last is not None else None

    def _mark(self, alert_id: int, at: datetime) -> None:
        with Session(self._engine) as s, s.begin():
            s.exec(  # type: ignore[call-overload]
                update(Alert)
                .where(col(Alert.id) == alert_id, col(Alert.delivered_at).is_(None))
                .values(delivered_at=at)
            )


def ensure_delivery_column(engine: Engine) -> None:
    """A ledger created before alert delivery has no `alert.delivered_at` (create_all adds tables, not
    columns): add it, and count the alerts already there as delivered rather than send them all now."""
    columns = {c["name"] for c in inspect(engine).get_columns("alert")}
    if "delivered_at" in columns:
        return
    kind = "TIMESTAMP WITHOUT TIME ZONE" if engine.dialect.name == "postgresql" else "DATETIME"
    with engine.begin() as c:
        c.execute(text(f"ALTER TABLE alert ADD COLUMN delivered_at {kind}"))
        c.execute(text("UPDATE alert SET delivered_at = created_at"))
        c.execute(text("CREATE INDEX IF NOT EXISTS ix_alert_delivered_at ON alert (delivered_at)"))
    log.info("added alert.delivered_at; alerts recorded before count as delivered")


def build_dispatcher(settings: Settings, engine: Engine, **kw: Any) -> AlertDispatcher:
    """The worker's dispatcher: the log sink always, the webhook sink when configured. Raises
    ConfigError when the webhook's secret is not set."""
    cfg = settings.alerts
    sinks: list[Sink] = []
    if cfg.webhook_url_env:
        sinks.append(WebhookSink(settings.secret(cfg.webhook_url_env)))
    sinks.append(LogSink())
    return AlertDispatcher(
        engine,
        sinks,
        cooldown=timedelta(minutes=cfg.cooldown_minutes),
        poll_seconds=cfg.poll_seconds,
        **kw,
    )


def list_alerts(
    engine: Engine, *, since: datetime | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """Alerts for `starter.py alerts list`, oldest first, with whether each was delivered."""
    ensure_delivery_column(engine)
    with Session(engine) as s:
        stmt = select(Alert).order_by(col(Alert.id))
        if since is not None:
            stmt = stmt.where(col(Alert.created_at) >= since)
        if kind:
            stmt = stmt.where(Alert.kind == kind)
        rows = s.exec(stmt).all()
    out = []
    for a in rows:
        d = a.model_dump()
        d["created_at"] = _utc(a.created_at).isoformat()
        d["delivered_at"] = _utc(a.delivered_at).isoformat() if a.delivered_at else None
        out.append(d)
    return out
