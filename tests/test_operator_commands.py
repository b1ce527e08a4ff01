"""The operator's reporting commands on a real SQLite ledger: `status`, `log`, `report`, `claims export`.

One realistic ledger (built below through the product's own ingest and evidence paths) covers March
2026 with neighbours in February and April, so a report that leaks across months shows. The figures
asserted are the ones a person would read off the output."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client, ScheduleOverlapPolicy
from temporalio.worker import Worker

import starter
from activities.finance_report import FinanceReportActivities
from ops import control
from ops.effect_log import LogFilter, count_entries, iter_entries
from ops.status_view import ledger_status
from reconciler.cases import evaluate
from reconciler.config import Rules, Settings
from reconciler.evidence import EvidenceIn, from_refund, from_reimbursement, inbound_case, removal_case
from reconciler.finance import FinanceReportRequest, FinanceReportSummary
from reconciler.ledger.evidence_store import (
    case_evidence,
    derive_lost_evidence,
    store_evidence,
    to_case_evidence,
    unsignalled_cases,
)
from reconciler.ledger.ingest import ingest_order_shipments
from reconciler.ledger.reading import reading_engine
from reconciler.ledger.tables import (
    Alert,
    CaseRecord,
    CycleRun,
    DiscrepancyRecord,
    Effect,
    Hold,
    LedgerSourceRow,
    Movement,
    QuarantinedInput,
)
from reconciler.models import OrderItemShipment, RefundEvent, ReimbursementRow
from sandbox.temporal_server import DevServer
from tests.harness import eventually
from tests.ledger_helpers import ACCOUNT, SHOP, context, ledger_engine, read, row, skus
from workflows.finance_report import MonthlyReportWorkflow

AS_OF = datetime(2026, 5, 1, tzinfo=UTC)  # business "now" of the case evaluations
RULES = Rules()  # defaults: 30 days research / reimbursement, 45 return window, 60 to file


# --- the ledger ---------------------------------------------------------------------------------------


def _at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _reimbursement(rid: str, when: datetime, reason: str, msku: str, **kw: Any) -> EvidenceIn:
    ev = from_reimbursement(
        ACCOUNT,
        ReimbursementRow(
            approval_date=when, reimbursement_id=rid, reason=reason, msku=msku, currency="USD", **kw
        ),
    )
    assert ev is not None
    return ev


def _evaluate(engine: Engine, case_id: str) -> None:
    """What the case workflow's activity does: evaluate from the evidence, store the CaseRecord."""
    evidence = [to_case_evidence(e) for e in case_evidence(engine, case_id)]
    view = evaluate(case_id, evidence, AS_OF, RULES)
    with Session(engine) as s, s.begin():
        s.merge(
            CaseRecord(
                case_id=case_id,
                account=ACCOUNT,
                case_type=view.case_type,
                state=view.state,
                sku=view.sku,
                claim_due=view.claim_due,
                claim_expired=view.claim_expired,
                owed_units=view.owed_units,
                owed_amount=view.owed_amount,
                claim_deadline=view.claim_deadline,
                details=view.details,
                closed=view.closed,
                evidence_seen=len(evidence),
            )
        )


def _apply(engine: Engine, *, leave_pending: set[str]) -> None:
    """What the gate does: mark effects applied with the quantity after (a running level per item)."""
    levels: dict[tuple[str, str, str], int] = {}
    with Session(engine) as s, s.begin():
        for e in s.exec(select(Effect).where(Effect.state == "pending").order_by(col(Effect.id))):
            if e.kind in leave_pending:
                continue
            level = levels.get((e.shopify_sku, e.location, e.name), 100) + e.delta
            levels[(e.shopify_sku, e.location, e.name)] = level
            e.state, e.quantity_after = "applied", level
            e.applied_at = datetime.combine(e.occurred_on or date(2026, 3, 28), datetime.min.time()).replace(
                hour=13, tzinfo=UTC
            )


