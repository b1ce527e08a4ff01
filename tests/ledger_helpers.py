"""Helpers for tests that use a real ledger DB: engines (SQLite file or a fresh PostgreSQL schema),
ledger rows and reads. Test modules define their own fixtures over `ledger_engine`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, select

from reconciler.config import Rules
from reconciler.ledger.db import make_engine
from reconciler.ledger.ingest import (
    CHUNK_ROWS,
    IngestContext,
    IngestResult,
    ResolvedSku,
    ingest_ledger_read,
)
from reconciler.ledger.tables import Effect
from reconciler.models import LedgerParseResult, LedgerRow, ParseIssue

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DB_KINDS = ["sqlite", "postgresql"]
ACCOUNT = "us"
SHOP = "demo"
FBA = "gid://shopify/Location/1"
WAREHOUSE = "gid://shopify/Location/2"
DAY = date(2026, 3, 10)


def _pg_unreachable() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as e:  # any failure means "not here"
        return f"PostgreSQL at {PG_URL} is unreachable ({type(e).__name__}: {e})"


@contextmanager
def ledger_engine(kind: str, tmp_path: Path) -> Iterator[Engine]:
    """A ledger DB with every table created: a SQLite file in tmp_path, or a fresh PostgreSQL schema
    (dropped afterwards). Skips the test when PostgreSQL is unreachable."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    problem = _pg_unreachable()
    if problem:
        pytest.skip(problem)
    with postgres_schema_engine("t") as engine:
        yield engine


@contextmanager
def postgres_schema_engine(prefix: str) -> Iterator[Engine]:
    """A ledger in a fresh PostgreSQL schema of its own, dropped afterwards (tests and benchmarks)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def context(**rules: Any) -> IngestContext:
    return IngestContext(
        account=ACCOUNT, shop=SHOP, rules=Rules(**rules), fba_location_id=FBA, warehouse_location_id=WAREHOUSE
    )


def row(**overrides: Any) -> LedgerRow:
    """A ledger row: one SELLABLE unit of MUG shipped on DAY, unless told otherwise."""
    values: dict[str, Any] = {
        "date": DAY,
        "fnsku": "X00MUG",
        "msku": "MUG",
        "event_type": "Adjustments",
        "reference_id": "",
        "quantity": -1,
        "fulfillment_center": "PHX7",
        "disposition": "SELLABLE",
        "reason": "M",
    }
    values.update(overrides)
    return LedgerRow(**values)


def skus(*mskus: str, pack: int = 1, found: bool = True) -> dict[str, ResolvedSku]:
    return {
        m: ResolvedSku(
            shopify_sku=m, pack=pack, inventory_item_id=f"gid://shopify/InventoryItem/{m}" if found else None
        )
        for m in mskus
    }


def read(
    engine: Engine,
    rows: list[LedgerRow],
    *,
    first_day: date = DAY,
    last_day: date = DAY,
    sku_map: Mapping[str, ResolvedSku] | None = None,
    issues: list[ParseIssue] | None = None,
    ctx: IngestContext | None = None,
    report_request_id: int | None = None,
    cursor_position: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    return ingest_ledger_read(
        engine,
        ctx or context(),
        report_request_id=report_request_id,
        first_day=first_day,
        last_day=last_day,
        parsed=LedgerParseResult(rows=rows, issues=issues or []),
        skus=sku_map if sku_map is not None else skus("MUG", "CUP", "PLATE"),
        cursor_position=cursor_position or datetime(2026, 3, 11, 8, tzinfo=UTC),
        chunk_rows=chunk_rows,
        on_progress=on_progress,
    )


def all_of(engine: Engine, model: type[SQLModel]) -> list[Any]:
    with Session(engine) as s:
        return list(s.exec(select(model).order_by(model.id)))  # type: ignore[attr-defined]


def count(engine: Engine, model: type[SQLModel]) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def deltas(engine: Engine) -> list[tuple[str, str, int]]:
    """(shopify sku, name, delta) of every effect, in creation order."""
    return [(e.shopify_sku, e.name, e.delta) for e in all_of(engine, Effect)]
