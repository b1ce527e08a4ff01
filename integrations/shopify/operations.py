"""The GraphQL operations the product sends, one `.graphql` file each under `graphql/`.

A contract test validates every file against the real Admin API schema, so nothing here builds
query text at run time.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import DocumentNode, parse

GRAPHQL_DIR = Path(__file__).with_name("graphql")

LOCATIONS = "Locations"
VARIANTS_BY_SKU = "VariantsBySku"
INVENTORY_LEVELS = "InventoryLevels"
INVENTORY_ADJUST_QUANTITIES = "InventoryAdjustQuantities"
BULK_INVENTORY_SNAPSHOT = "BulkInventorySnapshot"
BULK_OPERATION_STATUS = "BulkOperationStatus"
# onboarding (ops/onboarding.py)
ACCESS_SCOPES = "AccessScopes"
LOCATION_ADD = "LocationAdd"
INVENTORY_BULK_TOGGLE_ACTIVATION = "InventoryBulkToggleActivation"


def operation_names() -> list[str]:
    """Every operation shipped with the product (file stem = operation name)."""
    return sorted(p.stem for p in GRAPHQL_DIR.glob("*.graphql"))


@cache
def source(name: str) -> str:
    path = GRAPHQL_DIR / f"{name}.graphql"
    if not path.is_file():
        raise KeyError(f"no GraphQL operation file {path}")
    return path.read_text()


@cache
def document(name: str) -> DocumentNode:
    """The parsed operation (parsed once; the printed form sent on the wire is stable)."""
    return parse(source(name), no_location=True)
