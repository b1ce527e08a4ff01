"""An engine for the operator's long reads (the reconciliation log, reports, exports).

`make_engine` opens every SQLite transaction with BEGIN IMMEDIATE, so that writers never fail with
SQLITE_BUSY; a read through it holds the write lock for as long as it runs. Streaming 100,000 effects
that way would stall the sync cycle and the gate for the whole export. This engine reads SQLite in
autocommit mode instead: with WAL, each statement reads its own snapshot and never blocks a writer.
PostgreSQL needs nothing special."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from reconciler.ledger.db import make_engine, sqlite_engine


def reading_engine(url: str) -> Engine:
    """For reads only. Creates missing tables first (through `make_engine`), as every command does."""
    make_engine(url).dispose()
    if not url.startswith("sqlite"):
        return make_engine(url, create=False)
    # pysqlite in autocommit mode and no BEGIN IMMEDIATE: no transaction is opened, SELECTs read a WAL
    # snapshot each.
    return sqlite_engine(url, "busy_timeout=30000")
