"""Reconciliation corrections in the ledger after they are held: late rows they absorb, effects they
release when they stop covering them, and reverting an applied correction (reconciler/absorption.py
says why absorbing is right)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from reconciler.absorption import COVERED_NAMES, RunCover, RunOutcome, counted_by_snapshot, covering_run
from reconciler.clock import as_utc
from reconciler.ledger.tables import DiscrepancyRecord, Effect, Hold, ReconciliationRun, SnapshotLevel
from reconciler.messages import RevertRequest, RevertResult
from reconciler.models import EffectState

CORRECTION = "correction"
REVERT = "correction_revert"
# A correction in these states covers its snapshot's movements (rejected or failed ones do not).
COVERING = [EffectState.HELD, EffectState.APPROVED, EffectState.IN_FLIGHT, EffectState.APPLIED]

_EFFECT = Effect.__table__  # type: ignore[attr-defined]


def revert_key(correction_id: int) -> str:
    return f"revert:{correction_id}"


def absorb_late_effects(conn: Connection, account: str, effects: Sequence[dict[str, Any]], tz: tzinfo) -> int:
    """Mark, in place, the new effect rows (not yet inserted) that a reconciliation already covers
    as absorbed: by its correction, or by a comparison that found the item matching. Called in the
    transaction that stores them, before they are inserted. Cheap when nothing is late: one query."""
    candidates = [
        row
        for row in effects
        if row["location"] == "fba"
        and row["name"] in COVERED_NAMES
        and row["state"] == EffectState.PENDING
        and row.get("occurred_on") is not None
    ]
    if not candidates:
        return 0
    runs = _compared_runs(conn, account)
    late = [
        (row, counted)
        for row in candidates
        if (
            counted := [
                (run_id, at)
                for run_id, at in runs
                if counted_by_snapshot(row.get("occurred_at"), row["occurred_on"], at, tz)
            ]
        )
    ]
    if not late:
        return 0
    views = _run_views(
        conn,
        {run_id for _, counted in late for run_id, _ in counted},
        {row["shopify_sku"] for row, _ in late},
    )
    absorbed = 0
    for row, counted in late:
        covers = [
            RunCover(
                run_id=run_id,
                snapshot_at=at,
                **views.get((run_id, row["shopify_sku"], row["name"]), {"outcome": RunOutcome.UNCOVERED}),
            )
            for run_id, at in counted
        ]
        cover = covering_run(covers, row.get("occurred_at"), row["occurred_on"], tz)
        if cover is None:
            continue
        row["state"], row["absorbed_by"] = EffectState.ABSORBED.value, cover.correction_id
        if cover.outcome == RunOutcome.MATCHED:
            row["error"] = (
                f"absorbed by full reconciliation {cover.run_id}: Shopify already matched Amazon's "
                "snapshot, which counted this movement"
            )
        absorbed += 1
    return absorbed


def _compared_runs(conn: Connection, account: str) -> list[tuple[int, datetime]]:
    r = ReconciliationRun.__table__  # type: ignore[attr-defined]
    return [
        (run_id, as_utc(at))
        for run_id, at in conn.execute(
            select(r.c.id, r.c.snapshot_at).where(
                r.c.account == account, r.c.state == "compared", r.c.snapshot_at.is_not(None)
            )
        )
    ]


def _run_views(
    conn: Connection, run_ids: set[int], skus: set[str]
) -> dict[tuple[int, str, str], dict[str, Any]]:
    """(run, Shopify SKU, name) → RunCover fields, for the runs and SKUs of late rows (a few)."""
    e, d = _EFFECT, DiscrepancyRecord.__table__  # type: ignore[attr-defined]
    lv = SnapshotLevel.__table__  # type: ignore[attr-defined]
    views: dict[tuple[int, str, str], dict[str, Any]] = {}
    for run_id, sku in conn.execute(
        select(lv.c.run_id, lv.c.sku).where(
            lv.c.run_id.in_(run_ids), lv.c.source == "shopify", lv.c.sku.in_(skus)
        )
    ):
        for name in COVERED_NAMES:  # compared; a difference below overrides
            views[(run_id, sku, name)] = {"outcome": RunOutcome.MATCHED}
    found = conn.execute(
        select(d.c.run_id, d.c.sku, d.c.name, d.c.effect_id, e.c.state)
        .select_from(d.outerjoin(e, e.c.id == d.c.effect_id))
        .where(d.c.run_id.in_(run_ids), d.c.sku.in_(skus), d.c.location == "fba")
    ).all()
    reverted = set(
        conn.execute(
            select(e.c.key).where(e.c.kind == REVERT, e.c.key.in_([revert_key(f[3]) for f in found if f[3]]))
        ).scalars()
    )
    for run_id, sku, name, effect_id, state in found:
        standing = (
            effect_id is not None
            and state in [c.value for c in COVERING]
            and revert_key(effect_id) not in reverted
        )
        views[(run_id, sku, name)] = (
            {"outcome": RunOutcome.CORRECTED, "correction_id": effect_id}
            if standing
            else {"outcome": RunOutcome.UNCOVERED}
        )
    return views


def release_absorbed(s: Session, correction_ids: Iterable[int], why: str) -> int:
    """The effects these corrections absorbed go back to pending: nothing covers them any more."""
    ids = list(correction_ids)
    if not ids:
        return 0
    result = s.execute(
        update(_EFFECT)
        .where(_EFFECT.c.absorbed_by.in_(ids), _EFFECT.c.state == EffectState.ABSORBED.value)
        .values(state=EffectState.PENDING.value, absorbed_by=None, error=why)
    )
    return int(result.rowcount or 0)


def revert_corrections(engine: Engine, req: RevertRequest) -> RevertResult:
    """Undo applied corrections, named by their holds or by their reconciliation run: each gets one
    opposite effect (approved by the person who asked, so no guardrail holds it again) and releases
    the late rows it had absorbed. Reverting twice does nothing more (one revert per correction)."""
    now = datetime.now(UTC)
    result = RevertResult()
    with Session(engine) as s, s.begin():
        targets = _targets(s, req, result)
        for hold_id, correction in targets:
            assert correction.id is not None
            if correction.state != EffectState.APPLIED:
                result.refused[hold_id] = (
                    f"correction {correction.id} is {correction.state}: only an applied correction can be "
                    "reverted (reject a held one instead)"
                )
                continue
            if s.exec(select(Effect.id).where(Effect.key == revert_key(correction.id))).first():
                result.refused[hold_id] = f"correction {correction.id} was already reverted"
                continue
            note = f"revert of correction {correction.id} by {req.by}" + (f": {req.note}" if req.note else "")
            audit = Hold(
                shop=req.shop,
                kind="revert",
                effect_id=None,
                why=note,
                state="approved",
                resolved_at=now,
                resolved_by=req.by,
                note=req.note,
            )
            s.add(audit)
            s.flush()
            revert = Effect(
                key=revert_key(correction.id),
                shop=correction.shop,
                account=correction.account,
                kind=REVERT,
                msku=correction.msku,
                shopify_sku=correction.shopify_sku,
                inventory_item_id=correction.inventory_item_id,
                location=correction.location,
                location_id=correction.location_id,
                name=correction.name,
                reason=correction.reason,
                ledger_document_uri=correction.ledger_document_uri,
                delta=-correction.delta,
                state=EffectState.APPROVED,
                hold_id=audit.id,  # no occurrence time: not an Amazon movement (see snapshot_gap)
            )
            s.add(revert)
            s.flush()
            assert revert.id is not None
            audit.effect_id = revert.id
            result.released += release_absorbed(
                s, [correction.id], f"released: correction {correction.id} reverted by {req.by}"
            )
            result.reverted.append(hold_id)
            result.revert_effect_ids.append(revert.id)
    return result


def _targets(s: Session, req: RevertRequest, result: RevertResult) -> list[tuple[int, Effect]]:
    """(hold id, correction) pairs named by the request; unknown ones go to `result.refused`."""
    holds: list[Hold] = []
    if req.run_id is not None:
        effect_ids = s.exec(
            select(DiscrepancyRecord.effect_id).where(
                DiscrepancyRecord.run_id == req.run_id, col(DiscrepancyRecord.effect_id).is_not(None)
            )
        ).all()
        holds += s.exec(
            select(Hold).where(col(Hold.effect_id).in_(list(effect_ids)), Hold.kind == CORRECTION)
        ).all()
        if not holds:
            result.refused[0] = f"reconciliation run {req.run_id} held no corrections"
    for effect_id in req.effect_ids:
        effect = s.get(Effect, effect_id)
        hold = s.get(Hold, effect.hold_id) if effect is not None and effect.hold_id is not None else None
        if hold is None or hold.shop != req.shop or hold.kind != CORRECTION:
            result.refused[-effect_id] = f"effect {effect_id} is not a correction of shop {req.shop}"
        else:
            holds.append(hold)
    if req.hold_ids:
        found = {h.id: h for h in s.exec(select(Hold).where(col(Hold.id).in_(req.hold_ids))).all()}
        for hold_id in req.hold_ids:
            hold = found.get(hold_id)
            if hold is None or hold.shop != req.shop or hold.kind != CORRECTION:
                result.refused[hold_id] = f"hold {hold_id} is not a correction of shop {req.shop}"
            else:
                holds.append(hold)
    out: list[tuple[int, Effect]] = []
    seen: set[int] = set()
    for hold in sorted(holds, key=lambda h: h.id or 0):
        assert hold.id is not None
        if hold.id in seen or hold.effect_id is None:
            continue
        seen.add(hold.id)
        correction = s.get(Effect, hold.effect_id)
        if correction is None or correction.shop != req.shop:
            result.refused[hold.id] = f"hold {hold.id} is not a correction of shop {req.shop}"
            continue
        out.append((hold.id, correction))
    return out