def build_ledger(engine: Engine) -> None:
    """March 2026 with February and April around it (account "us", shop "demo", marketplace US)."""
    sku_map = skus("MUG", "CUP", "PLATE")
    for first, last, rows in [
        (
            date(2026, 2, 27),
            date(2026, 2, 27),
            [row(date=date(2026, 2, 27), quantity=-3, reference_id="R-LOST-0")],
        ),
        (
            date(2026, 3, 5),
            date(2026, 3, 25),
            [
                row(date=date(2026, 3, 5), quantity=-2, reason="M", reference_id="R-LOST-1"),
                row(date=date(2026, 3, 6), quantity=1, reason="F", reference_id="R-FOUND-1"),
                row(
                    date=date(2026, 3, 10),
                    event_type="CustomerReturns",
                    msku="CUP",
                    fnsku="X00CUP",
                    quantity=1,
                    reason="",
                    reference_id="111-0000001-0000001",
                ),
                row(
                    date=date(2026, 3, 12),
                    event_type="Receipts",
                    msku="PLATE",
                    fnsku="X00PLATE",
                    quantity=10,
                    reason="",
                    reference_id="FBA15XYZ",
                    fulfillment_center="ONT8",
                ),
                row(
                    date=date(2026, 3, 25),
                    msku="CUP",
                    fnsku="X00CUP",
                    quantity=-1,
                    reason="D",
                    disposition="CUSTOMER_DAMAGED",
                    reference_id="R-DISP-1",
                ),
            ],
        ),
        (
            date(2026, 4, 2),
            date(2026, 4, 2),
            [
                row(
                    date=date(2026, 4, 2),
                    event_type="Receipts",
                    msku="PLATE",
                    fnsku="X00PLATE",
                    quantity=5,
                    reason="",
                    reference_id="FBA16ABC",
                )
            ],
        ),
    ]:
        read(engine, rows, first_day=first, last_day=last, sku_map=sku_map)
    ingest_order_shipments(
        engine,
        context(),
        shipments=[
            OrderItemShipment(
                order_id="113-0000009-0000009",
                order_item_id="OI-1",
                msku="MUG",
                quantity_ordered=2,
                quantity_shipped=2,
                order_status="Shipped",
                last_updated=_at("2026-03-15"),
            )
        ],
        skus=sku_map,
        cursor_position=_at("2026-03-16"),
        local_date=lambda t: t.date(),
    )

    # Evidence: lost units (from the ledger's M/F movements), returns, an inbound shortage, a removal.
    derive_lost_evidence(engine, ACCOUNT)
    lost_id = f"lost:{ACCOUNT}:X00MUG"
    claimed_return = f"return:{ACCOUNT}:111-0000002-0000002:CUP"
    paid_return = f"return:{ACCOUNT}:111-0000003-0000003:MUG"
    expired_return = f"return:{ACCOUNT}:111-0000004-0000004:CUP"
    inbound_id = inbound_case(ACCOUNT, "FBA15XYZ")
    removal_id = removal_case(ACCOUNT, "RMV-1")
    items = [
        _reimbursement("R-100", _at("2026-03-22"), "Lost_Warehouse", "MUG", fnsku="X00MUG", quantity_cash=1, amount_total=12.5, amount_per_unit=12.5),
        from_refund(ACCOUNT, RefundEvent(order_id="111-0000002-0000002", msku="CUP", quantity=1, posted_date=_at("2026-02-01"), adjustment_id="ADJ-2")),
        from_refund(ACCOUNT, RefundEvent(order_id="111-0000003-0000003", msku="MUG", quantity=2, posted_date=_at("2026-01-20"))),
        _reimbursement("R-099", _at("2026-02-10"), "CustomerReturn", "MUG", amazon_order_id="111-0000003-0000003", quantity_cash=1, amount_total=10.0),
        _reimbursement("R-102", _at("2026-03-30"), "CustomerReturn", "MUG", amazon_order_id="111-0000003-0000003", quantity_cash=1, amount_total=15.0),
        # 03:00 UTC on April 1st is still March 31st in Los Angeles: a March reimbursement.
        _reimbursement("R-105", datetime(2026, 4, 1, 3, tzinfo=UTC), "CustomerReturn", "MUG", amazon_order_id="111-0000003-0000003", quantity_cash=1, amount_total=5.0),
        _reimbursement("R-104", _at("2026-04-02"), "CustomerReturn", "MUG", amazon_order_id="111-0000003-0000003", quantity_cash=1, amount_total=9.99),
        from_refund(ACCOUNT, RefundEvent(order_id="111-0000004-0000004", msku="CUP", quantity=1, posted_date=_at("2025-10-01"))),
        EvidenceIn(key="inb-1", account=ACCOUNT, case_id=inbound_id, kind="inbound_item", occurred_at=_at("2026-03-01"), quantity=12, stream="inbound",
                   data={"sku": "PLATE", "fnsku": "X00PLATE", "status": "SHIPPED", "quantity_shipped": 12, "quantity_received": 0}),
        EvidenceIn(key="inb-2", account=ACCOUNT, case_id=inbound_id, kind="inbound_item", occurred_at=_at("2026-03-12"), quantity=12, stream="inbound",
                   data={"sku": "PLATE", "fnsku": "X00PLATE", "status": "CLOSED", "quantity_shipped": 12, "quantity_received": 10}),
        EvidenceIn(key="rmv-d", account=ACCOUNT, case_id=removal_id, kind="removal_detail", occurred_at=_at("2026-03-17"), quantity=2, stream="removal_detail",
                   data={"order_type": "Return", "sku": "MUG", "requested": 2, "shipped": 2, "disposed": 0, "cancelled": 0}),
        EvidenceIn(key="rmv-s", account=ACCOUNT, case_id=removal_id, kind="removal_shipment", occurred_at=_at("2026-03-18"), quantity=2, stream="removal_shipments",
                   data={"sku": "MUG", "tracking_number": "1ZTRACK", "disposition": "SELLABLE"}),
    ]  # fmt: skip
    store_evidence(engine, items, account=ACCOUNT, stream="test")
    reversal = _reimbursement(
        "R-103", _at("2026-03-31"), "Reimbursement_Reversal", "MUG", quantity_cash=-1, amount_total=-10.0, original_reimbursement_id="R-099"
    )  # fmt: skip
    store_evidence(engine, [reversal], account=ACCOUNT, stream="test")
    for case_id in (lost_id, claimed_return, paid_return, expired_return, inbound_id, removal_id):
        _evaluate(engine, case_id)

    # The removal's effect (incoming +2), stored the way the case activity stores it.
    with Session(engine) as s, s.begin():
        s.add(
            Effect(
                key=f"case:{removal_id}/ship/1ZTRACK/MUG/incoming",
                shop=SHOP,
                account=ACCOUNT,
                kind="removal_shipped",
                msku="MUG",
                shopify_sku="MUG",
                inventory_item_id="gid://shopify/InventoryItem/MUG",
                location="warehouse",
                location_id="gid://shopify/Location/2",
                name="incoming",
                reason="movement_created",
                ledger_document_uri="gid://fba-reconciler/RemovalOrder/RMV-1",
                delta=2,
                occurred_on=date(2026, 3, 18),
            )
        )
        # A full reconciliation's correction, approved and applied on March 28th (no ledger date).
        correction = Effect(
            key="reconcile:7:MUG:available",
            shop=SHOP,
            account=ACCOUNT,
            kind="correction",
            msku="MUG",
            shopify_sku="MUG",
            inventory_item_id="gid://shopify/InventoryItem/MUG",
            location="fba",
            location_id="gid://shopify/Location/1",
            name="available",
            reason="correction",
            delta=-1,
        )
        s.add(correction)
        s.flush()
        s.add(
            DiscrepancyRecord(
                run_id=7,
                account=ACCOUNT,
                sku="MUG",
                name="available",
                amazon=95,
                shopify=96,
                expected_shopify=95,
                difference=1,
                explanation="1 unit more in Shopify than Amazon holds",
                effect_id=correction.id,
            )
        )
    # The disposal (CUP damaged −1) is still pending: not in the log, "not written" in the report.
    _apply(engine, leave_pending={"disposed"})


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Engine]:
    from reconciler.ledger.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    build_ledger(engine)
    yield engine
    engine.dispose()


