"""Which Amazon ledger movement moves which Shopify quantity (ARCHITECTURE §3 and §4).

Read it like the table in §4. A ledger row with signed quantity *q* and disposition *d* changes
`fba.available` by *q* when *d* is SELLABLE, else `fba.damaged` by *q* (nothing when
`track_unfulfillable` is off). The tables below only decide the *business kind* and the Shopify
*reason* of that change, per event type and, for Adjustments, per reason code.

A new Amazon reason code is one line in `ADJUSTMENT_RULES`. Anything not listed raises
`UnknownMovement`: the caller quarantines the row with the message, and nothing is guessed.

Only the `fba` location is decided here; the warehouse side (removals, inbound) belongs to the case
workflows. Quantities are Amazon units; the ledger multiplies by the SKU's pack.
"""

from __future__ import annotations

from typing import NamedTuple

from pydantic import BaseModel

from reconciler.models import (
    Disposition,
    LedgerEventType,
    LocationRole,
    QuantityName,
    ShipmentsSource,
    ShopifyReason,
)

R = ShopifyReason


class EffectSpec(BaseModel, frozen=True):
    """One change to one Shopify quantity, in AMAZON units (signed)."""

    location: LocationRole
    name: QuantityName
    delta: int
    reason: ShopifyReason
    kind: str  # shipment, return, receipt, lost, found, reimbursed_units, correction, disposed, ...


class UnknownMovement(ValueError):
    """An event type, reason code or disposition the product does not know: quarantine the row."""


class Rule(NamedTuple):
    """How one kind of ledger movement lands in Shopify.

    `reason` applies to SELLABLE rows (→ available); `unsellable_reason` to every other disposition
    (→ damaged), defaulting to `reason`. `sign` is the sign Amazon documents for it (+1, −1, or 0 for
    "either"); it is documentation only: the row's own signed quantity is always what is applied.
    """

    kind: str
    reason: ShopifyReason
    sign: int
    unsellable_reason: ShopifyReason | None = None


# --- §4: ledger event types ----------------------------------------------------------------------
# None: the event type is known and never moves stock at `fba` (recorded for audit only).
# Adjustments are decided by their reason code (below).
EVENT_RULES: dict[str, Rule | None] = {
    LedgerEventType.SHIPMENTS: Rule("shipment", R.CORRECTION, -1),  # only when shipments_source = ledger
    LedgerEventType.CUSTOMER_RETURNS: Rule("return", R.RESTOCK, +1, unsellable_reason=R.DAMAGED),
    LedgerEventType.RECEIPTS: Rule("receipt", R.RECEIVED, +1),
    LedgerEventType.VENDOR_RETURNS: Rule("removal_departure", R.MOVEMENT_CREATED, -1),
    LedgerEventType.WHSE_TRANSFERS: None,  # between Amazon sites: nets to zero inside one pool
}

# --- Adjustments by reason code (contracts/sp-api/REPORTS.md) ------------------------------------
ADJUSTMENT_RULES: dict[str, Rule] = {
    "M": Rule("lost", R.SHRINKAGE, -1),  # misplaced / lost in the fulfilment centre
    "5": Rule("lost", R.SHRINKAGE, -1),  # lost
    "F": Rule("found", R.CORRECTION, +1),  # found
    "N": Rule("reimbursed_units", R.CORRECTION, +1),  # transferred in, or reimbursement inventory
    "O": Rule("correction", R.CORRECTION, -1),  # received in error, or reimbursed
    "D": Rule("disposed", R.SHRINKAGE, -1),  # disposed
    "G": Rule("disposed", R.SHRINKAGE, -1),  # disposed as a donation
    "3": Rule("sku_redefinition", R.CORRECTION, +1),  # product redefinition (SKU merge) in
    "4": Rule("sku_redefinition", R.CORRECTION, -1),  # product redefinition (SKU merge) out
    "6": Rule("disposition_change", R.DAMAGED, -1),  # out of its disposition: carrier-damaged
    "7": Rule("disposition_change", R.DAMAGED, -1),  # … expired
    "E": Rule("disposition_change", R.DAMAGED, -1),  # … sellable
    "H": Rule("disposition_change", R.DAMAGED, -1),  # … customer-damaged
    "K": Rule("disposition_change", R.DAMAGED, -1),  # … defective
    "U": Rule("disposition_change", R.DAMAGED, -1),  # … distributor-damaged
    "Q": Rule("disposition_change", R.DAMAGED, -1),  # disposition change out
    "P": Rule("disposition_change", R.DAMAGED, +1),  # disposition change in (follows 6/7/E/H/K/U/Q)
}

KNOWN_DISPOSITIONS: frozenset[str] = frozenset(d.value for d in Disposition)


def rule_for(event_type: str, reason: str) -> Rule | None:
    """The rule of a ledger movement; None when it is known to move nothing. Raises UnknownMovement."""
    if event_type == LedgerEventType.ADJUSTMENTS:
        code = reason.strip()
        try:
            return ADJUSTMENT_RULES[code]
        except KeyError:
            raise UnknownMovement(f"unknown adjustment reason {code!r}") from None
    try:
        return EVENT_RULES[event_type]
    except KeyError:
        raise UnknownMovement(f"unknown ledger event type {event_type!r}") from None


def effects_for_movement(
    event_type: str,
    reason: str,
    disposition: str,
    quantity: int,
    *,
    shipments_source: ShipmentsSource,
    track_unfulfillable: bool,
) -> list[EffectSpec]:
    """The `fba` effects of one movement, in Amazon units, signed as Amazon printed the quantity.

    Raises UnknownMovement for an event type, Adjustments reason code or disposition it doesn't know.
    """
    rule = rule_for(event_type, reason)
    if rule is None or quantity == 0:
        return []
    if event_type == LedgerEventType.SHIPMENTS and shipments_source != ShipmentsSource.LEDGER:
        return []  # §4.1: the Orders API is the shipment source; the two never both apply
    if disposition not in KNOWN_DISPOSITIONS:
        raise UnknownMovement(f"unknown disposition {disposition!r} on a {event_type} row")
    if disposition == Disposition.SELLABLE:
        name, shopify_reason = QuantityName.AVAILABLE, rule.reason
    elif track_unfulfillable:
        name, shopify_reason = QuantityName.DAMAGED, rule.unsellable_reason or rule.reason
    else:
        return []
    return [
        EffectSpec(
            location=LocationRole.FBA, name=name, delta=quantity, reason=shopify_reason, kind=rule.kind
        )
    ]
