"""The simulator's GraphQL layer: `schema.graphql` (a faithful subset of the real Admin API schema)
made executable with graphql-core over a `ShopifyWorld`, plus Shopify-style query cost. Bulk
queries (`bulkOperationRunQuery`) run through `bulk.BulkQuery` over the same resolvers.
"""

from __future__ import annotations

import base64
import inspect
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_schema,
    execute,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_directive_values, get_variable_values

from sandbox.shopify.bulk import BulkLists, BulkQuery, BulkQueryInvalid
from sandbox.shopify.world import (
    LOCATION_NAME_MAX,
    QUERYABLE_NAMES,
    AdjustInputError,
    ShopifyWorld,
    SimBulkOperation,
    SimItem,
    SimLevel,
    SimQuantity,
    SimVariant,
)

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
MAX_QUERY_COST = 1000  # Shopify's single-query limit
MUTATION_COST = 10
MAX_PAGE = 250
TOGGLE_MESSAGES = {  # InventoryBulkToggleActivationUserErrorCode descriptions in the real schema
    "CANNOT_DEACTIVATE_FROM_ONLY_LOCATION": (
        "Cannot unstock an inventory item from the only location at which it is stocked."
    ),
    "COMMITTED_INVENTORY_AT_LOCATION": (
        "Cannot unstock this inventory item from this location because it has committed quantities."
    ),
    "INCOMING_INVENTORY_AT_LOCATION": (
        "Cannot unstock this inventory item from this location because it has incoming quantities."
    ),
    "RESERVED_INVENTORY_AT_LOCATION": (
        "Cannot unstock this inventory item from this location because it has unavailable quantities."
    ),
}


def load_schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text())


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def default_resolver(source: Any, info: GraphQLResolveInfo, **_: Any) -> Any:
    """Dicts by key; objects by the snake_case attribute of the camelCase field."""
    name = info.field_name
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, _snake(name), None)


# --- connections and search ------------------------------------------------------------------------


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:{index}".encode()).decode()


def _uncursor(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor).decode().split(":", 1)[1])
    except Exception as e:
        raise GraphQLError(f"Invalid cursor {cursor!r}.") from e