def write_config(tmp_path: Path, *, address: str = "127.0.0.1:1", task_queue: str = "unused") -> Path:
    config = tmp_path / "recon.toml"
    config.write_text(
        f'ledger_url = "sqlite:///{tmp_path / "ledger.db"}"\n'
        f'reports_dir = "{tmp_path / "reports"}"\n'
        "activity_max_retry_interval_s = 1\n\n"
        f'[temporal]\naddress = "{address}"\ntask_queue = "{task_queue}"\n\n'
        f'[clock]\nsim_epoch = "2026-04-15T00:00:00Z"\nreal_epoch = "{datetime.now(UTC).isoformat()}"\n\n'
        f'[[shops]]\nname = "{SHOP}"\ndomain = "demo.myshopify.com"\naccess_token_env = "T"\n\n'
        f'[[accounts]]\nname = "{ACCOUNT}"\nmarketplace = "US"\nshop = "{SHOP}"\nfba_location = "Amazon FBA US"\n'
    )
    return config


def run(config: Path, *args: str) -> tuple[int, str]:
    """starter.main in this process, its stdout captured."""
    out = io.StringIO()
    with redirect_stdout(out):
        try:
            code = starter.main(["--config", str(config), *args])
        except SystemExit as e:  # argparse's bad usage
            code = int(e.code or 0)
    return code, out.getvalue()


