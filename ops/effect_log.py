"""The reconciliation log (`starter.py log`): every applied effect with the source rows it came from.

An effect derived from the FBA ledger leads to its movement and the ledger row (date, event type,
reference id, fulfilment centre, quantity); an effect of the Orders API to the order item; a case's
effect to the evidence of its case; a reconciliation correction to the difference it corrected.

Fast on a large ledger: one streamed query (effects joined with their movements), and per chunk of
effects one IN query per kind of source — never one query per effect. CSV and JSON are written as the
rows stream, so memory stays flat whatever the size of the log.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import IO, Any

from sqlalchemy import Date, Select, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from reconciler.claims import evidence_detail, evidence_reference
from reconciler.clock import as_utc
from reconciler.ledger.claims_due import chunks
from reconciler.ledger.tables import DiscrepancyRecord, Effect, Evidence, LedgerSourceRow, Movement
from reconciler.models import EffectState

CHUNK = 900  # effects per IN query (SQLite's default limit of bound parameters is 999)
CASE_CACHE_MAX = 20_000  # cases whose evidence is kept between chunks (a case's effects come together)
LEDGER_REF = "ledger_source_row:"
ORDER_REF = "order_item:"

CSV_COLUMNS = [
    "effect_id",
    "date",
    "applied_at",
    "account",
    "shop",
    "kind",
    "sku",
    "msku",
    "location",
    "name",
    "reason",
    "delta",
    "quantity_after",
    "source",
    "source_ref",
    "source_date",
    "source_event",
    "source_reference_id",
    "source_fulfillment_center",
    "source_quantity",
    "source_detail",
]


@dataclass(frozen=True, slots=True)
class LogFilter:
    account: str | None = None
    sku: str | None = None  # Shopify SKU or Amazon MSKU
    kind: str | None = None
    since: date | None = None  # inclusive, on the effect's business date
    until: date | None = None  # inclusive
    limit: int | None = None  # the most recent N (still listed oldest first)


@dataclass(slots=True)
class SourceRow:
    """One row an effect came from: a ledger row, an order item, a case's evidence, a difference."""

    date: date | None
    event: str
    reference_id: str = ""
    fulfillment_center: str = ""
    quantity: int | None = None
    detail: str = ""


@dataclass(slots=True)
class LogEntry:
    effect_id: int
    date: date | None  # business date of what happened (the ledger day; else the day it was applied)
    applied_at: datetime | None
    account: str
    shop: str
    kind: str
    sku: str  # Shopify SKU
    msku: str
    location: str
    name: str
    reason: str
    delta: int
    quantity_after: int | None
    source: str  # ledger | orders | case | reconciliation | other
    source_ref: str  # ledger_source_row:42, order_item:…, the case id, reconcile run …
    source_rows: list[SourceRow] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def csv_row(self) -> list[Any]:
        """Source columns list every source row, joined by " | " (a ledger effect has exactly one)."""

        def each(values: Iterable[Any]) -> str:
            return " | ".join("" if v is None else str(v) for v in values)

        rows = self.source_rows
        return [
            self.effect_id,
            self.date.isoformat() if self.date else "",
            self.applied_at.isoformat() if self.applied_at else "",
            self.account,
            self.shop,
            self.kind,
            self.sku,
            self.msku,
            self.location,
            self.name,
            self.reason,
            self.delta,
            "" if self.quantity_after is None else self.quantity_after,
            self.source,
            self.source_ref,
            each(r.date.isoformat() if r.date else "" for r in rows),
            each(r.event for r in rows),
            each(r.reference_id for r in rows),
            each(r.fulfillment_center for r in rows),
            each(r.quantity for r in rows),
            each(r.detail for r in rows),
        ]


def _business_day() -> ColumnElement[date]:
    # Ledger and order effects carry the business date; corrections only their applied time.
    return func.coalesce(Effect.occurred_on, func.date(Effect.applied_at), type_=Date)


