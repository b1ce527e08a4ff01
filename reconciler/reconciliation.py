"""Full reconciliation (ARCHITECTURE §5): what Shopify's `fba` location should show, given Amazon's
snapshot and the effects not yet written, and how far it is off.

    expected_shopify = amazon × pack − Σ effects not yet written (pending, held, approved, in_flight)
    difference       = shopify − expected_shopify

The two snapshots are not taken at one instant, and the gate keeps writing meanwhile, so "not yet
written" is judged when Shopify's snapshot started (S), and only for movements Amazon's snapshot (T)
already counted; a movement after T that was written before S is in Shopify's snapshot and not in
Amazon's, so it is added back (`snapshot_gap`). Without that, a correction approved later would
count such movements a second time.

`available` compares with fulfillable + reserved (Amazon's reserved units are still the merchant's,
waiting for Amazon's own orders); `damaged` with unfulfillable (when track_unfulfillable). Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, tzinfo

from pydantic import BaseModel

from reconciler.absorption import counted_by_snapshot

Gap = dict[tuple[str, str], int]  # (Shopify SKU, name) → Σ deltas


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
    written_after: int = 0  # Σ deltas of movements after Amazon's snapshot already in Shopify's
    msku: str = ""
    explanation: str = ""


class LedgerEffect(BaseModel, frozen=True):
    """What the comparison needs of one effect at the compared location."""

    sku: str  # Shopify SKU
    name: str
    delta: int
    written: bool  # applied (and not after Shopify's snapshot started)
    occurred_at: datetime | None = None
    occurred_on: date | None = None  # None: not an Amazon movement (a correction): counted as before T


def snapshot_gap(effects: Iterable[LedgerEffect], amazon_at: datetime | None, tz: tzinfo) -> tuple[Gap, Gap]:
    """(unwritten, written_after): Σ deltas of movements Amazon's snapshot counted that Shopify's
    lacks, and of movements after Amazon's snapshot that Shopify's already has."""
    unwritten: Gap = defaultdict(int)
    after: Gap = defaultdict(int)
    for e in effects:
        counted = (
            amazon_at is None
            or e.occurred_on is None
            or counted_by_snapshot(e.occurred_at, e.occurred_on, amazon_at, tz)
        )
        if counted and not e.written:
            unwritten[(e.sku, e.name)] += e.delta
        elif not counted and e.written:
            after[(e.sku, e.name)] += e.delta
    return dict(unwritten), dict(after)


def compare(
    amazon: Iterable[AmazonLevel],
    shopify: Mapping[str, ShopifyLevel],
    resolve: Callable[[str], tuple[str, int]],
    unwritten: Mapping[tuple[str, str], int],  # (Shopify SKU, name) → Σ deltas of effects not yet written
    *,
    track_unfulfillable: bool = True,
    written_after: Mapping[tuple[str, str], int] | None = None,
    context: Mapping[str, str] | None = None,  # Shopify SKU → what else the ledger knows (open cases)
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
            after = (written_after or {}).get((sku, name), 0)
            expected = amazon_units - pending + after
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
                    written_after=after,
                    msku=",".join(mskus.get(sku, [])),
                    explanation="; ".join(
                        filter(
                            None,
                            [
                                explain(sku, have is not None, sku in mskus, pending, difference, after),
                                (context or {}).get(sku, ""),
                            ],
                        )
                    ),
                )
            )
    return out


def explain(
    sku: str, in_shopify: bool, at_amazon: bool, pending: int, difference: int, after: int = 0
) -> str:
    """What the ledger can say about a difference, in words for the ops team."""
    parts = []
    if not in_shopify:
        # Nothing to correct: no level to adjust. Say what fixes it instead of guessing at edits.
        return (
            f"{sku} is not stocked at the FBA location in Shopify, so nothing can be corrected: stock it "
            "there (`starter.py onboard` activates every mapped item) and the next reconciliation holds "
            "the correction"
        )
    if not at_amazon:
        parts.append("Amazon's snapshot does not list it")
    if pending:
        parts.append(f"effects of {pending:+d} units not yet written to Shopify are allowed for")
    if after:
        parts.append(
            f"movements of {after:+d} units after Amazon's snapshot, already in Shopify, are allowed for"
        )
    direction = "more" if difference > 0 else "fewer"
    parts.append(
        f"Shopify shows {abs(difference)} {direction} than Amazon holds: a manual edit in Shopify, or "
        "Amazon movements the ledger has not seen"
    )
    return "; ".join(parts)
