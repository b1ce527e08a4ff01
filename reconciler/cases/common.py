"""Helpers shared by the case evaluators: evidence hygiene, dates, reimbursements, wording."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.cases.model import Evidence


def utc(t: datetime) -> datetime:
    """Datetimes read back from SQLite lose their zone; they were written in UTC."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def days(n: float) -> timedelta:
    return timedelta(days=n)


def clean(evidence: Iterable[Evidence]) -> list[Evidence]:
    """Evidence deduplicated by key and sorted by (business time, key): the order it arrived in,
    and how often, never matter. Should one key come with two contents, the choice is deterministic."""
    by_key: dict[str, Evidence] = {}
    for ev in evidence:
        ev = (
            ev
            if ev.occurred_at.tzinfo is not None
            else ev.model_copy(update={"occurred_at": utc(ev.occurred_at)})
        )
        old = by_key.get(ev.key)
        if old is None or _rank(ev) > _rank(old):
            by_key[ev.key] = ev
    return sorted(by_key.values(), key=lambda e: (e.occurred_at, e.key))


def _rank(ev: Evidence) -> tuple[Any, ...]:
    return (ev.occurred_at, ev.kind, ev.quantity, repr(sorted(ev.data.items(), key=lambda kv: kv[0])))


def of_kind(evidence: Sequence[Evidence], *kinds: str) -> list[Evidence]:
    return [e for e in evidence if e.kind in kinds]


def earliest_future(times: Iterable[datetime | None], as_of: datetime) -> datetime | None:
    future = [t for t in times if t is not None and t > as_of]
    return min(future) if future else None


def day(t: datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d")


def units(n: int) -> str:
    return f"{n} unit" if abs(n) == 1 else f"{n} units"


def to_int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def to_float(v: Any) -> float | None:
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def money(amount: float, currency: str = "") -> str:
    return f"{amount:,.2f} {currency}".strip()


def case_part(case_id: str, index: int, default: str = "") -> str:
    """Part `index` of a case id such as `return:{account}:{order}:{sku}` (the last part may hold ':')."""
    parts = case_id.split(":", 3)
    return parts[index] if len(parts) > index else default


# --- reimbursements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reimbursed:
    """What Amazon paid, net of reversals: units (cash + inventory) and money."""

    units: int = 0
    amount: float | None = None
    per_unit: float | None = None  # from the reimbursements that gave an amount, before reversals
    currency: str = ""
    reversals: tuple[str, ...] = ()  # keys of the reversal evidence, oldest first
    count: int = 0  # reimbursements seen (reversed ones included)

    def owed_amount(self, owed_units: int) -> float | None:
        return None if self.per_unit is None or owed_units <= 0 else round(self.per_unit * owed_units, 2)


def reimbursement_units(ev: Evidence) -> int:
    q = abs(to_int(ev.data.get("quantity_cash"))) + abs(to_int(ev.data.get("quantity_inventory")))
    return q or abs(ev.quantity)


def net_reimbursements(evidence: Sequence[Evidence]) -> Reimbursed:
    """Reimbursements minus their reversals. A reversal cancels units and money of the reimbursement
    it names (`original_reimbursement_id`); one whose original is not among the evidence still reduces
    the total, never below zero."""
    paid: dict[str, list[float]] = {}  # id → [units, amount, has amount]
    rate_units, rate_amount = 0, 0.0
    currency = ""
    reversal_keys: list[str] = []
    orphan_units, orphan_amount = 0, 0.0
    for ev in evidence:
        if ev.kind == "reimbursement":
            rid = str(ev.data.get("reimbursement_id") or ev.key)
            q = reimbursement_units(ev)
            amount = to_float(ev.data.get("amount_total")) or None  # 0 = not given
            if amount is None and q and to_float(ev.data.get("amount_per_unit")):
                amount = abs(to_float(ev.data.get("amount_per_unit")) or 0.0) * q
            slot = paid.setdefault(rid, [0, 0.0, 0])
            slot[0] += q
            if amount is not None:
                slot[1] += abs(amount)
                slot[2] = 1
                if q > 0:
                    rate_units += q
                    rate_amount += abs(amount)
            currency = currency or str(ev.data.get("currency") or "")
    for ev in evidence:
        if ev.kind != "reimbursement_reversal":
            continue
        reversal_keys.append(ev.key)
        orig = str(ev.data.get("original_reimbursement_id") or "")
        q = reimbursement_units(ev)
        amount = abs(to_float(ev.data.get("amount_total")) or 0.0)
        if orig in paid:
            slot = paid[orig]
            take = min(q, int(slot[0]))
            slot[0] -= take
            orphan_units += q - take
            slot[1] = max(0.0, slot[1] - amount)
        else:
            orphan_units += q
            orphan_amount += amount
    total_units = max(0, int(sum(s[0] for s in paid.values())) - orphan_units)
    has_amount = any(s[2] for s in paid.values())
    total_amount = max(0.0, sum(s[1] for s in paid.values()) - orphan_amount) if has_amount else None
    return Reimbursed(
        units=total_units,
        amount=None if total_amount is None else round(total_amount, 2),
        per_unit=(rate_amount / rate_units) if rate_units else None,
        currency=currency,
        reversals=tuple(reversal_keys),
        count=len(paid),
    )


def join(parts: Iterable[str]) -> str:
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
