"""Late rows and reconciliation corrections (ARCHITECTURE §5): "a correction remembers the snapshot
time: ledger rows dated before it that arrive later are absorbed by it, not applied again".

A full reconciliation sets Shopify's `fba` location to Amazon's snapshot at time T, allowing for the
effects already in the ledger. A movement that happened before T but reached the ledger only after
the comparison is already inside Amazon's snapshot, so the correction covers it; writing its effect
as well would count it twice. Such an effect is *absorbed* by the correction: never written, and
released (back to pending) if the correction is rejected, fails or is reverted, because then nothing
covers it any more. Pure: the ledger side is reconciler/ledger/corrections.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo

from pydantic import BaseModel

# Only these quantities at the fba location are compared, so only these can be covered.
COVERED_NAMES = frozenset({"available", "damaged"})


class CorrectionCover(BaseModel, frozen=True):
    """A correction that may absorb late rows: its quantity and the time of the snapshot it set."""

    effect_id: int
    run_id: int
    inventory_item_id: str
    location_id: str
    name: str
    snapshot_at: datetime  # UTC


def counted_by_snapshot(
    occurred_at: datetime | None, occurred_on: date, snapshot_at: datetime, tz: tzinfo
) -> bool:
    """Did Amazon's snapshot at `snapshot_at` already include a movement of this time?

    With the exact time (a naive one is marketplace-local) the answer is exact. With only the
    marketplace-local day, only days before the snapshot's day are sure; a same-day row without a
    time is taken as after the snapshot (it flows, and the next reconciliation shows it if wrong)."""
    snapshot = snapshot_at if snapshot_at.tzinfo else snapshot_at.replace(tzinfo=UTC)
    if occurred_at is not None:
        when = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=tz)
        return when <= snapshot
    return occurred_on < snapshot.astimezone(tz).date()


def covering_correction(
    covers: Sequence[CorrectionCover], occurred_at: datetime | None, occurred_on: date, tz: tzinfo
) -> CorrectionCover | None:
    """The correction that absorbs a late movement of one quantity: the earliest one whose snapshot
    counted it. (A later run's comparison already saw the earlier correction as unwritten or applied,
    so only the earliest covers the movement.) `covers` are those of the same item, location and name."""
    for cover in sorted(covers, key=lambda c: (c.snapshot_at, c.run_id)):
        if counted_by_snapshot(occurred_at, occurred_on, cover.snapshot_at, tz):
            return cover
    return None
