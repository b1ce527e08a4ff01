"""Ingestion into the ledger DB, on SQLite and PostgreSQL: every unit counted exactly once across
re-served, overlapping and back-posted reads; nothing dropped silently; all-or-nothing transactions."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import Session

from reconciler.ledger.ingest import (
    IngestResult,
    ResolvedSku,
    identity_hash,
    ingest_order_shipments,
    retry_quarantined,
)
from reconciler.ledger.tables import (
    Cursor,
    Effect,
    LedgerSourceRow,
    Movement,
    OrderItemState,
    QuarantinedInput,
    ReportRequest,
)
from reconciler.models import OrderItemShipment, ParseIssue
from tests.ledger_helpers import (
    ACCOUNT,
    DAY,
    DB_KINDS,
    FBA,
    all_of,
    context,
    count,
    deltas,
    ledger_engine,
    read,
    row,
    skus,
)


@pytest.fixture(params=DB_KINDS)
def engine(request, tmp_path):
    with ledger_engine(request.param, tmp_path) as e:
        yield e


NEXT_DAY = DAY + timedelta(days=1)


# --- ledger dedup --------------------------------------------------------------------------------


def test_re_served_window_adds_nothing(engine):
    rows = [row(), row(msku="CUP", fnsku="X00CUP", quantity=-2)]
    first = read(engine, rows)
    again = read(engine, rows)
    assert (first.rows_new, first.movements, first.effects) == (2, 2, 2)
    assert (again.rows_read, again.rows_new, again.movements, again.effects) == (2, 0, 0, 0)
    assert deltas(engine) == [("MUG", "available", -1), ("CUP", "available", -2)]


def test_overlapping_windows_count_each_row_once(engine):
    day1 = row(reason="F", quantity=1)
    day2 = row(date=NEXT_DAY, reason="M", quantity=-1)
    day3 = row(date=NEXT_DAY + timedelta(days=1), reason="F", quantity=3)
    read(engine, [day1, day2], first_day=DAY, last_day=NEXT_DAY)
    second = read(engine, [day2, day3], first_day=NEXT_DAY, last_day=NEXT_DAY + timedelta(days=1))
    assert second.rows_new == 1
    assert sorted(d for _, _, d in deltas(engine)) == [-1, 1, 3]


def test_back_posted_row_in_a_later_read_is_added_once(engine):
    original = row(reason="M", quantity=-1)
    read(engine, [original], first_day=DAY, last_day=NEXT_DAY)
    back_posted = row(reason="5", quantity=-4, reference_id="late")
    later = read(engine, [original, back_posted], first_day=DAY - timedelta(days=7), last_day=NEXT_DAY)
    again = read(engine, [original, back_posted], first_day=DAY - timedelta(days=7), last_day=NEXT_DAY)
    assert (later.rows_new, again.rows_new) == (1, 0)
    assert deltas(engine) == [("MUG", "available", -1), ("MUG", "available", -4)]


def test_identical_rows_are_a_multiset(engine):
    twin = row(reason="M", quantity=-1)
    first = read(engine, [twin, twin])
    assert first.effects == 2, "two identical legitimate rows are two lost units"
    assert read(engine, [twin, twin]).effects == 0, "the same read again adds nothing"
    third = read(engine, [twin, twin, twin])
    assert third.effects == 1, "a later read showing a third copy adds exactly one"
    copies = sorted(r.copy_no for r in all_of(engine, LedgerSourceRow))
    assert copies == [1, 2, 3]
    assert {r.identity_hash for r in all_of(engine, LedgerSourceRow)} == {identity_hash(twin)}
    assert sum(d for _, _, d in deltas(engine)) == -3


def test_reconciled_quantities_and_titles_do_not_change_identity(engine):
    read(engine, [row(title="Mug, blue")])
    assert read(engine, [row(title="Mug (blue) — renamed", asin="B0NEW", line_no=99)]).rows_new == 0


def test_rows_outside_the_window_are_ignored_and_counted(engine):
    result = read(
        engine,
        [row(date=DAY - timedelta(days=1)), row(), row(date=NEXT_DAY)],
        first_day=DAY,
        last_day=DAY,
    )
    assert (result.rows_read, result.rows_outside_window, result.rows_new) == (3, 2, 1)
    assert [r.day for r in all_of(engine, LedgerSourceRow)] == [DAY]


def test_pack_multiplier_converts_to_shopify_units(engine):
    pack = {
        "MUG-2PK": ResolvedSku(shopify_sku="MUG", pack=2, inventory_item_id="gid://shopify/InventoryItem/M")
    }
    read(engine, [row(msku="MUG-2PK", reason="M", quantity=-3)], sku_map=pack)
    [effect] = all_of(engine, Effect)
    assert (effect.msku, effect.shopify_sku, effect.delta) == ("MUG-2PK", "MUG", -6)
    assert effect.inventory_item_id == "gid://shopify/InventoryItem/M"


def test_effect_rows_carry_what_the_gate_needs(engine):
    read(engine, [row(reason="E", quantity=-1), row(reason="P", quantity=1, disposition="CUSTOMER_DAMAGED")])
    available, damaged = all_of(engine, Effect)
    [m1, m2] = all_of(engine, Movement)
    assert available.key == f"{m1.key}/fba/available" and m1.key.startswith(f"ledger:{ACCOUNT}:")
    assert m1.source_ref.startswith("ledger_source_row:")
    assert (available.name, available.reason, available.kind, available.delta) == (
        "available",
        "damaged",
        "disposition_change",
        -1,
    )
    assert available.ledger_document_uri is None
    assert (damaged.name, damaged.delta, damaged.movement_id) == ("damaged", 1, m2.id)
    assert damaged.ledger_document_uri == f"gid://fba-reconciler/FbaLedgerDay/{ACCOUNT}-{DAY.isoformat()}"
    assert {e.location for e in (available, damaged)} == {"fba"}
    assert {e.location_id for e in (available, damaged)} == {FBA}
    assert {e.state for e in (available, damaged)} == {"pending"}
    assert {e.shop for e in (available, damaged)} == {"demo"}
    assert available.occurred_on == DAY


def test_ledger_shipments_apply_only_when_the_ledger_is_the_shipment_source(engine):
    shipped = row(event_type="Shipments", reason="", quantity=-2, reference_id="113-1")
    assert read(engine, [shipped]).effects == 0  # default: the Orders API owns shipments
    assert count(engine, Movement) == 1, "the row is still stored and interpreted, for audit"
    later = row(event_type="Shipments", reason="", quantity=-1, reference_id="113-2")
    assert read(engine, [shipped, later], ctx=context(shipments_source="ledger")).effects == 1


def test_warehouse_transfers_are_recorded_without_effects(engine):
    result = read(engine, [row(event_type="WhseTransfers", reason="", quantity=-5)])
    assert (result.movements, result.effects, result.quarantined) == (1, 0, 0)


# --- quarantine ----------------------------------------------------------------------------------


def test_unmapped_sku_is_quarantined_then_released_once_it_resolves(engine):
    ghost = row(msku="GHOST-1", fnsku="X00GHOST", reason="F", quantity=2)
    result = read(engine, [ghost, row()], sku_map=skus("MUG"))
    assert (result.movements, result.effects, result.quarantined) == (2, 1, 1)
    [q] = all_of(engine, QuarantinedInput)
    assert q.state == "open" and q.stream == "ledger"
    assert q.reason.startswith("unmapped sku GHOST-1")
    assert json.loads(q.payload)["row"]["msku"] == "GHOST-1"
    [ghost_movement] = [m for m in all_of(engine, Movement) if m.msku == "GHOST-1"]
    assert q.key == ghost_movement.key and q.movement_id == ghost_movement.id

    # Mapped in config, but the Shopify SKU is missing in Shopify: still quarantined, reason says which.
    missing = {"GHOST-1": ResolvedSku(shopify_sku="GHOST", pack=1, inventory_item_id=None)}
    still = retry_quarantined(engine, context(), skus=missing)
    assert (still.effects, still.quarantined) == (0, 1)
    [q] = all_of(engine, QuarantinedInput)
    assert "'GHOST'" in q.reason and "not found in Shopify" in q.reason

    now_mapped = {"GHOST-1": ResolvedSku(shopify_sku="GHOST", pack=3, inventory_item_id="gid://shopify/X/9")}
    released = retry_quarantined(engine, context(), skus=now_mapped)
    assert (released.effects, released.movements, released.quarantined) == (1, 1, 0)
    assert retry_quarantined(engine, context(), skus=now_mapped).effects == 0, "safe to repeat"
    [q] = all_of(engine, QuarantinedInput)
    assert q.state == "resolved" and q.resolved_at is not None
    assert ("GHOST", "available", 6) in deltas(engine)
    assert read(engine, [ghost, row()], sku_map=now_mapped).effects == 0, "re-reading adds nothing"


def test_unknown_adjustment_reason_is_quarantined_with_the_code(engine):
    result = read(engine, [row(reason="Z", quantity=-1)])
    assert (result.effects, result.quarantined) == (0, 1)
    [q] = all_of(engine, QuarantinedInput)
    assert "unknown adjustment reason 'Z'" in q.reason
    assert retry_quarantined(engine, context(), skus=skus("MUG")).quarantined == 1, "still unknown"


def test_parse_issues_are_quarantined_once(engine):
    with Session(engine) as s, s.begin():
        request = ReportRequest(
            account=ACCOUNT,
            stream="ledger",
            report_type="GET_LEDGER_DETAIL_VIEW_DATA",
            data_start=datetime(2026, 3, 10, tzinfo=UTC),
            data_end=datetime(2026, 3, 11, tzinfo=UTC),
            state="done",
        )
        s.add(request)
        s.flush()
        request_id = request.id
    issue = ParseIssue(line_no=7, message="Quantity 'x' is not a number", raw='"2026-03-10"\t"X00"\t"x"')
    result = read(engine, [row()], issues=[issue], report_request_id=request_id)
    assert (result.issues, result.effects) == (1, 1)
    [q] = all_of(engine, QuarantinedInput)
    assert (q.key, q.reason, q.movement_id) == (f"parse:{request_id}:7", issue.message, None)
    assert json.loads(q.payload)["raw"] == issue.raw
    # Ingesting the same report again (an activity retry) neither fails nor duplicates anything.
    read(engine, [row()], issues=[issue], report_request_id=request_id)
    assert count(engine, QuarantinedInput) == 1
    with Session(engine) as s:
        stored = s.get(ReportRequest, request_id)
        assert stored is not None
        assert (stored.state, stored.rows_read) == ("ingested", 1)


# --- transaction and cursor ------------------------------------------------------------------------


def test_cursor_advances_with_the_rows(engine):
    at = datetime(2026, 3, 11, 8, 30, tzinfo=UTC)
    read(engine, [row()], cursor_position=at)
    with Session(engine) as s:
        cursor = s.get(Cursor, (ACCOUNT, "ledger"))
        assert cursor is not None
        assert cursor.position.replace(tzinfo=UTC) == at
    later = at + timedelta(hours=1)
    read(engine, [], cursor_position=later)  # an empty (CANCELLED) read still moves the cursor
    with Session(engine) as s:
        cursor = s.get(Cursor, (ACCOUNT, "ledger"))
        assert cursor is not None and cursor.position.replace(tzinfo=UTC) == later


def test_a_failed_transaction_stores_nothing_and_keeps_the_cursor(engine):
    at = datetime(2026, 3, 11, 8, tzinfo=UTC)
    read(engine, [row()], cursor_position=at)

    def fail_effect_insert(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO EFFECT"):
            raise RuntimeError("disk full")

    event.listen(engine, "before_cursor_execute", fail_effect_insert)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            read(engine, [row(), row(msku="CUP", fnsku="X00CUP")], cursor_position=at + timedelta(hours=1))
    finally:
        event.remove(engine, "before_cursor_execute", fail_effect_insert)
    assert (count(engine, LedgerSourceRow), count(engine, Movement), count(engine, Effect)) == (1, 1, 1)
    with Session(engine) as s:
        cursor = s.get(Cursor, (ACCOUNT, "ledger"))
        assert cursor is not None and cursor.position.replace(tzinfo=UTC) == at
    # The retry of the same read then stores it.
    assert read(engine, [row(), row(msku="CUP", fnsku="X00CUP")]).effects == 1


def test_a_large_read_is_chunked_and_counted_exactly(engine):
    rows = [row(reference_id=f"r{i}", quantity=-(1 + i % 3)) for i in range(2500)]
    rows += [row(reference_id="r0", quantity=-1)]  # one legitimate twin
    first = read(engine, rows)
    again = read(engine, rows)
    assert (first.rows_new, first.effects, again.rows_new) == (2501, 2501, 0)


def test_a_read_stored_in_chunks_keeps_every_copy_and_resumes_after_a_crash(engine):
    # 20 identities, the first 8 with a legitimate twin and the first 3 with a third copy: 31 rows.
    rows = [row(reference_id=f"r{i}") for i in range(20)]
    rows += [row(reference_id=f"r{i}") for i in range(8)] + [row(reference_id=f"r{i}") for i in range(3)]
    at = datetime(2026, 3, 11, 9, tzinfo=UTC)

    def crash_at_the_cursor(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("UPDATE CURSOR", "INSERT INTO CURSOR")):
            raise RuntimeError("worker killed")

    event.listen(engine, "before_cursor_execute", crash_at_the_cursor)
    try:
        with pytest.raises(RuntimeError, match="worker killed"):
            read(engine, rows, cursor_position=at, chunk_rows=7)
    finally:
        event.remove(engine, "before_cursor_execute", crash_at_the_cursor)
    stored_before = count(engine, LedgerSourceRow)
    assert 0 < stored_before < 31  # the chunks before the last were committed, the last was not
    with Session(engine) as s:
        assert s.get(Cursor, (ACCOUNT, "ledger")) is None

    progress: list[tuple[int, int]] = []
    again = read(engine, rows, cursor_position=at, chunk_rows=7, on_progress=lambda *p: progress.append(p))
    assert again.rows_new == 31 - stored_before
    # The person on call sees a long read advance, chunk by chunk.
    assert progress and all(total == 31 for _, total in progress)
    assert [done for done, _ in progress] == sorted({done for done, _ in progress}) and progress[-1][0] < 31
    assert (count(engine, LedgerSourceRow), count(engine, Movement), count(engine, Effect)) == (31, 31, 31)
    with Session(engine) as s:
        cursor = s.get(Cursor, (ACCOUNT, "ledger"))
        assert cursor is not None and cursor.position.replace(tzinfo=UTC) == at
    assert read(engine, rows, chunk_rows=7).rows_new == 0


def test_concurrent_ingestion_of_the_same_read_stores_each_row_once(engine):
    rows = [row(reference_id=f"r{i}") for i in range(300)] + [row(reference_id="r0")]
    barrier = threading.Barrier(2)
    results: list[IngestResult] = []
    errors: list[BaseException] = []

    def ingest() -> None:
        barrier.wait()
        try:
            results.append(read(engine, rows))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(r.rows_new for r in results) == [0, 301]
    assert (count(engine, LedgerSourceRow), count(engine, Effect)) == (301, 301)


# --- orders (shipments fast path) ----------------------------------------------------------------


def shipment(shipped: int, *, item: str = "10001", msku: str = "MUG", hour: int = 12) -> OrderItemShipment:
    return OrderItemShipment(
        order_id="113-0001",
        order_item_id=item,
        msku=msku,
        quantity_ordered=3,
        quantity_shipped=shipped,
        order_status="PartiallyShipped" if shipped < 3 else "Shipped",
        last_updated=datetime(2026, 3, 10, hour, tzinfo=UTC),
    )


def orders(engine, shipments, sku_map=None):
    return ingest_order_shipments(
        engine,
        context(),
        shipments=shipments,
        skus=sku_map if sku_map is not None else skus("MUG", "CUP"),
        cursor_position=datetime(2026, 3, 10, 13, tzinfo=UTC),
        local_date=lambda t: (t - timedelta(hours=8)).date(),
    )


def test_partial_shipments_count_their_growth(engine):
    assert orders(engine, [shipment(1, hour=9)]).effects == 1
    assert orders(engine, [shipment(3, hour=10)]).effects == 1
    assert orders(engine, [shipment(3, hour=10)]).effects == 0, "a re-read changes nothing"
    assert deltas(engine) == [("MUG", "available", -1), ("MUG", "available", -2)]
    keys = [m.key for m in all_of(engine, Movement)]
    assert keys == [f"order:{ACCOUNT}:113-0001:10001:0->1", f"order:{ACCOUNT}:113-0001:10001:1->3"]
    effects = all_of(engine, Effect)
    assert {(e.kind, e.reason, e.location, e.ledger_document_uri) for e in effects} == {
        ("shipment", "correction", "fba", None)
    }
    assert effects[0].occurred_on == date(2026, 3, 10)
    [state] = all_of(engine, OrderItemState)
    assert (state.quantity_shipped, state.order_status) == (3, "Shipped")
    with Session(engine) as s:
        assert s.get(Cursor, (ACCOUNT, "orders")) is not None


def test_shipped_quantity_never_goes_backwards(engine):
    orders(engine, [shipment(2, hour=9)])
    assert orders(engine, [shipment(1, hour=11)]).effects == 0, "a decrease is ignored"
    assert orders(engine, [shipment(3, hour=12)]).effects == 1
    assert deltas(engine) == [("MUG", "available", -2), ("MUG", "available", -1)]
    [state] = all_of(engine, OrderItemState)
    assert state.quantity_shipped == 3


def test_growth_within_one_read_and_several_items(engine):
    result = orders(
        engine, [shipment(1, hour=9), shipment(2, item="10002", msku="CUP"), shipment(3, hour=10)]
    )
    assert (result.rows_read, result.movements, result.effects) == (3, 3, 3)
    assert sorted(deltas(engine)) == [
        ("CUP", "available", -2),
        ("MUG", "available", -2),
        ("MUG", "available", -1),
    ]
    assert count(engine, OrderItemState) == 2


def test_unmapped_order_item_is_quarantined_and_released(engine):
    result = orders(engine, [shipment(2, msku="GHOST-1")], sku_map={})
    assert (result.effects, result.quarantined) == (0, 1)
    [q] = all_of(engine, QuarantinedInput)
    assert q.stream == "orders" and q.reason.startswith("unmapped sku GHOST-1")
    # Even after the account switched to ledger shipments, an order-stream movement still applies.
    released = retry_quarantined(engine, context(shipments_source="ledger"), skus=skus("GHOST-1", pack=2))
    assert released.effects == 1
    assert deltas(engine) == [("GHOST-1", "available", -4)]