def connection(
    items: list[Any],
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    reverse: bool = False,
    **_: Any,
) -> dict[str, Any]:
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last", extensions={"code": "BAD_REQUEST"})
    for n in (first, last):
        if n is not None and not 0 <= n <= MAX_PAGE:
            raise GraphQLError(
                f"first and last must be between 0 and {MAX_PAGE}", extensions={"code": "BAD_REQUEST"}
            )
    indexed = list(enumerate(reversed(items) if reverse else items))
    if after is not None:
        start = _uncursor(after)
        indexed = [p for p in indexed if p[0] > start]
    if before is not None:
        end = _uncursor(before)
        indexed = [p for p in indexed if p[0] < end]
    has_next = has_previous = False
    if first is not None:
        has_next = len(indexed) > first
        indexed = indexed[:first]
    if last is not None:
        has_previous = len(indexed) > last
        indexed = indexed[-last:] if last else []
    edges = [{"cursor": _cursor(i), "node": node} for i, node in indexed]
    return {
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous or (after is not None and bool(indexed) and indexed[0][0] > 0),
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


_TERM = re.compile(
    r'\s*(?:(?P<field>[a-z_]+):(?:"(?P<dq>(?:[^"\\]|\\.)*)"|\'(?P<sq>(?:[^\'\\]|\\.)*)\'|(?P<bare>[^\s]+))'
    r"|(?P<word>[^\s]+))"
)


def search_terms(query: str | None) -> list[list[tuple[str, str]]]:
    """Shopify search syntax, the part the product uses: `field:value` terms (values bare or quoted,
    backslash escapes), joined by OR (groups) and AND/space (within a group)."""
    if not query or not query.strip():
        return []
    groups: list[list[tuple[str, str]]] = [[]]
    pos = 0
    while pos < len(query):
        m = _TERM.match(query, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        if m.group("word") is not None:
            word = m.group("word")
            if word == "OR":
                groups.append([])
            elif word != "AND":
                groups[-1].append(("default", word))
            continue
        raw = next(v for v in (m.group("dq"), m.group("sq"), m.group("bare")) if v is not None)
        value = re.sub(r"\\(.)", r"\1", raw)
        groups[-1].append((m.group("field"), value))
    return [g for g in groups if g]


def matches(groups: list[list[tuple[str, str]]], values: dict[str, str | None]) -> bool:
    if not groups:
        return True
    for group in groups:
        ok = True
        for name, value in group:
            actual = values.get(name) if name != "default" else " ".join(v or "" for v in values.values())
            if (
                actual is None
                or (name == "default" and value.lower() not in actual.lower())
                or (name != "default" and actual != value)
            ):
                ok = False
        if ok:
            return True
    return False


def _legacy(gid: str) -> str:
    return gid.rsplit("/", 1)[-1].split("?", 1)[0]


# --- resolvers -------------------------------------------------------------------------------------


class Resolvers:
    def __init__(self, world: ShopifyWorld, schema: GraphQLSchema) -> None:
        self.world = world
        self.schema = schema
        self.idempotent = schema.get_directive("idempotent")

    # Every node of each connection (bulk queries read them whole; the API pages them)
    def _locations(self, _root, includeLegacy=False, includeInactive=False, query=None, **_page):
        terms = search_terms(query)
        return [
            loc
            for loc in self.world.locations.values()
            if (includeInactive or loc.is_active)
            and matches(terms, {"name": loc.name, "id": _legacy(loc.id)})
        ]

    def _product_variants(self, _root, query=None, **_page):
        terms = search_terms(query)
        return [
            SimVariant(i)
            for i in self.world.items.values()
            if matches(terms, {"sku": i.sku, "id": _legacy(i.variant_id), "title": i.display_name})
        ]

    def _inventory_items(self, _root, query=None, **_page):
        terms = search_terms(query)
        if not terms:
            return list(self.world.items.values())
        return [i for i in self.world.items.values() if matches(terms, {"sku": i.sku, "id": _legacy(i.id)})]

    def _location_levels(self, location, query=None, **_page):
        return self.world.levels_at(location.id)

    def _item_levels(self, item: SimItem, query=None, **_page):
        return self.world.levels_of_item(item.id)

    def _item_variants(self, item: SimItem, **_page):
        return [SimVariant(item)]

    def bulk_lists(self) -> BulkLists:
        return {
            ("QueryRoot", "locations"): self._locations,
            ("QueryRoot", "productVariants"): self._product_variants,
            ("QueryRoot", "inventoryItems"): self._inventory_items,
            ("Location", "inventoryLevels"): self._location_levels,
            ("InventoryItem", "inventoryLevels"): self._item_levels,
            ("InventoryItem", "variants"): self._item_variants,
        }

    # QueryRoot
    def locations(self, root, _info, **args):
        return connection(self._locations(root, **args), **args)

    def location(self, _root, _info, id=None):
        if id is None:
            return next(iter(self.world.locations.values()), None)
        return self.world.locations.get(id)

    def product_variants(self, root, _info, **args):
        return connection(self._product_variants(root, **args), **args)

    def product_variant(self, _root, _info, id):
        node = self.world.node(id)
        return node if isinstance(node, SimVariant) else None

    def inventory_items(self, root, _info, **args):
        return connection(self._inventory_items(root, **args), **args)

    def inventory_item(self, _root, _info, id):
        return self.world.items.get(id)

    def inventory_level_by_id(self, _root, _info, id):
        node = self.world.node(id)
        return node if isinstance(node, SimLevel) else None

    def node(self, _root, _info, id):
        return self.world.node(id)

    def nodes(self, _root, _info, ids):
        if len(ids) > MAX_PAGE:
            raise GraphQLError(
                f"The input array size of {len(ids)} is greater than the maximum allowed of {MAX_PAGE}.",
                extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
            )
        return [self.world.node(i) for i in ids]

    def bulk_operation(self, _root, _info, id):
        return self.world.bulk_operations.get(id)

    def current_bulk_operation(self, _root, _info, type="QUERY"):
        return self.world.current_bulk_operation() if type == "QUERY" else None

    # Location / InventoryItem
    def location_inventory_level(self, location, _info, inventoryItemId):
        return self.world.level(inventoryItemId, location.id)

    def location_inventory_levels(self, location, _info, **args):
        return connection(self._location_levels(location, **args), **args)

    def item_inventory_level(self, item: SimItem, _info, locationId):
        return self.world.level(item.id, locationId)

    def item_inventory_levels(self, item: SimItem, _info, **args):
        return connection(self._item_levels(item, **args), **args)

    def item_variants(self, item: SimItem, _info, **page):
        return connection(self._item_variants(item), **page)

    def item_duplicate_sku_count(self, item: SimItem, _info):
        return len(self.world.items_with_sku(item.sku)) - 1

    # BulkOperation
    def bulk_url(self, op: SimBulkOperation, _info):
        return self.world.bulk_url(op)

    def bulk_partial_data_url(self, op: SimBulkOperation, _info):
        return self.world.bulk_url(op, partial=True)

    # InventoryLevel
    def level_quantities(self, level: SimLevel, _info, names):
        unknown = [n for n in names if n not in QUERYABLE_NAMES]
        if unknown:
            raise GraphQLError(
                f"Invalid quantity name(s): {', '.join(unknown)}.", extensions={"code": "BAD_REQUEST"}
            )
        return [SimQuantity(level, n) for n in names]

    # InventoryAdjustmentGroup
    def group_changes(self, group, _info, inventoryItemIds=None, locationIds=None, quantityNames=None):
        return [
            c
            for c in group.changes
            if (inventoryItemIds is None or c.item.id in inventoryItemIds)
            and (locationIds is None or c.location.id in locationIds)
            and (quantityNames is None or c.name in quantityNames)
        ]

    # Mutation
    async def inventory_adjust_quantities(self, _root, info: GraphQLResolveInfo, input):
        directives = get_directive_values(self.idempotent, info.field_nodes[0], info.variable_values)
        key = directives["key"] if directives else None
        try:
            return await self.world.adjust_quantities(input, key)
        except AdjustInputError as e:
            raise GraphQLError(str(e), extensions={"code": e.code}) from e

    # Onboarding: the app's scopes, a new location, stocking items at a location
    def current_app_installation(self, _root, _info):
        return {
            "id": "gid://shopify/AppInstallation/1",
            "accessScopes": [
                {"handle": h, "description": f"{h.replace('_', ' ', 1).capitalize()}"}
                for h in sorted(self.world.access_scopes)
            ],
        }

    def _require(self, info: GraphQLResolveInfo, scope: str) -> None:
        """Shopify's answer to a field the app has no scope for: a top-level ACCESS_DENIED error."""
        if not self.world.has_scope(scope):
            raise GraphQLError(
                f"Access denied for {info.field_name} field. Required access: `{scope}` access scope.",
                extensions={
                    "code": "ACCESS_DENIED",
                    "documentation": "https://shopify.dev/api/usage/access-scopes",
                    "requiredAccess": f"`{scope}` access scope.",
                },
            )

    def location_add(self, _root, info: GraphQLResolveInfo, input):
        self._require(info, "write_locations")
        name = (input.get("name") or "").strip()
        error = None
        if not name:
            error = (["input", "name"], "Name can't be blank", "BLANK")
        elif len(name) > LOCATION_NAME_MAX:
            error = (["input", "name"], f"Name is too long (maximum is {LOCATION_NAME_MAX})", "TOO_LONG")
        elif self.world.location_named(name) is not None:
            error = (["input", "name"], "Name has already been taken", "TAKEN")
        if error is not None:
            return {
                "location": None,
                "userErrors": [dict(zip(("field", "message", "code"), error, strict=True))],
            }
        return {"location": self.world.add_location(name), "userErrors": []}

    def inventory_bulk_toggle_activation(
        self, _root, info: GraphQLResolveInfo, inventoryItemId, inventoryItemUpdates
    ):
        """All or nothing: every update is checked before any is made."""
        self._require(info, "write_inventory")
        item = self.world.items.get(inventoryItemId)
        if item is None:
            return {
                "inventoryItem": None,
                "inventoryLevels": None,
                "userErrors": [
                    {
                        "field": ["inventoryItemId"],
                        "message": "The inventory item was not found.",
                        "code": "INVENTORY_ITEM_NOT_FOUND",
                    }
                ],
            }
        errors = []
        for i, update in enumerate(inventoryItemUpdates):
            path = ["inventoryItemUpdates", str(i), "locationId"]
            if update["locationId"] not in self.world.locations:
                errors.append(
                    {"field": path, "message": "The location was not found.", "code": "LOCATION_NOT_FOUND"}
                )
            elif not update["activate"]:
                problem = self.world.deactivate_problem(item.id, update["locationId"])
                if problem is not None:
                    errors.append({"field": path, "message": TOGGLE_MESSAGES[problem], "code": problem})
        if errors:
            return {"inventoryItem": item, "inventoryLevels": None, "userErrors": errors}
        activated = []
        for update in inventoryItemUpdates:
            if update["activate"]:
                activated.append(self.world.activate(item.id, update["locationId"]))
            else:
                self.world.deactivate(item.id, update["locationId"])
        return {"inventoryItem": item, "inventoryLevels": activated, "userErrors": []}

    def bulk_operation_run_query(self, _root, _info, query, groupObjects=False):
        """Check the query, then (within the per-shop limit) run it over the state as it is now."""
        running = self.world.running_bulk_queries()
        if len(running) >= self.world.bulk_query_limit:
            return {
                "bulkOperation": None,
                "userErrors": [
                    {
                        "field": None,
                        "message": (
                            "A bulk query operation for this app and shop is already in progress: "
                            f"{running[-1].id}."
                        ),
                        "code": "OPERATION_IN_PROGRESS",
                    }
                ],
            }
        view = self.world.bulk_view()  # the levels as they are now, however long the file takes
        try:
            bulk = BulkQuery(self.schema, query, view.wrap(self.bulk_lists()))
        except BulkQueryInvalid as e:
            self.world.release_bulk_view(view)
            return {
                "bulkOperation": None,
                "userErrors": [{"field": ["query"], "message": str(e), "code": "INVALID"}],
            }
        return {"bulkOperation": self.world.run_bulk_query(query, bulk.iterate(), view), "userErrors": []}

    def wire(self, schema: GraphQLSchema) -> None:
        table = {
            ("QueryRoot", "locations"): self.locations,
            ("QueryRoot", "location"): self.location,
            ("QueryRoot", "productVariants"): self.product_variants,
            ("QueryRoot", "productVariant"): self.product_variant,
            ("QueryRoot", "inventoryItems"): self.inventory_items,
            ("QueryRoot", "inventoryItem"): self.inventory_item,
            ("QueryRoot", "inventoryLevel"): self.inventory_level_by_id,
            ("QueryRoot", "node"): self.node,
            ("QueryRoot", "nodes"): self.nodes,
            ("QueryRoot", "bulkOperation"): self.bulk_operation,
            ("QueryRoot", "currentBulkOperation"): self.current_bulk_operation,
            ("BulkOperation", "url"): self.bulk_url,
            ("BulkOperation", "partialDataUrl"): self.bulk_partial_data_url,
            ("Mutation", "bulkOperationRunQuery"): self.bulk_operation_run_query,
            ("Location", "inventoryLevel"): self.location_inventory_level,
            ("Location", "inventoryLevels"): self.location_inventory_levels,
            ("InventoryItem", "inventoryLevel"): self.item_inventory_level,
            ("InventoryItem", "inventoryLevels"): self.item_inventory_levels,
            ("InventoryItem", "variants"): self.item_variants,
            ("InventoryItem", "duplicateSkuCount"): self.item_duplicate_sku_count,
            ("InventoryLevel", "quantities"): self.level_quantities,
            ("InventoryAdjustmentGroup", "changes"): self.group_changes,
            ("Mutation", "inventoryAdjustQuantities"): self.inventory_adjust_quantities,
            ("QueryRoot", "currentAppInstallation"): self.current_app_installation,
            ("Mutation", "locationAdd"): self.location_add,
            ("Mutation", "inventoryBulkToggleActivation"): self.inventory_bulk_toggle_activation,
        }
        for (type_name, field_name), fn in table.items():
            gtype = schema.get_type(type_name)
            assert isinstance(gtype, GraphQLObjectType), type_name
            gtype.fields[field_name].resolve = fn
        for type_ in schema.type_map.values():
            if isinstance(type_, GraphQLInterfaceType):
                type_.resolve_type = lambda obj, _info, _t: getattr(obj, "typename", None)
        # Shopify's wire forms of its scalars: UnsignedInt64 as a string of digits, DateTime as ISO 8601 (Z)
        for name, serialize in (("UnsignedInt64", _serialize_uint64), ("DateTime", _serialize_datetime)):
            scalar = schema.get_type(name)
            if isinstance(scalar, GraphQLScalarType):
                for attr in ("coerce_output_value", "serialize"):  # graphql-core 3.3 / 3.2 names
                    if hasattr(scalar, attr):
                        setattr(scalar, attr, serialize)


def _serialize_uint64(value: Any) -> str:
    return str(int(value))


def _serialize_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return str(value)


# --- cost ------------------------------------------------------------------------------------------


def _list_size(field_name: str, args: dict[str, Any]) -> int:
    """`nodes(ids:)` costs per id; other plain lists of objects count as one object."""
    if field_name == "nodes" and isinstance(args.get("ids"), list):
        return len(args["ids"])
    return 1


class CostCalculator:
    """Shopify's requested query cost, approximately: scalars and enums 0, objects 1, connections
    2 + first × (cost of one node), `nodes(ids:)` per id, other lists as one object, mutations 10."""

    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]
    ):
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def operation(self, op: OperationDefinitionNode) -> int:
        if op.operation == OperationType.MUTATION:
            return MUTATION_COST
        root = self.schema.query_type
        assert root is not None
        return self.selection(root, op.selection_set)

    def selection(self, parent: Any, selection_set: SelectionSetNode | None, page: int = 1) -> int:
        if selection_set is None:
            return 0
        total = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                total += self.field(parent, sel, page)
            elif isinstance(sel, InlineFragmentNode):
                cond = self.schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                total += self.selection(cond, sel.selection_set, page)
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments.get(sel.name.value)
                if frag:
                    total += self.selection(
                        self.schema.get_type(frag.type_condition.name.value), frag.selection_set, page
                    )
        return total

    def field(self, parent: Any, node: FieldNode, page: int) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", None)
        if name.startswith("__") or not fields or name not in fields:
            return 0
        definition = fields[name]
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return 0
        try:
            args = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            args = {}
        if named.name.endswith("Connection"):
            size = args.get("first") or args.get("last") or 0
            return 2 + self.selection(named, node.selection_set, page=size)
        if isinstance(get_nullable_type(definition.type), GraphQLList):
            size = (
                page
                if named.name.endswith("Edge") or (name == "nodes" and parent.name.endswith("Connection"))
                else _list_size(name, args)
            )
            return size * (1 + self.selection(named, node.selection_set))
        return 1 + self.selection(named, node.selection_set)


