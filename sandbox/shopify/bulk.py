"""Bulk query operations in the Shopify simulator: check a bulk query the way Shopify does, then run
it over the whole world and write Shopify's JSONL, one root object at a time (`BulkQuery.iterate`:
the world builds a big file in slices after answering, `ShopifyWorld.run_bulk_query`).

The JSONL: one line per node of a connection. A root connection's node is a line of its selected
fields (objects and lists inline); each node of a nested connection is its own line with
`__parentId`, the `id` of the node it belongs to (which is why a parent of a nested connection must
select `id`). Lines are compact JSON with `/` escaped as `\\/`, as Shopify writes them.

Not graphql-core's executor: that one pages (first ≤ 250) and is far too slow for 100,000 items.
The query is validated with graphql-core, then compiled once into plans that call the same
resolvers (`api.Resolvers`), so a bulk file shows exactly what the ordinary API would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values

MAX_CONNECTIONS = 5
MAX_CONNECTION_DEPTH = 2
LIST_FIELDS_OF_CONNECTIONS = ("edges", "nodes")
_PLAIN_SCALARS = frozenset({"ID", "String", "Int", "Float", "Boolean"})

# (type name, field name) -> every node of that connection for a source object and the field's arguments
BulkLists = dict[tuple[str, str], Callable[..., Iterable[Any]]]


class BulkQueryInvalid(Exception):
    """The query cannot run in bulk (a user error of bulkOperationRunQuery, field ["query"])."""


@dataclass
class _Field:
    key: str  # output key (alias or name)
    name: str
    kind: str  # leaf | object | list | connection | typename
    args: dict[str, Any]
    resolve: Callable[..., Any] | None
    attr: str  # snake_case attribute for the default resolver
    serialize: Callable[[Any], Any] | None = None
    plan: _Plan | None = None  # objects, lists of objects, connection nodes
    parent_type: str = ""


@dataclass
class _Plan:
    type_name: str
    fields: list[_Field] = field(default_factory=list)
    fragments: list[tuple[str, _Plan]] = field(default_factory=list)  # (type condition, plan)


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class BulkQuery:
    """A checked bulk query, compiled against one schema. `run()` gives (JSONL, objects, roots)."""

    def __init__(self, schema: GraphQLSchema, text: str, lists: BulkLists) -> None:
        self.schema = schema
        self.text = text
        self.lists = lists
        try:
            document = parse(text)
        except GraphQLError as e:
            raise BulkQueryInvalid(f"Invalid bulk query: {e.message}") from e
        errors = validate(schema, document)
        if errors:
            raise BulkQueryInvalid(f"Invalid bulk query: {errors[0].message}")
        self.document: DocumentNode = document
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
            raise BulkQueryInvalid("Invalid bulk query: a bulk query must be exactly one query operation.")
        op = operations[0]
        if op.variable_definitions:
            raise BulkQueryInvalid("Invalid bulk query: bulk queries cannot use variables.")
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        root_type = schema.query_type
        assert root_type is not None
        self.connections = 0
        plan = self._compile(root_type, op.selection_set, depth=0, parent_selects_id=False)
        top = [f for f in plan.fields if f.kind != "typename"]
        if len(top) != 1 or plan.fragments:
            raise BulkQueryInvalid("Invalid bulk query: select exactly one top-level field.")
        if self.connections == 0:
            raise BulkQueryInvalid("Invalid bulk query: Bulk queries must contain at least one connection.")
        if self.connections > MAX_CONNECTIONS:
            raise BulkQueryInvalid(
                f"Invalid bulk query: Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
            )
        self.root = top[0]

    # --- compiling --------------------------------------------------------------------------------

    def _selections(self, selection_set: SelectionSetNode | None) -> list[Any]:
        return list(selection_set.selections) if selection_set else []

    def _compile(
        self, parent: Any, selection_set: SelectionSetNode | None, *, depth: int, parent_selects_id: bool
    ) -> _Plan:
        plan = _Plan(parent.name)
        selects_id = parent_selects_id or any(
            isinstance(s, FieldNode) and s.name.value == "id" and s.alias is None
            for s in self._selections(selection_set)
        )
        for sel in self._selections(selection_set):
            if isinstance(sel, FieldNode):
                plan.fields.append(self._field(parent, sel, depth=depth, selects_id=selects_id))
            else:
                if isinstance(sel, InlineFragmentNode):
                    cond_name = sel.type_condition.name.value if sel.type_condition else parent.name
                    sub_set = sel.selection_set
                else:
                    assert isinstance(sel, FragmentSpreadNode)
                    frag = self.fragments[sel.name.value]
                    cond_name, sub_set = frag.type_condition.name.value, frag.selection_set
                cond = self.schema.get_type(cond_name)
                sub = self._compile(cond, sub_set, depth=depth, parent_selects_id=selects_id)
                plan.fragments.append((cond_name, sub))
        return plan

    def _field(self, parent: Any, node: FieldNode, *, depth: int, selects_id: bool) -> _Field:
        name = node.name.value
        key = node.alias.value if node.alias else name
        if name == "__typename":
            return _Field(key, name, "typename", {}, None, "")
        definition = parent.fields[name]
        args = get_argument_values(definition, node, {})
        named = get_named_type(definition.type)
        resolve = definition.resolve
        attr = _snake(name)
        if is_leaf_type(named):
            serialize = None
            if named.name not in _PLAIN_SCALARS:  # ours are already str/int/bool
                serialize = getattr(named, "coerce_output_value", None) or getattr(named, "serialize", None)
            return _Field(key, name, "leaf", args, resolve, attr, serialize, parent_type=parent.name)
        if named.name.endswith("Connection"):
            if depth >= MAX_CONNECTION_DEPTH:
                raise BulkQueryInvalid(
                    f"Invalid bulk query: Bulk queries cannot contain connections with a nesting depth "
                    f"greater than {MAX_CONNECTION_DEPTH}."
                )
            if depth > 0 and not selects_id:
                raise BulkQueryInvalid(
                    f"Invalid bulk query: The parent '{parent.name}' of the nested connection '{name}' "
                    "must select the 'id' field."
                )
            if (parent.name, name) not in self.lists:
                raise BulkQueryInvalid(
                    f"Invalid bulk query: the simulator cannot export {parent.name}.{name}."
                )
            self.connections += 1
            node_type = named.fields["nodes"].type  # [X!]!
            node_named = get_named_type(node_type)
            node_plan = _Plan(node_named.name)
            for sel in self._selections(node.selection_set):
                if not isinstance(sel, FieldNode) or sel.name.value not in LIST_FIELDS_OF_CONNECTIONS:
                    continue  # pageInfo, __typename: nothing to export
                inner = sel.selection_set
                if sel.name.value == "edges":
                    edge_node = next(
                        (
                            s
                            for s in self._selections(inner)
                            if isinstance(s, FieldNode) and s.name.value == "node"
                        ),
                        None,
                    )
                    inner = edge_node.selection_set if edge_node else None
                sub = self._compile(node_named, inner, depth=depth + 1, parent_selects_id=False)
                node_plan.fields.extend(sub.fields)
                node_plan.fragments.extend(sub.fragments)
            return _Field(
                key, name, "connection", args, resolve, attr, plan=node_plan, parent_type=parent.name
            )
        plan = self._compile(named, node.selection_set, depth=depth, parent_selects_id=False)
        is_list = isinstance(get_nullable_type(definition.type), GraphQLList)
        return _Field(key, name, "list" if is_list else "object", args, resolve, attr, plan=plan)

    # --- running ----------------------------------------------------------------------------------

    def run(self, root_value: Any = None) -> tuple[bytes, int, int]:
        """Every object of the query over the world as it is now: (JSONL bytes, objects, root objects)."""
        parts: list[bytes] = []
        objects = roots = 0
        for data, n, r in self.iterate(root_value):
            parts.append(data)
            objects, roots = objects + n, roots + r
        return b"".join(parts), objects, roots

    def iterate(self, root_value: Any = None) -> Iterator[tuple[bytes, int, int]]:
        """The result one root object at a time: (its lines, objects, root objects), so that a caller
        can build a file of 100,000 objects in slices. The root connection's nodes are listed at the
        first step; a single-object root (e.g. `location(id:)`) is one step."""
        root_field = self.root
        assert root_field.plan is not None
        if root_field.kind == "connection":
            emit = self._emitter(root_field.plan, root=True)
            for node in self.lists[("QueryRoot", root_field.name)](root_value, **root_field.args):
                out: list[bytes] = []
                counts = [0, 0]
                emit(node, None, out, counts)
                yield b"".join(out), counts[0], counts[1]
        else:  # a single object whose nested connections are exported
            value = self._getter(root_field)(root_value)
            if value is not None:
                out, counts = [], [0, 0]
                self._builder(root_field.plan)(value, out, counts, None)
                yield b"".join(out), counts[0], counts[1]

    def _getter(self, f: _Field) -> Callable[[Any], Any]:
        resolve, name, attr, args = f.resolve, f.name, f.attr, f.args
        if resolve is not None:
            info = SimpleNamespace(field_name=name)
            return lambda source: resolve(source, info, **args)
        return lambda source: source.get(name) if source.__class__ is dict else getattr(source, attr, None)

    def _emitter(
        self, plan: _Plan, *, root: bool
    ) -> Callable[[Any, str | None, list[bytes], list[int]], None]:
        """Writes one connection node as a line (with `__parentId` under a parent), then its children."""
        build = self._builder(plan)
        encode = _ENCODER.encode

        def emit(node: Any, parent_id: str | None, out: list[bytes], counts: list[int]) -> None:
            children: list[bytes] = []
            line = build(node, children, counts, getattr(node, "id", None))
            if parent_id is not None:
                line["__parentId"] = parent_id
            out.append((encode(line).replace("/", "\\/") + "\n").encode())
            out.extend(children)
            counts[0] += 1
            if root:
                counts[1] += 1

        return emit

    def _builder(self, plan: _Plan) -> Callable[[Any, list[bytes], list[int], str | None], dict[str, Any]]:
        """A function that builds the JSON object of one value for `plan` (compiled once per plan)."""
        steps: list[Callable[[Any, dict[str, Any], list[bytes], list[int], str | None], None]] = []
        for f in plan.fields:
            steps.append(self._step(plan, f))
        fragments = [(cond, self._builder(sub)) for cond, sub in plan.fragments]
        default_typename = plan.type_name

        def build(
            value: Any, children: list[bytes], counts: list[int], parent_id: str | None
        ) -> dict[str, Any]:
            result: dict[str, Any] = {}
            for step in steps:
                step(value, result, children, counts, parent_id)
            if fragments:
                typename = getattr(value, "typename", default_typename)
                for condition, sub in fragments:
                    if condition == typename or self._implements(typename, condition):
                        result.update(sub(value, children, counts, parent_id))
            return result

        return build

    def _step(self, plan: _Plan, f: _Field) -> Callable[..., None]:
        key, kind = f.key, f.kind
        if kind == "typename":
            default = plan.type_name

            def typename_step(value, result, _children, _counts, _parent_id) -> None:
                result[key] = getattr(value, "typename", default)

            return typename_step
        assert kind == "leaf" or f.plan is not None
        if kind == "connection":  # its nodes become lines of their own
            nodes_of = self.lists[(f.parent_type, f.name)]
            args = f.args
            emit_child = self._emitter(f.plan, root=False)  # type: ignore[arg-type]
            emit_root = self._emitter(f.plan, root=True)  # type: ignore[arg-type]

            def connection_step(value, _result, children, counts, parent_id) -> None:
                emit = emit_root if parent_id is None else emit_child
                for node in nodes_of(value, **args):
                    emit(node, parent_id, children, counts)

            return connection_step
        get = self._getter(f)
        if kind == "leaf":
            serialize = f.serialize
            if serialize is None:

                def leaf_step(value, result, _children, _counts, _parent_id) -> None:
                    result[key] = get(value)

                return leaf_step

            def serialized_step(value, result, _children, _counts, _parent_id) -> None:
                resolved = get(value)
                result[key] = None if resolved is None else serialize(resolved)

            return serialized_step
        build = self._builder(f.plan)  # type: ignore[arg-type]
        if kind == "object":

            def object_step(value, result, children, counts, parent_id) -> None:
                resolved = get(value)
                result[key] = None if resolved is None else build(resolved, children, counts, parent_id)

            return object_step

        def list_step(value, result, children, counts, parent_id) -> None:
            resolved = get(value)
            result[key] = (
                None if resolved is None else [build(v, children, counts, parent_id) for v in resolved]
            )

        return list_step

    def _implements(self, typename: str, condition: str) -> bool:
        gtype = self.schema.get_type(typename)
        cond = self.schema.get_type(condition)
        return (
            isinstance(gtype, GraphQLObjectType)
            and isinstance(cond, GraphQLInterfaceType)
            and any(i.name == condition for i in gtype.interfaces)
        )


__all__ = ["BulkLists", "BulkQuery", "BulkQueryInvalid"]