def _query(flt: LogFilter) -> Select[Any]:
    day = _business_day()
    stmt = (
        select(
            Effect.id,
            Effect.key,
            day.label("day"),
            Effect.applied_at,
            Effect.account,
            Effect.shop,
            Effect.kind,
            Effect.shopify_sku,
            Effect.msku,
            Effect.location,
            Effect.name,
            Effect.reason,
            Effect.delta,
            Effect.quantity_after,
            Movement.stream,
            Movement.source_ref,
            Movement.occurred_on,
            Movement.event_type,
            Movement.reference_id,
            Movement.quantity,
            col(Movement.reason).label("movement_reason"),
            Movement.disposition,
        )
        .outerjoin(Movement, col(Movement.id) == col(Effect.movement_id))
        .where(Effect.state == EffectState.APPLIED)
    )
    if flt.account:
        stmt = stmt.where(Effect.account == flt.account)
    if flt.sku:
        stmt = stmt.where((Effect.shopify_sku == flt.sku) | (Effect.msku == flt.sku))
    if flt.kind:
        stmt = stmt.where(Effect.kind == flt.kind)
    if flt.since:
        stmt = stmt.where(day >= flt.since)
    if flt.until:
        stmt = stmt.where(day <= flt.until)
    if flt.limit:
        # The most recent N: newest first with LIMIT, turned around by the caller.
        return stmt.order_by(day.desc(), col(Effect.id).desc()).limit(flt.limit)
    return stmt.order_by(day, col(Effect.id))


def count_entries(engine: Engine, flt: LogFilter) -> int:
    """How many applied effects the filter matches (without its limit)."""
    unlimited = replace(flt, limit=None)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_query(unlimited).subquery())).scalar_one())


def iter_entries(engine: Engine, flt: LogFilter) -> Iterator[LogEntry]:
    """The log, oldest first, streamed in chunks. Use a `reading_engine` on SQLite: a long read through
    the ordinary engine would hold the ledger's write lock."""
    cases: dict[str, list[SourceRow]] = {}
    with engine.connect() as stream, engine.connect() as lookups:
        result = stream.execution_options(yield_per=CHUNK).execute(_query(flt))
        # With a limit the query returns the newest `limit` rows, newest first: turned around here.
        parts: Iterable[Sequence[Any]] = [list(reversed(result.all()))] if flt.limit else result.partitions()
        for part in parts:
            yield from _entries(lookups, part, cases)
            if len(cases) > CASE_CACHE_MAX:
                cases.clear()


def _entries(conn: Connection, rows: Sequence[Any], cases: dict[str, list[SourceRow]]) -> list[LogEntry]:
    ledger_ids = [
        int(r.source_ref.removeprefix(LEDGER_REF))
        for r in rows
        if r.source_ref and r.source_ref.startswith(LEDGER_REF)
    ]
    ledger_rows = _ledger_rows(conn, ledger_ids)
    case_ids = {r.id: case_of(r.key) for r in rows if r.source_ref is None and r.key.startswith("case:")}
    _load_case_evidence(conn, [c for c in set(case_ids.values()) if c not in cases], cases)
    corrections = _corrections(conn, [r.id for r in rows if r.key.startswith("reconcile:")])

    out = []
    for r in rows:
        entry = LogEntry(
            effect_id=r.id,
            date=_as_date(r.day),
            applied_at=as_utc(r.applied_at) if r.applied_at else None,
            account=r.account,
            shop=r.shop,
            kind=r.kind,
            sku=r.shopify_sku,
            msku=r.msku,
            location=r.location,
            name=r.name,
            reason=r.reason,
            delta=r.delta,
            quantity_after=r.quantity_after,
            source="other",
            source_ref=r.key,
        )
        if r.source_ref is not None:  # derived from a movement
            entry.source_ref = r.source_ref
            if r.source_ref.startswith(LEDGER_REF):
                entry.source = "ledger"
                source = ledger_rows.get(int(r.source_ref.removeprefix(LEDGER_REF)))
                entry.source_rows = [source] if source else [_movement_row(r)]
            else:
                entry.source = r.stream or "orders"
                entry.source_rows = [_movement_row(r)]
        elif r.id in case_ids:
            entry.source, entry.source_ref = "case", case_ids[r.id]
            entry.source_rows = list(cases.get(case_ids[r.id], []))
        elif r.id in corrections:
            entry.source = "reconciliation"
            entry.source_ref, row = corrections[r.id]
            entry.source_rows = [row]
        out.append(entry)
    return out


def case_of(effect_key: str) -> str:
    """The case id in a case effect's key `case:{case_id}/{what}/…`. Only removal and inbound cases make
    effects, and their ids (order and shipment ids) hold no "/"."""
    return effect_key.removeprefix("case:").split("/", 1)[0]


def _as_date(v: Any) -> date | None:
    if v is None:
        return None
    if isinstance(v, datetime):  # evidence has a business instant; the log shows its day (UTC)
        return as_utc(v).date()
    if isinstance(v, date):
        return v
    return date.fromisoformat(str(v)[:10])


