"""Evidence builders shared by the case evaluators' tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.cases import Evidence

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def d(x: float) -> datetime:
    """Business time `x` days after T0."""
    return T0 + timedelta(days=x)


def reimbursement_for(
    rid: str, at: float, cash: int = 0, *, reason: str, inventory: int = 0, amount: float | None = None
) -> Evidence:
    return Evidence(
        kind="reimbursement",
        key=f"reimb:{rid}",
        occurred_at=d(at),
        data={
            "reimbursement_id": rid,
            "quantity_cash": cash,
            "quantity_inventory": inventory,
            "amount_total": amount,
            "reason": reason,
        },
    )
