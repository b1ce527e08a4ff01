"""Late rows and reconciliation corrections (ARCHITECTURE §5): "a correction remembers the snapshot
time: ledger rows dated before it that arrive later are absorbed by it, not applied again".

A full reconciliation sets Shopify's `fba` location to Amazon's snapshot at time T, allowing for the
effects already in the ledger. A movement that happened before T but reached the ledger only after
the comparison is already inside Amazon's snapshot, so the correction covers it; writing its effect
as well would count it twice. Such an effect is *absorbed* by the correction: never written, and
released (back to pending) if the correction is rejected, fails or is reverted, because then nothing
covers it any more.

A comparison that found *no* difference for the item covers the movement too: Shopify already
matched Amazon's snapshot, movement included (something unseen — a hand edit, say — offset it), so
writing it now would move Shopify away from Amazon. Pure: the ledger side is
reconciler/ledger/corrections.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum

from pydantic import BaseModel

# Only these quantities at the fba location are compared, so only these can be covered.
COVERED_NAMES = frozenset({"available", "damaged"})


class RunOutcome(StrEnum):
    """What one reconciliation run did about one quantity of one item."""

    CORRECTED = "corrected"  # a difference, with a correction that still stands
    MATCHED = "matched"  # compared, no difference
    UNCOVERED = "uncovered"  # not compared, not correctable, or its correction rejected/failed/reverted


class RunCover(BaseModel, frozen=True):
    run_id: int
    snapshot_at: datetime  # UTC
    outcome: RunOutcome
    correction_id: int | None = None


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


def covering_run(
    runs: Sequence[RunCover], occurred_at: datetime | None, occurred_on: date, tz: tzinfo
) -> RunCover | None:
    """The run that absorbs a late movement of one quantity: the earliest whose snapshot counted it
    and that corrected or matched the item. (A later run's comparison already saw that run's
    correction as unwritten or applied.) A run that left the item uncovered passes it to the next."""
    for run in sorted(runs, key=lambda r: (r.snapshot_at, r.run_id)):
        if run.outcome != RunOutcome.UNCOVERED and counted_by_snapshot(
            occurred_at, occurred_on, run.snapshot_at, tz
        ):
            return run
    return None
