"""Regenerate `schema.graphql`, the simulator's schema, as a subset of the real Admin API SDL.

Every definition is copied from the real 2026-04 SDL (names, types, arguments, defaults); only
fields, arguments and enum values not listed below are left out, and descriptions are dropped.
Run from the repository root:

    .venv/bin/python -m sandbox.shopify.make_schema ../shared/contracts/shopify/admin-2026-04.graphql
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphql import (
    DirectiveDefinitionNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    parse,
    print_ast,
)

PAGING = ["first", "after", "last", "before", "reverse"]

# type name -> {field name -> argument names to keep (None: all)}; None for the whole type.
KEEP: dict[str, dict[str, list[str] | None] | None] = {
    "QueryRoot": {
        "bulkOperation": None,
        "currentAppInstallation": None,
        "currentBulkOperation": None,
        "inventoryItem": None,
        "inventoryItems": [*PAGING, "query"],
        "inventoryLevel": None,
        "location": None,
        "locations": [*PAGING, "query", "includeLegacy", "includeInactive"],
        "node": None,
        "nodes": None,
        "productVariant": None,
        "productVariants": [*PAGING, "query"],
    },
    "Mutation": {
        "bulkOperationRunQuery": None,
        "inventoryAdjustQuantities": None,
        "inventoryBulkToggleActivation": None,  # onboarding: stock mapped items at the fba location
        "locationAdd": None,  # onboarding: create the fba location
    },
    "Node": None,
    "DisplayableError": None,
    "PageInfo": None,
    "Location": {
        "id": None,
        "name": None,
        "isActive": None,
        "inventoryLevel": None,
        "inventoryLevels": [*PAGING, "query"],
    },
    "LocationConnection": None,
    "LocationEdge": None,
    "ProductVariant": {"id": None, "sku": None, "displayName": None, "inventoryItem": None},
    "ProductVariantConnection": None,
    "ProductVariantEdge": None,
    "InventoryItem": {
        "id": None,
        "sku": None,
        "tracked": None,
        "duplicateSkuCount": None,
        "inventoryLevel": None,
        "inventoryLevels": [*PAGING, "query"],
        "variants": None,
    },
    "InventoryItemConnection": None,
    "InventoryItemEdge": None,
    "InventoryLevel": {"id": None, "item": None, "location": None, "quantities": None},
    "InventoryLevelConnection": None,
    "InventoryLevelEdge": None,
    "InventoryQuantity": {"id": None, "name": None, "quantity": None},
    "InventoryAdjustQuantitiesPayload": None,
    "InventoryAdjustQuantitiesUserError": None,
    "InventoryAdjustQuantitiesUserErrorCode": None,
    "InventoryAdjustmentGroup": {
        "changes": None,
        "id": None,
        "reason": None,
        "referenceDocumentUri": None,
    },
    "InventoryChange": None,
    "InventoryAdjustQuantitiesInput": None,
    "InventoryChangeInput": None,
    "BulkOperation": None,
    "BulkOperationRunQueryPayload": None,
    "BulkOperationUserError": None,
    "BulkOperationUserErrorCode": None,
    "BulkOperationErrorCode": None,
    "BulkOperationStatus": None,
    "BulkOperationType": None,
    # onboarding (ops/onboarding.py): granted scopes, locationAdd, inventoryBulkToggleActivation
    "AppInstallation": {"id": None, "accessScopes": None},
    "AccessScope": None,
    "LocationAddInput": None,
    "LocationAddAddressInput": None,
    "MetafieldInput": None,
    "CountryCode": None,
    "LocationAddPayload": None,
    "LocationAddUserError": None,
    "LocationAddUserErrorCode": None,
    "InventoryBulkToggleActivationInput": None,
    "InventoryBulkToggleActivationPayload": None,
    "InventoryBulkToggleActivationUserError": None,
    "InventoryBulkToggleActivationUserErrorCode": None,
    "DateTime": None,
    "URL": None,
    "UnsignedInt64": None,
}
DIRECTIVES = {"idempotent"}


def _strip(node, **changes):
    """A copy of an AST node without its description (documentation, not contract)."""
    values = {k: getattr(node, k) for k in node.keys}
    values.update(loc=None, **changes)
    if "description" in values:
        values["description"] = None
    return node.__class__(**values)


def subset(real_sdl: str) -> str:
    doc = parse(real_sdl, no_location=True)
    out = []
    found = set()
    for d in doc.definitions:
        if isinstance(d, SchemaDefinitionNode):
            out.insert(0, d)
            continue
        if isinstance(d, DirectiveDefinitionNode):
            if d.name.value in DIRECTIVES:
                out.append(_strip(d, arguments=tuple(_strip(a) for a in d.arguments)))
            continue
        name = getattr(getattr(d, "name", None), "value", None)
        if name not in KEEP:
            continue
        found.add(name)
        spec = KEEP[name]
        if isinstance(d, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            fields = []
            for f in d.fields:
                if spec is not None and f.name.value not in spec:
                    continue
                wanted = None if spec is None else spec[f.name.value]
                args = [_strip(a) for a in f.arguments or () if wanted is None or a.name.value in wanted]
                fields.append(_strip(f, arguments=tuple(args)))
            interfaces = tuple(i for i in d.interfaces or () if i.name.value in KEEP)
            out.append(_strip(d, fields=tuple(fields), interfaces=interfaces))
        elif isinstance(d, InputObjectTypeDefinitionNode):
            out.append(_strip(d, fields=tuple(_strip(f) for f in d.fields)))
        elif isinstance(d, EnumTypeDefinitionNode):
            out.append(_strip(d, values=tuple(_strip(v) for v in d.values)))
        elif isinstance(d, ScalarTypeDefinitionNode):
            out.append(_strip(d))
    missing = set(KEEP) - found
    if missing:
        raise SystemExit(f"not in the real schema: {sorted(missing)}")
    header = (
        "# The Shopify simulator's schema: a subset of the Admin GraphQL API 2026-04 SDL.\n"
        "# Generated by sandbox/shopify/make_schema.py; tests/test_contract_shopify.py holds it to the real one.\n\n"
    )
    return header + print_ast(DocumentNode(definitions=tuple(out))) + "\n"


def main() -> None:
    real = Path(sys.argv[1]).read_text()
    target = Path(__file__).with_name("schema.graphql")
    target.write_text(subset(real))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
