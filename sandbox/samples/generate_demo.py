"""Generate the bundled demo scenario: 50+ SKUs, two weeks of FBA activity covering every event the
spine handles, with its expected end state computed independently of the product.

    python sandbox/samples/generate_demo.py [--skus 60] [--days 14] [--seed 7] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

DAMAGE_CODES = ["6", "7", "E", "H", "K", "U"]


def generate(n_skus: int = 60, days: int = 14, seed: int = 7, orders_per_day: int = 14) -> dict:
    rng = random.Random(seed)
    catalog, stock = [], {}
    for i in range(n_skus):
        sku = f"SKU-{i:03d}"
        item = {
            "sku": sku,
            "fnsku": f"X00{i:07d}",
            "asin": f"B0{i:08d}",
            "amazon": {"sellable": rng.randint(60, 200), "unsellable": rng.randint(0, 3)},
        }
        if i == 1:
            item.update(sku="AMZ-RENAMED-001", shopify_sku="SKU-001")
        if i == 2:
            item.update(sku="SKU-002-2PK", shopify_sku="SKU-002", pack=2)
        pack = item.get("pack", 1)
        if i != 3:  # SKU-003 is sold on Amazon only: its rows must be quarantined
            item["shopify"] = {
                "fba": {
                    "available": item["amazon"]["sellable"] * pack,
                    "damaged": item["amazon"]["unsellable"] * pack,
                },
                "warehouse": {"available": rng.randint(0, 50), "incoming": 0, "damaged": 0},
            }
            stock[item.get("shopify_sku", item["sku"])] = json.loads(json.dumps(item["shopify"]))
        catalog.append(item)
    by_sku = {c["sku"]: c for c in catalog}
    events: list[dict] = []

    def fba(sku: str, name: str, delta: int) -> None:
        item = by_sku[sku]
        if "shopify" in item:
            stock[item.get("shopify_sku", sku)]["fba"][name] += delta * item.get("pack", 1)

    order_no = 0
    partial: list[tuple[str, str, int]] = []
    for day in range(days):
        for _ in range(orders_per_day):
            order_no += 1
            oid = f"114-{order_no:07d}-{rng.randint(1000000, 9999999)}"
            sku = rng.choice(catalog)["sku"]
            q = rng.randint(1, 3)
            t = round(day + rng.random() * 0.95, 3)
            if rng.random() < 0.1:  # ships in two parts
                first = 1
                events.append(
                    {
                        "day": t,
                        "type": "order_shipped",
                        "order_id": oid,
                        "items": [{"sku": sku, "quantity": first, "order_item_id": "1"}],
                    }
                )
                partial.append((oid, sku, q + 1))
                fba(sku, "available", -first)
                continue
            events.append(
                {"day": t, "type": "order_shipped", "order_id": oid, "items": [{"sku": sku, "quantity": q}]}
            )
            fba(sku, "available", -q)
        if partial and rng.random() < 0.8:
            oid, sku, rest = partial.pop(0)
            events.append(
                {
                    "day": round(day + 0.97, 3),
                    "type": "order_shipped",
                    "order_id": oid,
                    "items": [{"sku": sku, "quantity": rest, "order_item_id": "1"}],
                }
            )
            fba(sku, "available", -rest)
        if day % 3 == 1:
            order_no += 1
            events.append(
                {
                    "day": day + 0.5,
                    "type": "order_cancelled",
                    "order_id": f"114-{order_no:07d}-0000000",
                    "items": [{"sku": rng.choice(catalog)["sku"], "quantity": 2}],
                }
            )
        # returns, graded: sellable back to available, damaged kinds to damaged
        for _ in range(2):
            sku = rng.choice(catalog)["sku"]
            disp = rng.choice(["SELLABLE", "SELLABLE", "CUSTOMER_DAMAGED", "DEFECTIVE"])
            events.append(
                {
                    "day": round(day + rng.random() * 0.9, 3),
                    "type": "customer_return",
                    "order_id": f"114-{rng.randint(1, max(order_no, 1)):07d}-7777777",
                    "sku": sku,
                    "quantity": 1,
                    "disposition": disp,
                    "lpn": f"LPN{day:02d}{rng.randint(0, 99999):05d}",
                }
            )
            fba(sku, "available" if disp == "SELLABLE" else "damaged", 1)
        # warehouse adjustments
        sku = rng.choice(catalog)["sku"]
        code = rng.choice(["M", "5", "F", "O", "D"])
        q = rng.randint(1, 3)
        ev = {"day": round(day + 0.3, 3), "type": "adjustment", "sku": sku, "reason": code, "quantity": q}
        if code == "D":
            ev["disposition"] = "SELLABLE"
        events.append(ev)
        fba(sku, "available", q if code == "F" else -q)
        sku = rng.choice(catalog)["sku"]
        code = rng.choice(DAMAGE_CODES)
        events.append(
            {"day": round(day + 0.6, 3), "type": "adjustment", "sku": sku, "reason": code, "quantity": 1}
        )
        fba(sku, "available", -1)
        fba(sku, "damaged", 1)
        if day % 4 == 2:
            sku = rng.choice(catalog)["sku"]
            events.append(
                {"day": day + 0.7, "type": "fc_transfer", "sku": sku, "quantity": rng.randint(2, 10)}
            )
        if day % 5 == 3:
            sku = rng.choice(catalog)["sku"]
            events.append(
                {
                    "day": day + 0.8,
                    "type": "reimbursement",
                    "reimbursement_id": f"95{day:05d}",
                    "sku": sku,
                    "reason": "Lost_Warehouse",
                    "quantity_cash": 1,
                    "quantity_inventory": 1,
                }
            )
            fba(sku, "available", 1)
        if day % 4 == 0:
            sku = rng.choice([c for c in catalog if "shopify" in c])
            ssku = sku.get("shopify_sku", sku["sku"])
            events.append({"day": day + 0.45, "type": "shopify_sale", "sku": ssku, "quantity": 1})
            stock[ssku]["warehouse"]["available"] -= 1
    # a person corrects the FBA count by hand; manual changes survive
    events.append(
        {
            "day": 5.2,
            "type": "shopify_manual_adjustment",
            "sku": "SKU-010",
            "location": "fba",
            "name": "available",
            "delta": -3,
        }
    )
    stock["SKU-010"]["fba"]["available"] -= 3
    # a large write-off waits for approval; the ops team pauses writes for a stocktake meanwhile
    events.append({"day": 7.3, "type": "adjustment", "sku": "SKU-020", "reason": "M", "quantity": 45})
    fba("SKU-020", "available", -45)
    events.append({"day": 8.0, "type": "pause", "reason": "stocktake"})
    events.append({"day": 9.0, "type": "resume"})
    events.append({"day": 10.0, "type": "approve_all"})
    # Slow cases: a removal back to the warehouse, a disposal, an inbound shipment received short, a
    # return never sent back, a loss Amazon never pays for.
    events += [
        {
            "day": 2.1,
            "type": "removal_order",
            "order_id": "RMV-DEMO-1",
            "order_type": "Return",
            "items": [{"sku": "SKU-030", "quantity": 5, "disposition": "SELLABLE"}],
        },
        {
            "day": 3.0,
            "type": "removal_shipped",
            "order_id": "RMV-DEMO-1",
            "sku": "SKU-030",
            "quantity": 5,
            "tracking_number": "1ZDEMO0000001",
            "carrier": "UPS",
        },
        {
            "day": 6.5,
            "type": "removal_received",
            "order_id": "RMV-DEMO-1",
            "sku": "SKU-030",
            "quantity": 5,
            "tracking_number": "1ZDEMO0000001",
        },
        {
            "day": 2.2,
            "type": "removal_order",
            "order_id": "RMV-DEMO-2",
            "order_type": "Disposal",
            "items": [{"sku": "SKU-031", "quantity": 1, "disposition": "UNSELLABLE"}],
        },
        {
            "day": 3.5,
            "type": "removal_disposed",
            "order_id": "RMV-DEMO-2",
            "sku": "SKU-031",
            "quantity": 1,
            "disposition": "SELLABLE",
        },
        {
            "day": 1.5,
            "type": "inbound_shipped",
            "shipment_id": "FBA15DEMO001",
            "items": [{"sku": "SKU-040", "quantity": 24}],
        },
        {
            "day": 4.0,
            "type": "inbound_received",
            "shipment_id": "FBA15DEMO001",
            "sku": "SKU-040",
            "quantity": 22,
        },
        {"day": 5.0, "type": "inbound_closed", "shipment_id": "FBA15DEMO001"},
        {
            "day": 3.2,
            "type": "return_not_received",
            "order_id": "114-0000007-0000007",
            "sku": "SKU-041",
            "quantity": 1,
            "refund_day": 3.2,
        },
    ]
    # The weekly check, once the fortnight's movements are in: a full reconciliation finds the manual
    # edit of SKU-010 (and the Amazon-only SKU-003) and holds a correction for a person.
    events.append({"day": days + 0.6, "type": "full_reconciliation"})
    fba("SKU-030", "available", -5)
    stock["SKU-030"]["warehouse"]["available"] += 5
    fba("SKU-031", "available", -1)
    stock["SKU-040"]["warehouse"]["available"] -= 24
    fba("SKU-040", "available", 22)
    events.sort(key=lambda e: e["day"])
    return {
        "name": "demo-50-skus",
        "description": "Two weeks of FBA activity on 60 SKUs: shipments (some in two parts, some cancelled), graded "
        "returns, losses and finds, damage, disposals, transfers, reimbursement units, a 2-pack, a "
        "renamed SKU, an Amazon-only SKU, a manual edit, storefront sales, a held write-off, a pause, a removal "
        "received late, a disposal, an inbound shipment received short, a return never sent back",
        "marketplace": "US",
        "start": "2026-10-01T00:00:00Z",
        "settle_days": 2,
        "config": {
            "large_delta_units": 30,
            "large_delta_pct": 25,
            "return_window_days": 5,
            "reimbursement_window_days": 4,
            "lost_research_days": 5,
            "removal_overdue_days": 3,
        },
        "catalog": catalog,
        "events": events,
        "expect": {k: v for k, v in sorted(stock.items())},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skus", type=int, default=60)
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=str(Path(__file__).with_name("demo-50-skus.json")))
    a = p.parse_args()
    Path(a.out).write_text(json.dumps(generate(a.skus, a.days, a.seed), indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
