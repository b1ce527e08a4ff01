"""Guardrails: which effects wait for a person, and which net changes raise an alert (ARCHITECTURE §5).

Pure. An effect is *large* when it is larger than BOTH the account's `large_delta_units` and
`large_delta_pct` % of that item's on-hand quantity at that location (Shopify units, read in the same
gate pass). Large effects are held, each on its own; ordinary effects of the same SKU still flow.
A SKU whose net change in one pass crosses the same thresholds raises a large-delta alert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from reconciler.config import Rules
from reconciler.netting import PendingEffect

Thresholds = tuple[int, float]  # (large_delta_units, large_delta_pct)
DEFAULT_THRESHOLDS: Thresholds = (Rules().large_delta_units, Rules().large_delta_pct)

# Quantity names that are not part of Shopify's on_hand (units on their way are not on hand yet).
NOT_ON_HAND = frozenset({"incoming"})


def is_large(delta: int, on_hand: int | None, *, units: int, pct: float) -> bool:
    """|delta| > units AND |delta| > pct % of on_hand. With nothing on hand (None, 0 or negative)
    the percentage test passes for any non-zero delta."""
    size = abs(delta)
    if size <= units:
        return False
    if on_hand is None or on_hand <= 0:
        return size > 0
    return size > on_hand * pct / 100


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else f"−{-n}" if n < 0 else "0"


def _why(delta: int, what: str, on_hand: int | None, units: int, pct: float) -> str:
    base = f"{_signed(delta)} {what} is more than {units} units and "
    if on_hand is None:
        return base + "its on-hand quantity is unknown"
    if on_hand <= 0:
        return base + f"there is nothing on hand ({on_hand})"
    return base + f"{pct:g}% of on hand {on_hand}"


def effects_to_hold(
    effects: Sequence[PendingEffect],
    on_hand: Mapping[tuple[str, str], int],
    thresholds: Mapping[str, Thresholds],
) -> dict[int, str]:
    """effect_id → why, for every effect that is large on its own. `on_hand` is keyed by
    (inventory_item_id, location_id); `thresholds` by account (Rules defaults when absent)."""
    held: dict[int, str] = {}
    for e in effects:
        units, pct = thresholds.get(e.account, DEFAULT_THRESHOLDS)
        have = on_hand.get((e.inventory_item_id, e.location_id))
        if is_large(e.delta, have, units=units, pct=pct):
            what = f"{e.name} of {e.inventory_item_id} at {e.location_id}"
            held[e.effect_id] = _why(e.delta, what, have, units, pct)
    return held


def large_net_changes(
    effects: Sequence[PendingEffect],
    on_hand: Mapping[tuple[str, str], int],
    thresholds: Mapping[str, Thresholds],
) -> list[tuple[str, str, int]]:
    """(item, location, net) whose net on-hand change in this pass crosses the thresholds, sorted.

    The net is over every quantity name that counts in on_hand (not `incoming`), so a unit moved from
    available to damaged nets to zero. Where accounts share a location (the warehouse), the strictest
    thresholds of the accounts involved apply."""
    net: dict[tuple[str, str], int] = defaultdict(int)
    limits: dict[tuple[str, str], Thresholds] = {}
    for e in effects:
        if e.name in NOT_ON_HAND:
            continue
        key = (e.inventory_item_id, e.location_id)
        net[key] += e.delta
        units, pct = thresholds.get(e.account, DEFAULT_THRESHOLDS)
        old = limits.get(key)
        limits[key] = (units, pct) if old is None else (min(old[0], units), min(old[1], pct))
    out = []
    for key in sorted(net):
        units, pct = limits[key]
        if is_large(net[key], on_hand.get(key), units=units, pct=pct):
            out.append((key[0], key[1], net[key]))
    return out