def _count_objects(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_count_objects(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_objects(v) for v in value)
    return 0


# --- the pipeline ----------------------------------------------------------------------------------


@dataclass
class Prepared:
    document: DocumentNode
    operation: OperationDefinitionNode
    variables: dict[str, Any]
    operation_name: str | None
    cost: int

    @property
    def is_mutation(self) -> bool:
        return self.operation.operation == OperationType.MUTATION


class ShopifyGraphQL:
    def __init__(self, world: ShopifyWorld) -> None:
        self.world = world
        self.schema = load_schema()
        Resolvers(world, self.schema).wire(self.schema)

    def prepare(self, payload: Any) -> Prepared | list[dict[str, Any]]:
        """Parse, validate and price one request; a list of GraphQL errors when it cannot run."""
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return [{"message": "Parameter 'query' is required.", "extensions": {"code": "BAD_REQUEST"}}]
        variables = payload.get("variables") or {}
        name = payload.get("operationName")
        try:
            document = parse(payload["query"])
        except GraphQLError as e:
            return [e.formatted]
        errors = validate(self.schema, document)
        if errors:
            return [{**e.formatted, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}} for e in errors]
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [o for o in ops if name is None or (o.name and o.name.value == name)]
        if len(chosen) != 1:
            return [
                {
                    "message": "Could not determine the operation to run.",
                    "extensions": {"code": "BAD_REQUEST"},
                }
            ]
        op = chosen[0]
        coerced = get_variable_values(self.schema, op.variable_definitions or (), variables)
        if isinstance(coerced, list):
            return [e.formatted for e in coerced]
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        cost = CostCalculator(self.schema, fragments, coerced).operation(op)
        if cost > MAX_QUERY_COST:
            return [
                {
                    "message": f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).",
                    "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MAX_QUERY_COST},
                }
            ]
        return Prepared(document, op, variables, op.name.value if op.name else None, cost)

    async def execute(self, prepared: Prepared) -> tuple[dict[str, Any], int]:
        """Run a prepared request. Returns the response body (without extensions) and its actual cost."""
        result = execute(
            self.schema,
            prepared.document,
            variable_values=prepared.variables,
            operation_name=prepared.operation_name,
            field_resolver=default_resolver,
        )
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        actual = (
            MUTATION_COST if prepared.is_mutation else min(prepared.cost, 1 + _count_objects(result.data))
        )
        return body, actual


__all__ = ["Prepared", "ShopifyGraphQL", "connection", "load_schema", "search_terms"]
