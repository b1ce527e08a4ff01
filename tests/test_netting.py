"""netting.py: pending effects → inventoryAdjustQuantities calls."""

from __future__ import annotations

import random

from reconciler.netting import PendingEffect, net_effects

DOC = "gid://fba-reconciler/FbaLedgerDay/us-2026-03-10"


def effect(
    effect_id: int,
    delta: int,
    *,
    item: str = "I1",
    location: str = "L1",
    name: str = "available",
    reason: str = "correction",
    doc: str | None = None,
) -> PendingEffect:
    return PendingEffect(
        effect_id=effect_id,
        account="us",
        inventory_item_id=item,
        location_id=location,
        name=name,
        reason=reason,
        ledger_document_uri=doc,
        delta=delta,
    )


def test_effects_of_one_item_are_summed_into_one_change():
    plan = net_effects([effect(1, -1), effect(2, -2), effect(3, 5, item="I2")])
    [batch] = plan.batches
    assert (batch.name, batch.reason, batch.ledger_document_uri) == ("available", "correction", None)
    assert [(c.inventory_item_id, c.delta, c.effect_ids) for c in batch.changes] == [
        ("I1", -3, [1, 2]),
        ("I2", 5, [3]),
    ]
    assert plan.zero_effect_ids == []


def test_one_call_per_name_reason_and_ledger_document():
    plan = net_effects(
        [
            effect(1, -1, reason="shrinkage"),
            effect(2, -1, reason="correction"),
            effect(3, 1, name="damaged", reason="damaged", doc=DOC),
            effect(4, 1, name="damaged", reason="damaged", doc=DOC.replace("10", "11")),
        ]
    )
    keys = [(b.name, b.reason, b.ledger_document_uri) for b in plan.batches]
    assert len(keys) == len(set(keys)) == 4
    assert all(len(b.changes) == 1 for b in plan.batches)


def test_different_locations_are_separate_changes():
    [batch] = net_effects([effect(1, 2, location="L1"), effect(2, 3, location="L2")]).batches
    assert [(c.location_id, c.delta) for c in batch.changes] == [("L1", 2), ("L2", 3)]


def test_changes_that_net_to_zero_need_no_call():
    plan = net_effects([effect(1, -2), effect(2, 2), effect(3, 1, item="I2")])
    assert plan.zero_effect_ids == [1, 2]
    [batch] = plan.batches
    assert [c.inventory_item_id for c in batch.changes] == ["I2"]
    everything_nets = net_effects([effect(1, 1), effect(2, -1)])
    assert everything_nets.batches == [] and everything_nets.zero_effect_ids == [1, 2]


def test_opposite_reasons_do_not_cancel_each_other():
    plan = net_effects([effect(1, -1, reason="shrinkage"), effect(2, 1, reason="correction")])
    assert plan.zero_effect_ids == [] and len(plan.batches) == 2


def test_calls_hold_at_most_250_changes():
    plan = net_effects([effect(i, 1, item=f"I{i:04d}") for i in range(601)])
    assert [len(b.changes) for b in plan.batches] == [250, 250, 101]
    assert {b.name for b in plan.batches} == {"available"}
    every_item = [c.inventory_item_id for b in plan.batches for c in b.changes]
    assert len(every_item) == len(set(every_item)) == 601
    assert [
        len(b.changes) for b in net_effects([effect(1, 1), effect(2, 1, item="I2")], max_changes=1).batches
    ] == [
        1,
        1,
    ]


def test_same_effects_in_any_order_give_the_same_batches():
    effects = [
        effect(
            i,
            (-1) ** i * (i % 7),
            item=f"I{i % 40}",
            location=f"L{i % 2}",
            reason=("correction", "shrinkage")[i % 2],
        )
        for i in range(1, 500)
    ]
    shuffled = effects[:]
    random.Random(4).shuffle(shuffled)
    assert net_effects(effects, max_changes=10) == net_effects(shuffled, max_changes=10)


def test_every_effect_is_accounted_for_exactly_once():
    effects = [
        effect(i, i % 5 - 2, item=f"I{i % 13}", name=("available", "damaged")[i % 2]) for i in range(200)
    ]
    plan = net_effects(effects, max_changes=7)
    ids = plan.zero_effect_ids + [i for b in plan.batches for c in b.changes for i in c.effect_ids]
    assert sorted(ids) == list(range(200))
    assert sum(c.delta for b in plan.batches for c in b.changes) == sum(e.delta for e in effects)