# --- log ------------------------------------------------------------------------------------------


def test_log_shows_each_applied_effect_with_its_source_row_and_quantity_after(
    ledger: Engine, tmp_path: Path
) -> None:
    code, out = run(write_config(tmp_path), "log", "--format", "json")
    assert code == 0, out
    entries = json.loads(out)
    by_kind = {e["kind"]: e for e in entries}
    # Every applied effect, oldest first; the pending disposal is not in the log.
    assert [e["kind"] for e in entries] == [
        "lost",  # Feb 27
        "lost",
        "found",
        "return",
        "receipt",
        "shipment",
        "removal_shipped",
        "correction",  # Mar 28 (its applied date: a correction has no ledger date)
        "receipt",  # Apr 2
    ]
    assert "disposed" not in by_kind

    lost = entries[1]
    assert (lost["date"], lost["sku"], lost["msku"], lost["location"], lost["name"]) == (
        "2026-03-05",
        "MUG",
        "MUG",
        "fba",
        "available",
    )
    assert (lost["delta"], lost["quantity_after"], lost["source"]) == (-2, 95, "ledger")
    assert lost["source_rows"] == [
        {
            "date": "2026-03-05",
            "event": "Adjustments",
            "reference_id": "R-LOST-1",
            "fulfillment_center": "PHX7",
            "quantity": -2,
            "detail": "reason M, SELLABLE, FNSKU X00MUG",
        }
    ]
    receipt = entries[4]
    assert (receipt["date"], receipt["kind"], receipt["delta"], receipt["quantity_after"]) == (
        "2026-03-12",
        "receipt",
        10,
        110,
    )
    assert receipt["source_rows"][0]["reference_id"] == "FBA15XYZ"
    assert receipt["source_rows"][0]["fulfillment_center"] == "ONT8"

    shipment = by_kind["shipment"]
    assert shipment["source"] == "orders"
    assert shipment["source_rows"][0]["reference_id"] == "113-0000009-0000009"
    assert (shipment["delta"], shipment["source_rows"][0]["quantity"]) == (-2, -2)

    removal = by_kind["removal_shipped"]
    assert (removal["source"], removal["source_ref"]) == ("case", "removal:us:RMV-1")
    assert [(r["event"], r["reference_id"]) for r in removal["source_rows"]] == [
        ("removal_detail", ""),
        ("removal_shipment", "1ZTRACK"),
    ]
    assert (removal["location"], removal["name"], removal["quantity_after"]) == ("warehouse", "incoming", 102)

    correction = by_kind["correction"]
    assert correction["source"] == "reconciliation"
    assert correction["source_rows"][0]["detail"].startswith("Amazon 95, Shopify 96 available, expected 95")


