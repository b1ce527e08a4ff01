"""guardrails.py: large effects wait for a person; large net changes raise an alert."""

from __future__ import annotations

from reconciler.guardrails import effects_to_hold, is_large, large_net_changes
from reconciler.netting import PendingEffect


def effect(
    effect_id: int,
    delta: int,
    *,
    item: str = "I1",
    location: str = "L1",
    name: str = "available",
    account: str = "us",
) -> PendingEffect:
    return PendingEffect(
        effect_id=effect_id,
        account=account,
        inventory_item_id=item,
        location_id=location,
        name=name,
        reason="correction",
        ledger_document_uri=None,
        delta=delta,
    )


THRESHOLDS = {"us": (50, 25.0)}


def test_large_means_larger_than_both_thresholds():
    assert is_large(-120, 300, units=50, pct=25)  # 120 > 50 and 120 > 75
    assert not is_large(-60, 300, units=50, pct=25)  # more than 50 units but only 20 %
    assert not is_large(40, 100, units=50, pct=25)  # 40 % but not more than 50 units
    assert not is_large(50, 100, units=50, pct=25), "equal to the unit threshold is not larger"
    assert not is_large(75, 300, units=50, pct=25), "equal to the percentage is not larger"
    assert is_large(76, 300, units=50, pct=25)


def test_with_nothing_on_hand_only_the_unit_threshold_counts():
    assert is_large(51, 0, units=50, pct=25)
    assert is_large(51, None, units=50, pct=25)
    assert is_large(-51, -3, units=50, pct=25)
    assert not is_large(50, 0, units=50, pct=25)
    assert not is_large(0, 0, units=0, pct=0)


def test_large_effects_are_held_each_on_its_own_with_a_reason():
    effects = [effect(1, -120), effect(2, -3), effect(3, 60, item="I2")]
    held = effects_to_hold(effects, {("I1", "L1"): 300, ("I2", "L1"): 1000}, THRESHOLDS)
    assert list(held) == [1], "ordinary effects of the same SKU still flow"
    assert held[1] == "−120 available of I1 at L1 is more than 50 units and 25% of on hand 300"


def test_hold_reason_when_nothing_is_on_hand():
    held = effects_to_hold([effect(7, 80, name="damaged")], {}, THRESHOLDS)
    assert held == {7: "+80 damaged of I1 at L1 is more than 50 units and its on-hand quantity is unknown"}


def test_thresholds_are_per_account():
    effects = [effect(1, 30, account="us"), effect(2, 30, account="eu")]
    held = effects_to_hold(effects, {("I1", "L1"): 10}, {"us": (50, 25.0), "eu": (20, 25.0)})
    assert list(held) == [2]


def test_net_change_alert_uses_the_sum_per_item_and_location():
    effects = [effect(i, -30) for i in range(1, 5)] + [effect(9, -30, item="I2")]
    on_hand = {("I1", "L1"): 200, ("I2", "L1"): 200}
    assert effects_to_hold(effects, on_hand, THRESHOLDS) == {}, "no single effect is large"
    assert large_net_changes(effects, on_hand, THRESHOLDS) == [("I1", "L1", -120)]


def test_moving_units_between_names_is_not_a_net_change():
    effects = [effect(1, -100), effect(2, 100, name="damaged")]
    assert large_net_changes(effects, {("I1", "L1"): 100}, THRESHOLDS) == []
    assert large_net_changes([effect(3, 500, name="incoming")], {}, THRESHOLDS) == []
