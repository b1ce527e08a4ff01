"""Late rows and reconciliation corrections: what a correction absorbs, what it releases when it is
rejected, and reverting an applied one — on SQLite and PostgreSQL, plus the pure rule."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from reconciler.absorption import RunCover, RunOutcome, counted_by_snapshot, covering_run
from reconciler.ledger.corrections import revert_corrections
from reconciler.ledger.gate_store import resolve_holds
from reconciler.ledger.ingest import lock_out_ingest
from reconciler.ledger.tables import DiscrepancyRecord, Effect, Hold, ReconciliationRun, SnapshotLevel
from reconciler.messages import HoldDecisionRequest, RevertRequest
from reconciler.models import EffectState
from tests.ledger_helpers import DAY, DB_KINDS, FBA, SHOP, context, ledger_engine, read, row, skus

LA = ZoneInfo("America/Los_Angeles")
# The snapshot was taken at 15:00 Los Angeles time on DAY.
SNAPSHOT = datetime(DAY.year, DAY.month, DAY.day, 15, 0, tzinfo=LA).astimezone(UTC)


@pytest.fixture(params=DB_KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with ledger_engine(request.param, tmp_path) as e:
        yield e


# --- the pure rule ---------------------------------------------------------------------------------


def test_a_movement_counts_in_the_snapshot_when_it_happened_before_it() -> None:
    at = datetime(DAY.year, DAY.month, DAY.day, 14, 59, tzinfo=LA)
    assert counted_by_snapshot(at, DAY, SNAPSHOT, LA)
    assert not counted_by_snapshot(at + timedelta(minutes=2), DAY, SNAPSHOT, LA)
    # A naive time is marketplace-local: 14:59 in Los Angeles is before 15:00 there.
    assert counted_by_snapshot(at.replace(tzinfo=None), DAY, SNAPSHOT, LA)
    # Only the day: the days before are sure, the snapshot's own day is not (taken as after).
    assert counted_by_snapshot(None, DAY - timedelta(days=1), SNAPSHOT, LA)
    assert not counted_by_snapshot(None, DAY, SNAPSHOT, LA)


def test_the_earliest_run_that_corrected_or_matched_the_item_covers_it() -> None:
    def run(run_id: int, days: int, outcome: RunOutcome) -> RunCover:
        correction = run_id if outcome == RunOutcome.CORRECTED else None
        return RunCover(
            run_id=run_id,
            snapshot_at=SNAPSHOT + timedelta(days=days),
            outcome=outcome,
            correction_id=correction,
        )

    runs = [run(3, 4, RunOutcome.MATCHED), run(2, 2, RunOutcome.CORRECTED), run(1, 0, RunOutcome.UNCOVERED)]
    # Run 1 counted it but left it uncovered (its correction was rejected): run 2's correction covers it.
    assert covering_run(runs, None, DAY - timedelta(days=3), LA) == runs[1]
    assert covering_run(runs, None, DAY + timedelta(days=3), LA) == runs[0]  # only run 3 counted it
    assert covering_run(runs, None, DAY + timedelta(days=5), LA) is None


# --- the ledger ------------------------------------------------------------------------------------


def _hold_correction(engine: Engine, delta: int, state: str = EffectState.HELD) -> int:
    with Session(engine) as s, s.begin():
        return _add_correction(s, delta, state)


def _add_correction(s: Session, delta: int, state: str = EffectState.HELD) -> int:
    """A reconciliation run with its snapshot time and one correction of MUG available at fba."""
    run = ReconciliationRun(account="us", workflow_id="w", snapshot_at=SNAPSHOT, state="compared")
    s.add(run)
    s.flush()
    correction = Effect(
        key=f"reconcile:{run.id}:MUG:available",
        shop=SHOP,
        account="us",
        kind="correction",
        msku="MUG",
        shopify_sku="MUG",
        inventory_item_id="gid://shopify/InventoryItem/MUG",
        location="fba",
        location_id=FBA,
        name="available",
        reason="correction",
        delta=delta,
        state=state,
    )
    s.add(correction)
    s.flush()
    hold = Hold(shop=SHOP, kind="correction", effect_id=correction.id, why="test")
    s.add(hold)
    s.flush()
    correction.hold_id = hold.id
    s.add(
        DiscrepancyRecord(
            run_id=run.id,
            account="us",
            sku="MUG",
            location="fba",
            name="available",
            amazon=0,
            shopify=0,
            expected_shopify=0,
            difference=-delta,
            effect_id=correction.id,
        )
    )
    assert hold.id is not None
    return hold.id


def _effects(engine: Engine, kind: str | None = None) -> list[Effect]:
    with Session(engine) as s:
        stmt = select(Effect).where(Effect.kind != "correction").order_by(Effect.id)  # type: ignore[arg-type]
        if kind:
            stmt = select(Effect).where(Effect.kind == kind).order_by(Effect.id)  # type: ignore[arg-type]
        return list(s.exec(stmt).all())


def _read(engine: Engine, *rows_: object) -> None:
    ctx = context().model_copy(update={"timezone": "America/Los_Angeles"})
    read(
        engine,
        list(rows_),  # type: ignore[arg-type]
        first_day=DAY - timedelta(days=2),
        last_day=DAY,
        sku_map=skus("MUG", "CUP"),
        ctx=ctx,
    )


def test_late_rows_before_the_snapshot_are_absorbed_and_later_ones_flow(engine: Engine) -> None:
    _hold_correction(engine, -7)
    before = datetime(DAY.year, DAY.month, DAY.day, 9, 30, tzinfo=LA)
    _read(
        engine,
        row(quantity=-2, reference_id="a", occurred_at=before),  # counted by the snapshot
        row(date=DAY - timedelta(days=1), quantity=-1, reference_id="b"),  # the day before, no time
        row(quantity=-3, reference_id="c", occurred_at=before + timedelta(hours=6)),  # after the snapshot
        row(quantity=-4, reference_id="d"),  # the snapshot's own day without a time: flows
    )
    by_ref = {e.delta: e for e in _effects(engine)}
    assert by_ref[-2].state == by_ref[-1].state == EffectState.ABSORBED
    assert by_ref[-2].absorbed_by is not None and by_ref[-2].absorbed_by == by_ref[-1].absorbed_by
    assert by_ref[-3].state == by_ref[-4].state == EffectState.PENDING


def test_a_run_that_found_the_item_matching_absorbs_its_late_rows(engine: Engine) -> None:
    """A hand edit of −2 hid the unseen −2 shipment: Shopify matched Amazon's snapshot, no correction
    was held, and the shipment's late row must not move Shopify away from Amazon."""
    with Session(engine) as s, s.begin():
        for state in ("compared", "previewed"):
            run = ReconciliationRun(account="us", workflow_id="w", snapshot_at=SNAPSHOT, state=state)
            s.add(run)
            s.flush()
            s.add(
                SnapshotLevel(run_id=run.id, source="shopify", sku="MUG", inventory_item_id="i", available=8)
            )
        compared_run = run.id - 1
    _read(engine, row(quantity=-2, date=DAY - timedelta(days=1)), row(msku="CUP", fnsku="X00CUP"))
    mug, cup = _effects(engine)
    assert (mug.state, mug.absorbed_by) == (EffectState.ABSORBED, None)
    assert f"full reconciliation {compared_run}" in (mug.error or "")
    assert cup.state == EffectState.PENDING  # not in that run's Shopify snapshot: not compared


