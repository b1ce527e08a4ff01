"""rules.py: which ledger movement moves which Shopify quantity (ARCHITECTURE §3, §4)."""

from __future__ import annotations

import pytest

from reconciler.models import Disposition, LocationRole, QuantityName, ShipmentsSource, ShopifyReason
from reconciler.rules import ADJUSTMENT_RULES, EffectSpec, UnknownMovement, effects_for_movement

AVAILABLE, DAMAGED = QuantityName.AVAILABLE, QuantityName.DAMAGED


def effects(
    event_type: str,
    quantity: int,
    *,
    reason: str = "",
    disposition: str = "SELLABLE",
    source: ShipmentsSource = ShipmentsSource.ORDERS,
    track_unfulfillable: bool = True,
) -> list[EffectSpec]:
    return effects_for_movement(
        event_type,
        reason,
        disposition,
        quantity,
        shipments_source=source,
        track_unfulfillable=track_unfulfillable,
    )


def one(name: QuantityName, delta: int, reason: ShopifyReason, kind: str) -> list[EffectSpec]:
    return [EffectSpec(location=LocationRole.FBA, name=name, delta=delta, reason=reason, kind=kind)]


# --- event types ---------------------------------------------------------------------------------


def test_ledger_shipments_apply_only_when_the_ledger_is_the_shipment_source():
    assert effects("Shipments", -2, source=ShipmentsSource.ORDERS) == []
    assert effects("Shipments", -2, source=ShipmentsSource.LEDGER) == one(
        AVAILABLE, -2, ShopifyReason.CORRECTION, "shipment"
    )


def test_sellable_customer_return_is_restocked():
    assert effects("CustomerReturns", 1) == one(AVAILABLE, 1, ShopifyReason.RESTOCK, "return")


@pytest.mark.parametrize("grade", ["CUSTOMER_DAMAGED", "DEFECTIVE", "CARRIER_DAMAGED", "EXPIRED"])
def test_unsellable_customer_return_lands_in_damaged(grade):
    assert effects("CustomerReturns", 1, disposition=grade) == one(
        DAMAGED, 1, ShopifyReason.DAMAGED, "return"
    )


def test_receipts_are_received_in_their_disposition():
    assert effects("Receipts", 24) == one(AVAILABLE, 24, ShopifyReason.RECEIVED, "receipt")
    assert effects("Receipts", 2, disposition="WAREHOUSE_DAMAGED") == one(
        DAMAGED, 2, ShopifyReason.RECEIVED, "receipt"
    )


def test_vendor_returns_are_removal_departures():
    assert effects("VendorReturns", -5) == one(
        AVAILABLE, -5, ShopifyReason.MOVEMENT_CREATED, "removal_departure"
    )
    assert effects("VendorReturns", -1, disposition="DEFECTIVE") == one(
        DAMAGED, -1, ShopifyReason.MOVEMENT_CREATED, "removal_departure"
    )


def test_warehouse_transfers_move_nothing():
    assert effects("WhseTransfers", -3) == []
    assert effects("WhseTransfers", 3) == []


# --- every Adjustments reason code ---------------------------------------------------------------

ADJUSTMENTS = [
    # code, signed quantity as Amazon prints it, Shopify reason, kind
    ("M", -1, ShopifyReason.SHRINKAGE, "lost"),
    ("5", -2, ShopifyReason.SHRINKAGE, "lost"),
    ("F", 1, ShopifyReason.CORRECTION, "found"),
    ("N", 3, ShopifyReason.CORRECTION, "reimbursed_units"),
    ("O", -1, ShopifyReason.CORRECTION, "correction"),
    ("D", -4, ShopifyReason.SHRINKAGE, "disposed"),
    ("G", -1, ShopifyReason.SHRINKAGE, "disposed"),
    ("3", 2, ShopifyReason.CORRECTION, "sku_redefinition"),
    ("4", -2, ShopifyReason.CORRECTION, "sku_redefinition"),
    ("6", -1, ShopifyReason.DAMAGED, "disposition_change"),
    ("7", -1, ShopifyReason.DAMAGED, "disposition_change"),
    ("E", -1, ShopifyReason.DAMAGED, "disposition_change"),
    ("H", -1, ShopifyReason.DAMAGED, "disposition_change"),
    ("K", -1, ShopifyReason.DAMAGED, "disposition_change"),
    ("U", -1, ShopifyReason.DAMAGED, "disposition_change"),
    ("Q", -1, ShopifyReason.DAMAGED, "disposition_change"),
    ("P", 1, ShopifyReason.DAMAGED, "disposition_change"),
]


