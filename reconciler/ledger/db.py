"""Engine creation: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from reconciler.ledger import tables  # noqa: F401  (registers the tables)


def sqlite_engine(url: str, *pragmas: str) -> Engine:
    """A SQLite engine whose connections pysqlite leaves in autocommit mode (it opens no transaction
    of its own), each new connection running `PRAGMA <pragma>` for each of `pragmas`."""
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in pragmas:
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return engine


def make_engine(url: str, *, create: bool = True) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _begin).
        engine = sqlite_engine(url, "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # type: ignore[no-untyped-def]
            # Take the write lock up front: a deferred transaction that later writes can fail with
            # SQLITE_BUSY without waiting, when the cycle and the gate write at the same time.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if create:
        SQLModel.metadata.create_all(engine)
    return engine
