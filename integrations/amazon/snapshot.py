"""Amazon's current FBA inventory per MSKU: the Amazon half of full reconciliation
(ARCHITECTURE §5), read from GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA (`flat_reports.parse_inventory_report`).

Amazon's quantities as the report names them: `fulfillable` (afn-fulfillable-quantity, sellable
and not reserved), `unsellable` (afn-unsellable-quantity), `reserved` (afn-reserved-quantity:
pending customer orders, transshipment, FC processing — physically there and sellable), the three
inbound stages, and `researching` (units Amazon is looking for). Never imports Temporal.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class InventorySnapshotRow(BaseModel):
    """One MSKU's line of the FBA inventory report. `line_no`: its line in the report (1 = header)."""

    msku: str = Field(min_length=1)
    fnsku: str = ""
    asin: str = ""
    fulfillable: int = 0
    unsellable: int = 0
    reserved: int = 0
    inbound_working: int = 0
    inbound_shipped: int = 0
    inbound_receiving: int = 0
    researching: int = 0
    line_no: int = 0

    @property
    def sellable(self) -> int:
        """Units physically sellable at Amazon: fulfillable + reserved (what Shopify's `available`
        at the FBA location mirrors, before the pack size)."""
        return self.fulfillable + self.reserved


__all__ = ["InventorySnapshotRow"]
