"""Ingestion: one DB transaction per read stores the new source rows, derives their movements and
effects, quarantines what cannot be used yet, and advances the stream's cursor (ARCHITECTURE §4.2, §5).

- Ledger rows have no id. A read covers whole marketplace-local days; within a day identical rows
  (`LedgerRow.identity()`) are a multiset, so a read adds `max(0, count in this read − count stored)`
  new copies of each. Re-served, overlapping and back-posted reads therefore add each row once.
- Orders are a state stream: the effect is the growth of an order item's cumulative shipped quantity.
- Each new copy / growth becomes one Movement; rules.py turns it into Effects (× pack, Shopify units)
  with deterministic keys. A movement whose SKU does not resolve, or that rules.py does not know, is
  quarantined with the reason and re-derived by `retry_quarantined`. Nothing is dropped silently.

Everything happens in bulk (a handful of queries per read, chunked IN lists), so a day of ~1M ledger
rows is one transaction of bulk inserts. Unique constraints make concurrent re-runs safe: on
PostgreSQL ingestion of one (account, stream) is also serialised with a transaction-scoped advisory
lock; on SQLite the transaction takes the write lock up front (BEGIN IMMEDIATE, see db.py). Any
failure rolls everything back, cursor included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, Table, any_, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from reconciler.config import Rules
from reconciler.ledger.alerts import alert_quarantined
from reconciler.ledger.corrections import absorb_late_effects
from reconciler.ledger.tables import (
    Cursor,
    Effect,
    LedgerSourceRow,
    Movement,
    OrderItemState,
    QuarantinedInput,
    ReportRequest,
    utcnow,
)
from reconciler.models import (
    Disposition,
    EffectState,
    LedgerEventType,
    LedgerParseResult,
    LedgerRow,
    LocationRole,
    OrderItemShipment,
    ParseIssue,
    QuantityName,
    ShipmentsSource,
)
from reconciler.rules import EffectSpec, UnknownMovement, effects_for_movement

LEDGER = "ledger"
# Rows stored per transaction by a large ledger read (~5 s at today's rates): short enough for the gate.
CHUNK_ROWS = 50_000
ORDERS = "orders"

_SOURCE_ROWS: Table = LedgerSourceRow.__table__  # type: ignore[attr-defined]
_MOVEMENTS: Table = Movement.__table__  # type: ignore[attr-defined]
_EFFECTS: Table = Effect.__table__  # type: ignore[attr-defined]
_QUARANTINE: Table = QuarantinedInput.__table__  # type: ignore[attr-defined]
_CURSORS: Table = Cursor.__table__  # type: ignore[attr-defined]
_REPORTS: Table = ReportRequest.__table__  # type: ignore[attr-defined]
_ORDER_ITEMS: Table = OrderItemState.__table__  # type: ignore[attr-defined]


class ResolvedSku(BaseModel, frozen=True):
    """An Amazon MSKU resolved to its Shopify inventory item. `inventory_item_id` None: the Shopify SKU
    does not exist in Shopify (the movement is quarantined until it does)."""

    shopify_sku: str
    pack: int
    inventory_item_id: str | None


class IngestContext(BaseModel, frozen=True):
    account: str
    shop: str
    rules: Rules
    fba_location_id: str
    warehouse_location_id: str
    app_name: str = "fba-reconciler"
    timezone: str = "UTC"  # the marketplace's: a ledger row's date and naive time are local

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class IngestResult(BaseModel):
    """Counts of one ingestion.

    rows_read: rows in the read (ledger rows, order items; for a retry: open quarantined movements
    looked at); rows_new: ledger copies stored / order items new or grown; rows_outside_window: ledger
    rows dated outside the read's days (ignored); movements: movements created (for a retry: released
    from quarantine); effects: effects created; quarantined: movements quarantined (for a retry: still
    quarantined); issues: unreadable report lines (parse issues), each quarantined too.
    """

    rows_read: int = 0
    rows_new: int = 0
    rows_outside_window: int = 0
    movements: int = 0
    effects: int = 0
    quarantined: int = 0
    issues: int = 0
    absorbed: int = 0  # effects a reconciliation correction already covers (late rows), not written


# --- helpers ---------------------------------------------------------------------------------------


def identity_hash(row: LedgerRow) -> str:
    """sha256 of the row's identity tuple (ARCHITECTURE §4.2)."""
    encoded = json.dumps(row.identity(), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def ledger_day_document(ctx: IngestContext, day: date) -> str:
    """The ledger document shared by every non-`available` effect of one account and ledger day."""
    return f"gid://{ctx.app_name}/FbaLedgerDay/{ctx.account}-{day.isoformat()}"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _in_chunk_size(conn: Connection) -> int:
    # SQLite builds have had a limit of 999 bound parameters; PostgreSQL takes one array parameter.
    return 900 if conn.dialect.name == "sqlite" else 50_000


def _is_in(conn: Connection, column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """`column IN (:name…)`, as `column = ANY(:name)` on PostgreSQL: one array parameter instead of
    thousands, which keeps big lookups fast."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def _lock(conn: Connection, name: str) -> None:
    """Serialise writers of one (account, stream) on PostgreSQL for the rest of the transaction.
    SQLite needs nothing: every transaction takes the database write lock at BEGIN."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def lock_out_ingest(conn: Connection, account: str) -> None:
    """Hold off every ingest of the account until this transaction ends (PostgreSQL; SQLite serialises
    anyway). A full reconciliation compares under it, so a row stored meanwhile either is seen as an
    unwritten effect or sees the committed correction that absorbs it — never neither."""
    for name in (f"ingest:{account}:{LEDGER}", f"ingest:{account}:{ORDERS}", f"quarantine:{account}"):
        _lock(conn, name)


def _insert_returning_ids(
    conn: Connection, table: Table, rows: list[dict[str, Any]], *, account: str, natural_key: tuple[str, ...]
) -> list[int]:
    """Bulk insert, then the new rows' ids in the order of `rows`, found again by their natural key
    (unique within the account; its first column is the one looked up). A plain executemany plus one
    lookup per chunk is much faster, on both databases, than a bulk INSERT … RETURNING."""
    if not rows:
        return []
    conn.execute(insert(table), rows)
    first = natural_key[0]
    # A globally unique single-column key is looked up alone: with `account = ?` beside it SQLite picks
    # the account index and scans every row of the account for each chunk.
    condition = _is_in(conn, table.c[first], "values")
    if len(natural_key) > 1:
        condition = (table.c.account == account) & condition
    stmt = select(table.c.id, *(table.c[c] for c in natural_key)).where(condition)
    ids: dict[tuple[Any, ...], int] = {}
    for chunk in _chunks(sorted({r[first] for r in rows}), _in_chunk_size(conn)):
        for found in conn.execute(stmt, {"values": list(chunk)}):
            ids[tuple(found[1:])] = found[0]
    return [ids[tuple(r[c] for c in natural_key)] for r in rows]


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(table), rows)


def _advance_cursor(conn: Connection, account: str, stream: str, position: datetime) -> None:
    now = utcnow()
    t = _CURSORS
    done = conn.execute(
        update(t)
        .where(t.c.account == account, t.c.stream == stream)
        .values(position=position, updated_at=now)
    )
    if done.rowcount == 0:
        conn.execute(insert(t).values(account=account, stream=stream, position=position, updated_at=now))


def _sku_problem(msku: str, skus: Mapping[str, ResolvedSku]) -> str | None:
    sku = skus.get(msku)
    if sku is None:
        return f"unmapped sku {msku}: no Shopify SKU was resolved for it"
    if sku.inventory_item_id is None:
        return f"unmapped sku {msku}: Shopify SKU {sku.shopify_sku!r} not found in Shopify"
    return None


class _Deriver:
    """Movement → effect rows, with the rules memoised (a day's rows repeat a few shapes many times)."""

    def __init__(self, ctx: IngestContext, skus: Mapping[str, ResolvedSku]) -> None:
        self._ctx, self._skus = ctx, skus
        self._memo: dict[tuple[Any, ...], list[EffectSpec] | UnknownMovement] = {}
        self._now = utcnow()

    def specs(
        self, event_type: str, reason: str, disposition: str, quantity: int, shipments_source: ShipmentsSource
    ) -> list[EffectSpec]:
        key = (event_type, reason, disposition, quantity, shipments_source)
        found = self._memo.get(key)
        if found is None:
            try:
                found = effects_for_movement(
                    event_type,
                    reason,
                    disposition,
                    quantity,
                    shipments_source=shipments_source,
                    track_unfulfillable=self._ctx.rules.track_unfulfillable,
                )
            except UnknownMovement as e:
                found = e
            self._memo[key] = found
        if isinstance(found, UnknownMovement):
            raise found
        return found

    def derive(
        self, movement: Mapping[str, Any], movement_id: int, shipments_source: ShipmentsSource
    ) -> tuple[list[dict[str, Any]], str | None]:
        """(effect rows, None) or ([], why the movement must be quarantined)."""
        try:
            specs = self.specs(
                movement["event_type"],
                movement["reason"],
                movement["disposition"],
                movement["quantity"],
                shipments_source,
            )
        except UnknownMovement as e:
            return [], str(e)
        if not specs:
            return [], None
        msku = movement["msku"]
        problem = _sku_problem(msku, self._skus)
        if problem is not None:
            return [], problem
        sku = self._skus[msku]
        ctx = self._ctx
        rows = []
        for spec in specs:
            fba = spec.location == LocationRole.FBA
            rows.append(
                {
                    "key": f"{movement['key']}/{spec.location.value}/{spec.name.value}",
                    "shop": ctx.shop,
                    "account": ctx.account,
                    "movement_id": movement_id,
                    "kind": spec.kind,
                    "msku": msku,
                    "shopify_sku": sku.shopify_sku,
                    "inventory_item_id": sku.inventory_item_id,
                    "location": spec.location.value,
                    "location_id": ctx.fba_location_id if fba else ctx.warehouse_location_id,
                    "name": spec.name.value,
                    "reason": spec.reason.value,
                    "ledger_document_uri": None
                    if spec.name == QuantityName.AVAILABLE
                    else ledger_day_document(ctx, movement["occurred_on"]),
                    "delta": spec.delta * sku.pack,
                    "state": EffectState.PENDING.value,
                    "occurred_on": movement["occurred_on"],
                    "occurred_at": movement.get("occurred_at"),
                    "absorbed_by": None,
                    "error": None,
                    "created_at": self._now,
                }
            )
        return rows, None


def _quarantine_row(
    ctx: IngestContext, stream: str, key: str, reason: str, movement_id: int | None, payload: dict[str, Any]
) -> dict[str, Any]:
    return {
        "account": ctx.account,
        "stream": stream,
        "key": key,
        "reason": reason,
        "movement_id": movement_id,
        "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str),
        "state": "open",
        "created_at": utcnow(),
    }


def _existing_keys(conn: Connection, table: Table, account: str, stream: str, keys: list[str]) -> set[str]:
    found: set[str] = set()
    stmt = select(table.c.key).where(
        table.c.account == account,
        table.c.stream == stream,
        _is_in(conn, table.c.key, "keys"),
    )
    for chunk in _chunks(keys, _in_chunk_size(conn)):
        found.update(conn.execute(stmt, {"keys": list(chunk)}).scalars())
    return found


# --- the ledger ------------------------------------------------------------------------------------


def ingest_ledger_read(
    engine: Engine,
    ctx: IngestContext,
    *,
    report_request_id: int | None,
    first_day: date,
    last_day: date,
    parsed: LedgerParseResult,
    skus: Mapping[str, ResolvedSku],
    cursor_position: datetime,
    chunk_rows: int = CHUNK_ROWS,
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Store one read of the inventory ledger covering the marketplace-local days [first_day, last_day]:
    new copies of rows, their movements and effects, quarantined movements and parse issues, the
    ledger cursor at `cursor_position`, and the report request marked "ingested".

    A read of a million rows is stored in chunks of about `chunk_rows` rows, each its own short
    transaction, so other writers (the gate) never wait long. Every copy of one row identity is in the
    same chunk, so counting copies stays exact; only the last chunk stores the parse issues, advances
    the cursor and marks the report. A crash between chunks leaves the cursor where it was: the next
    read stores just what is missing. `on_progress(rows stored so far, rows in the window)` follows
    each committed chunk of a read of several."""
    if last_day < first_day:
        raise ValueError(f"empty ledger window: first_day {first_day} is after last_day {last_day}")
    result = IngestResult(rows_read=len(parsed.rows), issues=len(parsed.issues))

    # The read as a multiset per identity, in report order; rows dated outside the window are ignored.
    by_hash: dict[str, list[LedgerRow]] = {}
    for row in parsed.rows:
        if first_day <= row.date <= last_day:
            by_hash.setdefault(identity_hash(row), []).append(row)
        else:
            result.rows_outside_window += 1

    deriver = _Deriver(ctx, skus)
    chunks = _identity_chunks(by_hash, chunk_rows)
    in_window, done = result.rows_read - result.rows_outside_window, 0
    window = report_request_id if report_request_id is not None else f"{first_day}..{last_day}"
    for number, hashes in enumerate(chunks, start=1):
        last = number == len(chunks)
        with engine.begin() as conn:
            _lock(conn, f"ingest:{ctx.account}:{LEDGER}")
            reasons = _store_ledger_rows(
                conn, ctx, deriver, {h: by_hash[h] for h in hashes}, report_request_id, result
            )
            if last:
                reasons += _store_parse_issues(conn, ctx, parsed.issues, window)
                _advance_cursor(conn, ctx.account, LEDGER, cursor_position)
                if report_request_id is not None:
                    _mark_ingested(conn, ctx.account, report_request_id, result.rows_read)
            alert_quarantined(conn, ctx.account, LEDGER, reasons)
        done += sum(len(by_hash[h]) for h in hashes)
        if not last and on_progress is not None:
            on_progress(done, in_window)
    return result


def _store_parse_issues(
    conn: Connection, ctx: IngestContext, issues: Sequence[ParseIssue], window: object
) -> list[str]:
    """Unreadable lines: quarantined once per (report request, line), also when a read is re-ingested."""
    rows = {
        f"parse:{window}:{issue.line_no}": _quarantine_row(
            ctx,
            LEDGER,
            f"parse:{window}:{issue.line_no}",
            issue.message,
            None,
            {"line_no": issue.line_no, "raw": issue.raw},
        )
        for issue in issues
    }
    already = _existing_keys(conn, _QUARANTINE, ctx.account, LEDGER, list(rows))
    fresh = [r for k, r in rows.items() if k not in already]
    _insert(conn, _QUARANTINE, fresh)
    return [r["reason"] for r in fresh]


def _identity_chunks(by_hash: Mapping[str, list[LedgerRow]], chunk_rows: int) -> list[list[str]]:
    """Row identities in groups of about `chunk_rows` rows (an identity's copies are never split);
    always at least one group, so an empty read still advances the cursor."""
    chunks: list[list[str]] = [[]]
    size = 0
    for h, rows in by_hash.items():
        if size and size + len(rows) > chunk_rows:
            chunks.append([])
            size = 0
        chunks[-1].append(h)
        size += len(rows)
    return chunks


def _store_ledger_rows(
    conn: Connection,
    ctx: IngestContext,
    deriver: _Deriver,
    by_hash: Mapping[str, list[LedgerRow]],
    report_request_id: int | None,
    result: IngestResult,
) -> list[str]:
    """The new copies among these identities: source rows, movements, effects or quarantine. Returns
    why rows were quarantined (for the read's alert)."""
    shipments_source = ctx.rules.shipments_source
    now = utcnow()
    stored = _stored_copies(conn, ctx.account, list(by_hash))
    new: list[tuple[str, int, LedgerRow]] = []
    for h, rows in by_hash.items():
        for copy_no in range(stored.get(h, 0) + 1, len(rows) + 1):
            new.append((h, copy_no, rows[copy_no - 1]))
    if not new:
        return []
    result.rows_new += len(new)

    source_ids = _insert_returning_ids(
        conn,
        _SOURCE_ROWS,
        account=ctx.account,
        natural_key=("identity_hash", "copy_no"),
        rows=[
            {
                "account": ctx.account,
                "identity_hash": h,
                "copy_no": copy_no,
                "day": row.date,
                "fnsku": row.fnsku,
                "msku": row.msku,
                "event_type": row.event_type,
                "reference_id": row.reference_id,
                "fulfillment_center": row.fulfillment_center,
                "disposition": row.disposition,
                "reason": row.reason,
                "quantity": row.quantity,
                "country": row.country,
                "report_request_id": report_request_id,
                "first_seen_at": now,
            }
            for h, copy_no, row in new
        ],
    )
    movements = [
        {
            "key": f"ledger:{ctx.account}:{h}:{copy_no}",
            "account": ctx.account,
            "stream": LEDGER,
            "source_ref": f"ledger_source_row:{source_id}",
            "msku": row.msku,
            "fnsku": row.fnsku,
            "event_type": row.event_type,
            "reason": row.reason,
            "disposition": row.disposition,
            "quantity": row.quantity,
            "occurred_on": row.date,
            "occurred_at": _utc(row.occurred_at, ctx),
            "reference_id": row.reference_id,
            "created_at": now,
        }
        for (h, copy_no, row), source_id in zip(new, source_ids, strict=True)
    ]
    movement_ids = _insert_returning_ids(
        conn, _MOVEMENTS, movements, account=ctx.account, natural_key=("key",)
    )
    result.movements += len(movement_ids)

    effects: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    for movement, movement_id, (_, _, row) in zip(movements, movement_ids, new, strict=True):
        rows, problem = deriver.derive(movement, movement_id, shipments_source)
        if problem is None:
            effects.extend(rows)
        else:
            payload = {"row": row.model_dump(mode="json"), "shipments_source": shipments_source.value}
            quarantine.append(_quarantine_row(ctx, LEDGER, movement["key"], problem, movement_id, payload))
    result.quarantined += len(quarantine)
    result.absorbed += absorb_late_effects(conn, ctx.account, effects, ctx.tz)
    _insert(conn, _EFFECTS, effects)
    result.effects += len(effects)
    _insert(conn, _QUARANTINE, quarantine)
    return [q["reason"] for q in quarantine]


def _stored_copies(conn: Connection, account: str, hashes: list[str]) -> dict[str, int]:
    """identity hash → copies already stored (the highest copy number; copies are 1..n)."""
    t = _SOURCE_ROWS
    stmt = (
        select(t.c.identity_hash, func.max(t.c.copy_no))
        .where(t.c.account == account, _is_in(conn, t.c.identity_hash, "hashes"))
        .group_by(t.c.identity_hash)
    )
    stored: dict[str, int] = {}
    for chunk in _chunks(hashes, _in_chunk_size(conn)):
        stored.update((h, n) for h, n in conn.execute(stmt, {"hashes": list(chunk)}))
    return stored


def _mark_ingested(conn: Connection, account: str, report_request_id: int, rows_read: int) -> None:
    t = _REPORTS
    done = conn.execute(
        update(t)
        .where(t.c.id == report_request_id, t.c.account == account)
        .values(state="ingested", rows_read=rows_read)
    )
    if done.rowcount == 0:
        raise LookupError(f"no report request {report_request_id} for account {account}")


# --- orders (shipments, fast path §4.1) --------------------------------------------------------------


def ingest_order_shipments(
    engine: Engine,
    ctx: IngestContext,
    *,
    shipments: list[OrderItemShipment],
    skus: Mapping[str, ResolvedSku],
    cursor_position: datetime,
    local_date: Callable[[datetime], date],
) -> IngestResult:
    """Upsert order items and turn the growth of each one's cumulative shipped quantity into a
    Shipments movement (−growth × pack to fba.available). A decrease is ignored: the stored quantity
    stays the highest seen, so a later re-growth is counted from there and never twice."""
    result = IngestResult(rows_read=len(shipments))
    deriver = _Deriver(ctx, skus)
    now = utcnow()
    t = _ORDER_ITEMS
    with engine.begin() as conn:
        _lock(conn, f"ingest:{ctx.account}:{ORDERS}")

        # Current state of every order item in the read: (id or None, quantity_shipped, last_updated).
        current: dict[tuple[str, str], dict[str, Any]] = {}
        stmt = select(t.c.id, t.c.order_id, t.c.order_item_id, t.c.quantity_shipped, t.c.last_updated).where(
            t.c.account == ctx.account, _is_in(conn, t.c.order_id, "ids")
        )
        order_ids = sorted({s.order_id for s in shipments})
        for chunk in _chunks(order_ids, _in_chunk_size(conn)):
            for r in conn.execute(stmt, {"ids": list(chunk)}):
                current[(r.order_id, r.order_item_id)] = {
                    "id": r.id,
                    "quantity_shipped": r.quantity_shipped,
                    "last_updated": r.last_updated,
                }

        inserts: dict[tuple[str, str], dict[str, Any]] = {}
        updates: dict[int, dict[str, Any]] = {}
        movements: list[dict[str, Any]] = []
        sources: list[OrderItemShipment] = []
        for s in shipments:
            item = (s.order_id, s.order_item_id)
            state = current.get(item)
            old = state["quantity_shipped"] if state else 0
            new = max(old, s.quantity_shipped)
            fields = {
                "msku": s.msku,
                "quantity_ordered": s.quantity_ordered,
                "quantity_shipped": new,
                "order_status": s.order_status,
                "last_updated": s.last_updated,
                "updated_at": now,
            }
            if state is None:
                current[item] = {"id": None, "quantity_shipped": new, "last_updated": s.last_updated}
                inserts[item] = {
                    "account": ctx.account,
                    "order_id": s.order_id,
                    "order_item_id": s.order_item_id,
                }
                inserts[item].update(fields)
                result.rows_new += 1
            else:
                if new == old and not _newer(s.last_updated, state["last_updated"]):
                    continue  # nothing new: an older or repeated view of the item
                state["quantity_shipped"], state["last_updated"] = new, s.last_updated
                if state["id"] is None:
                    inserts[item].update(fields)
                else:
                    updates[state["id"]] = {"_id": state["id"], **fields}
                if new > old:
                    result.rows_new += 1
            if new > old:
                movements.append(
                    {
                        "key": f"order:{ctx.account}:{s.order_id}:{s.order_item_id}:{old}->{new}",
                        "account": ctx.account,
                        "stream": ORDERS,
                        "source_ref": f"order_item:{s.order_id}:{s.order_item_id}",
                        "msku": s.msku,
                        "fnsku": "",
                        "event_type": LedgerEventType.SHIPMENTS.value,
                        "reason": "",
                        "disposition": Disposition.SELLABLE.value,
                        "quantity": -(new - old),
                        "occurred_on": local_date(s.last_updated),
                        "occurred_at": _utc(s.last_updated, ctx),
                        "reference_id": s.order_id,
                        "created_at": now,
                    }
                )
                sources.append(s)

        _insert(conn, t, list(inserts.values()))
        if updates:
            # Executemany: the SET clause comes from the parameters' keys.
            conn.execute(update(t).where(t.c.id == bindparam("_id")), list(updates.values()))
        movement_ids = _insert_returning_ids(
            conn, _MOVEMENTS, movements, account=ctx.account, natural_key=("key",)
        )
        result.movements = len(movement_ids)

        effects: list[dict[str, Any]] = []
        quarantine: list[dict[str, Any]] = []
        for movement, movement_id, s in zip(movements, movement_ids, sources, strict=True):
            # The orders stream IS the shipment source: its movements always apply.
            rows, problem = deriver.derive(movement, movement_id, ShipmentsSource.LEDGER)
            if problem is None:
                effects.extend(rows)
            else:
                payload = {"order_item": s.model_dump(mode="json")}
                quarantine.append(
                    _quarantine_row(ctx, ORDERS, movement["key"], problem, movement_id, payload)
                )
        result.absorbed = absorb_late_effects(conn, ctx.account, effects, ctx.tz)
        _insert(conn, _EFFECTS, effects)
        _insert(conn, _QUARANTINE, quarantine)
        alert_quarantined(conn, ctx.account, ORDERS, [q["reason"] for q in quarantine])
        result.effects, result.quarantined = len(effects), len(quarantine)
        _advance_cursor(conn, ctx.account, ORDERS, cursor_position)
    return result


def _utc(t: datetime | None, ctx: IngestContext) -> datetime | None:
    """An exact source time in UTC; a naive one is marketplace-local."""
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=ctx.tz)).astimezone(UTC)


def _newer(candidate: datetime, stored: datetime | None) -> bool:
    if stored is None:
        return True
    return _naive_utc(candidate) > _naive_utc(stored)


def _naive_utc(t: datetime) -> datetime:
    """Databases hand back naive timestamps (UTC here); compare everything that way."""
    return t if t.tzinfo is None else t.astimezone(UTC).replace(tzinfo=None)


# --- quarantine ------------------------------------------------------------------------------------


def retry_quarantined(engine: Engine, ctx: IngestContext, *, skus: Mapping[str, ResolvedSku]) -> IngestResult:
    """Re-derive the effects of the account's open quarantined movements with today's SKU map.

    A movement that now resolves gets its effects (keys are deterministic, so existing ones are never
    made twice) and its quarantine entry is marked resolved; the others stay open with their current
    reason. Parse issues (no movement) stay for a person. Safe to repeat."""
    result = IngestResult()
    deriver = _Deriver(ctx, skus)
    now = utcnow()
    q, m = _QUARANTINE, _MOVEMENTS
    with engine.begin() as conn:
        _lock(conn, f"quarantine:{ctx.account}")
        entries = conn.execute(
            select(q.c.id, q.c.stream, q.c.reason, q.c.movement_id, q.c.payload)
            .where(q.c.account == ctx.account, q.c.state == "open", q.c.movement_id.is_not(None))
            .order_by(q.c.id)
        ).all()
        result.rows_read = len(entries)
        movements: dict[int, dict[str, Any]] = {}
        existing: set[str] = set()
        ids = [e.movement_id for e in entries]
        by_id = select(m).where(_is_in(conn, m.c.id, "ids"))
        their_effects = select(_EFFECTS.c.key).where(_is_in(conn, _EFFECTS.c.movement_id, "ids"))
        for chunk in _chunks(ids, _in_chunk_size(conn)):
            for r in conn.execute(by_id, {"ids": list(chunk)}).mappings():
                movements[r["id"]] = dict(r)
            existing.update(conn.execute(their_effects, {"ids": list(chunk)}).scalars())

        effects: list[dict[str, Any]] = []
        resolved: list[int] = []
        reasons: list[dict[str, Any]] = []
        for e in entries:
            movement = movements.get(e.movement_id)
            if movement is None:
                continue
            rows, problem = deriver.derive(
                movement, e.movement_id, _shipments_source_of(ctx, e.stream, e.payload)
            )
            if problem is None:
                effects.extend(r for r in rows if r["key"] not in existing)
                resolved.append(e.id)
            elif problem != e.reason:
                reasons.append({"_id": e.id, "reason": problem})
        result.absorbed = absorb_late_effects(conn, ctx.account, effects, ctx.tz)
        _insert(conn, _EFFECTS, effects)
        if resolved:
            conn.execute(
                update(q).where(q.c.id == bindparam("_id")).values(state="resolved", resolved_at=now),
                [{"_id": i} for i in resolved],
            )
        if reasons:
            conn.execute(update(q).where(q.c.id == bindparam("_id")), reasons)
        result.effects, result.movements = len(effects), len(resolved)
        result.quarantined = len(entries) - len(resolved)
    return result


def _shipments_source_of(ctx: IngestContext, stream: str, payload: str) -> ShipmentsSource:
    """Orders movements always apply; a ledger movement keeps the shipments source in force when it
    was read, so a switch of source never applies a quarantined shipment twice or drops it."""
    if stream == ORDERS:
        return ShipmentsSource.LEDGER
    try:
        return ShipmentsSource(json.loads(payload)["shipments_source"])
    except (ValueError, KeyError, TypeError):
        return ctx.rules.shipments_source