def test_without_corrections_late_rows_flow(engine: Engine) -> None:
    _read(engine, row(quantity=-2, date=DAY - timedelta(days=1)))
    assert [e.state for e in _effects(engine)] == [EffectState.PENDING]


def test_rejecting_a_correction_releases_what_it_absorbed(engine: Engine) -> None:
    hold_id = _hold_correction(engine, -5)
    _read(engine, row(quantity=-2, date=DAY - timedelta(days=1)))
    assert [e.state for e in _effects(engine)] == [EffectState.ABSORBED]
    resolve_holds(engine, HoldDecisionRequest(shop=SHOP, approve=False, hold_ids=[hold_id], by="alice"))
    (late,) = _effects(engine)
    assert late.state == EffectState.PENDING and late.absorbed_by is None
    assert "rejected by alice" in (late.error or "")
    # A rejected correction covers nothing: the next late row flows too.
    _read(engine, row(quantity=-1, reference_id="z", date=DAY - timedelta(days=1)))
    assert [e.state for e in _effects(engine)] == [EffectState.PENDING, EffectState.PENDING]


def test_reverting_an_applied_correction_writes_the_opposite_once_and_releases(engine: Engine) -> None:
    hold_id = _hold_correction(engine, -5, state=EffectState.APPLIED)
    _read(engine, row(quantity=-2, date=DAY - timedelta(days=1)))
    result = revert_corrections(engine, RevertRequest(shop=SHOP, hold_ids=[hold_id], by="bob", note="wrong"))
    assert result.reverted == [hold_id] and result.released == 1 and not result.refused
    (revert,) = _effects(engine, "correction_revert")
    assert revert.delta == 5 and revert.state == EffectState.APPROVED and revert.location == "fba"
    late = [e for e in _effects(engine) if e.kind != "correction_revert"]
    assert [(e.delta, e.state) for e in late] == [(-2, EffectState.PENDING)]
    again = revert_corrections(engine, RevertRequest(shop=SHOP, hold_ids=[hold_id], by="bob"))
    assert again.reverted == [] and "already reverted" in again.refused[hold_id]
    # A reverted correction absorbs nothing any more.
    _read(engine, row(quantity=-1, reference_id="z", date=DAY - timedelta(days=1)))
    assert all(e.state != EffectState.ABSORBED for e in _effects(engine))