def test_log_filters_by_sku_kind_and_dates(ledger: Engine, tmp_path: Path) -> None:
    config = write_config(tmp_path)

    def kinds(*args: str) -> list[tuple[str, str]]:
        code, out = run(config, "log", "--format", "json", *args)
        assert code == 0, out
        return [(e["date"], e["kind"]) for e in json.loads(out)]

    assert kinds("--sku", "PLATE") == [("2026-03-12", "receipt"), ("2026-04-02", "receipt")]
    assert kinds("--kind", "lost") == [("2026-02-27", "lost"), ("2026-03-05", "lost")]
    march = kinds("--since", "2026-03-01", "--until", "2026-03-31")
    assert len(march) == 7 and {d[:7] for d, _ in march} == {"2026-03"}
    assert kinds("--limit", "2") == [("2026-03-28", "correction"), ("2026-04-02", "receipt")]
    assert kinds("--account", "us", "--sku", "CUP") == [("2026-03-10", "return")]
    assert run(config, "log", "--since", "March")[0] == 2  # bad usage
    assert run(config, "log", "--account", "nope")[0] == 2


def test_log_writes_csv_to_a_file_and_a_table_on_screen(ledger: Engine, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    target = tmp_path / "log.csv"
    code, out = run(config, "log", "--format", "csv", "--out", str(target), "--sku", "MUG")
    assert code == 0 and "6 applied effect(s) written" in out, out
    rows = list(csv.DictReader(target.open()))
    assert [r["kind"] for r in rows] == ["lost", "lost", "found", "shipment", "removal_shipped", "correction"]
    found = rows[2]
    assert (found["delta"], found["quantity_after"], found["source_event"], found["source_reference_id"]) == (
        "1",
        "96",
        "Adjustments",
        "R-FOUND-1",
    )
    removal = rows[4]
    assert removal["source_event"] == "removal_detail | removal_shipment"

    code, out = run(config, "log", "--kind", "receipt")
    assert code == 0
    assert "FBA15XYZ" in out and "FBA16ABC" in out and "ONT8" in out


def test_log_reads_a_large_ledger_in_a_few_queries(tmp_path: Path) -> None:
    """No N+1: 5,000 ledger effects and 1,000 case effects cost one query per chunk and source kind."""
    from reconciler.ledger.db import make_engine

    url = f"sqlite:///{tmp_path / 'big.db'}"
    engine = make_engine(url)
    n, cases = 5_000, 1_000
    with engine.begin() as conn:
        conn.execute(
            insert(LedgerSourceRow),
            [
                {"account": "us", "identity_hash": f"h{i}", "copy_no": 1, "day": date(2026, 3, 1 + i % 28),
                 "fnsku": "X", "msku": f"SKU{i % 97}", "event_type": "Receipts", "reference_id": f"REF{i}",
                 "fulfillment_center": "PHX7", "disposition": "SELLABLE", "quantity": 1}
                for i in range(n)
            ],
        )  # fmt: skip
        conn.execute(
            insert(Movement),
            [
                {"key": f"m{i}", "account": "us", "stream": "ledger", "source_ref": f"ledger_source_row:{i + 1}",
                 "msku": f"SKU{i % 97}", "event_type": "Receipts", "quantity": 1, "occurred_on": date(2026, 3, 1 + i % 28)}
                for i in range(n)
            ],
        )  # fmt: skip
        effect = {"shop": "demo", "account": "us", "kind": "receipt", "inventory_item_id": "i", "location": "fba",
                  "location_id": "l", "name": "available", "reason": "received", "delta": 1, "state": "applied",
                  "quantity_after": 1}  # fmt: skip
        conn.execute(
            insert(Effect),
            [{**effect, "key": f"e{i}", "movement_id": i + 1, "msku": f"SKU{i % 97}", "shopify_sku": f"SKU{i % 97}",
              "occurred_on": date(2026, 3, 1 + i % 28)} for i in range(n)]
            + [{**effect, "key": f"case:removal:us:R{i}/ship/T/SKU/incoming", "kind": "removal_shipped", "movement_id": None, "msku": "SKU",
                "shopify_sku": "SKU", "occurred_on": date(2026, 3, 2)} for i in range(cases)],
        )  # fmt: skip
        conn.execute(
            insert(CaseRecord.__table__),  # type: ignore[attr-defined]
            [{"case_id": f"removal:us:R{i}", "account": "us", "case_type": "removal", "state": "in_transit"}
             for i in range(cases)],
        )  # fmt: skip
    reader = reading_engine(url)
    statements: list[str] = []
    event.listen(reader, "before_cursor_execute", lambda *a: statements.append(a[2]))
    entries = list(iter_entries(reader, LogFilter()))
    assert len(entries) == n + cases
    assert sum(e.source == "ledger" and e.source_rows[0].reference_id.startswith("REF") for e in entries) == n
    chunks = -(-(n + cases) // 900)
    assert len(statements) <= 1 + 3 * chunks, len(statements)


# --- claims export -----------------------------------------------------------------------------------


def test_claims_export_has_one_row_per_claim_due_with_its_deadline_and_references(
    ledger: Engine, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    target = tmp_path / "claims.csv"
    code, out = run(config, "claims", "export", "--out", str(target))
    assert code == 0 and "3 claim(s) due written" in out, out
    rows = {r["case_id"]: r for r in csv.DictReader(target.open())}
    # The expired return claim is past filing; the removal and the paid return owe nothing.
    assert sorted(rows) == ["inbound:us:FBA15XYZ", "lost:us:X00MUG", "return:us:111-0000002-0000002:CUP"]

    lost = rows["lost:us:X00MUG"]
    # Feb 27 −3 and Mar 5 −2; 1 found and 1 reimbursed settle the oldest: 3 owed after the research.
    assert (lost["fnsku"], lost["msku"], lost["units_owed"], lost["amount_owed"], lost["currency"]) == (
        "X00MUG",
        "MUG",
        "3",
        "37.50",
        "USD",
    )
    assert lost["deadline"] == "2026-05-28"  # Feb 27 + 30 days' research + 60 days to file
    assert lost["reimbursement_ids_paid"] == "R-100"
    assert "2026-02-27 lost 3 (M)" in lost["event_dates"] and "2026-03-06 found 1 (F)" in lost["event_dates"]
    assert "ledger R-LOST-0 (PHX7)" in lost["other_references"]

    ret = rows["return:us:111-0000002-0000002:CUP"]
    assert (ret["order_ids"], ret["msku"], ret["units_owed"], ret["amount_owed"]) == (
        "111-0000002-0000002",
        "CUP",
        "1",
        "",
    )
    assert ret["deadline"] == "2026-06-16"  # refund Feb 1 + 45 return + 30 reimbursement + 60 to file
    assert ret["event_dates"] == "2026-02-01 refund 1"

    inbound = rows["inbound:us:FBA15XYZ"]
    assert (inbound["shipment_ids"], inbound["msku"], inbound["fnsku"], inbound["units_owed"]) == (
        "FBA15XYZ",
        "PLATE",
        "X00PLATE",
        "2",
    )
    assert inbound["deadline"] == "2026-06-10"  # closed Mar 12 + 30 + 60
    assert "PLATE: 10 of 12 received" in inbound["other_references"]

    code, out = run(config, "claims", "export", "--account", "us")
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) == 3
    code, out = run(config, "claims", "export", "--json")
    assert code == 0 and {c["case_id"] for c in json.loads(out)} == set(rows)


# --- status ---------------------------------------------------------------------------------------------


async def test_status_shows_the_counts_without_a_running_gate(
    ledger: Engine, tmp_path: Path, dev_server: DevServer
) -> None:
    now = datetime.now(UTC)
    with Session(ledger) as s, s.begin():
        for minutes, ok in ((120, True), (60, False), (30, False)):
            s.add(
                CycleRun(
                    account=ACCOUNT,
                    workflow_id="sync-cycle:us",
                    run_id=uuid.uuid4().hex,
                    started_at=now - timedelta(minutes=minutes + 1),
                    finished_at=now - timedelta(minutes=minutes),
                    ok=ok,
                )
            )
        held = s.exec(select(Effect).where(Effect.kind == "disposed")).one()
        held.state = "held"
        s.add(Hold(shop=SHOP, kind="large_delta", effect_id=held.id, why="big"))
        s.add(Hold(shop="other-shop", kind="expired_attempt", why="not ours"))
        s.add(QuarantinedInput(account=ACCOUNT, stream="ledger", key="q1", reason="unmapped SKU X"))
        s.add(QuarantinedInput(account=ACCOUNT, stream="ledger", key="q2", reason="fixed", state="resolved"))
        s.add(Alert(kind="claim_due", key="k1", account=ACCOUNT, message="m"))
        s.add(Alert(kind="claim_due", key="k2", account=ACCOUNT, message="m"))
        s.add(Alert(kind="large_delta", key=f"{SHOP}:MUG:fba", message="shop-wide"))
        s.add(Alert(kind="report_fatal", key="k3", account="eu", message="another account"))
        s.add(
            Alert(
                kind="report_fatal",
                key="k4",
                account=ACCOUNT,
                message="old",
                created_at=now - timedelta(days=2),
            )
        )
    config = write_config(tmp_path, address=dev_server.address)
    code, out = await asyncio.to_thread(run, config, "status", "--json")
    assert code == 0, out
    [status] = json.loads(out)
    assert status["account"] == ACCOUNT and status["shop"] == SHOP
    assert status["last_successful_cycle"] is not None
    assert status["failing_cycles_in_a_row"] == 2
    assert (status["gate"], status["paused"]) == ("not running", None)
    assert status["holds"] == 1
    assert status["pending_effects"] == 0  # the disposal is held, counted as a hold
    # The paid return and the expired one are closed.
    assert status["open_cases"] == {"inbound": 1, "lost": 1, "removal": 1, "return": 1}
    assert (status["claims_due"], status["claims_due_units"]) == (3, 6)
    assert (status["claims_due_value"], status["claims_due_unvalued"]) == ({"USD": 37.5}, 2)
    assert status["quarantined"] == 1
    assert (status["alerts_last_day"], status["alert_kinds"]) == (3, {"claim_due": 2, "large_delta": 1})

    code, out = await asyncio.to_thread(run, config, "status")
    assert code == 0 and "not running" in out and "37.50 USD" in out


# --- the finance report -------------------------------------------------------------------------------


def test_finance_report_of_march_has_exactly_march(ledger: Engine, tmp_path: Path) -> None:
    summary = march_report(ledger, tmp_path)
    assert_march(summary)
    rows = list(csv.DictReader(io.StringIO(Path(summary.csv_path).read_text())))
    moved = {(r["kind"], r["sku"]): int(r["net_units"]) for r in rows if r["section"] == "moved"}
    assert moved == {
        ("lost", "MUG"): -2,
        ("found", "MUG"): 1,
        ("return", "CUP"): 1,
        ("receipt", "PLATE"): 10,
        ("shipment", "MUG"): -2,
        ("removal_shipped", "MUG"): 2,
        ("correction", "MUG"): -1,
    }
    reimbursements = [(r["detail"], r["amount"]) for r in rows if r["section"].startswith("reimbursement")]
    assert sorted((detail.split(" ")[0], amount) for detail, amount in reimbursements) == [
        ("R-100", "12.50"),
        ("R-102", "15.00"),
        ("R-103", "-10.00"),  # the reversal of February's R-099
        ("R-105", "5.00"),
    ]
    md = Path(summary.md_path).read_text()
    assert "# Finance report 2026-03 — account us" in md
    assert "| reimbursed amount | 22.50 USD |" in md
    assert "1 effect(s) of the month are not written to Shopify yet" in md


def test_a_reimbursement_no_case_waits_for_is_kept_for_the_finance_report(tmp_path: Path) -> None:
    """A CustomerServiceIssue payment settles no case: it is stored (never signalled) and reported."""
    with ledger_engine("sqlite", tmp_path) as engine:
        paid = _reimbursement(
            "R-900", _at("2026-03-12"), "CustomerServiceIssue", "MUG", amount_total=7.25, quantity_cash=1
        )
        result = store_evidence(engine, [paid], account=ACCOUNT, stream="reimbursements")
        assert (result.new, result.unrouted) == (1, 0)
        assert unsignalled_cases(engine) == []  # no case workflow is started for it
        summary = march_report(engine, tmp_path)
        assert summary.reimbursed_amounts == {"USD": 7.25}


def report_settings(tmp_path: Path) -> Settings:
    return Settings(
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        reports_dir=tmp_path / "reports",
        shops=[{"name": SHOP, "domain": "demo.myshopify.com", "access_token_env": "T"}],
        accounts=[{"name": ACCOUNT, "shop": SHOP, "fba_location": "Amazon FBA US"}],
    )


def march_report(engine: Engine, tmp_path: Path) -> FinanceReportSummary:
    """The finance report of March 2026, built by the monthly report's activity."""
    request = FinanceReportRequest(account=ACCOUNT, month="2026-03")
    return asyncio.run(FinanceReportActivities(engine, report_settings(tmp_path)).build_report(request))


def assert_march(summary: FinanceReportSummary) -> None:
    assert (summary.account, summary.month) == (ACCOUNT, "2026-03")
    assert Path(summary.csv_path).name == "finance-us-2026-03.csv" and Path(summary.md_path).exists()
    # Applied in March: lost −2, found +1, return +1, receipt +10, shipment −2, removal +2, correction −1.
    assert (summary.effects_applied, summary.units_in, summary.units_out) == (7, 14, 5)
    assert (summary.lost_units, summary.found_units) == (2, 1)  # February's loss of 3 is not March's
    # R-100 12.50 + R-102 15.00 + R-105 5.00 (March 31st in Los Angeles) − R-103 10.00; not R-104 (April).
    assert (summary.reimbursed_units, summary.reimbursed_amounts) == (2, {"USD": 22.5})
    assert (summary.claims_due, summary.claims_due_units, summary.claims_due_value) == (3, 6, {"USD": 37.5})


async def test_monthly_report_workflow_on_the_dev_server(
    ledger: Engine, tmp_path: Path, temporal_client: Client, dev_server: DevServer
) -> None:
    """`starter.py report` runs MonthlyReportWorkflow; the monthly schedule reports the month before."""
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    config = write_config(tmp_path, address=dev_server.address, task_queue=task_queue)
    settings = starter._settings(starter.build_parser().parse_args(["--config", str(config), "status"]))
    activities = FinanceReportActivities(ledger, settings)
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[MonthlyReportWorkflow],
        activities=[activities.build_report],
    ):
        code, out = await asyncio.to_thread(run, config, "--json", "report", "--month", "2026-03")
        assert code == 0, out
        [summary] = [FinanceReportSummary.model_validate(s) for s in json.loads(out)]
        assert_march(summary)

        # The schedule's action: no month, so the month before the business date (April 15th → March).
        schedule_id = f"finance-report-test-{uuid.uuid4().hex[:8]}"
        schedule = control._finance_report_schedule(settings, settings.account(ACCOUNT))
        handle = await temporal_client.create_schedule(schedule_id, schedule)
        try:
            await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
            actions: list[Any] = []

            async def started() -> bool:
                desc = await handle.describe()
                actions[:] = desc.info.recent_actions
                return bool(actions)

            await eventually(started, what="the schedule to start a report")
            run_id = actions[-1].action.workflow_id  # type: ignore[attr-defined]
            scheduled = temporal_client.get_workflow_handle(run_id, result_type=FinanceReportSummary)
            result = await scheduled.result()
            assert_march(result)
        finally:
            await handle.delete()


def test_log_report_and_status_read_the_same_on_postgresql(tmp_path: Path) -> None:
    """The production ledger: the same figures through PostgreSQL's dates, timestamps and cursors."""
    with ledger_engine("postgresql", tmp_path) as engine:
        build_ledger(engine)
        entries = list(iter_entries(engine, LogFilter()))
        assert [(e.date, e.kind, e.quantity_after) for e in entries][:2] == [
            (date(2026, 2, 27), "lost", 97),
            (date(2026, 3, 5), "lost", 95),
        ]
        assert len(entries) == 9 and entries[7].source == "reconciliation"
        march = LogFilter(since=date(2026, 3, 1), until=date(2026, 3, 31), limit=3)
        assert [e.kind for e in iter_entries(engine, march)] == ["shipment", "removal_shipped", "correction"]
        assert count_entries(engine, march) == 7
        assert_march(march_report(engine, tmp_path))
        [status] = ledger_status(engine, report_settings(tmp_path), datetime.now(UTC))
        assert (status.claims_due, status.claims_due_units, status.pending_effects) == (3, 6, 1)