@pytest.mark.parametrize(("code", "quantity", "reason", "kind"), ADJUSTMENTS)
def test_adjustment_reason_code(code, quantity, reason, kind):
    assert effects("Adjustments", quantity, reason=code) == one(AVAILABLE, quantity, reason, kind)
    assert effects("Adjustments", quantity, reason=code, disposition="DEFECTIVE") == one(
        DAMAGED, quantity, reason, kind
    )


def test_every_documented_reason_code_is_covered_here():
    assert {c for c, *_ in ADJUSTMENTS} == set(ADJUSTMENT_RULES)


@pytest.mark.parametrize(("code", "quantity", "reason", "kind"), ADJUSTMENTS)
def test_the_rows_sign_wins_over_the_documented_sign(code, quantity, reason, kind):
    # Amazon sometimes prints e.g. a positive M (a loss reversed): apply what the row says.
    assert effects("Adjustments", -quantity, reason=code) == one(AVAILABLE, -quantity, reason, kind)


def test_damage_pair_moves_a_unit_from_available_to_damaged():
    out = effects("Adjustments", -1, reason="E")
    into = effects("Adjustments", 1, reason="P", disposition="CUSTOMER_DAMAGED")
    assert [(e.name, e.delta) for e in out + into] == [(AVAILABLE, -1), (DAMAGED, 1)]


def test_reason_code_is_read_without_surrounding_spaces():
    assert effects("Adjustments", -1, reason=" M ") == one(AVAILABLE, -1, ShopifyReason.SHRINKAGE, "lost")


# --- dispositions and settings -------------------------------------------------------------------


@pytest.mark.parametrize("disposition", [d.value for d in Disposition if d != Disposition.SELLABLE])
def test_every_unsellable_disposition_moves_damaged(disposition):
    [e] = effects("Adjustments", -1, reason="D", disposition=disposition)
    assert e.name == DAMAGED


def test_unfulfillable_units_are_ignored_when_not_tracked():
    assert effects("Adjustments", -1, reason="D", disposition="EXPIRED", track_unfulfillable=False) == []
    assert effects("CustomerReturns", 1, disposition="DEFECTIVE", track_unfulfillable=False) == []
    assert effects("Adjustments", -1, reason="D", track_unfulfillable=False) == one(
        AVAILABLE, -1, ShopifyReason.SHRINKAGE, "disposed"
    )


def test_zero_quantity_moves_nothing():
    assert effects("Adjustments", 0, reason="M") == []


# --- what the product does not know --------------------------------------------------------------


def test_unknown_adjustment_reason_is_refused_by_name():
    with pytest.raises(UnknownMovement, match="unknown adjustment reason 'Z'"):
        effects("Adjustments", -1, reason="Z")
    with pytest.raises(UnknownMovement, match="unknown adjustment reason ''"):
        effects("Adjustments", -1, reason="")


def test_unknown_event_type_is_refused_by_name():
    with pytest.raises(UnknownMovement, match="unknown ledger event type 'Teleports'"):
        effects("Teleports", 1)


def test_unknown_disposition_is_refused_by_name():
    with pytest.raises(UnknownMovement, match="unknown disposition 'SLIGHTLY_DENTED'"):
        effects("Adjustments", -1, reason="M", disposition="SLIGHTLY_DENTED")
