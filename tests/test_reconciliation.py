"""The full reconciliation's comparison on a catalogue where every SKU's difference is known."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from reconciler.reconciliation import AmazonLevel, LedgerEffect, ShopifyLevel, compare, snapshot_gap

MAP = {"SOAP-2PK": ("SOAP", 2), "AMZ-CANDLE": ("CANDLE", 1)}


def resolve(msku: str) -> tuple[str, int]:
    return MAP.get(msku, (msku, 1))


def test_every_known_difference_is_reported_and_only_those() -> None:
    amazon = [
        AmazonLevel(msku="EVEN", fulfillable=10, reserved=2, unsellable=1),  # Shopify 12/1: equal
        AmazonLevel(msku="EDITED", fulfillable=20),  # Shopify 17: a person took 3
        AmazonLevel(msku="SOAP-2PK", fulfillable=5, reserved=1, unsellable=1),  # pack 2: 12 / 2
        AmazonLevel(msku="PENDING", fulfillable=8),  # −2 not yet written: Shopify 10 is right
        AmazonLevel(msku="GONE", fulfillable=0),  # Shopify shows 4
        AmazonLevel(msku="AMZ-CANDLE", fulfillable=3, unsellable=2),  # renamed; damaged off by 1
    ]
    shopify = {
        s.sku: s
        for s in [
            ShopifyLevel(sku="EVEN", available=12, damaged=1),
            ShopifyLevel(sku="EDITED", available=17),
            ShopifyLevel(sku="SOAP", available=12, damaged=2),
            ShopifyLevel(sku="PENDING", available=10),
            ShopifyLevel(sku="GONE", available=4),
            ShopifyLevel(sku="CANDLE", available=3, damaged=3),
            ShopifyLevel(sku="SHOPIFY-ONLY", available=0, damaged=0),
        ]
    }
    got = {(d.sku, d.name): d for d in compare(amazon, shopify, resolve, {("PENDING", "available"): -2})}
    assert {k: d.difference for k, d in got.items()} == {
        ("EDITED", "available"): -3,
        ("GONE", "available"): 4,
        ("CANDLE", "damaged"): 1,
    }
    edited = got[("EDITED", "available")]
    assert (edited.amazon, edited.shopify, edited.expected_shopify) == (20, 17, 20)
    assert "manual edit" in edited.explanation


def test_unwritten_effects_are_part_of_what_shopify_should_show() -> None:
    # Amazon shipped 3 (a pending −3 effect): Shopify still shows the old 10.
    [d] = compare(
        [AmazonLevel(msku="A", fulfillable=7)],
        {"A": ShopifyLevel(sku="A", available=12)},
        resolve,
        {("A", "available"): -3},
    )
    assert (d.expected_shopify, d.difference, d.unwritten) == (10, 2, -3)


def test_sku_missing_on_either_side_and_untracked_unfulfillable() -> None:
    diffs = compare(
        [AmazonLevel(msku="NEW", fulfillable=4, unsellable=9)], {}, resolve, {}, track_unfulfillable=False
    )
    assert [(d.sku, d.name, d.difference) for d in diffs] == [("NEW", "available", -4)]
    assert "not stocked" in diffs[0].explanation


def test_the_gap_between_the_two_snapshots_is_allowed_for() -> None:
    """Amazon's snapshot at T (15:00 UTC), Shopify's a little later; the gate kept writing."""
    t = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)

    def effect(delta: int, minutes: int | None, written: bool, day: date | None = t.date()) -> LedgerEffect:
        at = t + timedelta(minutes=minutes) if minutes is not None else None
        return LedgerEffect(
            sku="A", name="available", delta=delta, written=written, occurred_at=at, occurred_on=day
        )

    unwritten, after = snapshot_gap(
        [
            effect(-3, -60, written=False),  # before T, not yet in Shopify: allowed for (as always)
            effect(-2, -30, written=True),  # before T, already in Shopify: in both snapshots
            effect(-4, +10, written=True),  # after T, already in Shopify: in Shopify's only
            effect(-5, +20, written=False),  # after T, not written: in neither
            effect(+7, None, written=False, day=None),  # a held correction: not a movement, allowed for
            effect(-1, None, written=False, day=date(2026, 3, 9)),  # only the day, before T's: counted
        ],
        t,
        UTC,
    )
    assert unwritten == {("A", "available"): -3 + 7 - 1} and after == {("A", "available"): -4}
    # Amazon counted −3, −2 and −1 (it shows 40, so 46 before); Shopify got −2 and, after T, −4: it
    # shows 40 too. Allowing for both sides of the gap, nothing differs.
    diffs = compare(
        [AmazonLevel(msku="A", fulfillable=40)],
        {"A": ShopifyLevel(sku="A", available=40)},
        resolve,
        {("A", "available"): -3 - 1},
        written_after={("A", "available"): -4},
    )
    assert diffs == []
    [d] = compare(
        [AmazonLevel(msku="A", fulfillable=40)],
        {"A": ShopifyLevel(sku="A", available=38)},
        resolve,
        {},
        written_after={("A", "available"): -4},
    )
    assert (d.expected_shopify, d.difference, d.written_after) == (36, 2, -4)
    assert "after Amazon's snapshot" in d.explanation


def test_what_else_the_ledger_knows_joins_the_explanation() -> None:
    [d] = compare(
        [AmazonLevel(msku="A", fulfillable=5)],
        {"A": ShopifyLevel(sku="A", available=7)},
        resolve,
        {},
        context={"A": "open case: lost:us:X0A (researching)", "B": "not this one"},
    )
    assert d.explanation.endswith("; open case: lost:us:X0A (researching)")
