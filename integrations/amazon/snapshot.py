"""Amazon's current FBA inventory per MSKU: the Amazon half of full reconciliation
(ARCHITECTURE §5), read from GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA (`flat_reports.parse_inventory_report`)
or, for small catalogues, from FBA Inventory v1 getInventorySummaries (`summary_row`, one
`InventorySummary` with `details=true`; `AmazonClient.inventory_summaries`).

Amazon's quantities as the report names them: `fulfillable` (afn-fulfillable-quantity, sellable
and not reserved), `unsellable` (afn-unsellable-quantity), `reserved` (afn-reserved-quantity:
pending customer orders, transshipment, FC processing — physically there and sellable), the three
inbound stages, and `researching` (units Amazon is looking for). Never imports Temporal.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from integrations.amazon.errors import AmazonError


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


def summary_row(summary: dict[str, Any]) -> InventorySnapshotRow | None:
    """One `InventorySummary` (fbaInventory.json) as the report's row: `fulfillableQuantity`,
    `reservedQuantity.totalReservedQuantity`, `unfulfillableQuantity.totalUnfulfillableQuantity`, the
    three inbound quantities and `researchingQuantity.totalResearchingQuantity`; a missing quantity is 0.
    None for a summary without a seller SKU (nothing to map it to). A summary without
    `inventoryDetails` (asked for with details=true) raises: its SKU would look empty, and a correction
    of its whole stock would follow."""
    sku = str(summary.get("sellerSku") or "").strip()
    if not sku:
        return None
    details = summary.get("inventoryDetails")
    if not isinstance(details, dict):
        raise AmazonError(f"getInventorySummaries: {sku} has no inventoryDetails (asked with details=true)")

    def quantity(value: Any) -> int:
        return int(value or 0)

    def total(name: str, key: str) -> int:
        part = details.get(name)
        return quantity(part.get(key)) if isinstance(part, dict) else 0

    return InventorySnapshotRow(
        msku=sku,
        fnsku=str(summary.get("fnSku") or ""),
        asin=str(summary.get("asin") or ""),
        fulfillable=quantity(details.get("fulfillableQuantity")),
        unsellable=total("unfulfillableQuantity", "totalUnfulfillableQuantity"),
        reserved=total("reservedQuantity", "totalReservedQuantity"),
        inbound_working=quantity(details.get("inboundWorkingQuantity")),
        inbound_shipped=quantity(details.get("inboundShippedQuantity")),
        inbound_receiving=quantity(details.get("inboundReceivingQuantity")),
        researching=total("researchingQuantity", "totalResearchingQuantity"),
    )


__all__ = ["InventorySnapshotRow", "summary_row"]