def _movement_row(r: Any) -> SourceRow:
    order_item = r.source_ref.removeprefix(ORDER_REF).split(":") if r.source_ref.startswith(ORDER_REF) else []
    detail = (
        f"order item {order_item[-1]}"
        if len(order_item) >= 2
        else ", ".join(
            filter(None, [f"reason {r.movement_reason}" if r.movement_reason else "", r.disposition])
        )
    )
    return SourceRow(
        date=_as_date(r.occurred_on),
        event=r.event_type,
        reference_id=r.reference_id or "",
        quantity=r.quantity,
        detail=detail,
    )


def _ledger_rows(conn: Connection, ids: list[int]) -> dict[int, SourceRow]:
    out: dict[int, SourceRow] = {}
    t = LedgerSourceRow
    for batch in chunks(sorted(set(ids))):
        for row in conn.execute(
            select(
                t.id,
                t.day,
                t.event_type,
                t.reference_id,
                t.fulfillment_center,
                t.quantity,
                t.reason,
                t.disposition,
                t.fnsku,
            ).where(col(t.id).in_(batch))
        ):
            reason = f"reason {row.reason}" if row.reason else ""
            out[row.id] = SourceRow(
                date=_as_date(row.day),
                event=row.event_type,
                reference_id=row.reference_id,
                fulfillment_center=row.fulfillment_center,
                quantity=row.quantity,
                detail=", ".join(filter(None, [reason, row.disposition, f"FNSKU {row.fnsku}"])),
            )
    return out


def _load_case_evidence(conn: Connection, case_ids: list[str], cases: dict[str, list[SourceRow]]) -> None:
    for case_id in case_ids:
        cases[case_id] = []
    for batch in chunks(sorted(case_ids)):
        for e in conn.execute(
            select(Evidence.case_id, Evidence.kind, Evidence.occurred_at, Evidence.quantity, Evidence.data)
            .where(col(Evidence.case_id).in_(batch))
            .order_by(col(Evidence.occurred_at), col(Evidence.id))
        ):
            data = json.loads(e.data)
            cases[e.case_id].append(
                SourceRow(
                    date=_as_date(e.occurred_at),
                    event=e.kind,
                    reference_id=evidence_reference(e.kind, data),
                    quantity=e.quantity,
                    detail=evidence_detail(e.kind, data),
                )
            )


def _corrections(conn: Connection, effect_ids: list[int]) -> dict[int, tuple[str, SourceRow]]:
    out: dict[int, tuple[str, SourceRow]] = {}
    d = DiscrepancyRecord
    for batch in chunks(effect_ids):
        for row in conn.execute(
            select(
                d.effect_id,
                d.run_id,
                d.name,
                d.amazon,
                d.shopify,
                d.expected_shopify,
                d.difference,
                d.explanation,
            ).where(col(d.effect_id).in_(batch))
        ):
            out[row.effect_id] = (
                f"reconciliation:{row.run_id}",
                SourceRow(
                    date=None,
                    event="full reconciliation",
                    reference_id=str(row.run_id),
                    quantity=row.difference,
                    detail=f"Amazon {row.amazon}, Shopify {row.shopify} {row.name}, expected "
                    f"{row.expected_shopify}: {row.explanation}",
                ),
            )
    return out


# --- output ---------------------------------------------------------------------------------------


def write_csv(entries: Iterable[LogEntry], out: IO[str]) -> int:
    """Streams the rows; returns how many were written."""
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    n = 0
    for e in entries:
        w.writerow(e.csv_row())
        n += 1
    return n


def write_json(entries: Iterable[LogEntry], out: IO[str]) -> int:
    """A JSON array written element by element (never the whole log in memory)."""
    out.write("[")
    n = 0
    for e in entries:
        out.write(",\n " if n else "\n ")
        out.write(json.dumps(e.as_json(), default=_json_value))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def _json_value(v: Any) -> str:
    """Dates and times as ISO 8601 (json cannot write them itself)."""
    return v.isoformat() if isinstance(v, date | datetime) else str(v)


def source_words(entry: LogEntry) -> str:
    """The source rows in a few words each, one per line, for the table."""
    lines = []
    for r in entry.source_rows:
        parts = [
            r.date.isoformat() if r.date else "",
            r.event,
            f"ref {r.reference_id}" if r.reference_id else "",
            r.fulfillment_center,
            f"qty {r.quantity}" if r.quantity is not None else "",
            f"({r.detail})" if r.detail else "",
        ]
        lines.append(" ".join(p for p in parts if p))
    return "\n".join(lines) or entry.source_ref
