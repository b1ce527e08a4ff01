"""Full reconciliation (ARCHITECTURE §5): what Shopify's `fba` location should show, given Amazon's
snapshot and the effects not yet written, and how far it is off.

    expected_shopify = amazon × pack − Σ effects not yet written (pending, held, approved, in_flight)
    difference       = shopify − expected_shopify

`available` compares with fulfillable + reserved (Amazon's reserved units are still the merchant's,
waiting for Amazon's own orders); `damaged` with unfulfillable (when track_unfulfillable). Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from pydantic import BaseModel


class AmazonLevel(BaseModel, frozen=True):
    msku: str
    fulfillable: int = 0
    reserved: int = 0
    unsellable: int = 0


class ShopifyLevel(BaseModel, frozen=True):
    sku: str
    inventory_item_id: str = ""
    available: int = 0
    damaged: int = 0


class Discrepancy(BaseModel):
    sku: str  # Shopify SKU
    location: str = "fba"
    name: str
    amazon: int  # in Shopify units
    shopify: int
    expected_shopify: int
    difference: int
    unwritten: int = 0
    msku: str = ""
    explanation: str = ""


def compare(
    amazon: Iterable[AmazonLevel],
    shopify: Mapping[str, ShopifyLevel],
    resolve: Callable[[str], tuple[str, int]],
    unwritten: Mapping[tuple[str, str], int],  # (Shopify SKU, name) → Σ deltas of effects not yet written
    *,
    track_unfulfillable: bool = True,
) -> list[Discrepancy]:
    """Every non-zero difference, per Shopify SKU and quantity name, sorted by SKU. Several MSKUs may map
    to one Shopify SKU (with their packs); Shopify SKUs that Amazon no longer lists count as 0 there."""
    want: dict[tuple[str, str], int] = defaultdict(int)
    mskus: dict[str, list[str]] = defaultdict(list)
    for level in amazon:
        sku, pack = resolve(level.msku)
        mskus[sku].append(level.msku)
        want[(sku, "available")] += (level.fulfillable + level.reserved) * pack
        if track_unfulfillable:
            want[(sku, "damaged")] += level.unsellable * pack
    names = ["available", "damaged"] if track_unfulfillable else ["available"]
    out: list[Discrepancy] = []
    for sku in sorted(set(shopify) | {s for s, _ in want}):
        have = shopify.get(sku)
        for name in names:
            amazon_units = want.get((sku, name), 0)
            pending = unwritten.get((sku, name), 0)  # Σ deltas Shopify has not received yet
            expected = amazon_units - pending
            actual = getattr(have, name) if have is not None else 0
            difference = actual - expected
            if difference == 0:
                continue
            out.append(
                Discrepancy(
                    sku=sku,
                    name=name,
                    amazon=amazon_units,
                    shopify=actual,
                    expected_shopify=expected,
                    difference=difference,
                    unwritten=pending,
                    msku=",".join(mskus.get(sku, [])),
                    explanation=explain(sku, have is not None, sku in mskus, pending, difference),
                )
            )
    return out


def explain(sku: str, in_shopify: bool, at_amazon: bool, pending: int, difference: int) -> str:
    """What the ledger can say about a difference, in words for the ops team."""
    parts = []
    if not in_shopify:
        parts.append(f"{sku} is not stocked at the FBA location in Shopify")
    if not at_amazon:
        parts.append("Amazon's snapshot does not list it")
    if pending:
        parts.append(f"effects of {pending:+d} units not yet written to Shopify are allowed for")
    direction = "more" if difference > 0 else "fewer"
    parts.append(
        f"Shopify shows {abs(difference)} {direction} than Amazon holds: a manual edit in Shopify, or "
        "Amazon movements the ledger has not seen"
    )
    return "; ".join(parts)
