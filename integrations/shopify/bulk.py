"""Reading Shopify bulk query results: the JSONL of `BulkInventorySnapshot`.

One JSON object per line. A root line is an inventory item (`id`, `sku`); each of its inventory
levels is a line of its own that names the item in `__parentId` and carries `location { id }` and
`quantities [{name, quantity}]`. Shopify does not promise that a child comes after its parent, so a
level whose item has not been seen yet waits until the end of the file; a level whose item never
appears is reported, never dropped silently. An item line carrying an inline `inventoryLevel` (the
`inventoryLevel(locationId:)` query shape) is read too. Never imports Temporal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

ITEM_PREFIX = "gid://shopify/InventoryItem/"
LEVEL_PREFIX = "gid://shopify/InventoryLevel/"


class LocationQuantity(BaseModel):
    """One inventory item's named quantities at one location, as a bulk snapshot showed them."""

    inventory_item_id: str
    sku: str | None
    location_id: str
    quantities: dict[str, int] = Field(default_factory=dict)


def _quantities(raw: Any) -> dict[str, int] | None:
    """`[{name, quantity}]` -> {name: quantity}; None when the shape is not that."""
    if not isinstance(raw, list):
        return None
    out: dict[str, int] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            return None
        name, quantity = entry.get("name"), entry.get("quantity")
        if not isinstance(name, str) or isinstance(quantity, bool) or not isinstance(quantity, int):
            return None
        out[name] = quantity
    return out


class SnapshotParser:
    """Incremental `parse_snapshot_jsonl`: `feed()` lines as they arrive, then `finish()`."""

    def __init__(self, location_id: str) -> None:
        self.location_id = location_id
        self.lines = 0
        self._skus: dict[str, str | None] = {}  # item gid -> sku, for every item line seen
        self._rows: dict[str, LocationQuantity] = {}  # item gid -> its row at the location
        self._waiting: dict[str, list[tuple[int, dict[str, int]]]] = {}  # parent gid -> (line no, quantities)
        self.problems: list[str] = []

    def feed(self, line: str | bytes) -> None:
        self.lines += 1
        line_no = self.lines
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        if not text.strip():
            return
        try:
            obj = json.loads(text)
        except ValueError as e:
            self.problems.append(f"line {line_no}: not JSON ({e.msg}): {text[:200]!r}")
            return
        if not isinstance(obj, dict):
            self.problems.append(f"line {line_no}: not a JSON object: {text[:200]!r}")
            return
        parent = obj.get("__parentId")
        gid = obj.get("id")
        if parent is None and isinstance(gid, str) and gid.startswith(ITEM_PREFIX):
            self._item(line_no, gid, obj)
        elif isinstance(parent, str) and isinstance(gid, str) and gid.startswith(LEVEL_PREFIX):
            self._level(line_no, parent, obj)
        else:
            self.problems.append(
                f"line {line_no}: neither an inventory item nor one of its levels: {text[:200]!r}"
            )

    def _item(self, line_no: int, gid: str, obj: dict[str, Any]) -> None:
        sku = obj.get("sku")
        if sku is not None and not isinstance(sku, str):
            self.problems.append(f"line {line_no}: item {gid}: sku is not a string")
            return
        if gid in self._skus:
            self.problems.append(f"line {line_no}: item {gid} appears twice")
            return
        self._skus[gid] = sku
        if "inventoryLevel" in obj:  # the inline shape: inventoryLevel(locationId:) on the item
            level = obj["inventoryLevel"]
            if level is not None:
                quantities = _quantities(level.get("quantities") if isinstance(level, dict) else None)
                if quantities is None:
                    self.problems.append(f"line {line_no}: item {gid}: unreadable inventoryLevel.quantities")
                else:
                    self._add(line_no, gid, quantities)
        for waiting_line, quantities in self._waiting.pop(gid, []):
            self._add(waiting_line, gid, quantities)

    def _level(self, line_no: int, parent: str, obj: dict[str, Any]) -> None:
        location = obj.get("location")
        location_id = location.get("id") if isinstance(location, dict) else None
        if not isinstance(location_id, str):
            self.problems.append(f"line {line_no}: level {obj['id']}: no location id")
            return
        if location_id != self.location_id:
            return  # another location's level: not part of this snapshot
        quantities = _quantities(obj.get("quantities"))
        if quantities is None:
            self.problems.append(f"line {line_no}: level {obj['id']}: unreadable quantities")
            return
        if parent in self._skus:
            self._add(line_no, parent, quantities)
        else:
            self._waiting.setdefault(parent, []).append((line_no, quantities))

    def _add(self, line_no: int, item_id: str, quantities: dict[str, int]) -> None:
        if item_id in self._rows:
            self.problems.append(f"line {line_no}: a second level of item {item_id} at {self.location_id}")
            return
        self._rows[item_id] = LocationQuantity(
            inventory_item_id=item_id,
            sku=self._skus[item_id],
            location_id=self.location_id,
            quantities=quantities,
        )

    def finish(self) -> tuple[list[LocationQuantity], list[str]]:
        """The rows (in the order their items appeared) and every problem, including levels whose
        parent item never appeared."""
        problems = list(self.problems)
        for parent, waiting in self._waiting.items():
            for line_no, _ in waiting:
                problems.append(f"line {line_no}: inventory level of unknown parent {parent}")
        order = {gid: n for n, gid in enumerate(self._skus)}
        rows = sorted(self._rows.values(), key=lambda r: order[r.inventory_item_id])
        return rows, problems


def parse_snapshot_jsonl(lines: Iterable[str], location_id: str) -> tuple[list[LocationQuantity], list[str]]:
    """The inventory levels at `location_id` in a `BulkInventorySnapshot` JSONL file, one row per
    inventory item stocked there, and the problems (line numbers are 1-based). Lines are read one at a
    time; only the rows and the levels still waiting for their parent are kept."""
    parser = SnapshotParser(location_id)
    for line in lines:
        parser.feed(line)
    return parser.finish()


__all__ = ["LocationQuantity", "SnapshotParser", "parse_snapshot_jsonl"]
