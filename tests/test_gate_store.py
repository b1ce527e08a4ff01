"""The attempt protocol's bookkeeping without a server: the 20-hour rule and hold decisions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reconciler.ledger import gate_store
from reconciler.ledger.tables import Attempt, Effect, Hold
from reconciler.messages import AttemptResult, HoldDecisionRequest, Thresholds
from reconciler.models import AdjustOutcome, AppliedChange, UserError
from tests.ledger_helpers import DB_KINDS, ledger_engine


@pytest.fixture(params=DB_KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Effect states and attempts on SQLite and on PostgreSQL."""
    with ledger_engine(request.param, tmp_path) as e:
        yield e


def _effect(engine, delta: int, item: str = "gid://shopify/InventoryItem/1", state: str = "pending") -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s, s.begin():
        e = Effect(
            key=f"k{item}{delta}{state}",
            shop="main",
            account="us",
            kind="test",
            msku="A",
            shopify_sku="A",
            inventory_item_id=item,
            location="fba",
            location_id="gid://shopify/Location/1",
            name="available",
            reason="correction",
            delta=delta,
            state=state,
        )
        s.add(e)
        s.flush()
        assert e.id is not None
        return e.id


THRESHOLDS = {"us": Thresholds(units=1000, pct=100)}
LEVEL = {("gid://shopify/InventoryItem/1", "gid://shopify/Location/1"): {"available": 10, "on_hand": 10}}


def _plan(engine) -> list[int]:  # type: ignore[no-untyped-def]
    effects = gate_store.pending_effects(engine, "main", 100)
    return gate_store.plan_and_store(
        engine, "main", effects, LEVEL, THRESHOLDS, app_name="app", more=False
    ).attempt_ids


def test_attempt_unanswered_for_20_hours_becomes_a_hold_not_a_resend(engine: Engine) -> None:
    _effect(engine, -2)
    [attempt_id] = _plan(engine)
    t0 = datetime.now(UTC)
    first = gate_store.prepare_send(engine, attempt_id, now=t0)
    assert not isinstance(first, AttemptResult)
    again = gate_store.prepare_send(engine, attempt_id, now=t0 + timedelta(hours=19))
    assert not isinstance(again, AttemptResult)  # within Shopify's key retention: resent as is
    late = gate_store.prepare_send(engine, attempt_id, now=t0 + timedelta(hours=21))
    assert isinstance(late, AttemptResult) and late.state == "expired"
    [(hold, _)] = gate_store.open_holds(engine, "main")
    assert hold.kind == "expired_attempt" and hold.attempt_id == attempt_id and "idempotency key" in hold.why
    assert gate_store.open_attempt_ids(engine, "main") == []
    # A person checks Shopify and approves: the very same attempt is resent.
    assert hold.id is not None
    gate_store.resolve_holds(
        engine, HoldDecisionRequest(shop="main", hold_ids=[hold.id], by="alice", approve=True)
    )
    assert gate_store.open_attempt_ids(engine, "main") == [attempt_id]


def test_rejecting_an_expired_attempt_rejects_its_effects(engine: Engine) -> None:
    effect_id = _effect(engine, -2)
    [attempt_id] = _plan(engine)
    t0 = datetime.now(UTC)
    gate_store.prepare_send(engine, attempt_id, now=t0)
    gate_store.prepare_send(engine, attempt_id, now=t0 + timedelta(hours=21))
    [(hold, _)] = gate_store.open_holds(engine, "main")
    assert hold.id is not None
    gate_store.resolve_holds(
        engine, HoldDecisionRequest(shop="main", hold_ids=[hold.id], by="bob", approve=False)
    )
    with Session(engine) as s:
        assert s.get(Effect, effect_id).state == "rejected"  # type: ignore[union-attr]
        assert s.get(Attempt, attempt_id).state == "failed"  # type: ignore[union-attr]


def test_success_records_quantity_after_and_never_goes_backwards(engine: Engine) -> None:
    a, b = _effect(engine, -2), _effect(engine, -1, state="pending")
    [attempt_id] = _plan(engine)
    sent = gate_store.prepare_send(engine, attempt_id)
    assert not isinstance(sent, AttemptResult) and sent.request.changes[0].change_from_quantity == 10
    outcome = AdjustOutcome(
        group_id="gid://shopify/InventoryAdjustmentGroup/1",
        changes=[
            AppliedChange(
                inventory_item_id="gid://shopify/InventoryItem/1",
                location_id="gid://shopify/Location/1",
                name="available",
                delta=-3,
                quantity_after_change=None,
            )
        ],
    )
    assert gate_store.record_success(engine, attempt_id, outcome).effects_applied == 2
    # A late duplicate answer changes nothing.
    assert gate_store.record_success(engine, attempt_id, outcome).state == "not_open"
    stale = AdjustOutcome(
        user_errors=[
            UserError(
                field=["input", "changes", "0", "changeFromQuantity"],
                message="stale",
                code="CHANGE_FROM_QUANTITY_STALE",
            )
        ]
    )
    assert gate_store.record_user_errors(engine, attempt_id, stale, {}).state == "not_open"
    with Session(engine) as s:
        effects = {e.id: e for e in s.exec(select(Effect)).all()}
        assert {effects[a].state, effects[b].state} == {"applied"}
        assert effects[a].quantity_after == 7  # changeFromQuantity + delta when Shopify gives null
        assert s.exec(select(Hold)).all() == []
