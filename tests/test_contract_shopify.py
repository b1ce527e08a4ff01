"""Contract: every GraphQL operation the product sends is valid against the real Admin API 2026-04
schema, and the simulator's schema is a faithful subset of it (same names, same type strings)."""

from __future__ import annotations

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    StringValueNode,
    parse,
    validate,
)

from integrations.shopify import operations
from sandbox.shopify.api import Resolvers, load_schema
from sandbox.shopify.bulk import BulkQuery
from tests.shopify_helpers import REAL_SCHEMA, make_world, real_schema

pytestmark = pytest.mark.skipif(
    not REAL_SCHEMA.is_file(),
    reason=f"Shopify contracts not found at {REAL_SCHEMA} (expected ../shared/contracts next to the repository)",
)


@pytest.fixture(scope="module")
def real() -> GraphQLSchema:
    return real_schema()


@pytest.fixture(scope="module")
def sim() -> GraphQLSchema:
    return load_schema()


def test_the_product_ships_the_operations_it_uses():
    assert set(operations.operation_names()) >= {
        operations.LOCATIONS,
        operations.VARIANTS_BY_SKU,
        operations.INVENTORY_LEVELS,
        operations.INVENTORY_ADJUST_QUANTITIES,
        operations.BULK_INVENTORY_SNAPSHOT,
        operations.BULK_OPERATION_STATUS,
    }


@pytest.mark.parametrize("name", operations.operation_names())
def test_operation_is_valid_against_the_real_schema(real, name):
    document = parse(operations.source(name))
    assert [e.message for e in validate(real, document)] == []
    names = [d.name.value for d in document.definitions if getattr(d, "name", None)]
    assert names == [name], "one operation per file, named like the file"


@pytest.mark.parametrize("name", operations.operation_names())
def test_operation_is_served_by_the_simulator(sim, name):
    assert [e.message for e in validate(sim, parse(operations.source(name)))] == []


def test_adjust_uses_idempotency_and_compare_and_swap(real):
    text = operations.source(operations.INVENTORY_ADJUST_QUANTITIES)
    assert "@idempotent(key:" in text
    change_input = real.get_type("InventoryChangeInput")
    assert isinstance(change_input, GraphQLInputObjectType) and "changeFromQuantity" in change_input.fields


def _kind(t) -> str:
    return type(t).__name__


def test_simulator_schema_is_a_subset_of_the_real_one(real, sim):
    problems: list[str] = []
    assert sim.query_type and real.query_type and sim.query_type.name == real.query_type.name
    assert sim.mutation_type and real.mutation_type and sim.mutation_type.name == real.mutation_type.name
    for name, sim_type in sim.type_map.items():
        if name.startswith("__"):
            continue
        real_type = real.type_map.get(name)
        if real_type is None:
            problems.append(f"type {name} is not in the real schema")
            continue
        if _kind(real_type) != _kind(sim_type):
            problems.append(f"{name}: {_kind(sim_type)} here, {_kind(real_type)} in the real schema")
            continue
        if isinstance(sim_type, GraphQLObjectType | GraphQLInterfaceType):
            real_interfaces = {i.name for i in real_type.interfaces}
            for iface in sim_type.interfaces:
                if iface.name not in real_interfaces:
                    problems.append(f"{name} implements {iface.name}, the real one does not")
            for fname, field in sim_type.fields.items():
                real_field = real_type.fields.get(fname)
                if real_field is None:
                    problems.append(f"{name}.{fname} is not in the real schema")
                    continue
                if str(field.type) != str(real_field.type):
                    problems.append(
                        f"{name}.{fname}: {field.type} here, {real_field.type} in the real schema"
                    )
                for aname, arg in field.args.items():
                    real_arg = real_field.args.get(aname)
                    if real_arg is None:
                        problems.append(f"{name}.{fname}({aname}) is not in the real schema")
                    elif str(arg.type) != str(real_arg.type) or arg.default_value != real_arg.default_value:
                        problems.append(f"{name}.{fname}({aname}): differs from the real schema")
                for aname, real_arg in real_field.args.items():  # required arguments must not be dropped
                    if isinstance(real_arg.type, GraphQLNonNull) and aname not in field.args:
                        problems.append(f"{name}.{fname}: required argument {aname} is missing")
        elif isinstance(sim_type, GraphQLInputObjectType):
            for fname, field in sim_type.fields.items():
                real_field = real_type.fields.get(fname)
                if real_field is None or str(field.type) != str(real_field.type):
                    problems.append(f"input {name}.{fname} differs from the real schema")
            missing = set(real_type.fields) - set(sim_type.fields)
            if missing:
                problems.append(f"input {name} lacks {sorted(missing)}")
        elif isinstance(sim_type, GraphQLEnumType):
            extra = set(sim_type.values) - set(real_type.values)
            if extra:
                problems.append(f"enum {name} has values the real one lacks: {sorted(extra)}")
        elif isinstance(sim_type, GraphQLUnionType):
            extra = {t.name for t in sim_type.types} - {t.name for t in real_type.types}
            if extra:
                problems.append(f"union {name} has members the real one lacks: {sorted(extra)}")
        else:
            assert isinstance(sim_type, GraphQLScalarType)
    for directive in sim.directives:
        real_directive = real.get_directive(directive.name)
        if real_directive is None:
            problems.append(f"directive @{directive.name} is not in the real schema")
            continue
        if {k: str(a.type) for k, a in directive.args.items()} != {
            k: str(a.type) for k, a in real_directive.args.items()
        }:
            problems.append(f"directive @{directive.name}: arguments differ")
        if set(directive.locations) != set(real_directive.locations):
            problems.append(f"directive @{directive.name}: locations differ")
    assert problems == []


def test_simulator_keeps_every_adjust_user_error_code(real, sim):
    name = "InventoryAdjustQuantitiesUserErrorCode"
    assert set(sim.get_type(name).values) == set(real.get_type(name).values)
    assert "IDEMPOTENCY_KEY_PARAMETER_MISMATCH" in sim.get_type(name).values


def _bulk_inner_query() -> str:
    """The query text BulkInventorySnapshot hands to bulkOperationRunQuery (a literal: no variables)."""
    document = parse(operations.source(operations.BULK_INVENTORY_SNAPSHOT))
    op = document.definitions[0]
    assert isinstance(op, OperationDefinitionNode)
    field = op.selection_set.selections[0]
    assert field.name.value == "bulkOperationRunQuery"  # type: ignore[union-attr]
    (argument,) = [a for a in field.arguments if a.name.value == "query"]  # type: ignore[union-attr]
    assert isinstance(argument.value, StringValueNode)
    return argument.value.value


def test_bulk_snapshot_inner_query_is_valid_against_the_real_schema(real, sim):
    inner = parse(_bulk_inner_query())
    assert [e.message for e in validate(real, inner)] == []
    assert [e.message for e in validate(sim, inner)] == []


def test_bulk_snapshot_inner_query_follows_shopifys_bulk_rules(sim):
    """At least one and at most five connections, nested at most two deep, the parent of a nested
    connection selects `id`, one top-level field, no variables: the simulator enforces the same."""
    query = BulkQuery(load_schema(), _bulk_inner_query(), _all_lists())
    assert query.connections == 2 and query.root.name == "inventoryItems"


def _all_lists():
    return Resolvers(make_world(), load_schema()).bulk_lists()


def test_bulk_operation_enums_match_the_real_schema(real, sim):
    for name in ("BulkOperationStatus", "BulkOperationErrorCode", "BulkOperationUserErrorCode"):
        assert set(sim.get_type(name).values) == set(real.get_type(name).values), name