def test_a_comparison_holds_ingest_off_until_its_correction_is_committed(engine: Engine) -> None:
    """The PostgreSQL race: a row stored while a reconciliation compares must either be an unwritten
    effect the comparison sees, or see the correction and be absorbed — here, the latter."""
    stored = threading.Event()

    def ingest() -> None:
        _read(engine, row(quantity=-2, date=DAY - timedelta(days=1)))
        stored.set()

    with Session(engine) as s, s.begin():
        lock_out_ingest(s.connection(), "us")
        thread = threading.Thread(target=ingest)
        thread.start()
        assert not stored.wait(1.0), "the ingest did not wait for the comparison"
        _add_correction(s, -5)
    thread.join(60)
    assert stored.is_set()
    assert [e.state for e in _effects(engine)] == [EffectState.ABSORBED]


def test_only_applied_corrections_can_be_reverted(engine: Engine) -> None:
    held = _hold_correction(engine, -5)
    result = revert_corrections(engine, RevertRequest(shop=SHOP, hold_ids=[held, 999], by="bob"))
    assert result.reverted == []
    assert "only an applied correction" in result.refused[held] and 999 in result.refused
    by_run = revert_corrections(engine, RevertRequest(shop=SHOP, run_id=12345, by="bob"))
    assert "held no corrections" in by_run.refused[0]


def test_a_correction_can_be_reverted_by_its_effect_id(engine: Engine) -> None:
    hold_id = _hold_correction(engine, 4, state=EffectState.APPLIED)
    with Session(engine) as s:
        correction_id = s.exec(select(Effect.id).where(Effect.kind == "correction")).one()
    result = revert_corrections(engine, RevertRequest(shop=SHOP, effect_ids=[correction_id, 4242], by="bob"))
    assert result.reverted == [hold_id] and "effect 4242" in result.refused[-4242]
    (revert,) = _effects(engine, "correction_revert")
    assert revert.delta == -4
