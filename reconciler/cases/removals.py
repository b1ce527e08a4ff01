"""RemovalOrder `removal:{account}:{order}` (ARCHITECTURE §4.3).

Evidence kinds:
- `removal_detail`: data `order_type`, `sku`, `requested`, `shipped`, `disposed`, `cancelled`,
  `disposition`; cumulative: the latest occurred_at per sku wins.
- `removal_shipment`: data `sku`, `tracking_number`, `carrier`, `disposition`; quantity; occurred_at =
  shipment date.
- `removal_receipt`: a person's confirmation; data `sku`, `tracking_number` (or ""); quantity.

Return orders move the merchant's warehouse: a shipment → `incoming +q`; a receipt → `incoming −q` and
`+q` to `available` (SELLABLE units) or `damaged`. Receipts with a tracking number go to that
tracking's shipments; the others go to the oldest unreceived shipments of their SKU. With
`removal_auto_receive_days`, what is still unreceived that many days after the shipment is received
automatically (receipts dated later then only confirm it). A shipment not fully received
`removal_overdue_days` after it left is overdue. A tracked receipt of fewer units than shipped is a
short receipt: a discrepancy for review; the missing units stay `incoming` until a person decides.
Disposal (and liquidation) orders touch no warehouse stock; every order completes when
requested = shipped + disposed + cancelled and every shipped unit is received or reported short.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.cases.common import (
    case_part,
    clean,
    day,
    days,
    earliest_future,
    join,
    of_kind,
    to_int,
    units,
    utc,
)
from reconciler.cases.model import CaseAlert, CaseEffect, CaseView, Evidence
from reconciler.config import Rules
from reconciler.models import LocationRole, QuantityName, ShopifyReason

DOC = "RemovalOrder"
WAREHOUSE = LocationRole.WAREHOUSE


@dataclass
class _Shipment:
    ev: Evidence
    sku: str
    tracking: str
    carrier: str
    sellable: bool
    quantity: int
    at: datetime
    auto_at: datetime | None
    allocations: list[tuple[Evidence, int]] = field(default_factory=list)
    tracked_receipts: list[Evidence] = field(default_factory=list)
    auto_received: int = 0

    @property
    def ship_id(self) -> str:
        return self.tracking or f"untracked-{self.ev.key}"

    @property
    def received(self) -> int:
        return min(self.quantity, sum(q for _, q in self.allocations) + self.auto_received)

    @property
    def remaining(self) -> int:
        return self.quantity - self.received

    def free(self) -> int:
        return self.quantity - sum(q for _, q in self.allocations)

    def confirms_auto(self, receipt: Evidence) -> bool:
        """A receipt dated at or after the auto-receipt only confirms what was received automatically."""
        return self.auto_at is not None and receipt.occurred_at >= self.auto_at

    @property
    def short(self) -> bool:
        """A person said, by tracking number, that fewer units arrived than left Amazon."""
        return self.remaining > 0 and bool(self.tracked_receipts) and not self.auto_received


def evaluate_removal(case_id: str, evidence: Sequence[Evidence], as_of: datetime, rules: Rules) -> CaseView:
    as_of = utc(as_of)
    ev = clean(evidence)
    order = case_part(case_id, 2)

    detail: dict[str, Evidence] = {}
    for d in of_kind(ev, "removal_detail"):  # sorted by time: the latest row per sku wins
        detail[str(d.data.get("sku") or "")] = d
    latest_detail = max(detail.values(), key=lambda d: (d.occurred_at, d.key), default=None)
    order_type = str(
        (latest_detail.data.get("order_type") if latest_detail else None)
        or next(
            (s.data.get("order_type") for s in of_kind(ev, "removal_shipment") if s.data.get("order_type")),
            None,
        )
        or "Return"
    )
    is_return = order_type.strip().lower() == "return"
    auto_days = rules.removal_auto_receive_days
    overdue_after = days(rules.removal_overdue_days)

    shipments: list[_Shipment] = []
    for s in of_kind(ev, "removal_shipment"):
        sku = str(s.data.get("sku") or "")
        disposition = str(
            s.data.get("disposition")
            or (detail[sku].data.get("disposition") if sku in detail else "")
            or "SELLABLE"
        )
        shipments.append(
            _Shipment(
                ev=s,
                sku=sku,
                tracking=str(s.data.get("tracking_number") or ""),
                carrier=str(s.data.get("carrier") or ""),
                sellable=disposition.strip().upper() == "SELLABLE",
                quantity=abs(s.quantity),
                at=s.occurred_at,
                auto_at=s.occurred_at + days(auto_days) if auto_days else None,
            )
        )
    shipments.sort(key=lambda s: (s.at, s.ev.key))

    # --- receipts: by tracking number first, then the oldest unreceived shipments of the SKU ------
    receipts = of_kind(ev, "removal_receipt")
    tracked = [r for r in receipts if r.data.get("tracking_number")]
    untracked = [r for r in receipts if not r.data.get("tracking_number")]
    unmatched: list[tuple[Evidence, int]] = []
    for r in tracked + untracked:
        want = abs(r.quantity)
        tracking = str(r.data.get("tracking_number") or "")
        sku = str(r.data.get("sku") or "")
        for s in shipments:
            if want <= 0:
                break
            if (tracking and s.tracking != tracking) or (sku and s.sku != sku):
                continue
            if tracking and not s.confirms_auto(r):
                s.tracked_receipts.append(r)
            take = min(want, s.free())
            if take > 0:
                s.allocations.append((r, take))
                want -= take
        if want > 0:
            unmatched.append((r, want))

    # --- auto-receive -----------------------------------------------------------------------------
    for s in shipments:
        if s.auto_at is None or s.auto_at > as_of:
            continue
        explicit_before = any(r.occurred_at < s.auto_at for r in s.tracked_receipts)
        before = sum(q for r, q in s.allocations if r.occurred_at < s.auto_at)
        if not explicit_before:
            s.auto_received = max(0, s.quantity - before)
            s.tracked_receipts = []

    # --- effects ----------------------------------------------------------------------------------
    effects: list[CaseEffect] = []
    if is_return:
        for s in shipments:
            base = f"{case_id}/ship/{s.ship_id}/{s.sku}"
            effects.append(
                _incoming(
                    f"{base}/incoming", s, s.quantity, "removal_shipped", ShopifyReason.MOVEMENT_CREATED
                )
            )
            for r, q in s.allocations:
                if s.auto_received and s.confirms_auto(r):
                    continue  # the auto-receipt already moved these units
                base = f"{case_id}/recv/{r.key}/{s.ship_id}/{s.sku}"
                effects += _received(base, s, q, "removal_received")
            if s.auto_received:
                effects += _received(
                    f"{case_id}/auto/{s.ship_id}/{s.sku}", s, s.auto_received, "removal_auto_received"
                )

    # --- where the order stands -------------------------------------------------------------------
    def detail_int(sku: str, name: str) -> int:
        return to_int(detail[sku].data.get(name))

    requested = sum(detail_int(k, "requested") for k in detail)
    shipped_detail = sum(detail_int(k, "shipped") for k in detail)
    disposed = sum(detail_int(k, "disposed") for k in detail)
    cancelled = sum(detail_int(k, "cancelled") for k in detail)
    unaccounted = sum(
        max(
            0,
            detail_int(k, "requested")
            - detail_int(k, "shipped")
            - detail_int(k, "disposed")
            - detail_int(k, "cancelled"),
        )
        for k in detail
    )
    shipped_rows = {
        k: sum(s.quantity for s in shipments if s.sku == k) for k in {s.sku for s in shipments} | set(detail)
    }
    awaiting_rows = (
        sum(max(0, detail_int(k, "shipped") - shipped_rows.get(k, 0)) for k in detail) if is_return else 0
    )
    travelling = [s for s in shipments if s.remaining > 0 and not s.short] if is_return else []
    short = [s for s in shipments if s.short] if is_return else []
    overdue = [s for s in travelling if s.at + overdue_after <= as_of]
    unmatched_units = sum(q for _, q in unmatched) if is_return else 0
    closed = (bool(detail) or bool(shipments)) and unaccounted == 0 and awaiting_rows == 0 and not travelling

    if closed:
        state = "short_received" if short else "closed"
    elif overdue:
        state = "overdue"
    elif travelling or awaiting_rows:
        state = "in_transit"
    elif short:
        state = "short_received"
    elif not shipments and shipped_detail == 0 and disposed == 0:
        state = "requested"
    else:
        state = "in_progress"

    # --- alerts -----------------------------------------------------------------------------------
    alerts: list[CaseAlert] = []
    for tracking, group in _by_tracking(overdue).items():
        since = min(s.at for s in group) + overdue_after
        carrier = next((s.carrier for s in group if s.carrier), "")
        alerts.append(
            CaseAlert(
                kind="removal_overdue",
                key=f"{case_id}:overdue:{tracking}",
                message=(
                    f"{order}: {units(sum(s.remaining for s in group))} shipped {day(min(s.at for s in group))}"
                    f"{' by ' + carrier if carrier else ''} {_tracking_words(group[0])} not received; "
                    f"overdue since {day(since)}."
                ),
            )
        )
    for tracking, group in _by_tracking(short).items():
        got = sum(s.received for s in group)
        sent = sum(s.quantity for s in group)
        alerts.append(
            CaseAlert(
                kind="removal_short_receipt",
                key=f"{case_id}:short:{tracking}",
                message=(
                    f"{order}: only {got} of {units(sent)} shipped {day(min(s.at for s in group))} under tracking "
                    f"{_tracking_words(group[0])} were received ({join(sorted({s.sku for s in group}))}); "
                    f"{units(sent - got)} missing stay incoming at the warehouse until someone reviews it."
                ),
            )
        )
    if unmatched_units and awaiting_rows == 0 and unaccounted == 0:
        for r, q in unmatched:
            alerts.append(
                CaseAlert(
                    kind="removal_unmatched_receipt",
                    key=f"{case_id}:unmatched:{r.key}",
                    message=(
                        f"{order}: a receipt of {units(q)} on {day(r.occurred_at)}"
                        f"{' for tracking ' + str(r.data['tracking_number']) if r.data.get('tracking_number') else ''}"
                        " matches no shipment Amazon reported; review it."
                    ),
                )
            )

    # --- words --------------------------------------------------------------------------------------
    sent = sum(s.quantity for s in shipments)
    received = sum(s.received for s in shipments)
    parts = [f"{order} ({order_type})"]
    facts = []
    if requested:
        facts.append(f"{units(requested)} requested")
    if is_return:
        if sent or shipped_detail:
            facts.append(f"{received} of {max(sent, shipped_detail)} shipped received")
    elif shipped_detail:
        facts.append(f"{shipped_detail} shipped")
    if disposed:
        facts.append(f"{disposed} disposed")
    if cancelled:
        facts.append(f"{cancelled} cancelled")
    status = []
    if any(s.auto_received for s in shipments):
        status.append(f"{sum(s.auto_received for s in shipments)} received automatically")
    if overdue:
        status.append(
            f"{units(sum(s.remaining for s in overdue))} overdue since {day(min(s.at for s in overdue) + overdue_after)}"
        )
    in_time = [s for s in travelling if s not in overdue]
    if in_time:
        status.append(
            f"{units(sum(s.remaining for s in in_time))} in transit since {day(min(s.at for s in in_time))}"
        )
    if awaiting_rows:
        status.append(f"{units(awaiting_rows)} shipped without shipment details yet")
    if short:
        status.append(f"{units(sum(s.remaining for s in short))} short on receipt, for review")
    if unmatched_units:
        status.append(f"{units(unmatched_units)} received matching no shipment")
    if unaccounted:
        status.append(f"{units(unaccounted)} still to ship, dispose or cancel")
    if closed:
        status.append("nothing more expected" if short else "complete")
    details = (
        parts[0] + ": " + (", ".join(facts) or "no detail yet") + ("; " + "; ".join(status) if status else "")
    )

    wake = []
    for s in travelling:
        wake.append(s.at + overdue_after)
        if s.auto_at is not None:
            wake.append(s.auto_at)
    main_sku = next(iter(sorted(detail)), "") or next((s.sku for s in shipments), "")
    return CaseView(
        case_id=case_id,
        case_type="removal",
        state=state,
        sku=main_sku,
        claim_due=False,
        details=details,
        effects=effects,
        alerts=alerts,
        next_wake=None if closed else earliest_future(wake, as_of),
        closed=closed,
    )


def _incoming(key: str, s: _Shipment, delta: int, kind: str, reason: ShopifyReason) -> CaseEffect:
    return CaseEffect(
        key=key,
        location=WAREHOUSE,
        name=QuantityName.INCOMING,
        delta=delta,
        reason=reason,
        ledger_document_uri_kind=DOC,
        kind=kind,
        sku=s.sku,
    )


def _received(base: str, s: _Shipment, q: int, kind: str) -> list[CaseEffect]:
    """`incoming −q` and `+q` where the units land; all with reason movement_received."""
    target = QuantityName.AVAILABLE if s.sellable else QuantityName.DAMAGED
    return [
        _incoming(f"{base}/incoming", s, -q, kind, ShopifyReason.MOVEMENT_RECEIVED),
        CaseEffect(
            key=f"{base}/{target.value}",
            location=WAREHOUSE,
            name=target,
            delta=q,
            reason=ShopifyReason.MOVEMENT_RECEIVED,
            ledger_document_uri_kind=None if target is QuantityName.AVAILABLE else DOC,
            kind=kind,
            sku=s.sku,
        ),
    ]


def _by_tracking(shipments: list[_Shipment]) -> dict[str, list[_Shipment]]:
    out: dict[str, list[_Shipment]] = {}
    for s in shipments:
        out.setdefault(s.ship_id, []).append(s)
    return out


def _tracking_words(s: _Shipment) -> str:
    return s.tracking if s.tracking else "(no tracking number)"
