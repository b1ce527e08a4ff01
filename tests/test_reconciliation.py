"""The full reconciliation's comparison on a catalogue where every SKU's difference is known."""

from __future__ import annotations

from reconciler.reconciliation import AmazonLevel, ShopifyLevel, compare

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
