"""Netting and batching of pending effects into inventoryAdjustQuantities calls (ARCHITECTURE §3, §5).

Pure: the gate's activities load pending effects, call `net_effects`, and write the batches.

One call per (name, reason, ledger document) — Shopify wants one ledger document per call
(`MAX_ONE_LEDGER_DOCUMENT`) — with one change per (item, location) holding the summed delta, and at
most `max_changes` (Shopify's 250) changes per call. Effects whose sum is zero need no call: they are
marked applied. The order is sorted, so the same effects always give the same batches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel

SHOPIFY_MAX_CHANGES = 250


class PendingEffect(BaseModel, frozen=True):
    """What netting needs of an Effect row (Shopify units)."""

    effect_id: int
    account: str
    inventory_item_id: str
    location_id: str
    name: str
    reason: str
    ledger_document_uri: str | None
    delta: int


class PlannedChange(BaseModel):
    inventory_item_id: str
    location_id: str
    delta: int
    effect_ids: list[int]


class PlannedBatch(BaseModel):
    """One inventoryAdjustQuantities call to be: one name, one reason, one ledger document."""

    name: str
    reason: str
    ledger_document_uri: str | None
    changes: list[PlannedChange]


class NettingPlan(BaseModel):
    batches: list[PlannedBatch]
    zero_effect_ids: list[int]  # effects whose (item, location, name, reason, doc) nets to 0


def net_effects(effects: Sequence[PendingEffect], *, max_changes: int = SHOPIFY_MAX_CHANGES) -> NettingPlan:
    """Group by (name, reason, ledger document), sum per (item, location), chunk by `max_changes`."""
    if max_changes < 1:
        raise ValueError(f"max_changes must be at least 1, got {max_changes}")
    groups: dict[tuple[str, str, str], dict[tuple[str, str], list[PendingEffect]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for e in effects:
        groups[(e.name, e.reason, e.ledger_document_uri or "")][(e.inventory_item_id, e.location_id)].append(
            e
        )

    batches: list[PlannedBatch] = []
    zero: list[int] = []
    for (name, reason, doc), per_item in sorted(groups.items()):
        changes: list[PlannedChange] = []
        for (item, location), members in sorted(per_item.items()):
            ids = sorted(e.effect_id for e in members)
            total = sum(e.delta for e in members)
            if total == 0:
                zero.extend(ids)
            else:
                changes.append(
                    PlannedChange(inventory_item_id=item, location_id=location, delta=total, effect_ids=ids)
                )
        for start in range(0, len(changes), max_changes):
            batches.append(
                PlannedBatch(
                    name=name,
                    reason=reason,
                    ledger_document_uri=doc or None,
                    changes=changes[start : start + max_changes],
                )
            )
    return NettingPlan(batches=batches, zero_effect_ids=sorted(zero))
